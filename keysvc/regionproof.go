package keysvc

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// RegionError is a new data-key version that one registered region could
// not wrap or decrypt: the version is not recorded, the current one stays.
// Its message names the region and what KMS answered (a classified error,
// never key material), and is safe to show.
type RegionError struct {
	Region string
	Step   string // "wrap" or "decrypt"
	Err    error  // classified KMS error
	Code   string // AWS's error code, when KMS answered one
}

// regionErr classifies a KMS error of one region's step.
func regionErr(region, step string, err error) *RegionError {
	return &RegionError{Region: region, Step: step, Err: awskms.ClassifyKMSError(err), Code: awskms.ErrorCode(err)}
}

func (e *RegionError) Error() string {
	what := "KMS did not decrypt the new data key"
	if e.Step == "wrap" {
		what = "KMS did not wrap the new data key"
	}
	reason := regionReason(e.Err)
	if e.Code != "" && !strings.Contains(reason, e.Code) {
		reason += ", " + e.Code
	}
	return "keysvc: " + what + " in " + e.Region + " (" + reason + "); the current version stays"
}

func (e *RegionError) Unwrap() error { return e.Err }

func regionReason(err error) string {
	switch {
	case errors.Is(err, awskms.ErrAccessDenied):
		return "access denied: the key policy there does not allow keyport"
	case errors.Is(err, awskms.ErrKeyDisabled):
		return "the KMS key there is disabled"
	case errors.Is(err, awskms.ErrKeyPendingDeletion):
		return "the KMS key there is pending deletion"
	case errors.Is(err, awskms.ErrThrottled):
		return "throttled"
	case errors.Is(err, awskms.ErrUnavailable):
		return "KMS unreachable"
	case err == nil:
		return "wrong plaintext"
	}
	return "refused"
}

// proveWraps decrypts every region's copy of a new data key in its region
// and compares it with the plaintext, so a version becomes current only
// once each registered region has shown it can serve it (CleverTap's "the
// latest key version is validated before use"). With one region and no
// plaintext at hand (KMS generated it without plaintext) it is skipped:
// that region's KMS made the ciphertext itself.
func (s *Service) proveWraps(ctx context.Context, m keyMeta, wraps []models.DataKeyWrap, plaintext []byte) error {
	if plaintext == nil {
		return nil
	}
	for _, w := range wraps {
		if w.Region == HeldRegion {
			continue
		}
		client, err := s.dp.kmsFor(ctx, m.TenantID, m.ConnectionID, w.Region)
		if err != nil {
			return err
		}
		out, err := client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: w.Ciphertext, KeyId: &w.KMSKeyARN, EncryptionContext: wrapContext(m.TenantID, m.ID, w)})
		if err != nil {
			return regionErr(w.Region, "decrypt", err)
		}
		same := bytes.Equal(out.Plaintext, plaintext)
		clear(out.Plaintext)
		if !same {
			return &RegionError{Region: w.Region, Step: "decrypt"}
		}
	}
	return nil
}

package keysvc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// RotateDataKey makes the key's next data-key version and sends new
// encryptions to it; older versions keep decrypting. It is safe to retry:
// nothing is recorded until every region holds a wrapped copy, and when two
// rotations race, one wins and the other reports ErrRotationRaced.
func (s *Service) RotateDataKey(ctx context.Context, tenantID, keyID, actor, reason string) (int64, error) {
	m, err := s.dp.keys.get(ctx, tenantID, keyID)
	if err != nil {
		return 0, err
	}
	return s.RotateFrom(ctx, tenantID, keyID, m.CurrentVersion, actor, reason)
}

// RotateFrom rotates only if the key's current data-key version is
// still from: a job that decided to rotate version N can never make N+2,
// however stale this replica's view is (the store compares and sets).
func (s *Service) RotateFrom(ctx context.Context, tenantID, keyID string, from int64, actor, reason string) (int64, error) {
	return s.rotateFrom(ctx, tenantID, keyID, nil, from, actor, reason)
}

// RotateKeyFrom is RotateFrom for a caller that has just read the key
// (the rotation job does, to decide what to do): k stands for the read
// RotateFrom would make. The version is compared and set all the same.
func (s *Service) RotateKeyFrom(ctx context.Context, k *models.Key, from int64, actor, reason string) (int64, error) {
	return s.rotateFrom(ctx, k.TenantID, k.ID, k, from, actor, reason)
}

// rotateFrom is RotateFrom; k, when not nil, is the key as its caller
// has just read it.
func (s *Service) rotateFrom(ctx context.Context, tenantID, keyID string, k *models.Key, from int64, actor, reason string) (int64, error) {
	m, err := s.dp.keys.get(ctx, tenantID, keyID)
	if err != nil {
		return 0, err
	}
	if err := m.usable(); err != nil {
		return 0, err
	}
	if from < m.CurrentVersion {
		return 0, ErrRotationRaced // already rotated past from: no KMS call for a lost race
	}
	m.CurrentVersion = from
	if k == nil {
		if k, err = s.db.GetKey(ctx, tenantID, keyID); err != nil {
			return 0, err
		}
	}
	if k.TenantDataKeys {
		return 0, ErrTenantDataKeyNeeded // never replace the tenant's data key with one keyport makes
	}
	regions, err := s.db.KeyRegions(ctx, tenantID, keyID)
	if err != nil {
		return 0, fmt.Errorf("keysvc: load key regions: %w", err)
	}
	wraps, err := s.wrapNewDataKey(ctx, m, regions)
	if err != nil {
		return 0, err
	}
	next := m.CurrentVersion + 1
	err = s.db.AddDataKeyVersion(ctx, tenantID, keyID, &models.DataKeyVersion{Version: next, Reason: reason, CreatedBy: actor}, wraps,
		models.AuditInput{Actor: actor, Action: "key.data_key_rotated", Details: map[string]string{"version": strconv.FormatInt(next, 10), "reason": reason}})
	if errors.Is(err, models.ErrConflict) {
		return 0, ErrRotationRaced
	}
	if err != nil {
		return 0, err
	}
	// New encryptions here use the new version at once, without reading
	// back the row just written: only the version moved, and the row's
	// new revision reaches this table as every change does.
	s.dp.keys.advance(m, next)
	return next, nil
}

// ErrRotationRaced: another rotation of the same key finished first.
var ErrRotationRaced = errors.New("keysvc: another rotation of this key finished first")

// wrapNewDataKey has the primary region's KMS generate a data key and the
// other regions' KMS wrap the same plaintext, so any region can unwrap it.
// The plaintext is zeroed before returning; a key in one region never sees
// it (GenerateDataKeyWithoutPlaintext).
func (s *Service) wrapNewDataKey(ctx context.Context, m keyMeta, regions []models.KeyRegion) ([]models.DataKeyWrap, error) {
	if len(regions) == 0 {
		return nil, awskms.ErrKeyNotUsable
	}
	if materialID, held := strings.CutPrefix(regions[0].KMSKeyARN, heldNamePrefix); held && regions[0].Region == HeldRegion {
		w, err := s.WrapHeld(ctx, m.TenantID, m.ID, m.CurrentVersion+1, materialID)
		if err != nil {
			return nil, err
		}
		return []models.DataKeyWrap{w}, nil
	}
	ec := KMSContext(m.TenantID, m.ID)
	primary := regions[0]
	client, err := s.dp.kmsFor(ctx, m.TenantID, m.ConnectionID, primary.Region)
	if err != nil {
		return nil, err
	}
	if len(regions) == 1 {
		// No other region to wrap the plaintext for: KMS keeps it.
		out, err := client.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: &primary.KMSKeyARN,
			KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
		if err != nil {
			return nil, awskms.ClassifyKMSError(err)
		}
		return []models.DataKeyWrap{{Region: primary.Region, KMSKeyARN: primary.KMSKeyARN, Ciphertext: out.CiphertextBlob}}, nil
	}
	out, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &primary.KMSKeyARN, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		return nil, awskms.ClassifyKMSError(err)
	}
	defer clear(out.Plaintext)
	wraps := []models.DataKeyWrap{{Region: primary.Region, KMSKeyARN: primary.KMSKeyARN, Ciphertext: out.CiphertextBlob}}
	for _, r := range regions[1:] {
		rc, err := s.dp.kmsFor(ctx, m.TenantID, m.ConnectionID, r.Region)
		if err != nil {
			return nil, err
		}
		enc, err := rc.Encrypt(ctx, &kms.EncryptInput{KeyId: &r.KMSKeyARN, Plaintext: out.Plaintext, EncryptionContext: ec})
		if err != nil {
			return nil, regionErr(r.Region, "wrap", err)
		}
		wraps = append(wraps, models.DataKeyWrap{Region: r.Region, KMSKeyARN: r.KMSKeyARN, Ciphertext: enc.CiphertextBlob})
	}
	// Every region must decrypt the new version before it becomes current.
	if err := s.proveWraps(ctx, m, wraps, out.Plaintext); err != nil {
		return nil, err
	}
	return wraps, nil
}

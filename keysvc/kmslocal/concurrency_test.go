package kmslocal_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestConcurrentUse runs encryptions, decryptions and rotations at once;
// under -race it is the check that the server is safe for concurrent use.
func TestConcurrentUse(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				pt := []byte(fmt.Sprintf("worker %d item %d", w, i))
				ec := map[string]string{"w": fmt.Sprint(w)}
				enc, err := c.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: pt, EncryptionContext: ec})
				if err != nil {
					errs <- err
					return
				}
				dec, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(dec.Plaintext, pt) {
					errs <- fmt.Errorf("worker %d: plaintext mismatch", w)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if _, err := c.RotateKeyOnDemand(ctx(), &kms.RotateKeyOnDemandInput{KeyId: k.KeyId}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.KeyOpCalls(*k.KeyId, "Decrypt"); n != 90 {
		t.Fatalf("Decrypt calls on key = %d, want 90", n)
	}
}

// TestHTTPStatus checks the status line AWS uses for each kind of error,
// which decides whether the SDK retries.
func TestHTTPStatus(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	tests := []struct {
		code   string
		status int
	}{
		{"NotFoundException", 400},
		{"AccessDeniedException", 400},
		{"ThrottlingException", 400},
		{"KMSInvalidStateException", 400},
		{"KMSInternalException", 500},
		{"DependencyTimeoutException", 503},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv.FailNext("DescribeKey", 1, tt.code)
			_, err := c.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k.KeyId})
			wantCode(t, err, tt.code)
			var re *smithyhttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
				t.Fatalf("status = %v, want %d", err, tt.status)
			}
		})
	}
}

func TestUpdateKeyDescription(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, &kms.CreateKeyInput{Description: aws.String("before")})
	if _, err := c.UpdateKeyDescription(ctx(), &kms.UpdateKeyDescriptionInput{KeyId: k.KeyId, Description: aws.String("after")}); err != nil {
		t.Fatal(err)
	}
	if md := describe(t, c, *k.KeyId); aws.ToString(md.Description) != "after" {
		t.Fatalf("Description = %q", aws.ToString(md.Description))
	}
	if _, err := c.ScheduleKeyDeletion(ctx(), &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateKeyDescription(ctx(), &kms.UpdateKeyDescriptionInput{KeyId: k.KeyId, Description: aws.String("x")})
	wantErr[*types.KMSInvalidStateException](t, err)
}

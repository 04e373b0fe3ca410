package kmslocal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestFaultInjection(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k := createKey(t, c, nil)
	blob := encrypt(t, c, *k.KeyId, []byte("x"), nil)
	decryptErr := func() error {
		_, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob})
		return err
	}

	t.Run("throttle all", func(t *testing.T) {
		srv.SetThrottle(1)
		defer srv.SetThrottle(0)
		wantCode(t, decryptErr(), "ThrottlingException")
	})
	t.Run("fail next N of one operation", func(t *testing.T) {
		srv.FailNext("Decrypt", 2, "KMSInternalException")
		for range 2 {
			wantErr[*types.KMSInternalException](t, decryptErr())
		}
		if _, err := c.Encrypt(ctx(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatalf("Encrypt was not meant to fail: %v", err)
		}
		if err := decryptErr(); err != nil {
			t.Fatalf("third Decrypt: %v", err)
		}
	})
	t.Run("fail any operation", func(t *testing.T) {
		srv.FailNext("*", 1, "DependencyTimeoutException")
		wantErr[*types.DependencyTimeoutException](t, decryptErr())
		if err := decryptErr(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SDK retries transient failures", func(t *testing.T) {
		retrying := kms.NewFromConfig(srv.AWSConfig(region, "AKIDANY", "x"))
		srv.ResetCalls()
		srv.FailNext("Decrypt", 1, "KMSInternalException")
		if _, err := retrying.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob}); err != nil {
			t.Fatal(err)
		}
		if n := srv.Calls("Decrypt"); n != 2 {
			t.Fatalf("Decrypt calls = %d, want 2 (one failure, one retry)", n)
		}
	})
	t.Run("latency", func(t *testing.T) {
		srv.SetLatency(300 * time.Millisecond)
		defer srv.ClearFaults()
		cctx, cancel := context.WithTimeout(ctx(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Decrypt(cctx, &kms.DecryptInput{CiphertextBlob: blob})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want deadline exceeded", err)
		}
	})
}

func TestCallCounters(t *testing.T) {
	srv, _ := openServer(t)
	c := anyClient(t, srv)
	k1 := createKey(t, c, nil)
	k2 := createKey(t, c, nil)
	srv.ResetCalls()
	b1 := encrypt(t, c, *k1.KeyId, []byte("x"), nil)
	decrypt(t, c, b1, nil)
	decrypt(t, c, b1, nil)
	encrypt(t, c, *k2.KeyId, []byte("y"), nil)
	if _, err := c.ReEncrypt(ctx(), &kms.ReEncryptInput{CiphertextBlob: b1, DestinationKeyId: k2.KeyId}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"Encrypt", srv.Calls("Encrypt"), 2},
		{"Decrypt", srv.Calls("Decrypt"), 2},
		{"ReEncrypt", srv.Calls("ReEncrypt"), 1},
		{"k1 all", srv.KeyCalls(*k1.KeyId), 4},
		{"k1 Decrypt", srv.KeyOpCalls(*k1.KeyId, "Decrypt"), 2},
		{"k2 all", srv.KeyCalls(*k2.KeyId), 2},
		{"k2 ReEncrypt", srv.KeyOpCalls(*k2.KeyId, "ReEncrypt"), 1},
		{"snapshot", srv.CallCounts()["Decrypt"], 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %d, want %d", tt.got, tt.want)
			}
		})
	}
	_, err := c.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
	wantErr[*types.NotFoundException](t, err)
	if srv.Calls("DescribeKey") != 1 {
		t.Fatalf("failed calls are counted too: got %d", srv.Calls("DescribeKey"))
	}
}

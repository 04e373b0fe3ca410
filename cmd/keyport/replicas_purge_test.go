package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/models/modelstest"
)

// TestReplicasPurgeReachesEveryReplica runs three keyport replica processes
// on one PostgreSQL database (TestReplicas covers the per-key purge) and
// checks the two other ways a purge starts on one replica and must reach
// the others' caches: the tenant-wide purge button, and a replica finding
// in KMS that the key was disabled (it marks the key and purges everywhere,
// so no replica goes on serving a key its tenant turned off from its cache).
func TestReplicasPurgeReachesEveryReplica(t *testing.T) {
	if os.Getenv(replicaDSNEnv) != "" {
		t.Skip("inside a helper process")
	}
	modelstest.PostgresOnly(t)
	w := newReplicaWorld(t, modelstest.DSN(t))
	reps := []*replica{w.start(t), w.start(t), w.start(t)}
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	owner := w.session(t, w.owner.ID)
	ct := w.encrypt(t, client, reps[0].url, []byte("purge me"))

	// needsKMS waits (5 s at most) until a decrypt on r calls KMS again:
	// r's cached data key is gone.
	needsKMS := func(t *testing.T, i int, r *replica, since time.Time) {
		t.Helper()
		for {
			before := w.kms.KeyOpCalls(w.kmsKeyID, "Decrypt")
			w.decrypt(t, client, r.url, ct)
			if w.kms.KeyOpCalls(w.kmsKeyID, "Decrypt") > before {
				return
			}
			if time.Since(since) > 5*time.Second {
				t.Fatalf("replica %d still uses its cached data key 5s after the purge", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	t.Run("the tenant-wide purge bites on every replica", func(t *testing.T) {
		for _, r := range reps[1:] {
			w.decrypt(t, client, r.url, ct)
			before := w.kms.KeyOpCalls(w.kmsKeyID, "Decrypt")
			w.decrypt(t, client, r.url, ct)
			if w.kms.KeyOpCalls(w.kmsKeyID, "Decrypt") != before {
				t.Fatal("a second decrypt called KMS: the replica does not cache, so this test proves nothing")
			}
		}
		if code, _ := owner.do(t, client, "POST", reps[0].url+"/keys/purge", nil); code != http.StatusSeeOther {
			t.Fatalf("tenant purge on replica 0: %d, want 303", code)
		}
		purged := time.Now()
		for i, r := range reps[1:] {
			needsKMS(t, i+1, r, purged)
		}
	})

	t.Run("a key disabled in KMS, found by one replica, stops every replica", func(t *testing.T) {
		for _, r := range reps[1:] {
			w.decrypt(t, client, r.url, ct) // cached on replicas 1 and 2
		}
		admin := kms.NewFromConfig(w.kms.AWSConfig("eu-west-1", "AKIAREPLICAADMIN0001", "admin-secret"))
		if _, err := admin.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(w.kmsKeyID)}); err != nil {
			t.Fatal(err)
		}
		// A fresh replica has nothing cached: its decrypt asks KMS, which
		// refuses, and it records the key as disabled and purges.
		fresh := w.start(t)
		if code, body := w.tryDecrypt(t, client, fresh.url, ct); code == http.StatusOK {
			t.Fatalf("the fresh replica decrypted under a disabled key: %s", body)
		}
		found := time.Now()
		for i, r := range reps[1:] {
			for {
				code, _ := w.tryDecrypt(t, client, r.url, ct)
				if code != http.StatusOK {
					break
				}
				if time.Since(found) > 5*time.Second {
					t.Fatalf("replica %d still decrypts from its cache 5s after another replica found the key disabled", i+1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
}

// tryDecrypt calls the data API's decrypt and returns the status and body,
// whatever they are.
func (w *replicaWorld) tryDecrypt(t *testing.T, c *http.Client, base string, ct []byte) (int, string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"ciphertext": ct})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/decrypt", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s/api/v1/decrypt: %v", base, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(body))
}

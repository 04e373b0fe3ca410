package kmslocal_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"keyport/keysvc/kmslocal"
)

func TestStartRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"192.0.2.10:0", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			srv, err := kmslocal.New(kmslocal.Config{})
			if err != nil {
				t.Fatal(err)
			}
			err = srv.Start(tt.addr)
			defer srv.Close()
			if tt.ok && err != nil {
				t.Fatalf("Start(%s): %v", tt.addr, err)
			}
			if !tt.ok && !errors.Is(err, kmslocal.ErrNotLoopback) {
				t.Fatalf("Start(%s) = %v, want ErrNotLoopback", tt.addr, err)
			}
		})
	}
	t.Run("AllowRemote", func(t *testing.T) {
		srv, err := kmslocal.New(kmslocal.Config{AllowRemote: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start("0.0.0.0:0"); err != nil {
			t.Fatalf("Start with AllowRemote: %v", err)
		}
		srv.Close()
	})
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kms.json")
	clock := kmslocal.NewManualClock(t0)
	cfg := kmslocal.Config{DataFile: file, Clock: clock.Now}

	first := startServer(t, cfg)
	c := anyClient(t, first)
	k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	material := randomMaterial(t)
	if err := importMaterial(t, c, *k.KeyId, material, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx(), &kms.CreateAliasInput{AliasName: aws.String("alias/kept"), TargetKeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"tenant": "t1"}
	blob := encrypt(t, c, "alias/kept", []byte("survives restart"), ec)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("data file mode %v, want 0600", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries, want just the data file (temp files left behind?)", len(entries))
	}

	second := startServer(t, cfg)
	c2 := anyClient(t, second)
	if got := decrypt(t, c2, blob, ec); string(got) != "survives restart" {
		t.Fatalf("after restart = %q", got)
	}
	if md := describe(t, c2, "alias/kept"); md.Origin != types.OriginTypeExternal || md.KeyState != types.KeyStateEnabled {
		t.Fatalf("after restart: %s %s", md.Origin, md.KeyState)
	}
	// Re-import still recognises the material after a restart.
	if err := importMaterial(t, c2, *k.KeyId, material, nil); err != nil {
		t.Fatal(err)
	}
}

// TestSaveTo copies a server kept only in memory to a data file another
// kmslocal starts from (the cold-miss benchmark's second process does).
func TestSaveTo(t *testing.T) {
	clock := kmslocal.NewManualClock(t0)
	first := startServer(t, kmslocal.Config{Clock: clock.Now})
	c := anyClient(t, first)
	k := createKey(t, c, &kms.CreateKeyInput{})
	ec := map[string]string{"tenant": "t1"}
	blob := encrypt(t, c, *k.KeyId, []byte("copied"), ec)
	file := filepath.Join(t.TempDir(), "copy.json")
	if err := first.SaveTo(file); err != nil {
		t.Fatal(err)
	}
	second := startServer(t, kmslocal.Config{Clock: clock.Now, DataFile: file})
	if got := decrypt(t, anyClient(t, second), blob, ec); string(got) != "copied" {
		t.Fatalf("in the copy = %q", got)
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("copy: %v %v", info, err)
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{
  "defaultAccount": "111122223333",
  "principals": [{"accessKeyId": "AKIAEXAMPLEALICE", "secretAccessKey": "s", "arn": "arn:aws:iam::111122223333:user/alice"}],
  "roles": [{"arn": "arn:aws:iam::111122223333:role/keyport-access", "trustedPrincipals": ["arn:aws:iam::999988887777:root"], "externalId": "kp-ext-123"}]
}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"principal": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := kmslocal.LoadConfigFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Principals) != 1 || cfg.Roles[0].ExternalID != "kp-ext-123" || cfg.Principals[0].ARN != aliceARN {
		t.Fatalf("config = %+v", cfg)
	}
	if _, err := kmslocal.New(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := kmslocal.LoadConfigFile(bad); err == nil {
		t.Fatal("config with an unknown field loaded")
	}
	if _, err := kmslocal.New(kmslocal.Config{Principals: []kmslocal.Principal{{AccessKeyID: "A", SecretAccessKey: "s", ARN: "not-an-arn"}}}); err == nil {
		t.Fatal("principal with a bad ARN accepted")
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"keyport/keysvc"
	"keyport/models"
)

func TestAPIKeyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})
	db := openDevStore(t, env)
	u, _, _ := db.UpsertOIDCUser(ctx, "https://idp", "s", "a@b.test", "")
	tenant, err := db.CreateTenantWithOwner(ctx, "b.test", u.ID, models.AuditInput{Actor: u.ID, Action: "tenant.created"})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// The key alone on stdout.
	var out bytes.Buffer
	if err := run(ctx, []string{"apikey", "create", "--tenant", tenant.ID, "--role", "auditor", "--name", "nightly report"}, env, &out); err != nil {
		t.Fatalf("apikey create: %v", err)
	}
	key := strings.TrimSuffix(out.String(), "\n")
	if !strings.HasPrefix(key, "kpa_kak_") || strings.ContainsAny(key, " \n") {
		t.Fatalf("output = %q, want the key alone", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"apikey", "create", "--tenant", tenant.ID, "--role", "admin", "--name", "short", "--expires", "12h"}, env, &out); err != nil {
		t.Fatalf("apikey create --expires 12h: %v", err)
	}

	// It authenticates as the tenant's auditor, expiring in 90 days.
	db = openDevStore(t, env)
	defer db.Close()
	svc := keysvc.NewService(keysvc.Deps{DB: db})
	info, err := svc.AuthenticateAPIKey(ctx, key)
	if err != nil || info.TenantID != tenant.ID || info.Role != models.RoleAuditor || info.Name != "nightly report" {
		t.Fatalf("authenticate: %+v %v", info, err)
	}
	row, err := db.TenantAPIKey(ctx, tenant.ID, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(*row.ExpiresAt); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Fatalf("expires in %v, want 90 days", d)
	}
	ks, err := db.ListAPIKeys(ctx, tenant.ID)
	if err != nil || len(ks) != 2 {
		t.Fatalf("%d keys, %v", len(ks), err)
	}
	for _, k := range ks {
		if k.Name == "short" && time.Until(*k.ExpiresAt) > 13*time.Hour {
			t.Fatalf("--expires 12h made a key expiring at %v", k.ExpiresAt)
		}
	}

	// Refused input creates nothing.
	for _, bad := range [][]string{
		{"apikey"},
		{"apikey", "mint"},
		{"apikey", "create", "--role", "admin", "--name", "x"},
		{"apikey", "create", "--tenant", tenant.ID, "--name", "x"},
		{"apikey", "create", "--tenant", tenant.ID, "--role", "owner", "--name", "x"},
		{"apikey", "create", "--tenant", tenant.ID, "--role", "admin"},
		{"apikey", "create", "--tenant", tenant.ID, "--role", "admin", "--name", "x", "--expires", "366d"},
		{"apikey", "create", "--tenant", tenant.ID, "--role", "admin", "--name", "x", "--expires", "30m"},
		{"apikey", "create", "--tenant", tenant.ID, "--role", "admin", "--name", "x", "--expires", "forever"},
		{"apikey", "create", "--tenant", "tnt_nosuch", "--role", "admin", "--name", "x"},
		{"apikey", "create", "--tenant", tenant.ID, "--role", "admin", "--name", "x", "extra"},
	} {
		out.Reset()
		if err := run(ctx, bad, env, &out); err == nil || out.Len() != 0 {
			t.Errorf("%v: err %v, printed %q", bad, err, out.String())
		}
	}
	if ks, _ := db.ListAPIKeys(ctx, tenant.ID); len(ks) != 2 {
		t.Fatalf("refused input made keys: %d", len(ks))
	}
}

// TestAPIKeyHelp: --help and -h print the usage with no configuration at
// all.
func TestAPIKeyHelp(t *testing.T) {
	t.Chdir(t.TempDir())
	noEnv := func(string) string { return "" }
	for args, want := range map[string]string{"apikey --help": apikeyUsage, "apikey -h": apikeyUsage,
		"apikey create --help": apikeyCreateUsage, "apikey create -h": apikeyCreateUsage,
		"apikey create --tenant x --help": apikeyCreateUsage} {
		var out bytes.Buffer
		if err := run(context.Background(), strings.Fields(args), noEnv, &out); err != nil || out.String() != want {
			t.Errorf("keyport %s: %v, %q", args, err, out.String())
		}
	}
	if err := run(context.Background(), []string{"apikey", "create", "--tenant", "x", "--role", "admin", "--name", "x"}, noEnv, io.Discard); err == nil {
		t.Error("apikey create ran without configuration")
	}
}

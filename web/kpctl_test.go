package web_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keyport/cmd/kpctl/cli"
)

// kpctl runs the CLI against the world's running server with key and env,
// returning its exit code and output.
func (w *manageWorld) kpctl(t *testing.T, key string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		switch k {
		case "KEYPORT_URL":
			return w.s.URL
		case "KEYPORT_API_KEY":
			return key
		}
		return env[k]
	}
	code := cli.Run(t.Context(), args, getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestKpctlCommandsAndExitCodes(t *testing.T) {
	w := newManageWorld(t)
	env := map[string]string{"PROD_SECRET": awsUserSecret}
	code, out, errOut := w.kpctl(t, w.adminA, env, "connections", "create", "--name", "Prod", "--access-key-id", awsUserAKID,
		"--secret-env", "PROD_SECRET", "--account-id", awsTenantAcct, "--region", awsRegion)
	if code != cli.ExitOK || !strings.Contains(out, "Prod") || strings.Contains(out+errOut, awsUserSecret) {
		t.Fatalf("create: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = w.kpctl(t, w.adminA, nil, "-o", "json", "connections", "list")
	var list []map[string]any
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("list -o json: %d %s", code, out)
	}
	id := list[0]["id"].(string)
	if code, out, _ = w.kpctl(t, w.adminA, nil, "connections", "test", id); code != cli.ExitOK || !strings.Contains(out, "true") {
		t.Fatalf("test: %d %s", code, out)
	}
	code, out, _ = w.kpctl(t, w.adminA, nil, "connections", "list")
	if code != cli.ExitOK || !strings.HasPrefix(out, "ID") || !strings.Contains(out, id) {
		t.Fatalf("table: %d\n%s", code, out)
	}
	// Exit codes scripts branch on.
	for _, c := range []struct {
		name string
		key  string
		args []string
		want int
	}{
		{"unknown key", "kpa_kak_nosuch_" + strings.Repeat("A", 43), []string{"connections", "list"}, cli.ExitAuth},
		{"auditor writes", w.auditorA, []string{"connections", "delete", id}, cli.ExitAuth},
		{"other tenant", w.adminB, []string{"connections", "get", id}, cli.ExitNotFound},
		{"refused", w.adminA, []string{"connections", "create", "--name", "Prod", "--role-arn", "arn:aws:iam::123:role/x"}, cli.ExitAPI},
		{"usage", w.adminA, []string{"connections", "frobnicate"}, cli.ExitUsage},
		{"no key", "", []string{"connections", "list"}, cli.ExitUsage},
		{"help", "", []string{"--help"}, cli.ExitOK},
	} {
		if code, _, errOut := w.kpctl(t, c.key, nil, c.args...); code != c.want {
			t.Errorf("%s: exit %d, want %d (%s)", c.name, code, c.want, errOut)
		}
	}
	// A missing secret variable is a usage error, and no request is sent.
	if code, _, errOut := w.kpctl(t, w.adminA, nil, "connections", "create", "--name", "X", "--access-key-id", awsUserAKID, "--secret-env", "UNSET_VAR"); code != cli.ExitUsage || !strings.Contains(errOut, "UNSET_VAR") {
		t.Fatalf("unset secret variable: %d %s", code, errOut)
	}
}

func TestKpctlApplyTwiceChangesNothing(t *testing.T) {
	w := newManageWorld(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "keyport.yaml")
	kmsKey := w.s.tenantKMSKey(t, "")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`connections:
  - name: prod-user
    account_id: "` + awsTenantAcct + `"
    region: ` + awsRegion + `
    access_key_id: ` + awsUserAKID + `
    secret_access_key_env: PROD_AWS_SECRET
  - name: prod-role
    role_arn: ` + awsRoleARN + `
members:
  - email: auditor@alpha.test
    role: auditor
  - email: owner@alpha.test
    role: admin
keys:
  - name: orders
    connection: prod-user
    key_arns: [` + kmsKey + `]
    rotation_policy:
      period_days: 90
      notice_days: [7, 30]
      automatic: true
webhooks:
  - url: https://hooks.example.com/keyport
    events: [key.rotated, notice.due]
`)
	env := map[string]string{"PROD_AWS_SECRET": awsUserSecret}
	code, out, errOut := w.kpctl(t, w.adminA, env, "plan", "-f", file)
	if code != cli.ExitChanges || !strings.Contains(out, `+ connection "prod-user"`) || !strings.Contains(out, `+ connection "prod-role"`) ||
		!strings.Contains(out, "+ webhook https://hooks.example.com/keyport") || !strings.Contains(out, `+ key "orders"`) ||
		!strings.Contains(out, "+ invitation auditor@alpha.test as auditor") || !strings.Contains(out, "! member owner@alpha.test is an owner") {
		t.Fatalf("plan: %d\n%s\n%s", code, out, errOut)
	}
	if n := len(w.call(t, "GET", "/connections", w.adminA, nil).items()); n != 0 {
		t.Fatalf("plan changed something: %d connections", n)
	}
	if code, out, errOut = w.kpctl(t, w.adminA, env, "apply", "-f", file); code != cli.ExitOK || !strings.Contains(out, "Applied: 5 change(s)") {
		t.Fatalf("apply: %d\n%s\n%s", code, out, errOut)
	}
	keys := w.call(t, "GET", "/keys?q=orders", w.adminA, nil).want(t, 200, "").items()
	if len(keys) != 1 {
		t.Fatalf("keys after apply: %v", keys)
	}
	pol := w.call(t, "GET", "/keys/"+keys[0]["id"].(string)+"/rotation-policy", w.adminA, nil).want(t, 200, "")
	if pol.Body["period_days"] != float64(90) || pol.Body["automatic"] != true {
		t.Fatalf("rotation policy after apply: %s", pol.Raw)
	}
	before := len(w.s.auditActions(t, w.tenantA))
	code, out, _ = w.kpctl(t, w.adminA, env, "apply", "-f", file)
	if code != cli.ExitOK || !strings.Contains(out, "No changes") {
		t.Fatalf("second apply: %d\n%s", code, out)
	}
	if after := len(w.s.auditActions(t, w.tenantA)); after != before {
		t.Fatalf("the second apply wrote %d audit events", after-before)
	}
	if code, out, _ = w.kpctl(t, w.adminA, env, "plan", "-f", file); code != cli.ExitOK {
		t.Fatalf("plan after apply: %d\n%s", code, out)
	}
	// A changed file changes only what differs.
	write(`webhooks:
  - url: https://hooks.example.com/keyport
    events: [key.rotated, key.deactivated]
`)
	if code, out, _ = w.kpctl(t, w.adminA, env, "apply", "-f", file); code != cli.ExitOK || !strings.Contains(out, "~ webhook") || !strings.Contains(out, "Applied: 1 change(s)") {
		t.Fatalf("apply a change: %d\n%s", code, out)
	}
	if code, out, _ = w.kpctl(t, w.adminA, env, "plan", "-f", file); code != cli.ExitOK {
		t.Fatalf("plan after the change: %d\n%s", code, out)
	}
	// A secret in the file is refused before anything is sent.
	write("connections:\n  - name: leaked\n    access_key_id: " + awsUserAKID + "\n    secret_access_key: " + awsUserSecret + "\n")
	if code, _, errOut = w.kpctl(t, w.adminA, env, "apply", "-f", file); code != cli.ExitUsage || strings.Contains(errOut, awsUserSecret) {
		t.Fatalf("secret in file: %d %s", code, errOut)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"keyport/models"
)

// TestHelpForEveryCommand: every command and subcommand prints its usage
// for --help, -h and `keyport help ...` and exits 0 with no configuration
// at all: no variable set, no data directory made, no database opened.
func TestHelpForEveryCommand(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir()) // `keyport dev` would make ./data here
	noEnv := func(string) string { return "" }
	for words, want := range commandUsage {
		w := strings.Fields(words)
		for _, args := range [][]string{append(slices.Clone(w), "--help"), append(slices.Clone(w), "-h"), append([]string{"help"}, w...)} {
			var out bytes.Buffer
			err := run(ctx, args, noEnv, &out)
			if err != nil || out.String() != want {
				t.Errorf("keyport %s: err %v, printed %q", strings.Join(args, " "), err, out.String())
			}
		}
		if !strings.HasPrefix(want, "usage: keyport "+w[0]) {
			t.Errorf("usage of %q does not start with its synopsis", words)
		}
	}
	// Help after flags and arguments answers the command's usage too.
	var out bytes.Buffer
	if err := run(ctx, []string{"tenant", "create", "--name", "x", "--help"}, noEnv, &out); err != nil || out.String() != commandUsage["tenant create"] {
		t.Errorf("tenant create --name x --help: %v, %q", err, out.String())
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		out.Reset()
		if err := run(ctx, args, noEnv, &out); err != nil || out.String() != usage {
			t.Errorf("keyport %v: %v, %q", args, err, out.String())
		}
	}
	// The overview names every command that has a usage, and every
	// command it names has one (a new command cannot forget its help).
	for words := range commandUsage {
		if !strings.Contains(usage, "  "+strings.Fields(words)[0]) {
			t.Errorf("keyport help does not list %q", words)
		}
	}
	word := regexp.MustCompile(`^[a-z]+$`)
	for _, line := range strings.Split(usage, "\n") {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		var words []string
		for _, w := range strings.Fields(line) {
			if !word.MatchString(w) {
				break
			}
			words = append(words, w)
		}
		// "backup PATH" is backup; "audit verify" is audit verify, unless
		// the second word is the description ("dev  run with ...").
		for len(words) > 0 && commandUsage[strings.Join(words, " ")] == "" {
			words = words[:len(words)-1]
		}
		if len(words) == 0 {
			t.Errorf("keyport help lists %q, which has no usage in commandUsage", strings.TrimSpace(line))
		}
	}
	if err := run(ctx, []string{"help", "frobnicate"}, noEnv, io.Discard); err == nil || exitCode(err) != 2 {
		t.Errorf("help for an unknown command: %v", err)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("help wrote into the working directory: %v", entries)
	}
}

var tenantID = regexp.MustCompile(`^tnt_[a-z0-9]+\n$`)

// TestTenantCommand: tenant create prints the id alone, tenant list prints
// aligned ID NAME OWNER columns under a header, both are audited, and bad
// input is refused with exit status 2 before any database is touched.
func TestTenantCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := envOf(map[string]string{"KEYPORT_DEV": "true", "KEYPORT_DATA_DIR": dir})

	var out bytes.Buffer
	if err := run(ctx, []string{"tenant", "create", "--name", "Acme Corp", "--owner", "Alice@Acme.test"}, env, &out); err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	if !tenantID.MatchString(out.String()) {
		t.Fatalf("tenant create printed %q, want the id alone", out.String())
	}
	acme := strings.TrimSpace(out.String())
	out.Reset()
	if err := run(ctx, []string{"tenant", "create", "--owner=bo@b.test", "--name=B"}, env, &out); err != nil {
		t.Fatal(err)
	}
	b := strings.TrimSpace(out.String())

	// An owner who has signed in is listed instead of the pending email.
	db := openDevStore(t, env)
	u, _, _ := db.UpsertOIDCUser(ctx, "https://idp", "s", "bo@b.test", "Bo")
	if got, err := db.ClaimOwnerBinding(ctx, u.ID, u.Email, models.AuditInput{Actor: u.ID}); err != nil || got != b {
		t.Fatalf("claim: %q, %v", got, err)
	}
	db.Close()

	out.Reset()
	if err := run(ctx, []string{"tenant", "list"}, env, &out); err != nil {
		t.Fatalf("tenant list: %v", err)
	}
	want := "ID                            NAME       OWNER\n" +
		acme + "  Acme Corp  alice@acme.test\n" +
		b + "  B          bo@b.test\n"
	if out.String() != want {
		t.Errorf("tenant list printed\n%s\nwant\n%s", out.String(), want)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"tenant"}, "usage: keyport tenant"},
		{[]string{"tenant", "delete"}, `unknown tenant command "delete"`},
		{[]string{"tenant", "create", "--owner", "x@y.test"}, "--name is required"},
		{[]string{"tenant", "create", "--name", "X"}, "--owner is required"},
		{[]string{"tenant", "create", "--name", "X", "--owner", "not-an-email"}, `--owner "not-an-email" is not an email address`},
		{[]string{"tenant", "create", "--name", "X", "--owner", "X <x@y.test>"}, "is not an email address"},
		{[]string{"tenant", "create", "--name", "X", "--owner", "x@y.test", "extra"}, `unexpected argument "extra"`},
		{[]string{"tenant", "create", "--nme", "X"}, "flag provided but not defined: -nme"},
		{[]string{"tenant", "create", "--name", "ACME CORP", "--owner", "x@y.test"}, `--name "ACME CORP" is already the name of another tenant`},
		{[]string{"tenant", "create", "--name", "Other", "--owner", "alice@acme.test"}, "already waiting to become the owner of tenant " + acme},
		{[]string{"tenant", "create", "--name", strings.Repeat("n", 101), "--owner", "x@y.test"}, "--name must be at most 100 characters"},
		{[]string{"tenant", "list", "--all"}, "takes no arguments"},
	}
	for _, tc := range bad {
		err := run(ctx, tc.args, env, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v (exit %d), want %q and exit 2", tc.args, err, exitCode(err), tc.want)
		}
	}
	// Refused flags need no configuration: nothing is opened.
	noEnv := func(string) string { return "" }
	if err := run(ctx, []string{"tenant", "create", "--name", "X"}, noEnv, io.Discard); err == nil || exitCode(err) != 2 {
		t.Errorf("without configuration: %v", err)
	}

	db = openDevStore(t, env)
	defer db.Close()
	ts, _ := db.ListTenants(ctx)
	if len(ts) != 2 {
		t.Errorf("%d tenants after the refusals, want 2", len(ts))
	}
	var actions []string
	for _, scope := range []string{"", acme} {
		evs, err := db.ListAudit(ctx, scope, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			actions = append(actions, e.Actor+" "+e.Action)
		}
	}
	for _, want := range []string{"keyport tenant create tenant.created", "keyport tenant list tenant.listed"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit lacks %q: %v", want, actions)
		}
	}
}

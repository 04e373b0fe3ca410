package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// File is keyport.yaml: the connections, keys, rotation policies, members
// and webhooks a tenant declares. kpctl creates what is missing and changes
// what differs; it never deletes what the file leaves out. Secrets are
// named environment variables, never values in the file.
type File struct {
	Connections []FileConnection `yaml:"connections"`
	Keys        []FileKey        `yaml:"keys"`
	Members     []FileMember     `yaml:"members"`
	Webhooks    []FileWebhook    `yaml:"webhooks"`
}

// FileConnection declares an AWS connection: an access key (whose secret
// is read from the variable SecretAccessKeyEnv names) or a role.
type FileConnection struct {
	Name               string `yaml:"name"`
	AccountID          string `yaml:"account_id"`
	Region             string `yaml:"region"`
	AccessKeyID        string `yaml:"access_key_id"`
	SecretAccessKeyEnv string `yaml:"secret_access_key_env"`
	RoleARN            string `yaml:"role_arn"`
}

// FileKey declares a registered customer-managed key and, optionally, its
// minimum decryption version and rotation policy (the body of PUT
// /keys/{id}/rotation-policy; fields left out are not compared).
type FileKey struct {
	Name                 string         `yaml:"name"`
	Connection           string         `yaml:"connection"` // a connection's name in this file or in keyport
	KeyARNs              []string       `yaml:"key_arns"`
	MinDecryptionVersion int64          `yaml:"min_decryption_version"`
	RotationPolicy       map[string]any `yaml:"rotation_policy"`
}

// FileMember declares a member by email: invited when not a member yet.
type FileMember struct {
	Email string `yaml:"email"`
	Role  string `yaml:"role"`
}

// FileWebhook declares a webhook endpoint by its URL.
type FileWebhook struct {
	URL    string   `yaml:"url"`
	Events []string `yaml:"events"`
}

// readFile reads and checks a keyport.yaml.
func readFile(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("read %s: %v", path, err)
	}
	if bytes.Contains(raw, []byte("secret_access_key:")) {
		return nil, usagef("%s: secrets never go in the file; name an environment variable with secret_access_key_env instead", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, usagef("%s: %v", path, err)
	}
	seen := map[string]bool{}
	dup := func(kind, name string) error {
		k := kind + "\x00" + strings.ToLower(name)
		if seen[k] {
			return usagef("%s: %s %q is declared twice", path, kind, name)
		}
		seen[k] = true
		return nil
	}
	for i, c := range f.Connections {
		switch {
		case c.Name == "":
			return nil, usagef("%s: connections[%d] has no name", path, i)
		case (c.RoleARN == "") == (c.AccessKeyID == ""):
			return nil, usagef("%s: connection %q needs either role_arn, or access_key_id with secret_access_key_env", path, c.Name)
		case c.AccessKeyID != "" && c.SecretAccessKeyEnv == "":
			return nil, usagef("%s: connection %q needs secret_access_key_env, the environment variable holding its secret", path, c.Name)
		}
		if err := dup("connection", c.Name); err != nil {
			return nil, err
		}
	}
	for i, k := range f.Keys {
		if k.Name == "" || k.Connection == "" || len(k.KeyARNs) == 0 {
			return nil, usagef("%s: keys[%d] needs name, connection and key_arns", path, i)
		}
		if err := dup("key", k.Name); err != nil {
			return nil, err
		}
	}
	for i, m := range f.Members {
		if m.Email == "" || (m.Role != "admin" && m.Role != "auditor") {
			return nil, usagef("%s: members[%d] needs an email and a role, admin or auditor", path, i)
		}
		if err := dup("member", m.Email); err != nil {
			return nil, err
		}
	}
	for i, w := range f.Webhooks {
		if w.URL == "" || len(w.Events) == 0 {
			return nil, usagef("%s: webhooks[%d] needs a url and events", path, i)
		}
		if err := dup("webhook", w.URL); err != nil {
			return nil, err
		}
	}
	return &f, nil
}

// change is one step of a plan.
type change struct {
	line  string // what it does, for people
	apply func(ctx context.Context) error
}

// declare plans (and with apply=true applies) a file.
func (x *cmd) declare(ctx context.Context, apply bool, args []string) error {
	var path string
	if _, err := flags(args, 0, func(fs *flag.FlagSet) { fs.StringVar(&path, "f", "", "") }); err != nil {
		return err
	}
	if path == "" {
		return usagef("give the file with -f keyport.yaml")
	}
	f, err := readFile(path)
	if err != nil {
		return err
	}
	p := &planner{x: x, f: f, connIDs: map[string]string{}}
	changes, err := p.plan(ctx)
	if err != nil {
		return err
	}
	for _, w := range p.warnings {
		fmt.Fprintln(x.out, "! "+w)
	}
	verb := "Plan"
	if apply {
		verb = "Applied"
	}
	if len(changes) == 0 {
		fmt.Fprintf(x.out, "No changes: keyport matches %s.\n", path)
		return nil
	}
	for i, c := range changes {
		fmt.Fprintln(x.out, c.line)
		if apply {
			if err := c.apply(ctx); err != nil {
				return fmt.Errorf("%s (after %d of %d changes applied): %w", strings.TrimSpace(c.line), i, len(changes), err)
			}
		}
	}
	fmt.Fprintf(x.out, "%s: %d change(s).\n", verb, len(changes))
	if !apply {
		return changesPending{len(changes)}
	}
	return nil
}

// planner compares a file with what keyport has.
type planner struct {
	x        *cmd
	f        *File
	connIDs  map[string]string // lower-case connection name -> id (filled as connections are created)
	warnings []string          // what the file asks and kpctl will not do
}

func (p *planner) plan(ctx context.Context) ([]change, error) {
	var out []change
	c := p.x.c
	conns, err := c.list(ctx, "/connections")
	if err != nil {
		return nil, err
	}
	byName := func(items []map[string]any, field string) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, it := range items {
			if s, ok := it[field].(string); ok {
				m[strings.ToLower(s)] = it
			}
		}
		return m
	}
	have := byName(conns, "name")
	for _, it := range conns {
		p.connIDs[strings.ToLower(it["name"].(string))] = it["id"].(string)
	}
	for _, fc := range p.f.Connections {
		ch, err := p.connection(fc, have[strings.ToLower(fc.Name)])
		if err != nil {
			return nil, err
		}
		out = append(out, ch...)
	}
	if len(p.f.Keys) > 0 {
		keys, err := c.list(ctx, "/keys")
		if err != nil {
			return nil, err
		}
		haveKeys := byName(keys, "name")
		for _, fk := range p.f.Keys {
			ch, err := p.key(ctx, fk, haveKeys[strings.ToLower(fk.Name)])
			if err != nil {
				return nil, err
			}
			out = append(out, ch...)
		}
	}
	if len(p.f.Members) > 0 {
		members, err := c.list(ctx, "/members")
		if err != nil {
			return nil, err
		}
		invs, err := c.list(ctx, "/invitations")
		if err != nil {
			return nil, err
		}
		haveMembers, haveInvs := byName(members, "email"), byName(invs, "email")
		for _, fm := range p.f.Members {
			out = append(out, p.member(fm, haveMembers[strings.ToLower(fm.Email)], haveInvs[strings.ToLower(fm.Email)])...)
		}
	}
	if len(p.f.Webhooks) > 0 {
		hooks, err := c.list(ctx, "/webhooks")
		if err != nil {
			return nil, err
		}
		haveHooks := byName(hooks, "url")
		for _, fw := range p.f.Webhooks {
			out = append(out, p.webhook(fw, haveHooks[strings.ToLower(fw.URL)])...)
		}
	}
	return out, nil
}

func (p *planner) connection(fc FileConnection, have map[string]any) ([]change, error) {
	c := p.x.c
	var secret string
	if fc.SecretAccessKeyEnv != "" {
		var err error
		if secret, err = p.x.secretFromEnv("secret_access_key_env of connection "+fc.Name, fc.SecretAccessKeyEnv); err != nil {
			return nil, err
		}
	}
	if have == nil {
		body := map[string]any{"name": fc.Name}
		what := "role " + fc.RoleARN
		if fc.RoleARN != "" {
			body["kind"], body["role_arn"] = "role", fc.RoleARN
		} else {
			body["kind"], body["access_key_id"], body["secret_access_key"] = "access_key", fc.AccessKeyID, secret
			what = "access key …" + last4(fc.AccessKeyID)
		}
		if fc.AccountID != "" {
			body["account_id"] = fc.AccountID
		}
		if fc.Region != "" {
			body["region"] = fc.Region
		}
		return []change{{line: fmt.Sprintf("+ connection %q (%s)", fc.Name, what), apply: func(ctx context.Context) error {
			var obj map[string]any
			if err := c.do(ctx, http.MethodPost, "/connections", body, &obj); err != nil {
				return err
			}
			p.connIDs[strings.ToLower(fc.Name)] = obj["id"].(string)
			return nil
		}}}, nil
	}
	id := have["id"].(string)
	kind, _ := have["kind"].(string)
	switch {
	case fc.RoleARN != "" && kind != "role", fc.AccessKeyID != "" && kind != "access_key":
		return nil, usagef("connection %q is a %s connection in keyport; a connection cannot change kind (create another one)", fc.Name, kind)
	case fc.RoleARN != "" && have["role_arn"] != fc.RoleARN:
		return []change{{line: fmt.Sprintf("~ connection %q: role %v -> %s (tested before it replaces the old one)", fc.Name, have["role_arn"], fc.RoleARN),
			apply: func(ctx context.Context) error {
				return c.do(ctx, http.MethodPatch, "/connections/"+url.PathEscape(id), map[string]any{"role_arn": fc.RoleARN}, nil)
			}}}, nil
	case fc.AccessKeyID != "" && have["access_key_last4"] != last4(fc.AccessKeyID):
		// keyport never shows a secret, so a new secret is noticed by its
		// new access key id: rotating an access key makes a new one.
		return []change{{line: fmt.Sprintf("~ connection %q: access key …%v -> …%s (tested before it replaces the old one)", fc.Name, have["access_key_last4"], last4(fc.AccessKeyID)),
			apply: func(ctx context.Context) error {
				return c.do(ctx, http.MethodPatch, "/connections/"+url.PathEscape(id),
					map[string]any{"access_key_id": fc.AccessKeyID, "secret_access_key": secret}, nil)
			}}}, nil
	}
	return nil, nil
}

func (p *planner) key(ctx context.Context, fk FileKey, have map[string]any) ([]change, error) {
	c := p.x.c
	var out []change
	if have == nil {
		out = append(out, change{line: fmt.Sprintf("+ key %q (%s via connection %q)", fk.Name, strings.Join(fk.KeyARNs, ", "), fk.Connection),
			apply: func(ctx context.Context) error {
				connID, ok := p.connIDs[strings.ToLower(fk.Connection)]
				if !ok {
					return usagef("key %q names connection %q, which is neither in keyport nor in the file", fk.Name, fk.Connection)
				}
				var obj map[string]any
				if err := c.do(ctx, http.MethodPost, "/keys", map[string]any{"name": fk.Name, "connection_id": connID, "key_arns": fk.KeyARNs}, &obj); err != nil {
					return err
				}
				id := obj["id"].(string)
				if fk.MinDecryptionVersion > 0 {
					if err := c.do(ctx, http.MethodPatch, "/keys/"+url.PathEscape(id), map[string]any{"min_decryption_version": fk.MinDecryptionVersion}, nil); err != nil {
						return err
					}
				}
				if fk.RotationPolicy != nil {
					return c.do(ctx, http.MethodPut, "/keys/"+url.PathEscape(id)+"/rotation-policy", fk.RotationPolicy, nil)
				}
				return nil
			}})
		if _, ok := p.connIDs[strings.ToLower(fk.Connection)]; !ok && !p.declaresConnection(fk.Connection) {
			return nil, usagef("key %q names connection %q, which is neither in keyport nor in the file", fk.Name, fk.Connection)
		}
		return out, nil
	}
	id := have["id"].(string)
	if v, _ := have["min_decryption_version"].(float64); fk.MinDecryptionVersion > 0 && int64(v) != fk.MinDecryptionVersion {
		out = append(out, change{line: fmt.Sprintf("~ key %q: min_decryption_version %v -> %s", fk.Name, v, itoa(fk.MinDecryptionVersion)),
			apply: func(ctx context.Context) error {
				return c.do(ctx, http.MethodPatch, "/keys/"+url.PathEscape(id), map[string]any{"min_decryption_version": fk.MinDecryptionVersion}, nil)
			}})
	}
	if fk.RotationPolicy != nil {
		var cur map[string]any
		if err := c.do(ctx, http.MethodGet, "/keys/"+url.PathEscape(id)+"/rotation-policy", nil, &cur); err != nil {
			return nil, err
		}
		if diff := subsetDiff(fk.RotationPolicy, cur); diff != "" {
			out = append(out, change{line: fmt.Sprintf("~ key %q: rotation policy %s", fk.Name, diff), apply: func(ctx context.Context) error {
				return c.do(ctx, http.MethodPut, "/keys/"+url.PathEscape(id)+"/rotation-policy", fk.RotationPolicy, nil)
			}})
		}
	}
	return out, nil
}

func (p *planner) declaresConnection(name string) bool {
	return slices.ContainsFunc(p.f.Connections, func(c FileConnection) bool { return strings.EqualFold(c.Name, name) })
}

func (p *planner) member(fm FileMember, member, invitation map[string]any) []change {
	c := p.x.c
	switch {
	case member != nil && member["role"] == fm.Role:
		return nil
	case member != nil:
		if member["role"] == "owner" {
			p.warnings = append(p.warnings, fmt.Sprintf("member %s is an owner in keyport; API keys do not change owners, so it is left alone", fm.Email))
			return nil
		}
		uid, _ := member["user_id"].(string)
		return []change{{line: fmt.Sprintf("~ member %s: %v -> %s", fm.Email, member["role"], fm.Role), apply: func(ctx context.Context) error {
			return c.do(ctx, http.MethodPatch, "/members/"+url.PathEscape(uid), map[string]any{"role": fm.Role}, nil)
		}}}
	case invitation != nil && invitation["role"] == fm.Role && invitation["expired"] == true:
		id, _ := invitation["id"].(string)
		return []change{{line: fmt.Sprintf("~ invitation %s: expired, sent again", fm.Email), apply: func(ctx context.Context) error {
			return c.do(ctx, http.MethodPost, "/invitations/"+url.PathEscape(id)+"/resend", nil, nil)
		}}}
	case invitation != nil && invitation["role"] == fm.Role:
		return nil // invited; the invitation is pending
	}
	return []change{{line: fmt.Sprintf("+ invitation %s as %s", fm.Email, fm.Role), apply: func(ctx context.Context) error {
		return c.do(ctx, http.MethodPost, "/invitations", map[string]any{"email": fm.Email, "role": fm.Role}, nil)
	}}}
}

func (p *planner) webhook(fw FileWebhook, have map[string]any) []change {
	c := p.x.c
	want := slices.Sorted(slices.Values(fw.Events))
	if have == nil {
		return []change{{line: fmt.Sprintf("+ webhook %s (%s)", fw.URL, strings.Join(want, ", ")), apply: func(ctx context.Context) error {
			return c.do(ctx, http.MethodPost, "/webhooks", map[string]any{"url": fw.URL, "events": want}, nil)
		}}}
	}
	var got []string
	for _, e := range anySlice(have["events"]) {
		got = append(got, fmt.Sprint(e))
	}
	slices.Sort(got)
	if slices.Equal(got, want) {
		return nil
	}
	id := have["id"].(string)
	return []change{{line: fmt.Sprintf("~ webhook %s: events %s -> %s", fw.URL, strings.Join(got, ", "), strings.Join(want, ", ")),
		apply: func(ctx context.Context) error {
			return c.do(ctx, http.MethodPatch, "/webhooks/"+url.PathEscape(id), map[string]any{"events": want}, nil)
		}}}
}

// subsetDiff describes the fields of want whose values differ in have
// (numbers compared as JSON numbers), or "" when all match.
func subsetDiff(want, have map[string]any) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}) {
		if !sameJSON(want[k], have[k]) {
			parts = append(parts, fmt.Sprintf("%s %v -> %v", k, jsonText(have[k]), jsonText(want[k])))
		}
	}
	return strings.Join(parts, ", ")
}

// sameJSON compares two values as JSON; a list of numbers compares as a
// set (notice_days come back largest first, whatever order the file used).
func sameJSON(a, b any) bool {
	var na, nb any
	if json.Unmarshal([]byte(jsonText(a)), &na) != nil || json.Unmarshal([]byte(jsonText(b)), &nb) != nil {
		return false
	}
	return reflect.DeepEqual(sortNumbers(na), sortNumbers(nb))
}

func sortNumbers(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	nums := make([]float64, 0, len(l))
	for _, e := range l {
		f, ok := e.(float64)
		if !ok {
			return v
		}
		nums = append(nums, f)
	}
	slices.Sort(nums)
	return nums
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func anySlice(v any) []any { s, _ := v.([]any); return s }

func last4(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[len(s)-4:]
}

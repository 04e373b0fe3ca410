package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"keyport/keysvc"
)

// TestRewrapOverHTTP: a ciphertext under an old version comes back under
// the current one with the same plaintext and context; a wrong context is
// refused as decrypt refuses it; the batch answers per item.
func TestRewrapOverHTTP(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	k := s.Key(t, "orders")
	ctxt := map[string]string{"field": "ssn"}
	_, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64("555-12-3456"), "context": ctxt})
	if _, err := s.Service.RotateDataKey(context.Background(), s.Tenant.ID, k.ID, "test", "manual"); err != nil {
		t.Fatal(err)
	}

	st, rw, _ := s.call(t, "POST", "/api/v1/rewrap", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"], "context": ctxt})
	if st != 200 || rw["key_id"] != k.ID || rw["key_version"] != float64(2) || rw["ciphertext"] == enc["ciphertext"] || rw["plaintext"] != nil {
		t.Fatalf("rewrap: %d %v", st, rw)
	}
	st, dec, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": rw["ciphertext"], "context": ctxt})
	if st != 200 || dec["plaintext"] != b64("555-12-3456") || dec["key_version"] != float64(2) {
		t.Fatalf("decrypt of the rewrapped ciphertext: %d %v", st, dec)
	}

	// A wrong (or missing) context is refused exactly as decrypt refuses it.
	for _, c := range []map[string]string{{"field": "email"}, nil} {
		_, want, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"], "context": c})
		st, got, _ := s.call(t, "POST", "/api/v1/rewrap", s.TenantToken, map[string]any{"ciphertext": enc["ciphertext"], "context": c})
		if st != 400 || errCode(got) != "ciphertext_invalid" || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("rewrap with context %v: %d %v, decrypt says %v", c, st, got, want)
		}
	}
	// Another tenant's token cannot rewrap it.
	other, otherOwner, _, err := s.AddTenant(context.Background(), "other.example")
	if err != nil {
		t.Fatal(err)
	}
	otherTok, _, err := s.Service.NewServiceToken(context.Background(), other.ID, "other", otherOwner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, got, _ := s.call(t, "POST", "/api/v1/rewrap", otherTok, map[string]any{"ciphertext": enc["ciphertext"], "context": ctxt}); st != 404 || errCode(got) != "key_not_found" {
		t.Errorf("other tenant's rewrap: %d %v", st, got)
	}

	items := []map[string]any{
		{"ciphertext": enc["ciphertext"], "context": ctxt},
		{"ciphertext": enc["ciphertext"], "context": map[string]string{"field": "email"}},
		{"ciphertext": b64("garbage")},
		{"ciphertext": rw["ciphertext"], "context": ctxt},
	}
	st, out, _ := s.call(t, "POST", "/api/v1/rewrap/batch", s.TenantToken, map[string]any{"items": items})
	res, _ := out["items"].([]any)
	if st != 200 || len(res) != 4 {
		t.Fatalf("batch: %d %v", st, out)
	}
	for _, i := range []int{0, 3} {
		r := res[i].(map[string]any)
		if r["key_version"] != float64(2) || r["error"] != nil {
			t.Errorf("batch item %d = %v", i, r)
		}
	}
	if errCode(res[1].(map[string]any)) != "ciphertext_invalid" || errCode(res[2].(map[string]any)) != "ciphertext_malformed" {
		t.Errorf("batch errors = %v", out)
	}
	tooMany := make([]map[string]any, 101)
	for i := range tooMany {
		tooMany[i] = items[0]
	}
	if st, out, _ := s.call(t, "POST", "/api/v1/rewrap/batch", s.TenantToken, map[string]any{"items": tooMany}); st != 400 || errCode(out) != "invalid_request" {
		t.Errorf("101 items: %d %v", st, out)
	}
	if st, out, _ := s.call(t, "POST", "/api/v1/rewrap", "", map[string]any{"ciphertext": enc["ciphertext"]}); st != 401 || errCode(out) != "unauthorized" {
		t.Errorf("no token: %d %v", st, out)
	}
}

// TestRetiredVersionRefused: below the minimum decryption version, decrypt
// and rewrap answer 409 version_retired naming the minimum, on this
// replica at once and on another after its key table refresh; lowering
// the minimum brings the version back; above current is refused; every
// change is audited.
func TestRetiredVersionRefused(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	ctx := context.Background()
	k := s.Key(t, "orders")
	_, old, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64("old")})
	if _, err := s.Service.RotateDataKey(ctx, s.Tenant.ID, k.ID, "test", "manual"); err != nil {
		t.Fatal(err)
	}
	replica := s.NewService(keysvc.Config{})
	if err := replica.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	oldCT := []byte{}
	if err := json.Unmarshal([]byte(`"`+old["ciphertext"].(string)+`"`), &oldCT); err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Decrypt(ctx, s.Tenant.ID, oldCT, nil); err != nil {
		t.Fatalf("replica before retirement: %v", err)
	}

	by := keysvc.RequestBy{UserID: s.Owner.ID, RequestID: "req-1"}
	var ve *keysvc.ValidationError
	if _, err := s.Service.SetMinDecryptionVersion(ctx, s.Tenant.ID, k.ID, 3, by); !errors.As(err, &ve) || !strings.Contains(ve.Message, "current version (2)") {
		t.Fatalf("min above current: %v", err)
	}
	if _, err := s.Service.SetMinDecryptionVersion(ctx, s.Tenant.ID, k.ID, 2, by); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/decrypt", "/api/v1/rewrap"} {
		st, out, _ := s.call(t, "POST", path, s.TenantToken, map[string]any{"ciphertext": old["ciphertext"]})
		msg, _ := out["error"].(map[string]any)["message"].(string)
		if st != 409 || errCode(out) != "version_retired" || !strings.Contains(msg, "version 1") || !strings.Contains(msg, "to 2") {
			t.Errorf("%s of a retired version: %d %v", path, st, out)
		}
	}
	st, out, _ := s.call(t, "POST", "/api/v1/decrypt/batch", s.TenantToken, map[string]any{"items": []map[string]any{{"ciphertext": old["ciphertext"]}}})
	if st != 200 || errCode(out["items"].([]any)[0].(map[string]any)) != "version_retired" {
		t.Errorf("batch decrypt of a retired version: %d %v", st, out)
	}
	// The other replica learns it from the key table's revision.
	if err := replica.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Decrypt(ctx, s.Tenant.ID, oldCT, nil); !errors.Is(err, keysvc.ErrVersionRetired) {
		t.Errorf("replica after retirement: %v", err)
	}
	// Lowering it again is allowed.
	if _, err := s.Service.SetMinDecryptionVersion(ctx, s.Tenant.ID, k.ID, 1, by); err != nil {
		t.Fatal(err)
	}
	if st, out, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": old["ciphertext"]}); st != 200 || out["plaintext"] != b64("old") {
		t.Errorf("after lowering: %d %v", st, out)
	}
	events, err := s.DB.ListAudit(ctx, s.Tenant.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, e := range events {
		if e.Action == "key.min_decryption_version_changed" {
			changes = append(changes, e.Actor+" "+e.Details)
		}
	}
	if len(changes) != 2 || !strings.Contains(strings.Join(changes, "\n"), `"from":"2","to":"1"`) || !strings.Contains(changes[1], `"from":"1","to":"2"`) {
		t.Errorf("audit events = %q", changes)
	}
}

// TestRewrapRacesRotation: rewraps running while the key rotates each
// answer with a version that exists, and every result decrypts.
func TestRewrapRacesRotation(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	ctx := context.Background()
	k := s.Key(t, "orders")
	const n = 24
	cts := make([]any, n)
	for i := range cts {
		_, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64(fmt.Sprint("secret-", i))})
		cts[i] = enc["ciphertext"]
	}
	type result struct {
		status  int
		body    map[string]any
		err     error
		version float64
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range cts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			buf, _ := json.Marshal(map[string]any{"ciphertext": cts[i]})
			req, _ := http.NewRequest("POST", s.URL+"/api/v1/rewrap", bytes.NewReader(buf))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+s.TenantToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer res.Body.Close()
			results[i].status = res.StatusCode
			results[i].err = json.NewDecoder(res.Body).Decode(&results[i].body)
		}()
	}
	rotErr := make(chan error, 1)
	go func() {
		<-start
		for range 3 {
			if _, err := s.Service.RotateDataKey(ctx, s.Tenant.ID, k.ID, "test", "manual"); err != nil && !errors.Is(err, keysvc.ErrRotationRaced) {
				rotErr <- err
				return
			}
		}
		rotErr <- nil
	}()
	close(start)
	wg.Wait()
	if err := <-rotErr; err != nil {
		t.Fatal(err)
	}
	vs, err := s.Service.KeyVersions(ctx, s.Tenant.ID, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	exists := map[float64]bool{}
	for _, v := range vs {
		exists[float64(v.Version)] = true
	}
	if len(vs) != 4 {
		t.Errorf("versions after 3 rotations: %d", len(vs))
	}
	landed := map[float64]int{}
	for _, r := range results {
		v, _ := r.body["key_version"].(float64)
		landed[v]++
	}
	t.Logf("rewraps by the version they landed on: %v", landed)
	for i, r := range results {
		if r.err != nil || r.status != 200 {
			t.Errorf("rewrap %d: %d %v %v", i, r.status, r.body, r.err)
			continue
		}
		if v, _ := r.body["key_version"].(float64); !exists[v] || v < 1 {
			t.Errorf("rewrap %d names version %v, which does not exist", i, r.body["key_version"])
		}
		st, dec, _ := s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": r.body["ciphertext"]})
		if st != 200 || dec["plaintext"] != b64(fmt.Sprint("secret-", i)) || dec["key_version"] != r.body["key_version"] {
			t.Errorf("decrypt of rewrap %d: %d %v", i, st, dec)
		}
	}
}

// TestPerVersionUse: a known sequence of encrypts, decrypts and rewraps
// shows in each version's counts once the usage counter is written.
func TestPerVersionUse(t *testing.T) {
	s := newAPIStack(t, keysvc.Config{})
	ctx := context.Background()
	k := s.Key(t, "orders")
	var v1 []any
	for i := range 3 {
		_, enc, _ := s.call(t, "POST", "/api/v1/encrypt", s.TenantToken, map[string]any{"key_id": k.ID, "plaintext": b64(fmt.Sprint(i))})
		v1 = append(v1, enc["ciphertext"])
	}
	for _, ct := range v1[:2] {
		s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": ct})
	}
	if _, err := s.Service.RotateDataKey(ctx, s.Tenant.ID, k.ID, "test", "manual"); err != nil {
		t.Fatal(err)
	}
	// One rewrap and a batch of two: three decrypts of v1, three encrypts of v2.
	_, rw, _ := s.call(t, "POST", "/api/v1/rewrap", s.TenantToken, map[string]any{"ciphertext": v1[0]})
	s.call(t, "POST", "/api/v1/rewrap/batch", s.TenantToken, map[string]any{"items": []map[string]any{{"ciphertext": v1[1]}, {"ciphertext": v1[2]}}})
	s.call(t, "POST", "/api/v1/decrypt", s.TenantToken, map[string]any{"ciphertext": rw["ciphertext"]})
	if err := s.Service.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Service.KeyVersions(ctx, s.Tenant.ID, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64][2]int64{}
	for _, v := range vs {
		got[v.Version] = [2]int64{v.Encrypts, v.Decrypts}
		if v.LastUsedAt == nil || v.CreatedAt.IsZero() {
			t.Errorf("version %d: last used %v, created %v", v.Version, v.LastUsedAt, v.CreatedAt)
		}
	}
	if want := map[int64][2]int64{1: {3, 5}, 2: {3, 1}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("per-version {encrypts, decrypts} = %v, want %v", got, want)
	}
	if vs[0].Version != 2 || !vs[0].Current || vs[1].SupersededAt == nil || vs[1].LastDecryptAt == nil {
		t.Errorf("versions = %+v", vs)
	}
	// The key-wide totals still count the same operations.
	u, err := s.DB.KeyUsageTotals(ctx, s.Tenant.ID, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Encrypts != 6 || u.Decrypts != 6 {
		t.Errorf("key totals = %+v", u)
	}
	if _, err := s.Service.KeyVersions(ctx, "tenant_other", k.ID); !errors.Is(err, keysvc.ErrKeyNotFound) {
		t.Errorf("another tenant's versions: %v", err)
	}
}

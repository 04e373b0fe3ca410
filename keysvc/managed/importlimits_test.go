package managed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"keyport/models"
)

// TestImportRequestLimits: import requests are capped per tenant (open
// ones, in the database) and rate-limited per tenant, and their RSA keys
// come from a small pool filled in the background, each key used by one
// request only and never printed (issue 17 #6).
func TestImportRequestLimits(t *testing.T) {
	e := newLCEnv(t)
	ctx := context.Background()
	e.svc.imports = newImportGuard(1, rand.Reader, slog.New(slog.DiscardHandler))

	// The cap: MaxOpenImportRequests open requests refuse another; expired
	// ones do not count.
	for i := range MaxOpenImportRequests {
		r := &models.ImportRequest{ID: models.NewID("imp_"), TenantID: e.tenant.ID, StoreID: e.store.ID, KeyName: fmt.Sprint("open ", i),
			TokenHash: []byte{byte(i)}, PublicKeyPEM: "-", CreatedBy: e.by.UserID}
		if err := e.db.CreateImportRequest(ctx, r, importRequestTTL, e.by.Audit("import_request.created", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.CreateImportRequest(ctx, e.tenant.ID, e.by, e.store.ID, "one too many"); !errors.Is(err, ErrTooManyImportRequests) {
		t.Fatalf("request over the open cap: %v, want ErrTooManyImportRequests", err)
	}
	e.clk.Advance(importRequestTTL + time.Minute)

	// The rate: ImportRequestsPerHour in the last hour refuse another.
	for range ImportRequestsPerHour {
		release, err := e.svc.imports.reserve(e.tenant.ID, 0, e.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if _, err := e.svc.CreateImportRequest(ctx, e.tenant.ID, e.by, e.store.ID, "too fast"); !errors.Is(err, ErrImportRequestRate) {
		t.Fatalf("request over the rate: %v, want ErrImportRequestRate", err)
	}
	if _, err := e.svc.imports.reserve("another-tenant", 0, e.clk.Now()); err != nil {
		t.Errorf("another tenant was limited by this one's rate: %v", err)
	}
	e.clk.Advance(importRateWindow)

	// The pool: the first request (pool empty) generates its key and starts
	// the fill; the next one gets the pooled key, which leaves the pool.
	pubOf := func(nr *NewImportRequest) *rsa.PublicKey {
		block, _ := pem.Decode([]byte(nr.Request.PublicKeyPEM))
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*rsa.PublicKey)
	}
	var seen []*rsa.PublicKey
	pool := e.svc.imports.pool
	for i := range 3 {
		pool.wait()
		if pool.ready() != 1 && i > 0 {
			t.Fatalf("request %d: the pool holds %d keys, want 1", i, pool.ready())
		}
		var pooled *rsa.PublicKey
		if i > 0 {
			pool.mu.Lock()
			pooled = &pool.keys[0].PublicKey
			pool.mu.Unlock()
			for _, v := range []any{e.svc.imports, pool} {
				var buf bytes.Buffer
				slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
				slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
				fmt.Fprintf(&buf, "%v %+v %s", v, v, v)
				if n := pooled.N.String(); strings.Contains(buf.String(), n[:24]) || strings.Contains(buf.String(), pooled.N.Text(16)[:24]) {
					t.Fatalf("a pooled key reached the output: %s", buf.String())
				}
			}
		}
		nr, err := e.svc.CreateImportRequest(ctx, e.tenant.ID, e.by, e.store.ID, fmt.Sprint("key ", i))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		pub := pubOf(nr)
		if pooled != nil && !pub.Equal(pooled) {
			t.Errorf("request %d did not use the pooled key", i)
		}
		for _, s := range seen {
			if s.Equal(pub) {
				t.Fatalf("request %d shares its RSA key with an earlier request", i)
			}
		}
		seen = append(seen, pub)
	}
	pool.wait()
}

package keysvc

import (
	"context"
	"sync"
	"testing"
	"time"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// TestWrapReaderReadAhead: read-ahead wraps serve one read each, and
// whatever is left when their time is over is dropped; reads then go to
// the database.
func TestWrapReaderReadAhead(t *testing.T) {
	db, tenant, _ := testStore(t)
	ctx := context.Background()
	c := &models.Connection{TenantID: tenant.ID, Name: "c", AccountID: "111122223333", DefaultRegion: "eu-west-1", Kind: awskms.KindAssumeRole}
	if err := db.CreateConnection(ctx, c, models.AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	var refs []models.WrapRef
	for _, name := range []string{"a", "b"} {
		nk := &models.NewKey{Key: models.Key{TenantID: tenant.ID, ConnectionID: c.ID, Name: name, Mode: models.ModeCMK, State: models.StateEnabled},
			Regions: []models.KeyRegion{{Region: "eu-west-1", KMSKeyARN: "arn:" + name}},
			Version: &models.DataKeyVersion{Version: 1},
			Wraps:   []models.DataKeyWrap{{Region: "eu-west-1", KMSKeyARN: "arn:" + name, Ciphertext: []byte("wrapped " + name)}}}
		if err := db.CreateKey(ctx, nk, models.AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, models.WrapRef{TenantID: tenant.ID, KeyID: nk.Key.ID, Version: 1})
	}
	clk := &lcClock{now: time.Now()}
	r := newWrapReader(db, clk.Now)
	if err := r.readAhead(ctx, refs, 10); err != nil {
		t.Fatal(err)
	}
	ahead := func() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.ahead) }
	if n := ahead(); n != 2 {
		t.Fatalf("read ahead %d versions, want 2", n)
	}
	ws, err := r.read(ctx, refs[0])
	if err != nil || len(ws) != 1 || string(ws[0].Ciphertext) != "wrapped a" {
		t.Fatalf("read a = %+v, %v", ws, err)
	}
	if n := ahead(); n != 1 {
		t.Errorf("a read-ahead wrap served twice: %d left, want 1", n)
	}
	clk.Advance(readAheadFor)
	r.dropStale()
	if n := ahead(); n != 0 {
		t.Errorf("%d read-ahead wraps outlived their time", n)
	}
	if ws, err := r.read(ctx, refs[1]); err != nil || string(ws[0].Ciphertext) != "wrapped b" {
		t.Errorf("read b from the database = %+v, %v", ws, err)
	}
	if _, err := r.read(ctx, models.WrapRef{TenantID: tenant.ID, KeyID: refs[1].KeyID, Version: 2}); err == nil {
		t.Error("a version that does not exist was read")
	}
}

// lcClock is the store's and the service's clock in lifecycle tests, so a
// test can let a dead worker's lease run out.
type lcClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *lcClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *lcClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

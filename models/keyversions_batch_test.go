package models

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestAddDataKeyVersionConcurrent: many rotations at once, three racing
// for each key, commit in shared transactions (versionBatcher), yet each
// key moves exactly once, the losers get ErrConflict, an unknown key
// ErrNotFound, and each committed version has its wraps, its audit event
// and a revision replicas see.
func TestAddDataKeyVersionConcurrent(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := context.Background()
	tn := connTenant(t, db, "batch.test")
	c := &Connection{TenantID: tn.ID, Name: "c", AccountID: "111122223333", DefaultRegion: "us-east-1", Kind: "assume_role"}
	if err := db.CreateConnection(ctx, c, AuditInput{Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	const keys, racers = 30, 3
	var ids []string
	for i := range keys {
		nk := &NewKey{Key: Key{TenantID: tn.ID, ConnectionID: c.ID, Name: fmt.Sprintf("k%02d", i), Mode: ModeCMK, State: StateEnabled},
			Regions: []KeyRegion{{Region: "us-west-2", KMSKeyARN: "arn:w"}, {Region: "eu-west-1", KMSKeyARN: "arn:e", Priority: 1}},
			Version: &DataKeyVersion{Version: 1}, Wraps: []DataKeyWrap{{Region: "us-west-2", Ciphertext: []byte("w1")}}}
		if err := db.CreateKey(ctx, nk, AuditInput{Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, nk.Key.ID)
	}
	before, err := db.KeysChangedSince(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var maxRev int64
	for _, k := range before {
		maxRev = max(maxRev, k.Revision)
	}
	var mu sync.Mutex
	wins, conflicts := map[string]int{}, 0
	var wg sync.WaitGroup
	for _, id := range ids {
		for r := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.AddDataKeyVersion(ctx, tn.ID, id, &DataKeyVersion{Version: 2, Reason: "scheduled"},
					[]DataKeyWrap{{Region: "us-west-2", Ciphertext: []byte(fmt.Sprintf("w2-%d", r))}, {Region: "eu-west-1", Ciphertext: []byte("e2")}},
					AuditInput{Actor: "system", Action: "key.data_key_rotated"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins[id]++
				case errors.Is(err, ErrConflict):
					conflicts++
				default:
					t.Errorf("add version of %s: %v", id, err)
				}
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := db.AddDataKeyVersion(ctx, tn.ID, "key_nosuchkey", &DataKeyVersion{Version: 2}, []DataKeyWrap{{Region: "us-west-2", Ciphertext: []byte("x")}},
			AuditInput{Actor: "system", Action: "key.data_key_rotated"})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown key: %v, want ErrNotFound", err)
		}
	}()
	wg.Wait()
	if len(wins) != keys || conflicts != keys*(racers-1) {
		t.Fatalf("%d keys rotated, %d conflicts; want %d and %d", len(wins), conflicts, keys, keys*(racers-1))
	}
	for id, n := range wins {
		if n != 1 {
			t.Errorf("key %s moved %d times", id, n)
		}
		k, err := db.GetKey(ctx, tn.ID, id)
		if err != nil || k.CurrentVersion != 2 || k.Revision <= maxRev {
			t.Errorf("key %s: %+v %v, want version 2 with a new revision", id, k, err)
		}
		vs, err := db.DataKeyVersions(ctx, tn.ID, id)
		if err != nil || len(vs) != 2 {
			t.Errorf("key %s versions: %v %v", id, vs, err)
		}
		ws, err := db.DataKeyWraps(ctx, tn.ID, id, 2)
		if err != nil || len(ws) != 2 {
			t.Errorf("key %s wraps of version 2: %v %v", id, ws, err)
		}
	}
	var events int64
	if err := db.g.Table("audit_events").Where("action = ?", "key.data_key_rotated").Count(&events).Error; err != nil || events != keys {
		t.Fatalf("rotation audit events = %d (%v), want %d", events, err, keys)
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("audit chain: %+v %v", v, err)
	}
}

// TestNextRevisionNotified: the one-statement revision of a version batch
// takes the next revision and announces it on commit, as nextRevision does.
func TestNextRevisionNotified(t *testing.T) {
	db, _ := openTestDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wakes atomic.Int64
	if db.isPostgres() {
		go func() { _ = db.WatchChanges(ctx, func() { wakes.Add(1) }) }()
		for deadline := time.Now().Add(5 * time.Second); wakes.Load() < 1; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no wake after LISTEN")
			}
		}
	}
	var revs []int64
	for range 2 {
		err := db.g.Transaction(func(tx *gorm.DB) error {
			rev, err := nextRevisionNotified(tx)
			revs = append(revs, rev)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if revs[1] != revs[0]+1 || revs[0] < 1 {
		t.Fatalf("revisions %v, want two in a row", revs)
	}
	if db.isPostgres() {
		for deadline := time.Now().Add(5 * time.Second); wakes.Load() < 2; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the revision's commit woke no watcher")
			}
		}
	}
}

package keysvc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"keyport/keysvc/awskms"
	"keyport/models"
)

// keyMeta is what the data path needs to know about a key on every request.
type keyMeta struct {
	TenantID       string
	ID             string
	ConnectionID   string
	State          models.KeyState
	Health         models.Health
	CurrentVersion int64
	MinDecryption  int64 // oldest version that decrypts; 0 or 1 retire nothing
	Epoch          int64
	Revision       int64
}

// keyTable is an in-memory copy of every key's state, so the data path
// answers without a database read. It follows the database by polling for
// rows with a revision above the last one seen (every change bumps a
// provider-wide counter), which is how a purge, a disable or a revocation on
// one replica reaches the others.
type keyTable struct {
	db *models.DB

	mu   sync.RWMutex
	byID map[string]keyMeta
	rev  int64
}

func newKeyTable(db *models.DB) *keyTable {
	return &keyTable{db: db, byID: make(map[string]keyMeta)}
}

func metaOf(k *models.Key) keyMeta {
	return keyMeta{TenantID: k.TenantID, ID: k.ID, ConnectionID: k.ConnectionID, State: k.State, Health: k.Health,
		CurrentVersion: k.CurrentVersion, MinDecryption: k.MinDecryptionVersion, Epoch: k.CacheEpoch, Revision: k.Revision}
}

// apply records a key's latest row; an older row never overwrites a newer.
func (t *keyTable) apply(k *models.Key) keyMeta {
	m := metaOf(k)
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.byID[k.ID]; ok && cur.Revision > m.Revision {
		return cur
	}
	t.byID[k.ID] = m
	return m
}

// advance records that the key of m, as read at m's revision, moved to
// data-key version next (this replica has just committed it). Nothing
// else of the row is taken from m: a newer row already here stays, and
// the row with the rotation's own revision replaces this one when the
// table next follows the database.
func (t *keyTable) advance(m keyMeta, next int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.byID[m.ID]
	if !ok || cur.Revision != m.Revision || cur.CurrentVersion >= next {
		return
	}
	cur.CurrentVersion = next
	t.byID[m.ID] = cur
}

// refresh loads every key changed since the last refresh.
func (t *keyTable) refresh(ctx context.Context) error {
	t.mu.RLock()
	rev := t.rev
	t.mu.RUnlock()
	ks, err := t.db.KeysChangedSince(ctx, rev)
	if err != nil {
		return err
	}
	for i := range ks {
		t.apply(&ks[i])
	}
	if len(ks) > 0 {
		t.mu.Lock()
		if last := ks[len(ks)-1].Revision; last > t.rev {
			t.rev = last
		}
		t.mu.Unlock()
	}
	return nil
}

// get returns the tenant's key. A key not yet in memory (created on another
// replica since the last poll) is read from the database once.
func (t *keyTable) get(ctx context.Context, tenantID, keyID string) (keyMeta, error) {
	t.mu.RLock()
	m, ok := t.byID[keyID]
	t.mu.RUnlock()
	if ok {
		if m.TenantID != tenantID {
			return keyMeta{}, ErrKeyNotFound // another tenant's key looks like no key
		}
		return m, nil
	}
	k, err := t.db.GetKey(ctx, tenantID, keyID)
	if errors.Is(err, models.ErrNotFound) {
		return keyMeta{}, ErrKeyNotFound
	}
	if err != nil {
		return keyMeta{}, fmt.Errorf("load key: %w", err)
	}
	return t.apply(k), nil
}

// currentVersions names the current data-key version of every usable key.
func (t *keyTable) currentVersions() []models.WrapRef {
	t.mu.RLock()
	defer t.mu.RUnlock()
	refs := make([]models.WrapRef, 0, len(t.byID))
	for _, m := range t.byID {
		if m.CurrentVersion > 0 && m.usable() == nil {
			refs = append(refs, models.WrapRef{TenantID: m.TenantID, KeyID: m.ID, Version: m.CurrentVersion})
		}
	}
	return refs
}

// usable maps a key's state onto the data path's errors.
func (m keyMeta) usable() error {
	switch m.State {
	case models.StateEnabled:
		return nil
	case models.StateDisabled:
		return awskms.ErrKeyDisabled
	case models.StatePendingDeletion, models.StateDeleted:
		return awskms.ErrKeyPendingDeletion
	}
	return awskms.ErrKeyNotUsable
}

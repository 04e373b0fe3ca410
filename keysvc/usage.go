package keysvc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"keyport/models"
)

// usageCounter counts data-path operations per key in memory and writes them
// in batches: a write per request would make the database the bottleneck of
// every encrypt and decrypt.
type usageCounter struct {
	off      bool
	mu       sync.Mutex
	counts   map[usageKey]*models.KeyUsage
	versions map[versionKey]*models.VersionUsage
}

// versionKey counts per data-key version, for the tenant deciding which old
// versions nothing reads any more.
type versionKey struct {
	keyID   string
	version int64
}

// usageKey counts per key and hour; the hour is a number here and becomes
// "2006-01-02T15" only when written, so counting costs no formatting.
type usageKey struct {
	keyID string
	hour  int64
}

type usageKind int

const (
	useEncrypt usageKind = iota
	useDecrypt
	useDatakey
	useKMSCall
)

func newUsageCounter(off bool) *usageCounter {
	return &usageCounter{off: off, counts: make(map[usageKey]*models.KeyUsage), versions: make(map[versionKey]*models.VersionUsage)}
}

// add counts one operation of kind, and a cache hit with it when hit is
// true: one lock per request, not one per thing counted.
func (u *usageCounter) add(keyID string, at time.Time, kind usageKind, hit bool) {
	if u.off {
		return
	}
	k := usageKey{keyID, at.Unix() / 3600}
	u.mu.Lock()
	c, ok := u.counts[k]
	if !ok {
		c = &models.KeyUsage{KeyID: k.keyID, Period: time.Unix(k.hour*3600, 0).UTC().Format("2006-01-02T15")}
		u.counts[k] = c
	}
	switch kind {
	case useEncrypt:
		c.Encrypts++
	case useDecrypt:
		c.Decrypts++
	case useDatakey:
		c.Datakeys++
	case useKMSCall:
		c.KMSCalls++
	}
	if hit {
		c.CacheHits++
	}
	u.mu.Unlock()
}

// addVersion counts one encrypt or decrypt of a data-key version, with the
// key-wide count (add) in the same lock.
func (u *usageCounter) addVersion(keyID string, version int64, at time.Time, kind usageKind, hit bool) {
	if u.off {
		return
	}
	u.add(keyID, at, kind, hit)
	vk := versionKey{keyID, version}
	u.mu.Lock()
	v, ok := u.versions[vk]
	if !ok {
		v = &models.VersionUsage{KeyID: keyID, Version: version}
		u.versions[vk] = v
	}
	switch kind {
	case useEncrypt:
		v.Encrypts++
	case useDecrypt:
		v.Decrypts++
		if at.After(v.LastDecryptAt) {
			v.LastDecryptAt = at
		}
	}
	if at.After(v.LastUsedAt) {
		v.LastUsedAt = at
	}
	u.mu.Unlock()
}

// flush writes the counts gathered since the last flush. On failure they are
// added back, so a database hiccup loses nothing.
func (u *usageCounter) flush(ctx context.Context, db *models.DB) error {
	u.mu.Lock()
	batch := u.counts
	u.counts = make(map[usageKey]*models.KeyUsage)
	vbatch := u.versions
	u.versions = make(map[versionKey]*models.VersionUsage)
	u.mu.Unlock()
	if err := u.flushVersions(ctx, db, vbatch); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	list := make([]models.KeyUsage, 0, len(batch))
	for _, c := range batch {
		list = append(list, *c)
	}
	if err := db.AddKeyUsage(ctx, list); err != nil {
		u.mu.Lock()
		for k, c := range batch {
			if cur, ok := u.counts[k]; ok {
				cur.Encrypts += c.Encrypts
				cur.Decrypts += c.Decrypts
				cur.Datakeys += c.Datakeys
				cur.KMSCalls += c.KMSCalls
				cur.CacheHits += c.CacheHits
			} else {
				u.counts[k] = c
			}
		}
		u.mu.Unlock()
		return err
	}
	return nil
}

// flushVersions writes per-version counts, adding them back on failure.
func (u *usageCounter) flushVersions(ctx context.Context, db *models.DB, batch map[versionKey]*models.VersionUsage) error {
	if len(batch) == 0 {
		return nil
	}
	list := make([]models.VersionUsage, 0, len(batch))
	for _, v := range batch {
		list = append(list, *v)
	}
	err := db.AddVersionUsage(ctx, list)
	if err == nil {
		return nil
	}
	u.mu.Lock()
	for k, v := range batch {
		cur, ok := u.versions[k]
		if !ok {
			u.versions[k] = v
			continue
		}
		cur.Encrypts += v.Encrypts
		cur.Decrypts += v.Decrypts
		if v.LastUsedAt.After(cur.LastUsedAt) {
			cur.LastUsedAt = v.LastUsedAt
		}
		if v.LastDecryptAt.After(cur.LastDecryptAt) {
			cur.LastDecryptAt = v.LastDecryptAt
		}
	}
	u.mu.Unlock()
	return fmt.Errorf("keysvc: write version usage: %w", err)
}

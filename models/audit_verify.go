package models

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AuditVerification is the result of VerifyAudit.
type AuditVerification struct {
	Checked        int64  // rows examined, including the first broken one
	OK             bool   // every row checked out
	FirstBrokenSeq int64  // seq of the first bad row; 0 when OK
	Reason         string // why that row is bad, in plain words; "" when OK
	Head           []byte // hash of the last row that verified (nil for an empty log)
}

// auditHashLabel separates audit hashes from any other use of the key and
// versions the encoding.
const auditHashLabel = "keyport-audit-v1"

// verifyPageSize bounds memory: the log is walked a page at a time.
const verifyPageSize = 500

// auditHash is HMAC-SHA256 over the canonical encoding of the row: every field
// length-prefixed (8-byte big-endian), so no two different rows encode alike,
// whatever their contents.
func auditHash(key []byte, e *AuditEvent) []byte {
	return chainHash(key, auditHashLabel, e.Seq, e.PrevHash, e.TenantID, e.Actor, e.Action, e.TargetType, e.TargetID, e.Details,
		e.RequestID, e.CreatedAt.UTC().Format(time.RFC3339Nano))
}

// tenantHashLabel separates tenant-chain hashes from global ones.
const tenantHashLabel = "keyport-audit-tenant-v1"

// tenantAuditHash is the tenant chain's HMAC-SHA256 over the row: like
// auditHash, but over TenantSeq and TenantPrevHash instead of the global
// Seq and PrevHash, so that it can be checked from the tenant's rows
// alone, and over ActorKind too.
func tenantAuditHash(key []byte, e *AuditEvent) []byte {
	return chainHash(key, tenantHashLabel, e.TenantSeq, e.TenantPrevHash, e.TenantID, e.ActorKind, e.Actor, e.Action, e.TargetType,
		e.TargetID, e.Details, e.RequestID, e.CreatedAt.UTC().Format(time.RFC3339Nano))
}

// chainHash is the HMAC-SHA256 of one chain link: the label, the sequence
// number, the fields and the previous hash, each length-prefixed.
func chainHash(key []byte, label string, seq int64, prev []byte, fields ...string) []byte {
	m := hmac.New(sha256.New, key)
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	var sq [8]byte
	binary.BigEndian.PutUint64(sq[:], uint64(seq))
	field([]byte(label))
	field(sq[:])
	for _, f := range fields {
		field([]byte(f))
	}
	field(prev)
	return m.Sum(nil)
}

// VerifyTenantAudit walks one tenant's chain (tenant "" is the
// provider-wide events) in tenant_seq order, reading only that tenant's
// rows, and reports the first that breaks it, by its tenant_seq: the
// tenant's sequence numbers have no gaps and its head is its own. The
// tenant's rows from before migration 14 are chained first if they are
// not yet (a write, under the audit lock).
func (db *DB) VerifyTenantAudit(ctx context.Context, tenantID string) (AuditVerification, error) {
	key, err := db.key()
	if err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
	}
	var unchained int64
	err = db.g.WithContext(ctx).Table("audit_events").Where("tenant_id = ? AND tenant_hash IS NULL", tenantID).Limit(1).Count(&unchained).Error
	if err == nil && unchained > 0 {
		err = db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := db.xactLock(tx, "audit"); err != nil {
				return err
			}
			_, err := chainLegacyTx(tx, key, tenantID)
			return err
		})
	}
	if err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit log: %w", mapErr(err))
	}
	var v AuditVerification
	wantSeq, prev := int64(1), make([]byte, auditKeySize)
	after := int64(math.MinInt64)
	for {
		var page []AuditEvent
		err := db.g.WithContext(ctx).Table("audit_events").Where("tenant_id = ? AND tenant_seq > ?", tenantID, after).
			Order("tenant_seq").Limit(db.verifyPage).Find(&page).Error
		if err != nil {
			return AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
		}
		for i := range page {
			e := &page[i]
			v.Checked++
			if reason := checkTenantRow(key, e, wantSeq, prev); reason != "" {
				v.FirstBrokenSeq, v.Reason = e.TenantSeq, reason
				return v, nil
			}
			after, wantSeq, prev = e.TenantSeq, e.TenantSeq+1, e.TenantHash
			v.Head = e.TenantHash
		}
		if len(page) < db.verifyPage {
			v.OK = true
			return v, nil
		}
	}
}

// checkTenantRow is checkAuditRow for a tenant's chain.
func checkTenantRow(key []byte, e *AuditEvent, wantSeq int64, prev []byte) string {
	c := *e
	c.Seq, c.PrevHash, c.Hash = e.TenantSeq, e.TenantPrevHash, e.TenantHash
	if c.Hash == nil {
		return "row is not in the tenant's chain (no tenant hash): it was inserted after the chain was built"
	}
	return checkRow(wantSeq, prev, &c, func() bool { return hmac.Equal(e.TenantHash, tenantAuditHash(key, e)) })
}

// VerifyAudit walks the whole audit log in seq order and reports the first row
// that breaks the chain: a gap in seq (rows deleted; the row after the gap is
// reported), a prev_hash that is not the previous row's hash (rows reordered or
// removed), or a hash that does not match the row (row edited). Deleting the
// newest rows leaves no trace in the chain itself; compare Head with a
// previously recorded head to catch that.
func (db *DB) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	key, err := db.key()
	if err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
	}
	var v AuditVerification
	wantSeq, prev := int64(1), make([]byte, auditKeySize)
	tenants := map[string]*tenantWalk{}
	after := int64(math.MinInt64) // not 0: a forged row with seq <= 0 must be seen too
	for {
		var page []AuditEvent
		err := db.g.WithContext(ctx).Table("audit_events").
			Where("seq > ?", after).Order("seq").Limit(db.verifyPage).Find(&page).Error
		if err != nil {
			return AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
		}
		for i := range page {
			e := &page[i]
			v.Checked++
			reason := checkAuditRow(key, e, wantSeq, prev)
			if reason == "" {
				reason = tenantStep(key, tenants, e)
			}
			if reason != "" {
				v.FirstBrokenSeq, v.Reason = e.Seq, reason
				return v, nil
			}
			after, wantSeq, prev = e.Seq, e.Seq+1, e.Hash
			v.Head = e.Hash
		}
		if len(page) < db.verifyPage {
			v.OK = true
			return v, nil
		}
	}
}

// tenantWalk is where the operator's walk stands in one tenant's chain.
type tenantWalk struct {
	wantSeq int64
	prev    []byte
	chained bool // a chained row was seen: no unchained one may follow
}

// tenantStep checks e against its tenant's chain during the global walk.
// Rows from before migration 14 that are not yet chained are checked for
// their place only (the global chain covers their content).
func tenantStep(key []byte, tenants map[string]*tenantWalk, e *AuditEvent) string {
	w := tenants[e.TenantID]
	if w == nil {
		w = &tenantWalk{wantSeq: 1, prev: make([]byte, auditKeySize)}
		tenants[e.TenantID] = w
	}
	what := "the provider-wide chain: "
	if e.TenantID != "" {
		what = "tenant " + e.TenantID + "'s chain: "
	}
	switch {
	case e.TenantHash == nil && w.chained:
		return what + "row is not in the tenant's chain (no tenant hash) although earlier rows are"
	case e.TenantHash == nil && e.TenantSeq != w.wantSeq:
		return what + fmt.Sprintf("row has tenant seq %d where %d was expected", e.TenantSeq, w.wantSeq)
	case e.TenantHash == nil:
		w.wantSeq++
		return ""
	}
	if reason := checkTenantRow(key, e, w.wantSeq, w.prev); reason != "" {
		return what + reason
	}
	w.wantSeq, w.prev, w.chained = e.TenantSeq+1, e.TenantHash, true
	return ""
}

// checkAuditRow returns why e does not follow the row whose hash is prev, or "".
func checkAuditRow(key []byte, e *AuditEvent, wantSeq int64, prev []byte) string {
	return checkRow(wantSeq, prev, e, func() bool { return hmac.Equal(e.Hash, auditHash(key, e)) })
}

// checkRow checks e's Seq and PrevHash against the chain so far, then its
// hash with hashOK.
func checkRow(wantSeq int64, prev []byte, e *AuditEvent, hashOK func() bool) string {
	switch {
	case e.Seq < wantSeq:
		return fmt.Sprintf("row has seq %d where %d was expected: sequence numbers must start at 1", e.Seq, wantSeq)
	case e.Seq == wantSeq+1:
		return fmt.Sprintf("row %d is missing (sequence jumps from %d to %d)", wantSeq, wantSeq-1, e.Seq)
	case e.Seq != wantSeq:
		return fmt.Sprintf("rows %d to %d are missing (sequence jumps from %d to %d)", wantSeq, e.Seq-1, wantSeq-1, e.Seq)
	case !bytes.Equal(e.PrevHash, prev) && wantSeq == 1:
		return "the first row does not start the chain (prev_hash is not zero): rows before it were removed or it was moved"
	case !bytes.Equal(e.PrevHash, prev):
		return fmt.Sprintf("prev_hash does not match the hash of row %d: rows were reordered, removed or inserted", wantSeq-1)
	case !hashOK():
		return "hash does not match the row's contents: the row was modified (or the audit key is wrong)"
	}
	return ""
}

// AuditVerificationRecord is the last verification of a chain: its
// outcome, when and by whom.
type AuditVerificationRecord struct {
	AuditVerification
	At time.Time
	By string
}

// verificationScope names a chain in audit_verifications: a tenant's own
// ("" is the provider's events), or the whole log.
func verificationScope(tenantID string, all bool) string {
	if all {
		return "all"
	}
	return "tenant:" + tenantID
}

// RecordAuditVerification keeps v as the last verification of a tenant's
// chain (or, with all, of the whole log), made by by, with its audit event
// in the same transaction.
func (db *DB) RecordAuditVerification(ctx context.Context, tenantID string, all bool, v AuditVerification, by string, audit AuditInput) error {
	return db.change(ctx, "record audit verification", func(tx *gorm.DB) (*AuditInput, error) {
		row := map[string]any{"scope": verificationScope(tenantID, all), "ok": v.OK, "rows_checked": v.Checked,
			"first_broken_seq": v.FirstBrokenSeq, "reason": v.Reason, "head": v.Head, "verified_at": db.now(), "verified_by": by}
		err := tx.Table("audit_verifications").Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "scope"}},
			DoUpdates: clause.AssignmentColumns([]string{"ok", "rows_checked", "first_broken_seq", "reason", "head", "verified_at", "verified_by"}),
		}).Create(row).Error
		if err != nil {
			return nil, err
		}
		return &audit, nil
	})
}

// LastAuditVerification returns the last recorded verification of a
// tenant's chain (or, with all, of the whole log); nil when there was none.
func (db *DB) LastAuditVerification(ctx context.Context, tenantID string, all bool) (*AuditVerificationRecord, error) {
	var r struct {
		OK             bool `gorm:"column:ok"`
		RowsChecked    int64
		FirstBrokenSeq int64
		Reason         string
		Head           []byte
		VerifiedAt     time.Time
		VerifiedBy     string
	}
	err := db.g.WithContext(ctx).Table("audit_verifications").Where("scope = ?", verificationScope(tenantID, all)).Take(&r).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read audit verification: %w", mapErr(err))
	}
	return &AuditVerificationRecord{AuditVerification: AuditVerification{Checked: r.RowsChecked, OK: r.OK,
		FirstBrokenSeq: r.FirstBrokenSeq, Reason: r.Reason, Head: r.Head}, At: r.VerifiedAt.UTC(), By: r.VerifiedBy}, nil
}

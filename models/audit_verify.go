package models

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
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
	m := hmac.New(sha256.New, key)
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], uint64(e.Seq))
	field([]byte(auditHashLabel))
	field(seq[:])
	for _, s := range []string{e.TenantID, e.Actor, e.Action, e.TargetType, e.TargetID, e.Details, e.RequestID,
		e.CreatedAt.UTC().Format(time.RFC3339Nano)} {
		field([]byte(s))
	}
	field(e.PrevHash)
	return m.Sum(nil)
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
			if reason := checkAuditRow(key, e, wantSeq, prev); reason != "" {
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

// checkAuditRow returns why e does not follow the row whose hash is prev, or "".
func checkAuditRow(key []byte, e *AuditEvent, wantSeq int64, prev []byte) string {
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
	case !hmac.Equal(e.Hash, auditHash(key, e)):
		return "hash does not match the row's contents: the row was modified (or the audit key is wrong)"
	}
	return ""
}

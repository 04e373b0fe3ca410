package views

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The reports as CSV: the same documents the report pages show, for
// spreadsheets and auditors' tools.

// CSVCell neutralises a cell a spreadsheet would run as a formula: one that
// begins with =, +, -, @ (or a tab or carriage return, which some
// spreadsheets skip before looking) gets a leading apostrophe, which shows
// the text as typed.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvDoc builds a CSV document: metadata lines first (the chain head among
// them), then one or more tables separated by a blank line. Every cell goes
// through CSVCell.
type csvDoc struct {
	buf bytes.Buffer
	w   *csv.Writer
}

func newCSV(meta ReportMeta) *csvDoc {
	d := &csvDoc{}
	d.w = csv.NewWriter(&d.buf)
	d.row("report", meta.Report)
	d.row("scope", meta.Scope)
	if meta.TenantID != "" {
		d.row("tenant_id", meta.TenantID)
	}
	d.row("generated_at", Stamp(meta.GeneratedAt))
	d.row("generated_by", meta.GeneratedBy)
	d.row("audit_chain_head_seq", strconv.FormatInt(meta.ChainHead.Seq, 10))
	d.row("audit_chain_head_hash", meta.ChainHead.Hash)
	return d
}

func (d *csvDoc) row(cells ...string) {
	for i := range cells {
		cells[i] = CSVCell(cells[i])
	}
	_ = d.w.Write(cells) // writes to a bytes.Buffer cannot fail
}

// table starts a new table: a blank line, then its header.
func (d *csvDoc) table(header ...string) {
	d.w.Flush()
	d.buf.WriteString("\n")
	d.row(header...)
}

func (d *csvDoc) bytes() ([]byte, error) {
	d.w.Flush()
	if err := d.w.Error(); err != nil {
		return nil, fmt.Errorf("write csv: %w", err)
	}
	return d.buf.Bytes(), nil
}

// Stamp is t in RFC 3339 UTC, "" for the zero time.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func stampPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return Stamp(*t)
}

// InventoryCSV is the inventory report as CSV.
func InventoryCSV(r *InventoryReport) ([]byte, error) {
	d := newCSV(r.Meta)
	d.table("tenant_id", "tenant_name", "key_id", "name", "store", "connection", "aws_account_id", "mode", "origin", "state", "health", "health_detail",
		"aliases", "regions", "material_expires_at", "rotation_period_days", "last_rotation", "next_rotation",
		"versions", "last_validation", "last_validation_ok", "last_validation_checks")
	for _, k := range r.Keys {
		var regions, versions, checks []string
		for _, rg := range k.Regions {
			regions = append(regions, rg.Region+"="+rg.ARN)
		}
		for _, v := range k.Versions {
			versions = append(versions, fmt.Sprintf("v%d %s %s %s sha256:%s", v.Version, v.Reason, Stamp(v.CreatedAt), v.CreatedBy, v.Fingerprint))
		}
		for _, c := range k.Checks {
			checks = append(checks, c.Result+": "+c.Name+": "+c.Detail)
		}
		ok := ""
		if k.ValidationOK != nil {
			ok = strconv.FormatBool(*k.ValidationOK)
		}
		d.row(k.TenantID, k.TenantName, k.ID, k.Name, k.Store, k.Connection, k.AccountID, k.Mode, k.Origin, k.State, k.Health, k.HealthDetail,
			strings.Join(k.Aliases, "; "), strings.Join(regions, "; "), stampPtr(k.MaterialExpiresAt), strconv.Itoa(k.RotationPeriodDays),
			stampPtr(k.LastRotation), stampPtr(k.NextRotation), strings.Join(versions, "; "), stampPtr(k.LastValidation), ok, strings.Join(checks, " | "))
	}
	return d.bytes()
}

// ActivityCSV is the activity report as CSV.
func ActivityCSV(r *ActivityReport) ([]byte, error) {
	d := newCSV(r.Meta)
	d.row("period_from", Stamp(r.From))
	d.row("period_to", Stamp(r.To))
	v := r.Verification
	if v.VerifiedAt == nil {
		d.row("chain_last_verified_at", "never")
	} else {
		d.row("chain_last_verified_at", Stamp(*v.VerifiedAt))
		d.row("chain_last_verified_by", v.VerifiedBy)
	}
	d.row("chain_verified", strconv.FormatBool(v.OK))
	d.row("chain_rows_checked", strconv.FormatInt(v.Checked, 10))
	d.row("chain_verified_head", v.Head)
	if !v.OK && v.VerifiedAt != nil {
		d.row("chain_first_broken_seq", strconv.FormatInt(v.FirstBrokenSeq, 10))
		d.row("chain_broken_reason", v.Reason)
	}
	d.table("seq", "at", "tenant_id", "actor_kind", "actor", "action", "target_type", "target_id", "details", "request_id", "hash")
	for _, e := range r.Events {
		d.row(strconv.FormatInt(e.Seq, 10), Stamp(e.At), e.TenantID, e.ActorKind, e.Actor, e.Action, e.TargetType, e.TargetID,
			DetailsText(e.Details), e.RequestID, e.Hash)
	}
	d.table("hour", "tenant_id", "key_id", "key_name", "encrypts", "decrypts", "data_keys", "kms_calls", "cache_hits")
	for _, u := range r.Usage {
		d.row(u.Period, u.TenantID, u.KeyID, u.KeyName, itoa(u.Encrypts), itoa(u.Decrypts), itoa(u.DataKeys), itoa(u.KMSCalls), itoa(u.CacheHits))
	}
	return d.bytes()
}

// ValidationCSV is the validation report as CSV.
func ValidationCSV(r *ValidationReport) ([]byte, error) {
	d := newCSV(r.Meta)
	d.row("verdict", r.Verdict)
	d.table("tenant_id", "tenant_name", "key_id", "key_name", "validated_at", "key_verdict", "property", "expected", "result", "deviation", "detail")
	for _, k := range r.Keys {
		for _, p := range k.Properties {
			d.row(k.TenantID, k.TenantName, k.KeyID, k.KeyName, stampPtr(k.ValidatedAt), k.Verdict, p.Property, p.Expected, p.Result, p.Deviation, p.Detail)
		}
	}
	return d.bytes()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

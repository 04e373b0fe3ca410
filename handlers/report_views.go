package handlers

import (
	"keyport/keysvc/compliance"
	"keyport/views"

	"github.com/a-h/templ"
)

// The reports' data comes from keysvc/compliance; the pages, CSV and JSON
// files render views' types, which carry the files' field names. These
// functions copy one into the other.

// reportDoc is one report ready in every format.
type reportDoc struct {
	data any                    // encoded as the JSON file
	csv  func() ([]byte, error) // the CSV file
	page templ.Component        // the printable page
}

func metaView(m compliance.Meta) views.ReportMeta {
	return views.ReportMeta{Report: m.Report, Title: m.Title, Scope: m.Scope, TenantID: m.TenantID,
		GeneratedAt: m.GeneratedAt, GeneratedBy: m.GeneratedBy, ChainHead: views.ChainHead(m.ChainHead)}
}

// each converts every element of a slice, never returning nil (a report's
// lists are [] in JSON, not null).
func each[S, T any](xs []S, f func(S) T) []T {
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func inventoryDoc(r *compliance.Inventory) reportDoc {
	v := &views.InventoryReport{Meta: metaView(r.Meta), Keys: each(r.Keys, func(k compliance.InventoryKey) views.InventoryKey {
		return views.InventoryKey{TenantID: k.TenantID, TenantName: k.TenantName, ID: k.ID, Name: k.Name, Store: k.Store, Connection: k.Connection,
			AccountID: k.AccountID, Mode: k.Mode, Origin: k.Origin, State: string(k.State), Health: string(k.Health), HealthDetail: k.HealthDetail,
			Aliases: k.Aliases, MaterialExpiresAt: k.MaterialExpiresAt,
			Regions:            each(k.Regions, func(r compliance.InventoryRegion) views.InventoryRegion { return views.InventoryRegion(r) }),
			RotationPeriodDays: k.RotationPeriodDays, LastRotation: k.LastRotation, NextRotation: k.NextRotation,
			Versions:       each(k.Versions, func(v compliance.InventoryVersion) views.InventoryVersion { return views.InventoryVersion(v) }),
			LastValidation: k.LastValidation, ValidationOK: k.ValidationOK,
			Checks: each(k.Checks, func(c compliance.CheckResult) views.ReportCheck { return views.ReportCheck(c) })}
	})}
	return reportDoc{v, func() ([]byte, error) { return views.InventoryCSV(v) }, views.InventoryReportPage(v)}
}

func validationDoc(r *compliance.Validation) reportDoc {
	v := &views.ValidationReport{Meta: metaView(r.Meta), Verdict: r.Verdict, Keys: each(r.Keys, func(k compliance.ValidatedKey) views.ValidatedKey {
		return views.ValidatedKey{TenantID: k.TenantID, TenantName: k.TenantName, KeyID: k.KeyID, KeyName: k.KeyName,
			ValidatedAt: k.ValidatedAt, Verdict: k.Verdict,
			Properties: each(k.Properties, func(p compliance.PropertyResult) views.PropertyResult { return views.PropertyResult(p) })}
	})}
	return reportDoc{v, func() ([]byte, error) { return views.ValidationCSV(v) }, views.ValidationReportPage(v)}
}

func activityDoc(r *compliance.Activity) reportDoc {
	v := &views.ActivityReport{Meta: metaView(r.Meta), From: r.From, To: r.To, Verification: views.ChainVerification(r.Verification),
		Events: each(r.Events, func(e compliance.ActivityEvent) views.ActivityEvent { return views.ActivityEvent(e) }),
		Usage:  each(r.Usage, func(u compliance.UsageRow) views.UsageRow { return views.UsageRow(u) })}
	return reportDoc{v, func() ([]byte, error) { return views.ActivityCSV(v) }, views.ActivityReportPage(v)}
}

package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/compliance"
	"keyport/models"
	"keyport/views"
)

// reportKinds are the reports, by URL segment.
var reportKinds = []views.ReportLink{
	{Name: "inventory", Title: "Key inventory",
		Description: "Every key: store, mode, KMS key ARNs per region, state, health, data-key versions with dates and fingerprints (never material), rotation and the last validation with its checks."},
	{Name: "activity", Title: "Activity", Period: true,
		Description: "The audit events of a period with the chain's head and its last verification (verify it on the audit page), and each key's hourly usage counts (cached decrypts never reach AWS CloudTrail; these counts are their record)."},
	{Name: "validation", Title: "Configuration validation",
		Description: "For each key, every expected property (enabled, symmetric, key policy, replicas, rotation, material expiry, no drift) with pass, fail or not verified, the deviation, and an overall verdict."},
}

// reportIDs name the reports inside files.
var reportIDs = map[string]string{"inventory": "key_inventory", "activity": "activity", "validation": "configuration_validation"}

// Reports lists the tenant's downloadable reports.
func (h *Handler) Reports(c echo.Context) error {
	return h.renderTenantReports(c, http.StatusOK, nil)
}

// OperatorReports lists the same reports across every tenant.
func (h *Handler) OperatorReports(c echo.Context) error {
	return h.renderReports(c, "/operator/reports", "all tenants")
}

func (h *Handler) renderReports(c echo.Context, base, scope string) error {
	return h.renderReportsWith(c, http.StatusOK, base, scope, nil)
}

func (h *Handler) renderReportsWith(c echo.Context, status int, base, scope string, schedule *views.ReportScheduleForm) error {
	from, to := defaultPeriod(h.now())
	m := views.Reports{Base: base, Scope: scope, From: from, To: to, Reports: reportKinds, Schedule: schedule}
	nav := "reports"
	if base != "/reports" {
		nav = "operator"
	}
	return render(c, status, views.ReportsPage(h.page(c, "Reports", nav), m))
}

// Report sends one report of the viewer's tenant, as csv, json or html.
// The tenant comes from the session only: no parameter can name another.
func (h *Handler) Report(c echo.Context) error {
	v := viewerFrom(c)
	return h.sendReport(c, compliance.Scope{TenantID: v.Tenant.ID, TenantName: v.Tenant.Name})
}

// OperatorReport sends one report across every tenant.
func (h *Handler) OperatorReport(c echo.Context) error {
	return h.sendReport(c, compliance.Scope{All: true})
}

func (h *Handler) sendReport(c echo.Context, s compliance.Scope) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	name := c.Param("report")
	kind := slices.IndexFunc(reportKinds, func(r views.ReportLink) bool { return r.Name == name })
	if kind < 0 {
		return echo.ErrNotFound
	}
	id, title := reportIDs[name], reportKinds[kind].Title
	format := c.QueryParam("format")
	if format == "" {
		format = "html"
	}
	if format != "html" && format != "csv" && format != "json" {
		return &PublicError{Status: http.StatusBadRequest, Heading: "Unknown format", Message: "Reports come as html, csv or json."}
	}
	from, to, errs := parsePeriod(c.QueryParam("from"), c.QueryParam("to"))
	if errs != nil {
		return &PublicError{Status: http.StatusUnprocessableEntity, Heading: "Check the period", Message: "Give the period's dates as YYYY-MM-DD, the end not before the start."}
	}
	if name == "activity" && from.IsZero() && to.IsZero() {
		f, t := defaultPeriod(h.now())
		from, to, _ = parsePeriod(f, t)
	}
	// Downloading a report is recorded first, so the head the report
	// prints already includes its own download.
	details := map[string]string{"report": id, "format": format}
	if name == "activity" {
		details["from"], details["to"] = views.Stamp(from), views.Stamp(to)
	}
	if err := h.audit(c, models.AuditInput{TenantID: s.TenantID, Actor: v.User.ID, Action: "report.downloaded",
		TargetType: "report", TargetID: id, Details: details}); err != nil {
		return err
	}
	reports := &compliance.Reports{Store: h.db, Settings: h.keys, Now: h.now}
	meta, err := reports.Meta(ctx, s, id, title, v.User.Email)
	if err != nil {
		return fmt.Errorf("report %s: %w", id, err)
	}
	var doc reportDoc
	switch name {
	case "inventory":
		var r *compliance.Inventory
		if r, err = reports.Inventory(ctx, s, meta); err == nil {
			doc = inventoryDoc(r)
		}
	case "validation":
		var r *compliance.Validation
		if r, err = reports.Validation(ctx, s, meta); err == nil {
			doc = validationDoc(r)
		}
	case "activity":
		var r *compliance.Activity
		if r, err = reports.Activity(ctx, s, meta, from, to); err == nil {
			doc = activityDoc(r)
		}
	}
	if err != nil {
		return fmt.Errorf("report %s: %w", id, err)
	}
	return h.writeReport(c, doc, metaView(meta), format)
}

// writeReport sends a report in the asked format.
func (h *Handler) writeReport(c echo.Context, doc reportDoc, meta views.ReportMeta, format string) error {
	scope := meta.Scope
	if meta.TenantID != "" {
		scope = meta.Scope + "-" + meta.TenantID
	}
	file := func(ext string) string { return reportFileName(scope, meta.Report, meta.GeneratedAt, ext) }
	switch format {
	case "json":
		body, err := jsonReport(doc.data)
		if err != nil {
			return err
		}
		return sendDownload(c, file("json"), "application/json; charset=utf-8", body)
	case "csv":
		body, err := doc.csv()
		if err != nil {
			return err
		}
		return sendDownload(c, file("csv"), "text/csv; charset=utf-8", body)
	}
	// The printable page is shown, not downloaded: printing it is the point.
	return render(c, http.StatusOK, doc.page)
}

// parsePeriod reads from/to (YYYY-MM-DD, UTC; to inclusive) with a default
// of the last 30 days.
func parsePeriod(fromS, toS string) (from, to time.Time, errs map[string]string) {
	errs = map[string]string{}
	day := func(field, s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			errs[field] = "Give a date as YYYY-MM-DD."
		}
		return t
	}
	from, to = day("from", fromS), day("to", toS)
	if !to.IsZero() {
		to = to.Add(24 * time.Hour) // the whole last day
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		errs["to"] = "The end date must not be before the start date."
	}
	if len(errs) == 0 {
		errs = nil
	}
	return from, to, errs
}

// defaultPeriod is the last 30 days, as dates.
func defaultPeriod(now time.Time) (from, to string) {
	now = now.UTC()
	return now.AddDate(0, 0, -29).Format(time.DateOnly), now.Format(time.DateOnly)
}

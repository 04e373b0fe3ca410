package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/compliance"
	"keyport/keysvc/reportmail"
	"keyport/models"
	"keyport/views"
)

// renderTenantReports is the tenant's reports page with its report
// schedule (errs: the schedule form's errors).
func (h *Handler) renderTenantReports(c echo.Context, status int, errs map[string]string) error {
	v := viewerFrom(c)
	f := &views.ReportScheduleForm{CanManage: v.can(ActManageSettings), Errors: errs}
	sch, err := h.db.GetReportSchedule(c.Request().Context(), v.Tenant.ID, reportmail.ValidationReport)
	switch {
	case err == nil:
		f.Period = sch.Period
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	return h.renderReportsWith(c, status, "/reports", v.Tenant.Name, f)
}

// SaveReportSchedule sets (or stops) the tenant's scheduled validation
// report by email: weekly, monthly or off. The change is audited.
func (h *Handler) SaveReportSchedule(c echo.Context) error {
	v := viewerFrom(c)
	period, err := reportmail.ParsePeriod(c.FormValue("period"))
	if errs := fieldErrors(err); errs != nil {
		return h.renderTenantReports(c, http.StatusUnprocessableEntity, errs)
	}
	if err := h.db.SetReportSchedule(c.Request().Context(), v.Tenant.ID, reportmail.ValidationReport, period,
		h.by(c).Audit("report.schedule_changed", nil)); err != nil {
		return fmt.Errorf("save report schedule: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/reports")
}

// ValidationReportFile is the configuration validation as the reports
// page's JSON download gives it: the file's name and its bytes. The
// scheduled report emails attach it.
func ValidationReportFile(r *compliance.Validation) (name string, body []byte, err error) {
	doc := validationDoc(r)
	if body, err = jsonReport(doc.data); err != nil {
		return "", nil, err
	}
	meta := metaView(r.Meta)
	scope := meta.Scope
	if meta.TenantID != "" {
		scope = meta.Scope + "-" + meta.TenantID
	}
	return reportFileName(scope, meta.Report, meta.GeneratedAt, "json"), body, nil
}

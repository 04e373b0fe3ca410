package manageapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/views"
)

var periodQuery = []Param{
	{Name: "from", Description: "The period's first day (YYYY-MM-DD, UTC); default 29 days before today."},
	{Name: "to", Description: "The period's last day, included (YYYY-MM-DD, UTC); default today."},
}

func (a *API) reportOps() []Operation {
	return []Operation{
		{Method: http.MethodGet, Path: "/reports/inventory", ID: "inventoryReport", Tag: "reports", Act: handlers.ActViewAudit,
			Summary:  "The key inventory report, as the reports page's JSON file: every key with its regions, versions (fingerprints, never material), rotation and last validation.",
			Response: views.InventoryReport{}, Handler: a.report("inventory")},
		{Method: http.MethodGet, Path: "/reports/activity", ID: "activityReport", Tag: "reports", Act: handlers.ActViewAudit,
			Summary: "The activity report of a period, as the reports page's JSON file: audit events, the chain's head and last verification, hourly key usage.",
			Query:   periodQuery, Response: views.ActivityReport{}, Handler: a.report("activity")},
		{Method: http.MethodGet, Path: "/reports/validation", ID: "validationReport", Tag: "reports", Act: handlers.ActViewAudit,
			Summary:  "The configuration validation report, as the reports page's JSON file: every expected property of every key, with an overall verdict.",
			Response: views.ValidationReport{}, Handler: a.report("validation")},
	}
}

// report answers one report of the key's tenant. Asking is recorded first,
// as on the page, so the head the report prints includes its own request.
func (a *API) report(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		from, to, errs := handlers.ReportPeriod(a.now(), name, c.QueryParam("from"), c.QueryParam("to"))
		for field, msg := range errs {
			return badRequest(field, msg)
		}
		t, err := a.db.GetTenant(ctx, tenant(c))
		if err != nil {
			return err
		}
		id := handlers.ReportID(name)
		details := map[string]string{"report": id, "format": "json"}
		if name == "activity" {
			details["from"], details["to"] = views.Stamp(from), views.Stamp(to)
		}
		audit := by(c).Audit("report.downloaded", details)
		audit.TenantID, audit.TargetType, audit.TargetID = t.ID, "report", id
		if _, err := a.db.AppendAudit(ctx, audit); err != nil {
			return err
		}
		r, err := handlers.TenantReport(ctx, a.db, a.keys, a.now, t.ID, t.Name, name, `API key "`+key(c).Name+`"`, from, to)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r)
	}
}

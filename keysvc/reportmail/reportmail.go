// Package reportmail sends a tenant's scheduled compliance reports by
// email: the configuration validation, weekly or monthly as the tenant
// chose on its reports page, to its owners and auditors, as a JSON
// attachment through the mail outbox. Planning runs on every replica's job
// worker; each tenant's report of a period is one durable job (its run key
// names tenant, report and period), so it goes out once per period however
// many replicas plan it.
//
// It imports models, the root keysvc, keysvc/compliance, keysvc/jobs and
// keysvc/mailer; the email's words and the JSON file come from a Renderer
// (handlers/notice, which knows the views).
package reportmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"keyport/keysvc"
	"keyport/keysvc/compliance"
	"keyport/keysvc/jobs"
	"keyport/keysvc/mailer"
	"keyport/models"
)

// ValidationReport is the report this package schedules, by its id in
// report files.
const ValidationReport = "configuration_validation"

// JobKind is the job that builds and mails one tenant's report of one
// period.
const JobKind = "report.email"

// Periods a tenant can choose ("" is off).
var Periods = []string{models.ReportWeekly, models.ReportMonthly}

// ParsePeriod reads the tenant's choice: "weekly", "monthly", or "off"
// (and "") to stop.
func ParsePeriod(s string) (string, error) {
	switch p := strings.TrimSpace(s); p {
	case "", "off":
		return "", nil
	case models.ReportWeekly, models.ReportMonthly:
		return p, nil
	}
	return "", &keysvc.ValidationError{Field: "period", Message: "choose weekly, monthly or off"}
}

// PeriodKey names the period containing t: the ISO week ("2026-W49") or
// the month ("2026-12"), in UTC.
func PeriodKey(period string, t time.Time) string {
	t = t.UTC()
	if period == models.ReportMonthly {
		return t.Format("2006-01")
	}
	y, w := t.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// RunKey is the run key of a tenant's report of a period.
func RunKey(tenantID, report, periodKey string) string {
	return "report:" + report + ":" + tenantID + ":" + periodKey
}

// ReportMail is what a scheduled report email shows.
type ReportMail struct {
	TenantName string
	Period     string // weekly or monthly
	PeriodKey  string
	Report     *compliance.Validation
}

// Content is a rendered report email with its JSON file.
type Content struct {
	Subject, Text, HTML string
	FileName            string
	JSON                []byte
}

// Renderer renders the report email and its JSON file (the same JSON as
// the reports page's download).
type Renderer interface {
	RenderValidationReport(ctx context.Context, m ReportMail) (Content, error)
}

// Deps are the scheduler's collaborators.
type Deps struct {
	DB       *models.DB
	Settings compliance.Settings // provider settings (*keysvc.Service)
	Outbox   *mailer.Outbox
	Worker   *jobs.Worker
	Render   Renderer
	Logger   *slog.Logger
	Now      func() time.Time // the store's clock
}

// Scheduler plans and sends scheduled reports.
type Scheduler struct{ Deps }

// New builds the scheduler and registers its job and planning pass on the
// worker.
func New(d Deps) *Scheduler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Scheduler{d}
	d.Worker.Handle(JobKind, s.run)
	d.Worker.OnTick(s.Tick)
	return s
}

type payload struct {
	TenantID  string `json:"tenant_id"`
	Report    string `json:"report"`
	Period    string `json:"period"`
	PeriodKey string `json:"period_key"`
}

// Tick queues the report of the current period for every tenant whose
// schedule has not had it yet.
func (s *Scheduler) Tick(ctx context.Context) {
	now := s.Now()
	week, month := PeriodKey(models.ReportWeekly, now), PeriodKey(models.ReportMonthly, now)
	due, err := s.DB.DueReportSchedules(ctx, week, month, 200)
	if err != nil {
		s.Logger.Warn("reports: due schedules", "err", err)
		return
	}
	for _, d := range due {
		key := PeriodKey(d.Period, now)
		p, _ := json.Marshal(payload{TenantID: d.TenantID, Report: d.Report, Period: d.Period, PeriodKey: key}) // strings always marshal
		queued, err := s.DB.QueueScheduledReport(ctx, d, key, models.NewJob{Kind: JobKind, TenantID: d.TenantID,
			RunKey: RunKey(d.TenantID, d.Report, key), Payload: string(p), MaxAttempts: 5})
		if err != nil {
			s.Logger.Warn("reports: queue scheduled report", "tenant_id", d.TenantID, "err", err)
			continue
		}
		if queued {
			s.Worker.Wake()
		}
	}
}

// run builds the tenant's report and queues one email per owner and
// auditor, completing the job in the same transaction.
func (s *Scheduler) run(ctx context.Context, j *models.Job, l models.Lease) error {
	var p payload
	if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
		return jobs.Permanent(fmt.Errorf("reportmail: job payload: %w", err))
	}
	if p.Report != ValidationReport {
		return jobs.Permanent(fmt.Errorf("reportmail: unknown report %q", p.Report))
	}
	if _, err := s.DB.GetReportSchedule(ctx, p.TenantID, p.Report); errors.Is(err, models.ErrNotFound) {
		return s.DB.CompleteJob(ctx, l, "not scheduled any more", nil)
	} else if err != nil {
		return err
	}
	t, err := s.DB.GetTenant(ctx, p.TenantID)
	if errors.Is(err, models.ErrNotFound) {
		return s.DB.CompleteJob(ctx, l, "tenant gone", nil)
	} else if err != nil {
		return err
	}
	to, err := s.DB.ReportRecipients(ctx, p.TenantID)
	if err != nil {
		return err
	}
	reports := &compliance.Reports{Store: s.DB, Settings: s.Settings, Now: s.Now}
	scope := compliance.Scope{TenantID: t.ID, TenantName: t.Name}
	meta, err := reports.Meta(ctx, scope, ValidationReport, "Configuration validation", "keyport (scheduled "+p.Period+" report)")
	if err != nil {
		return err
	}
	v, err := reports.Validation(ctx, scope, meta)
	if err != nil {
		return err
	}
	c, err := s.Render.RenderValidationReport(ctx, ReportMail{TenantName: t.Name, Period: p.Period, PeriodKey: p.PeriodKey, Report: v})
	if err != nil {
		return fmt.Errorf("reportmail: render: %w", err)
	}
	var mail []models.NewMail
	for _, addr := range to {
		m, err := s.Outbox.Compose(t.ID, "report", j.RunKey+":"+addr, mailer.Message{To: []string{addr}, Subject: c.Subject, Text: c.Text, HTML: c.HTML,
			Attachments: []mailer.Attachment{{Name: c.FileName, ContentType: "application/json", Data: c.JSON}}})
		if err != nil {
			return err
		}
		mail = append(mail, m)
	}
	audit := &models.AuditInput{TenantID: t.ID, Actor: "keyport:scheduler", Action: "report.emailed", TargetType: "report", TargetID: p.Report,
		Details: map[string]string{"report": p.Report, "period": p.Period, "period_key": p.PeriodKey, "recipients": strconv.Itoa(len(to)), "verdict": v.Verdict}}
	if err := s.DB.CompleteJobWithMail(ctx, l, "mailed to "+strconv.Itoa(len(to))+" recipient(s)", mail, audit); err != nil {
		return err
	}
	if len(mail) > 0 {
		s.Worker.Wake()
	}
	return nil
}

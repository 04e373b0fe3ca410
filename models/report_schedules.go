package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Report schedule periods.
const (
	ReportWeekly  = "weekly"
	ReportMonthly = "monthly"
)

// ReportSchedule is a tenant's standing order for a report by email.
type ReportSchedule struct {
	TenantID   string
	Report     string
	Period     string // ReportWeekly or ReportMonthly
	LastPeriod string // the period ("2026-W49", "2026-12") whose report was last queued
	UpdatedBy  string
	UpdatedAt  time.Time
}

// GetReportSchedule returns a tenant's schedule of report, or ErrNotFound
// when it is not scheduled.
func (db *DB) GetReportSchedule(ctx context.Context, tenantID, report string) (*ReportSchedule, error) {
	var r ReportSchedule
	if err := db.g.WithContext(ctx).Table("report_schedules").Where("tenant_id = ? AND report = ?", tenantID, report).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("get report schedule: %w", mapErr(err))
	}
	r.UpdatedAt = r.UpdatedAt.UTC()
	return &r, nil
}

// SetReportSchedule schedules report for a tenant every period, or stops
// it (period ""), with an audit event naming the old and new period. A
// change of period keeps what was already sent for the current one.
func (db *DB) SetReportSchedule(ctx context.Context, tenantID, report, period string, audit AuditInput) error {
	if period != "" && period != ReportWeekly && period != ReportMonthly {
		return invalid("period", "must be weekly, monthly or empty")
	}
	now := db.now()
	return db.change(ctx, "set report schedule", func(tx *gorm.DB) (*AuditInput, error) {
		var old ReportSchedule
		err := tx.Table("report_schedules").Where("tenant_id = ? AND report = ?", tenantID, report).Take(&old).Error
		if err != nil && mapErr(err) != ErrNotFound {
			return nil, err
		}
		if old.Period == period {
			return nil, nil // nothing changed: nothing to record
		}
		if period == "" {
			err = tx.Exec("DELETE FROM report_schedules WHERE tenant_id = ? AND report = ?", tenantID, report).Error
		} else {
			row := ReportSchedule{TenantID: tenantID, Report: report, Period: period, LastPeriod: old.LastPeriod, UpdatedBy: audit.Actor, UpdatedAt: now}
			err = tx.Table("report_schedules").Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "tenant_id"}, {Name: "report"}},
				DoUpdates: clause.AssignmentColumns([]string{"period", "updated_by", "updated_at"})}).Create(&row).Error
		}
		if err != nil {
			return nil, err
		}
		audit.TenantID, audit.TargetType, audit.TargetID = tenantID, "report", report
		audit.Details = withDetails(audit.Details, "report", report, "from", nonEmpty(old.Period, "off"), "to", nonEmpty(period, "off"))
		return &audit, nil
	})
}

func nonEmpty(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// DueReportSchedules lists up to limit schedules (any tenant) whose
// report for the current period, week or month, is not queued yet.
func (db *DB) DueReportSchedules(ctx context.Context, week, month string, limit int) ([]ReportSchedule, error) {
	var out []ReportSchedule
	err := db.g.WithContext(ctx).Table("report_schedules").
		Where("(period = ? AND last_period <> ?) OR (period = ? AND last_period <> ?)", ReportWeekly, week, ReportMonthly, month).
		Order("tenant_id, report").Limit(max(limit, 1)).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("due report schedules: %w", mapErr(err))
	}
	return out, nil
}

// QueueScheduledReport records that the report of a period is queued and
// enqueues its job, in one transaction. The job's run key names tenant,
// report and period, so however many replicas plan at once, the period
// gets one job; queued says whether this call made it.
func (db *DB) QueueScheduledReport(ctx context.Context, s ReportSchedule, periodKey string, job NewJob) (queued bool, err error) {
	err = db.g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Table("report_schedules").Where("tenant_id = ? AND report = ? AND period = ? AND last_period = ?", s.TenantID, s.Report, s.Period, s.LastPeriod).
			Update("last_period", periodKey)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error // another replica moved it on, or the tenant changed it: nothing to do
		}
		_, queued, err = db.enqueueJobTx(tx, job)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("queue scheduled report: %w", mapErr(err))
	}
	return queued, nil
}

// ReportRecipients lists the emails of a tenant's owners and auditors: the
// people who answer for the tenant's keys and the people who check them.
func (db *DB) ReportRecipients(ctx context.Context, tenantID string) ([]string, error) {
	var out []string
	err := db.g.WithContext(ctx).Table("memberships AS m").Joins("JOIN users AS u ON u.id = m.user_id").
		Where("m.tenant_id = ? AND m.role IN ? AND u.email <> ''", tenantID, []Role{RoleOwner, RoleAuditor}).
		Order("lower(u.email)").Pluck("u.email", &out).Error
	if err != nil {
		return nil, fmt.Errorf("report recipients: %w", mapErr(err))
	}
	return out, nil
}

// CompleteJobWithMail completes a job, puts its mail in the outbox and
// writes its audit event, in one transaction: the mail exists exactly when
// the job is done, so a job that lost its lease queues nothing.
func (db *DB) CompleteJobWithMail(ctx context.Context, l Lease, result string, mail []NewMail, audit *AuditInput) error {
	return db.change(ctx, "complete job with mail", func(tx *gorm.DB) (*AuditInput, error) {
		if err := db.completeJobTx(tx, l, result); err != nil {
			return nil, err
		}
		if err := db.enqueueMailTx(tx, mail); err != nil {
			return nil, err
		}
		return optional(audit), nil
	})
}

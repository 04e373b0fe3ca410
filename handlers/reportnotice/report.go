// Package reportnotice renders the scheduled validation report's email
// (keysvc/reportmail) with the same JSON file as the reports page's
// download. It is apart from handlers/notice because it needs handlers'
// report rendering, and handlers needs notice for invitation emails.
package reportnotice

import (
	"bytes"
	"context"
	"fmt"

	"keyport/handlers"
	"keyport/keysvc/compliance"
	"keyport/keysvc/reportmail"
	"keyport/views"
)

// Renderer renders report emails; BaseURL is keyport's public URL.
type Renderer struct {
	BaseURL string
}

// RenderValidationReport renders the scheduled validation report's email
// from the views, with the same JSON file as the reports page's download.
func (r Renderer) RenderValidationReport(ctx context.Context, m reportmail.ReportMail) (reportmail.Content, error) {
	name, body, err := handlers.ValidationReportFile(m.Report)
	if err != nil {
		return reportmail.Content{}, err
	}
	failing := 0
	for _, k := range m.Report.Keys {
		if k.Verdict == compliance.VerdictFail {
			failing++
		}
	}
	n := views.ValidationReportNotice(m.TenantName, m.Period, m.PeriodKey, m.Report.Verdict, len(m.Report.Keys), failing, r.BaseURL+"/reports")
	var html, text bytes.Buffer
	if err := views.NoticeEmailHTML(n).Render(ctx, &html); err != nil {
		return reportmail.Content{}, fmt.Errorf("render report email: %w", err)
	}
	if err := views.NoticeEmailText(n).Render(ctx, &text); err != nil {
		return reportmail.Content{}, fmt.Errorf("render report email: %w", err)
	}
	return reportmail.Content{Subject: views.NoticeEmailSubject(n), Text: text.String(), HTML: html.String(), FileName: name, JSON: body}, nil
}

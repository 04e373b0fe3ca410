package main

import (
	"context"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"keyport/handlers/notice"
	"keyport/handlers/reportnotice"
	"keyport/keysvc"
	"keyport/keysvc/jobs"
	"keyport/keysvc/mailer"
	"keyport/keysvc/managed"
	"keyport/keysvc/reportmail"
	"keyport/keysvc/rotation"
	"keyport/keysvc/seal"
	"keyport/keysvc/webhooks"
	"keyport/models"
)

// startJobs starts the durable job worker of this process: scheduled
// rotations, their notices, material-expiry notices, the validation sweep
// (once per sweepEvery across replicas; 0: off), the mail outbox
// (issue 6) and webhook deliveries (issue 15). Every replica
// runs one, with workers jobs at once (KEYPORT_JOB_WORKERS); leases keep
// them from running a job twice. The returned
// function waits for the worker to stop after ctx ends, so that the
// database is closed only when no job is using it. obs, when not nil, hears
// of every job run and email delivery (metrics).
func startJobs(ctx context.Context, db *models.DB, sealer *seal.Sealer, keys *keysvc.Service, mgd *managed.Service, hooks *webhooks.Service, send mailer.MailSender,
	baseURL string, sweepEvery time.Duration, workers int, log *slog.Logger, obs observers) (*rotation.Scheduler, *mailer.Outbox, func()) {
	domain := "keyport.localhost"
	if u, err := url.Parse(baseURL); err == nil && u.Hostname() != "" {
		domain = u.Hostname()
	}
	w := jobs.NewWorker(db, log, jobs.WorkerConfig{Concurrency: workers})
	ob := mailer.NewOutbox(db, sealer, send, domain)
	if obs != nil {
		w.SetObserver(obs)
		ob.SetObserver(obs)
	}
	// Key lifecycle (modes 2 and 3): renewal as the rotation of those keys,
	// resumption of crashed operations, re-uploads, deletion windows, drift.
	s := rotation.NewScheduler(rotation.SchedulerDeps{DB: db, Keys: keys, Renewals: mgd, Outbox: ob, Worker: w,
		Render: notice.Renderer{BaseURL: baseURL}, Logger: log, SweepEvery: sweepEvery})
	mgd.AttachWorker(w)
	hooks.Register(w)
	mgd.SetApprovalMail(ob, notice.Renderer{BaseURL: baseURL})
	// Tenants' scheduled validation reports by email (once per period).
	reportmail.New(reportmail.Deps{DB: db, Settings: keys, Outbox: ob, Worker: w, Render: reportnotice.Renderer{BaseURL: baseURL}, Logger: log})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.Run(ctx)
	}()
	return s, ob, wg.Wait
}

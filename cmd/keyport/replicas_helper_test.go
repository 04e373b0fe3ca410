package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/jobs"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/mailer"
	"keyport/keysvc/seal"
	"keyport/models"
	"keyport/web/devidp"
)

// The replica processes read their settings from these variables; the
// parent test sets them. They bypass loadConfig on purpose: a production
// config insists on https URLs, which a loopback test cannot offer, while
// everything after the config (serve) is the production path.
const (
	replicaDSNEnv    = "KEYPORT_TEST_REPLICA_DSN"
	replicaKEKEnv    = "KEYPORT_TEST_REPLICA_KEK_FILE"
	replicaIssuerEnv = "KEYPORT_TEST_REPLICA_ISSUER"
	replicaSMTPEnv   = "KEYPORT_TEST_REPLICA_SMTP"
	// replicaWorkersEnv sets the replica's KEYPORT_JOB_WORKERS ("" = the
	// worker's own default); replicaAddrEnv its listen address ("" = any
	// free port); replicaServeOnlyEnv=1 leaves out the test job worker.
	replicaWorkersEnv   = "KEYPORT_TEST_REPLICA_WORKERS"
	replicaAddrEnv      = "KEYPORT_TEST_REPLICA_ADDR"
	replicaServeOnlyEnv = "KEYPORT_TEST_REPLICA_SERVE_ONLY"
	replicaJobKind      = "test.replica_effect"
	replicaJobAction    = "test.replica_job_effect"
)

// TestHelperReplica is not a test: it is one keyport replica that
// TestReplicas starts (and kills). It runs serve, exactly as `keyport
// serve` does, plus a job worker for a test job kind with a short lease, so
// that a killed replica's jobs are taken over within seconds. Each job's
// effect is an audit event committed with its completion.
func TestHelperReplica(t *testing.T) {
	dsn := os.Getenv(replicaDSNEnv)
	if dsn == "" {
		t.Skip("helper process for TestReplicas")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "replica:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	smtpHost, smtpPort, _ := strings.Cut(os.Getenv(replicaSMTPEnv), ":")
	port, _ := strconv.Atoi(smtpPort)
	addr := cmp.Or(os.Getenv(replicaAddrEnv), "127.0.0.1:0")
	workers, _ := strconv.Atoi(os.Getenv(replicaWorkersEnv))
	cfg := &config{Addr: addr, JobWorkers: workers, DataDir: filepath.Dir(os.Getenv(replicaKEKEnv)), DatabaseURL: dsn,
		KEKFile: os.Getenv(replicaKEKEnv), CacheTTL: 5 * time.Minute, OIDCIssuer: os.Getenv(replicaIssuerEnv),
		OIDCClientID: "keyport", OIDCClientSecret: "unused-by-these-tests", Signup: "open",
		SessionIdleTimeout: 30 * time.Minute, SessionMaxAge: 12 * time.Hour,
		SMTPHost: smtpHost, SMTPPort: port, SMTPTLS: mailer.NoTLS, MailFrom: "keyport <keyport@keyport.test>",
		LogLevel: "warn", LogFormat: "json"}
	if os.Getenv(replicaServeOnlyEnv) == "1" {
		fail(fmt.Errorf("serve stopped: %w", serve(ctx, cfg, os.Stdout)))
	}
	go func() { fail(fmt.Errorf("serve stopped: %w", serve(ctx, cfg, os.Stdout))) }()

	db, sealer, err := openStoreWithSealer(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fail(err)
	}
	sealer.Close()
	w := jobs.NewWorker(db, nil, jobs.WorkerConfig{Owner: "replica-" + strconv.Itoa(os.Getpid()),
		Concurrency: 2, LeaseFor: 2 * time.Second, Poll: 20 * time.Millisecond})
	w.Handle(replicaJobKind, func(ctx context.Context, j *models.Job, l models.Lease) error {
		time.Sleep(40 * time.Millisecond) // work long enough for kills to land mid-job
		return db.CompleteJob(ctx, l, "done", &models.AuditInput{Action: replicaJobAction, Actor: "replica",
			TargetType: "job", TargetID: j.ID})
	})
	w.Run(ctx)
}

// replicaWorld is what TestReplicas shares with its replicas: one
// PostgreSQL schema, one KEK file, a dev IdP for OIDC discovery, kmslocal
// as the tenant's AWS account (reached through AWS_ENDPOINT_URL_KMS, as in
// production), a tenant with an owner, a key and a data-API token.
type replicaWorld struct {
	dir, dsn, kekFile string
	db                *models.DB
	idp               *devidp.IdP
	kms               *kmslocal.Server
	tenant            *models.Tenant
	owner             *models.User
	key               *models.Key
	kmsKeyID          string
	token             string
	env               []string
}

func newReplicaWorld(t *testing.T, dsn string) *replicaWorld {
	t.Helper()
	ctx := context.Background()
	w := &replicaWorld{dir: t.TempDir(), dsn: dsn}
	w.kekFile = filepath.Join(w.dir, "kek.key")
	writeKEK(t, w.kekFile)
	cfg := &config{DatabaseURL: dsn, KEKFile: w.kekFile}
	db, sealer, err := openStoreWithSealer(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sealer.Close(); db.Close() })
	w.db = db
	if w.idp, err = devidp.Start(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.idp.Close() })

	const account, region = "111122223333", "eu-west-1"
	w.kms, err = kmslocal.New(kmslocal.Config{Principals: []kmslocal.Principal{
		{AccessKeyID: "AKIAREPLICAADMIN0001", SecretAccessKey: "admin-secret", ARN: "arn:aws:iam::" + account + ":user/admin"},
		{AccessKeyID: "AKIAREPLICAKEYPORT01", SecretAccessKey: "keyport-secret", ARN: "arn:aws:iam::" + account + ":user/keyport-access"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.kms.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.kms.Close() })

	if w.owner, _, err = db.UpsertOIDCUser(ctx, "https://idp.test", "owner", "owner@replicas.test", "Owner"); err != nil {
		t.Fatal(err)
	}
	if w.tenant, err = db.CreateTenantWithOwner(ctx, "replicas.test", w.owner.ID, models.AuditInput{Actor: w.owner.ID}); err != nil {
		t.Fatal(err)
	}
	conn := &models.Connection{ID: models.NewID(models.PrefixConnection), TenantID: w.tenant.ID, Name: "production",
		AccountID: account, DefaultRegion: region, Kind: awskms.KindAccessKey, AccessKeyID: "AKIAREPLICAKEYPORT01"}
	if conn.SecretSealed, err = sealer.Seal(seal.SecretPurpose(conn.ID), []byte("keyport-secret")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateConnection(ctx, conn, models.AuditInput{Actor: w.owner.ID, Action: "connection.created"}); err != nil {
		t.Fatal(err)
	}
	admin := kms.NewFromConfig(w.kms.AWSConfig(region, "AKIAREPLICAADMIN0001", "admin-secret"))
	out, err := admin.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(`{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	w.kmsKeyID = *out.KeyMetadata.KeyId
	nk := &models.NewKey{Key: models.Key{TenantID: w.tenant.ID, ConnectionID: conn.ID, Name: "orders", Mode: models.ModeCMK,
		State: models.StateEnabled, Health: "OK"}, Regions: []models.KeyRegion{{Region: region, KMSKeyARN: *out.KeyMetadata.Arn}}}
	if err := db.CreateKey(ctx, nk, models.AuditInput{Actor: w.owner.ID, Action: "key.registered"}); err != nil {
		t.Fatal(err)
	}
	base := w.kms.AWSConfig(region, "AKIAPROVIDERUNUSED01", "unused")
	svc := keysvc.NewService(keysvc.Deps{DB: db, Sealer: sealer,
		Clients: awskms.NewClients(awskms.ClientOptions{Base: &base, Sealer: sealer, MaxAttempts: 1})})
	if _, err := svc.RotateDataKey(ctx, w.tenant.ID, nk.Key.ID, w.owner.ID, "register"); err != nil {
		t.Fatal(err)
	}
	if w.key, err = db.GetKey(ctx, w.tenant.ID, nk.Key.ID); err != nil {
		t.Fatal(err)
	}
	if w.token, _, err = svc.NewServiceToken(ctx, w.tenant.ID, "replicas", w.owner.ID); err != nil {
		t.Fatal(err)
	}
	w.env = append(os.Environ(), replicaDSNEnv+"="+dsn, replicaKEKEnv+"="+w.kekFile,
		replicaIssuerEnv+"="+w.idp.Issuer(), replicaSMTPEnv+"=127.0.0.1:1",
		"AWS_ENDPOINT_URL_KMS="+w.kms.URL(), "AWS_ENDPOINT_URL_STS="+w.kms.URL(), "AWS_REGION="+region,
		"AWS_ACCESS_KEY_ID=AKIAPROVIDERUNUSED01", "AWS_SECRET_ACCESS_KEY=unused", "AWS_EC2_METADATA_DISABLED=true")
	return w
}

// replica is one running replica process.
type replica struct {
	cmd *exec.Cmd
	url string
}

// start runs a replica and waits until it serves.
func (w *replicaWorld) start(t *testing.T) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperReplica$", "-test.count=1")
	cmd.Env = w.env
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "keyport is running at "); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		r := &replica{cmd: cmd, url: u}
		t.Cleanup(r.kill)
		return r
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("replica did not serve within 60s")
	}
	return nil
}

// kill ends the replica with SIGKILL: no shutdown, leases left behind.
func (r *replica) kill() {
	if r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

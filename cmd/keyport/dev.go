package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"keyport/keysvc/kmslocal"
	"keyport/keysvc/mailer"
	"keyport/models"
	"keyport/views"
	"keyport/web/devidp"
	"keyport/web/mailcatcher"
)

// devStandIns are the local replacements for the IdP and the SMTP server
// that `keyport dev` runs, so nothing outside the machine is needed.
type devStandIns struct {
	idp  *devidp.IdP
	mail *mailcatcher.Catcher
	kms  *kmslocal.Server
	demo *views.DemoAWS
}

// startDevStandIns starts them on loopback ports and points cfg at them.
func startDevStandIns(ctx context.Context, cfg *config, db *models.DB, log *slog.Logger) (*devStandIns, error) {
	idp, err := startDevIdP(ctx, cfg, db, log)
	if err != nil {
		return nil, err
	}
	mail, err := mailcatcher.Start(ctx, "127.0.0.1:0")
	if err != nil {
		idp.Close()
		return nil, fmt.Errorf("start development mail catcher: %w", err)
	}
	cfg.OIDCIssuer, cfg.OIDCClientID, cfg.OIDCClientSecret = idp.Issuer(), idp.ClientID(), idp.ClientSecret()
	// Mail goes to the catcher in plain text; it has no TLS and no login.
	host, port, err := net.SplitHostPort(mail.Addr())
	if err != nil {
		mail.Close()
		idp.Close()
		return nil, fmt.Errorf("development mail catcher address: %w", err)
	}
	cfg.SMTPHost, cfg.SMTPTLS, cfg.SMTPUsername, cfg.SMTPPassword = host, mailer.NoTLS, "", ""
	cfg.SMTPPort, _ = strconv.Atoi(port)
	kms, demo, err := startDevKMS(ctx, cfg)
	if err != nil {
		mail.Close()
		idp.Close()
		return nil, err
	}
	return &devStandIns{idp: idp, mail: mail, kms: kms, demo: demo}, nil
}

func (d *devStandIns) Close() {
	d.kms.Close()
	d.mail.Close()
	d.idp.Close()
}

// printDemo writes the demo AWS account of the local KMS and the dev
// identity provider's issuer, one "demo name=value" line each, for
// scripts and for pasting (stand-in credentials of a local emulator).
func (d *devStandIns) printDemo(w io.Writer) error {
	_, err := fmt.Fprintf(w, "demo aws_access_key_id=%s\ndemo aws_secret_access_key=%s\ndemo key_arn=%s\ndemo role_arn=%s\ndemo kms_endpoint=%s\ndemo oidc_issuer=%s\n",
		d.demo.AccessKeyID, d.demo.SecretAccessKey, d.demo.KeyARN, d.demo.RoleARN, d.kms.URL(), d.idp.Issuer())
	return err
}

func (d *devStandIns) mailbox() catcherBox { return catcherBox{d.mail} }

// catcherBox shows the mail catcher's messages as the views want them.
type catcherBox struct{ c *mailcatcher.Catcher }

func (b catcherBox) List() []views.Mail {
	msgs := b.c.Messages()
	out := make([]views.Mail, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, toViewMail(m))
	}
	return out
}

func (b catcherBox) Get(id string) (views.Mail, bool) {
	m, ok := b.c.Message(id)
	if !ok {
		return views.Mail{}, false
	}
	return toViewMail(m), true
}

func toViewMail(m mailcatcher.Message) views.Mail {
	return views.Mail{
		MailSummary: views.MailSummary{ID: m.ID, ReceivedAt: m.ReceivedAt, From: m.From, To: strings.Join(m.To, ", "), Subject: m.Subject},
		Text:        m.Text, HTML: m.HTML,
	}
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// prodEnv is a complete production configuration; tests break one value.
func prodEnv() map[string]string {
	return map[string]string{
		"KEYPORT_BASE_URL":           "https://keyport.example.com",
		"KEYPORT_KEK_FILE":           "/etc/keyport/kek",
		"KEYPORT_OIDC_ISSUER":        "https://idp.example.com",
		"KEYPORT_OIDC_CLIENT_ID":     "keyport",
		"KEYPORT_OIDC_CLIENT_SECRET": "s3cret-value",
		"KEYPORT_SMTP_HOST":          "smtp.example.com",
		"KEYPORT_MAIL_FROM":          "keyport <keyport@example.com>",
	}
}

func TestLoadConfigProduction(t *testing.T) {
	c, err := loadConfig(envOf(prodEnv()), false)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.Addr != ":8080" || c.Signup != "open" || c.SessionIdleTimeout != 30*time.Minute || c.LogFormat != "json" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLoadConfigDevDefaults(t *testing.T) {
	c, err := loadConfig(envOf(nil), true)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.Addr != "127.0.0.1:8080" || c.KEKFile != filepath.Join("data", "kek.key") || c.LogFormat != "text" {
		t.Errorf("dev defaults = %+v", c)
	}
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		wantVar string
		wantMsg string
	}{
		{name: "missing issuer", unset: "KEYPORT_OIDC_ISSUER", wantVar: "KEYPORT_OIDC_ISSUER", wantMsg: "required"},
		{name: "missing secret", unset: "KEYPORT_OIDC_CLIENT_SECRET", wantVar: "KEYPORT_OIDC_CLIENT_SECRET", wantMsg: "required"},
		{name: "http base url", set: map[string]string{"KEYPORT_BASE_URL": "http://keyport.example.com"}, wantVar: "KEYPORT_BASE_URL", wantMsg: "https"},
		{name: "relative base url", set: map[string]string{"KEYPORT_BASE_URL": "keyport"}, wantVar: "KEYPORT_BASE_URL", wantMsg: "absolute"},
		{name: "bad bool", set: map[string]string{"KEYPORT_OIDC_REQUIRE_MFA": "yes please"}, wantVar: "KEYPORT_OIDC_REQUIRE_MFA", wantMsg: "true or false"},
		{name: "mfa required, no accepted values", set: map[string]string{"KEYPORT_OIDC_REQUIRE_MFA": "true", "KEYPORT_OIDC_MFA_AMR": "none"},
			wantVar: "KEYPORT_OIDC_MFA_AMR", wantMsg: "at least one"},
		{name: "bad mfa acr value", set: map[string]string{"KEYPORT_OIDC_MFA_ACR": "gold,\"x\""}, wantVar: "KEYPORT_OIDC_MFA_ACR", wantMsg: "not a claim value"},
		{name: "bad signup", set: map[string]string{"KEYPORT_SIGNUP": "closed"}, wantVar: "KEYPORT_SIGNUP", wantMsg: "invite-only"},
		{name: "bad duration", set: map[string]string{"KEYPORT_SESSION_IDLE_TIMEOUT": "soon"}, wantVar: "KEYPORT_SESSION_IDLE_TIMEOUT", wantMsg: "duration"},
		{name: "duration out of bounds", set: map[string]string{"KEYPORT_SESSION_MAX_AGE": "1s"}, wantVar: "KEYPORT_SESSION_MAX_AGE", wantMsg: "between"},
		{name: "idle longer than max", set: map[string]string{"KEYPORT_SESSION_IDLE_TIMEOUT": "10h", "KEYPORT_SESSION_MAX_AGE": "1h"}, wantVar: "KEYPORT_SESSION_IDLE_TIMEOUT", wantMsg: "longer"},
		{name: "bad addr", set: map[string]string{"KEYPORT_ADDR": "8080"}, wantVar: "KEYPORT_ADDR", wantMsg: "host:port"},
		{name: "bad log level", set: map[string]string{"KEYPORT_LOG_LEVEL": "loud"}, wantVar: "KEYPORT_LOG_LEVEL", wantMsg: "one of"},
		{name: "bad operator email", set: map[string]string{"KEYPORT_OPERATORS": "ops@example.com, nobody"}, wantVar: "KEYPORT_OPERATORS", wantMsg: "not an email"},
		{name: "secret and file both", set: map[string]string{"KEYPORT_OIDC_CLIENT_SECRET_FILE": "/x"}, wantVar: "KEYPORT_OIDC_CLIENT_SECRET", wantMsg: "not both"},
		{name: "missing smtp host", unset: "KEYPORT_SMTP_HOST", wantVar: "KEYPORT_SMTP_HOST", wantMsg: "required"},
		{name: "missing mail from", unset: "KEYPORT_MAIL_FROM", wantVar: "KEYPORT_MAIL_FROM", wantMsg: "required"},
		{name: "plain smtp in production", set: map[string]string{"KEYPORT_SMTP_TLS": "none"}, wantVar: "KEYPORT_SMTP_TLS", wantMsg: "development"},
		{name: "bad smtp tls", set: map[string]string{"KEYPORT_SMTP_TLS": "ssl3"}, wantVar: "KEYPORT_SMTP_TLS", wantMsg: "starttls-mandatory"},
		{name: "bad smtp port", set: map[string]string{"KEYPORT_SMTP_PORT": "99999"}, wantVar: "KEYPORT_SMTP_PORT", wantMsg: "1 to 65535"},
		{name: "smtp user without password", set: map[string]string{"KEYPORT_SMTP_USERNAME": "keyport"}, wantVar: "KEYPORT_SMTP_USERNAME", wantMsg: "both"},
		{name: "bad mail from", set: map[string]string{"KEYPORT_MAIL_FROM": "keyport at example"}, wantVar: "KEYPORT_MAIL_FROM", wantMsg: "not an email"},
		// Operations (issue 9).
		{name: "aws body logging in production", set: map[string]string{"KEYPORT_AWS_LOG": "retries,request_with_body"}, wantVar: "KEYPORT_AWS_LOG", wantMsg: "refused outside development"},
		{name: "aws response body logging", set: map[string]string{"KEYPORT_AWS_LOG": "response_with_body"}, wantVar: "KEYPORT_AWS_LOG", wantMsg: "refused outside development"},
		{name: "unknown aws log mode", set: map[string]string{"KEYPORT_AWS_LOG": "everything"}, wantVar: "KEYPORT_AWS_LOG", wantMsg: "unknown aws log mode"},
		{name: "bad metrics addr", set: map[string]string{"KEYPORT_METRICS_ADDR": "9090"}, wantVar: "KEYPORT_METRICS_ADDR", wantMsg: "host:port"},
		{name: "metrics on the public addr", set: map[string]string{"KEYPORT_METRICS_ADDR": ":8080"}, wantVar: "KEYPORT_METRICS_ADDR", wantMsg: "differ"},
		{name: "short metrics token", set: map[string]string{"KEYPORT_METRICS_TOKEN": "s3cret-value"}, wantVar: "KEYPORT_METRICS_TOKEN", wantMsg: "at least 16"},
		{name: "bad api rate", set: map[string]string{"KEYPORT_API_RATE": "fast"}, wantVar: "KEYPORT_API_RATE", wantMsg: "number"},
		{name: "negative api rate", set: map[string]string{"KEYPORT_API_RATE": "-1"}, wantVar: "KEYPORT_API_RATE", wantMsg: "between"},
		{name: "zero api burst", set: map[string]string{"KEYPORT_API_BURST": "0"}, wantVar: "KEYPORT_API_BURST", wantMsg: "at least 1"},
		{name: "bad login rate", set: map[string]string{"KEYPORT_LOGIN_RATE": "NaN"}, wantVar: "KEYPORT_LOGIN_RATE", wantMsg: "number"},
		{name: "previous kek is the kek", set: map[string]string{"KEYPORT_KEK_PREVIOUS_FILE": "/etc/keyport/kek"}, wantVar: "KEYPORT_KEK_PREVIOUS_FILE", wantMsg: "same file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := prodEnv()
			delete(env, tt.unset)
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := loadConfig(envOf(env), false)
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a configError", err)
			}
			if ce.Var != tt.wantVar || !strings.Contains(ce.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want variable %s and %q", ce.Error(), tt.wantVar, tt.wantMsg)
			}
			if strings.Contains(ce.Error(), "s3cret-value") {
				t.Errorf("error leaks the client secret: %q", ce.Error())
			}
		})
	}
}

func TestSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := prodEnv()
	delete(env, "KEYPORT_OIDC_CLIENT_SECRET")
	env["KEYPORT_OIDC_CLIENT_SECRET_FILE"] = path
	c, err := loadConfig(envOf(env), false)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if c.OIDCClientSecret != "from-file" {
		t.Errorf("secret = %q, want the trimmed file content", c.OIDCClientSecret)
	}

	env["KEYPORT_OIDC_CLIENT_SECRET_FILE"] = filepath.Join(dir, "missing")
	_, err = loadConfig(envOf(env), false)
	if err == nil || !strings.Contains(err.Error(), "KEYPORT_OIDC_CLIENT_SECRET_FILE: cannot read") {
		t.Errorf("missing file err = %v", err)
	}
}

func TestSMTPConfig(t *testing.T) {
	c, err := loadConfig(envOf(prodEnv()), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPTLS != "starttls-mandatory" || c.SMTPPort != 587 || c.SMTPUsername != "" {
		t.Errorf("smtp defaults = %s %d %q", c.SMTPTLS, c.SMTPPort, c.SMTPUsername)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(path, []byte("smtp-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := prodEnv()
	env["KEYPORT_SMTP_TLS"], env["KEYPORT_SMTP_USERNAME"], env["KEYPORT_SMTP_PASSWORD_FILE"] = "tls", "keyport", path
	c, err = loadConfig(envOf(env), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPTLS != "tls" || c.SMTPPort != 465 || c.SMTPPassword != "smtp-secret" {
		t.Errorf("smtp = %s %d, password read = %v", c.SMTPTLS, c.SMTPPort, c.SMTPPassword == "smtp-secret")
	}
	m, err := newMailer(c)
	if err != nil || strings.Contains(fmt.Sprint(m.Config()), "smtp-secret") {
		t.Errorf("newMailer = %v, %v", m, err)
	}

	// Development: plain text is allowed (the catcher), and a sender is filled in.
	c, err = loadConfig(envOf(map[string]string{"KEYPORT_SMTP_TLS": "none"}), true)
	if err != nil || c.MailFrom != devMailFrom {
		t.Errorf("dev smtp: %+v, %v", c, err)
	}
}

func TestOperationsConfig(t *testing.T) {
	c, err := loadConfig(envOf(prodEnv()), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.APIRate != 1000 || c.APIBurst != 2000 || c.LoginRate != 60 || c.MetricsAddr != "" || c.MetricsToken != "" || c.AWSLogMode != 0 {
		t.Errorf("operations defaults = rate %v burst %d login %v metrics %q/%v aws log %v",
			c.APIRate, c.APIBurst, c.LoginRate, c.MetricsAddr, c.MetricsToken != "", c.AWSLogMode)
	}
	if newMetrics(c) != nil {
		t.Error("metrics are on without a listener or token")
	}
	env := prodEnv()
	env["KEYPORT_API_RATE"], env["KEYPORT_AWS_LOG"], env["KEYPORT_METRICS_ADDR"] = "0", "retries, request", "127.0.0.1:9090"
	env["KEYPORT_METRICS_TOKEN"] = "0123456789abcdef0123"
	if c, err = loadConfig(envOf(env), false); err != nil {
		t.Fatal(err)
	}
	if c.APIRate != 0 || c.AWSLogMode == 0 || newMetrics(c) == nil || publicMetricsToken(c) != "" {
		t.Errorf("rate %v, aws log %v, public token %q: want the limit off, SDK logging, metrics on the separate listener only",
			c.APIRate, c.AWSLogMode, publicMetricsToken(c))
	}
	delete(env, "KEYPORT_METRICS_ADDR")
	if c, _ = loadConfig(envOf(env), false); publicMetricsToken(c) == "" {
		t.Error("a token without a listener should serve /metrics on the public listener")
	}
	// Development may log bodies (kmslocal, demo keys only).
	if c, err = loadConfig(envOf(map[string]string{"KEYPORT_AWS_LOG": "request_with_body,response_with_body"}), true); err != nil || c.AWSLogMode == 0 {
		t.Errorf("dev body logging: %v", err)
	}
}

// TestMFAClaimConfig is issue 17 #16: the amr and acr values that count as a
// second factor are configurable.
func TestMFAClaimConfig(t *testing.T) {
	env := prodEnv()
	c, err := loadConfig(envOf(env), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.OIDCMFAAMR, "otp") || len(c.OIDCMFAACR) != 0 {
		t.Errorf("defaults: amr %v acr %v", c.OIDCMFAAMR, c.OIDCMFAACR)
	}
	env["KEYPORT_OIDC_REQUIRE_MFA"] = "true"
	env["KEYPORT_OIDC_MFA_AMR"] = "none"
	env["KEYPORT_OIDC_MFA_ACR"] = " urn:example:loa:2 , gold "
	if c, err = loadConfig(envOf(env), false); err != nil {
		t.Fatal(err)
	}
	if len(c.OIDCMFAAMR) != 0 || !slices.Equal(c.OIDCMFAACR, []string{"urn:example:loa:2", "gold"}) {
		t.Errorf("configured: amr %v acr %v", c.OIDCMFAAMR, c.OIDCMFAACR)
	}
}

// TestDevRefusesNonLoopbackAddr: `keyport dev` signs anyone in and shows
// every email, so it listens on loopback only (issue 17 #13).
func TestDevRefusesNonLoopbackAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:0": true, "[::1]:8080": true, "localhost:8080": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "192.168.1.10:8080": false, "keyport.example.com:8080": false,
	} {
		_, err := loadConfig(envOf(map[string]string{"KEYPORT_ADDR": addr}), true)
		var ce *configError
		switch {
		case ok && err != nil:
			t.Errorf("dev on %s: %v", addr, err)
		case !ok && (!errors.As(err, &ce) || ce.Var != "KEYPORT_ADDR" || !strings.Contains(ce.Problem, "loopback")):
			t.Errorf("dev on %s: err = %v, want a KEYPORT_ADDR loopback error", addr, err)
		}
	}
	env := prodEnv()
	env["KEYPORT_ADDR"] = "0.0.0.0:8080"
	if _, err := loadConfig(envOf(env), false); err != nil {
		t.Errorf("production on 0.0.0.0: %v", err)
	}
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthcheck asks the keyport on this machine for /healthz and fails
// unless it answers 200: the container HEALTHCHECK, in an image with no
// shell or curl. It reads only KEYPORT_ADDR (and KEYPORT_TLS_CERT_FILE
// when keyport serves HTTPS), so it needs none of the server's secrets.
func healthcheck(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := strings.TrimSpace(getenv("KEYPORT_ADDR"))
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &configError{"KEYPORT_ADDR", "must be host:port, for example 127.0.0.1:8080"}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	scheme, client := "http", http.DefaultClient
	if certFile := strings.TrimSpace(getenv("KEYPORT_TLS_CERT_FILE")); certFile != "" {
		// keyport serves HTTPS itself: trust exactly its own certificate,
		// under the first name it carries (the check goes to loopback).
		tc, err := trustOwnCertificate(certFile)
		if err != nil {
			return err
		}
		scheme, client = "https", &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: /healthz answered %d", res.StatusCode)
	}
	_, err = fmt.Fprintln(stdout, "healthy")
	return err
}

// trustOwnCertificate is a client TLS configuration that trusts the
// certificates in certFile (the server's own) and expects the first's name.
func trustOwnCertificate(certFile string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &configError{"KEYPORT_TLS_CERT_FILE", "cannot read " + certFile + ": " + describeFileError(err)}
	}
	pool := x509.NewCertPool()
	var leaf *x509.Certificate
	for rest := pemBytes; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			pool.AddCert(c)
			if leaf == nil {
				leaf = c
			}
		}
	}
	if leaf == nil {
		return nil, &configError{"KEYPORT_TLS_CERT_FILE", certFile + " holds no PEM certificate"}
	}
	name := leaf.Subject.CommonName
	switch {
	case len(leaf.DNSNames) > 0:
		name = strings.Replace(leaf.DNSNames[0], "*", "healthcheck", 1) // a wildcard's name
	case len(leaf.IPAddresses) > 0:
		name = leaf.IPAddresses[0].String()
	}
	return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}, nil
}

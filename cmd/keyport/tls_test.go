package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and
// localhost and its key as PEM files, returning the certificate.
func writeTestCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "keyport test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestServeTLS: with KEYPORT_TLS_CERT_FILE and KEYPORT_TLS_KEY_FILE keyport
// serves HTTPS itself with that certificate, plain HTTP gets nowhere, the
// health check speaks HTTPS, and a renewed certificate is picked up
// without a restart (issue 17 #20).
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := writeTestCert(t, certFile, keyFile, 1)
	env := map[string]string{"KEYPORT_TLS_CERT_FILE": certFile, "KEYPORT_TLS_KEY_FILE": keyFile}
	base := startDev(t, env)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("keyport says it runs at %s, want https", base)
	}
	addr := strings.TrimPrefix(base, "https://")

	// The served certificate, seen by a client that trusts nothing else.
	served := func(trust ...*x509.Certificate) (*x509.Certificate, int) {
		t.Helper()
		pool := x509.NewCertPool()
		for _, c := range trust {
			pool.AddCert(c)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		res, err := c.Get(base + "/healthz")
		if err != nil {
			t.Fatalf("https: %v", err)
		}
		defer res.Body.Close()
		return res.TLS.PeerCertificates[0], res.StatusCode
	}
	if got, code := served(first); code != 200 || got.SerialNumber.Int64() != 1 {
		t.Errorf("https /healthz = %d with certificate %v", code, got.SerialNumber)
	}
	if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("plain http reached /healthz on the https listener")
		}
	}
	hc := envOf(map[string]string{"KEYPORT_ADDR": addr, "KEYPORT_TLS_CERT_FILE": certFile})
	if err := run(context.Background(), []string{"healthcheck"}, hc, io.Discard); err != nil {
		t.Errorf("healthcheck over https: %v", err)
	}

	// Renewal: new files on disk, the next connection gets them.
	second := writeTestCert(t, certFile, keyFile, 2)
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := served(first, second)
		if got.SerialNumber.Int64() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not picked up")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A bad TLS setting stops keyport at start, naming the variable.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeTestCert(t, certFile, keyFile, 1)
	for name, tc := range map[string]struct {
		env     map[string]string
		wantVar string
	}{
		"cert without key":     {map[string]string{"KEYPORT_TLS_CERT_FILE": certFile}, "KEYPORT_TLS_CERT_FILE"},
		"key without cert":     {map[string]string{"KEYPORT_TLS_KEY_FILE": keyFile}, "KEYPORT_TLS_CERT_FILE"},
		"missing key file":     {map[string]string{"KEYPORT_TLS_CERT_FILE": certFile, "KEYPORT_TLS_KEY_FILE": keyFile + ".gone"}, "KEYPORT_TLS_KEY_FILE"},
		"key and cert swapped": {map[string]string{"KEYPORT_TLS_CERT_FILE": keyFile, "KEYPORT_TLS_KEY_FILE": certFile}, "KEYPORT_TLS_CERT_FILE"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"KEYPORT_ADDR": "127.0.0.1:0", "KEYPORT_DATA_DIR": t.TempDir(), "KEYPORT_LOG_LEVEL": "error"}
			for k, v := range tc.env {
				env[k] = v
			}
			err := run(context.Background(), []string{"dev"}, envOf(env), io.Discard)
			var ce *configError
			if !errors.As(err, &ce) || ce.Var != tc.wantVar {
				t.Errorf("err = %v, want one naming %s", err, tc.wantVar)
			}
		})
	}
}

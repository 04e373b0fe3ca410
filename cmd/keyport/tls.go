package main

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves the certificate of KEYPORT_TLS_CERT_FILE and
// KEYPORT_TLS_KEY_FILE, re-read when either file changes on disk, so a
// renewed certificate (certbot, cert-manager) is used without a restart.
// A pair that fails to load keeps the last good one in use, with a warning.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// newCertReloader loads the pair once; an error names the variable.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := r.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, &configError{"KEYPORT_TLS_CERT_FILE", "cannot load the certificate and key (" + certFile + ", " + keyFile + "): " + err.Error()}
	}
	r.cert, r.stamp = &cert, stamp
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, f := range []struct{ name, path string }{{"KEYPORT_TLS_CERT_FILE", r.certFile}, {"KEYPORT_TLS_KEY_FILE", r.keyFile}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			return out, &configError{f.name, "cannot read " + f.path + ": " + describeFileError(err)}
		}
		out[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}

// getCertificate is tls.Config.GetCertificate. It looks at the files at
// most once a second.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) >= time.Second {
		r.checked = now
		if stamp, err := r.stamps(); err == nil && stamp != r.stamp {
			if cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile); err != nil {
				// Often the cert is renewed a moment before the key: retry on a later handshake.
				r.log.Warn("tls certificate changed but does not load; serving the previous one", "err", err)
			} else {
				r.cert, r.stamp = &cert, stamp
				r.log.Info("tls certificate reloaded", "file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

// tlsConfig is the server's TLS configuration: TLS 1.2 at least, the
// certificate from r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate, NextProtos: []string{"h2", "http/1.1"}}
}

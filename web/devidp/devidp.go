// Package devidp is a development and test stand-in OpenID Connect provider.
// It is never for production: anyone who can reach its sign-in page can
// claim any identity.
//
// It wraps github.com/oauth2-proxy/mockoidc so that keyport still performs a
// completely real authorization-code flow with PKCE and verifies real
// RS256-signed ID tokens from the discovery document and JWKS, while a human
// (or a browser test) chooses who to be on a small form instead of typing a
// password. Tests that do not want the form can Queue an identity first.
package devidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// IdP is a running development identity provider. Create it with Start.
type IdP struct {
	m   *mockoidc.MockOIDC
	srv *http.Server
	// ln is closed by Close itself: Shutdown misses a listener that Serve
	// has not picked up yet, and the port must be free once Close returns.
	ln net.Listener

	// mu serializes every call into mockoidc: its SessionStore is a plain
	// map without a lock, its Keypair fills in Kid lazily, and the user it
	// signs in is whoever is first in its queue, so pushing a user and
	// calling Authorize must be one step.
	mu       sync.Mutex
	queued   []Identity
	opts     Options
	sessions map[string]*ssoSession // SSO sessions by cookie value
	logouts  int

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start starts the development IdP on addr, which must be a loopback address
// such as "127.0.0.1:0", in its default SSO-session mode (see Options). It
// stops when ctx is cancelled or Close is called.
func Start(ctx context.Context, addr string) (*IdP, error) {
	return StartWith(ctx, addr, Options{})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, addr string, opts Options) (*IdP, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	// A fresh key per start unless the caller keeps one: mockoidc's
	// default key is published in its source, so tokens signed with it
	// would prove nothing.
	key := opts.SigningKey
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("devidp: generate signing key: %w", err)
		}
	} else if err := key.Validate(); err != nil || key.N.BitLen() < 2048 {
		return nil, errors.New("devidp: the signing key must be a valid RSA key of at least 2048 bits")
	}
	m, err := mockoidc.NewServer(key)
	if err != nil {
		return nil, fmt.Errorf("devidp: create mockoidc: %w", err)
	}
	// keyport sends S256; refusing "plain" keeps a downgrade from passing here.
	m.CodeChallengeMethodsSupported = []string{"S256"}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devidp: listen on %s: %w", addr, err)
	}
	// A host name such as "localhost" is only known to be loopback once resolved.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("devidp: %s is not a loopback address", ln.Addr())
	}

	p := &IdP{m: m, ln: ln, done: make(chan struct{}), opts: opts, sessions: map[string]*ssoSession{}}
	p.srv = &http.Server{
		Addr:              ln.Addr().String(),
		Handler:           p.routes(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// mockoidc builds its issuer and every discovery URL from Server.Addr.
	// Setting it ourselves, instead of calling m.Start, lets us serve its
	// handlers on our own mux (with the sign-in form in front of Authorize)
	// and avoids m.Start's goroutine, which panics on a serve error.
	m.Server = p.srv

	go func() { _ = p.srv.Serve(ln) }()
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Close()
		case <-p.done:
		}
	}()
	return p, nil
}

// routes mounts mockoidc's exported handlers under its own paths, so the
// discovery document's authorization_endpoint is our sign-in form.
func (p *IdP) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+mockoidc.AuthorizationEndpoint, p.authorize)
	mux.HandleFunc("POST "+mockoidc.AuthorizationEndpoint, p.signIn)
	mux.Handle("POST "+mockoidc.TokenEndpoint, p.locked(rewriteJSON(p.m.Token, fixExpiresIn)))
	mux.Handle("GET "+mockoidc.UserinfoEndpoint, p.locked(p.m.Userinfo))
	mux.Handle("POST "+mockoidc.UserinfoEndpoint, p.locked(p.m.Userinfo))
	mux.Handle("GET "+mockoidc.JWKSEndpoint, p.locked(p.m.JWKS))
	mux.Handle("GET "+mockoidc.DiscoveryEndpoint, p.locked(rewriteJSON(p.m.Discovery, p.addClaims)))
	if !p.opts.Stateless {
		mux.HandleFunc("GET "+EndSessionEndpoint, p.endSession)
		mux.HandleFunc("POST "+EndSessionEndpoint, p.endSession)
	}
	return mux
}

// Issuer returns the issuer URL, e.g. http://127.0.0.1:PORT/oidc; it is
// exactly what go-oidc's NewProvider must be given.
func (p *IdP) Issuer() string { return p.m.Issuer() }

// Addr returns the address the IdP listens on, e.g. 127.0.0.1:PORT: the
// host and port of its issuer.
func (p *IdP) Addr() string { return p.srv.Addr }

// ClientID returns the only client id the IdP accepts (random per Start).
func (p *IdP) ClientID() string { return p.m.ClientID }

// ClientSecret returns the client secret (random per Start). mockoidc reads
// it from the token request body only, so clients must use
// oauth2.AuthStyleInParams.
func (p *IdP) ClientSecret() string { return p.m.ClientSecret }

// ChangeClientSecret replaces the client secret with a new random one, as
// when the client's registration at a real provider changes under a
// running relying party: from then on the token endpoint answers
// invalid_client to the old secret.
func (p *IdP) ChangeClientSecret() {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m.ClientSecret = hex.EncodeToString(b)
}

// Queue makes the next authorization request sign in as id without showing
// the form, for tests that bypass it. Queued identities are used in order.
func (p *IdP) Queue(id Identity) {
	id.Groups = append([]string(nil), id.Groups...)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queued = append(p.queued, id)
}

// Close stops the IdP. It is safe to call more than once.
func (p *IdP) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			_ = p.srv.Close()
			p.closeErr = fmt.Errorf("devidp: shut down: %w", err)
		}
		_ = p.ln.Close()
	})
	return p.closeErr
}

// popQueued returns the next identity queued by a test, if any.
func (p *IdP) popQueued() (Identity, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queued) == 0 {
		return Identity{}, false
	}
	id := p.queued[0]
	p.queued = p.queued[1:]
	return id, true
}

// handOver runs mockoidc's real authorize logic for id, authenticated at
// authTime, with only the validated authorization parameters, as a GET,
// whatever the browser sent.
func (p *IdP) handOver(w http.ResponseWriter, r *http.Request, ar authzRequest, id Identity, authTime time.Time) {
	// mockoidc issues an ID token only when openid is the first scope.
	scopes := slices.DeleteFunc(strings.Fields(ar.Scope), func(s string) bool { return s == "openid" })
	ar.Scope = strings.Join(append([]string{"openid"}, scopes...), " ")

	r2 := r.Clone(r.Context())
	r2.Method = http.MethodGet
	r2.URL.RawQuery = ar.values().Encode()
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.Form, r2.PostForm = nil, nil
	r2.Header.Del("Content-Type")

	p.mu.Lock()
	defer p.mu.Unlock()
	u := newUser(id)
	if !p.opts.Stateless {
		u.authTime = authTime
	}
	p.m.QueueUser(u)
	p.m.Authorize(w, r2)
	// Authorize leaves the user queued when it rejects the request; drop it
	// so the next sign-in cannot silently become this identity.
	p.m.UserQueue.Lock()
	p.m.UserQueue.Queue = nil
	p.m.UserQueue.Unlock()
}

// locked runs a mockoidc handler under p.mu (see the field comment).
func (p *IdP) locked(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		h(w, r)
	})
}

// rewriteJSON buffers a mockoidc JSON response and lets edit correct a
// successful one before it is sent.
func rewriteJSON(h http.HandlerFunc, edit func(map[string]any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		buf := &bufferedWriter{header: http.Header{}, code: http.StatusOK}
		h(buf, r)
		body := buf.body.Bytes()
		if buf.code == http.StatusOK {
			var doc map[string]any
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&doc); err == nil {
				edit(doc)
				if b, err := json.Marshal(doc); err == nil {
					body = b
				}
			}
		}
		for k, v := range buf.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(buf.code)
		_, _ = w.Write(body)
	}
}

// fixExpiresIn converts mockoidc's expires_in from nanoseconds (it marshals a
// time.Duration) to the seconds RFC 6749 requires, so oauth2.Token.Expiry is
// right.
func fixExpiresIn(doc map[string]any) {
	n, ok := doc["expires_in"].(json.Number)
	if !ok {
		return
	}
	// Only values too large to be seconds are converted, so a mockoidc that
	// fixes this upstream is left alone.
	if ns, err := n.Int64(); err == nil && ns > int64(365*24*time.Hour/time.Second) {
		doc["expires_in"] = ns / int64(time.Second)
	}
}

// addClaims advertises the claims our users add on top of mockoidc's and,
// in SSO mode, auth_time and the end_session_endpoint.
func (p *IdP) addClaims(doc map[string]any) {
	claims, _ := doc["claims_supported"].([]any)
	claims = append(claims, "name", "amr", "acr", "nonce")
	if !p.opts.Stateless {
		claims = append(claims, "auth_time")
		doc["end_session_endpoint"] = p.m.Addr() + EndSessionEndpoint
	}
	doc["claims_supported"] = claims
}

// bufferedWriter is the smallest http.ResponseWriter that keeps everything.
type bufferedWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(code int)        { b.code = code }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// checkLoopback refuses anything but a loopback host before listening, so a
// typo cannot expose a sign-in-as-anyone page on the network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("devidp: parse address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("devidp: address must be on loopback, e.g. 127.0.0.1:0")
	}
	return nil
}

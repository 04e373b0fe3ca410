package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Options configure a development IdP. The zero value is what `keyport dev`
// and the tests run: SSO sessions on, like most real providers.
type Options struct {
	// Stateless turns SSO sessions off and leaves auth_time out of the ID
	// token: every authorization request shows the form (or takes a queued
	// identity), as with a provider that keeps no session of its own and
	// sends no auth_time (Dex 2.45).
	Stateless bool
	// Now is the IdP's clock for auth_time and session ages (time.Now when
	// nil); tests share keyport's clock with it.
	Now func() time.Time
	// SigningKey signs the ID tokens (a new 2048-bit key per start when
	// nil). `keyport dev` keeps one in its data directory, so that with the
	// same port the issuer and its keys survive a restart.
	SigningKey *rsa.PrivateKey
}

// EndSessionEndpoint is the path of the RP-initiated logout endpoint,
// advertised as end_session_endpoint in SSO mode.
const EndSessionEndpoint = "/oidc/logout"

const ssoCookie = "devidp_sso"

// ssoSession is a signed-in browser: who, and when they last authenticated.
type ssoSession struct {
	id       Identity
	authTime time.Time
}

func (p *IdP) now() time.Time {
	if p.opts.Now != nil {
		return p.opts.Now()
	}
	return time.Now()
}

// fresh signs id in interactively (the form, or a queued identity): the
// authentication time is now, and in SSO mode the browser gets a session.
func (p *IdP) fresh(w http.ResponseWriter, id Identity) time.Time {
	at := p.now()
	if p.opts.Stateless {
		return at
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sid := hex.EncodeToString(b)
	p.mu.Lock()
	p.sessions[sid] = &ssoSession{id: id, authTime: at}
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: sid, Path: "/oidc", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return at
}

// session returns the browser's SSO session, if it has a live one.
func (p *IdP) session(r *http.Request) (string, *ssoSession) {
	if p.opts.Stateless {
		return "", nil
	}
	ck, err := r.Cookie(ssoCookie)
	if err != nil {
		return "", nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return ck.Value, p.sessions[ck.Value]
}

// reuse reports whether an SSO session may answer ar without asking the
// user again: not with prompt=login, and not when max_age has passed since
// the session's authentication (max_age=0 always asks).
func (p *IdP) reuse(s *ssoSession, ar authzRequest) bool {
	if s == nil || ar.hasPrompt("login") {
		return false
	}
	if ar.MaxAge != "" {
		n, err := strconv.Atoi(ar.MaxAge)
		if err != nil || n < 0 {
			return false
		}
		if p.now().Sub(s.authTime) >= time.Duration(n)*time.Second {
			return false
		}
	}
	return true
}

func (a authzRequest) hasPrompt(v string) bool {
	for _, f := range strings.Fields(a.Prompt) {
		if f == v {
			return true
		}
	}
	return false
}

// loginRequired answers prompt=none when the user would have to sign in.
func loginRequired(w http.ResponseWriter, r *http.Request, ar authzRequest) {
	u, _ := url.Parse(ar.RedirectURI)
	q := u.Query()
	q.Set("error", "login_required")
	q.Set("state", ar.State)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// endSession is the RP-initiated logout endpoint (OpenID Connect
// RP-Initiated Logout 1.0): it ends the browser's SSO session and returns
// to post_logout_redirect_uri. It needs an id_token_hint this IdP issued to
// its client, or that client's client_id (which the spec allows instead).
func (p *IdP) endSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, page{Fatal: "The logout request could not be read."})
		return
	}
	hint, back := r.Form.Get("id_token_hint"), r.Form.Get("post_logout_redirect_uri")
	switch {
	case hint != "" && !p.issuedHere(hint):
		p.render(w, http.StatusBadRequest, page{Fatal: "The id_token_hint was not issued by this provider to this client."})
		return
	case hint == "" && r.Form.Get("client_id") != p.ClientID():
		p.render(w, http.StatusBadRequest, page{Fatal: "Logout needs an id_token_hint or this provider's client_id."})
		return
	}
	if sid, _ := p.session(r); sid != "" {
		p.mu.Lock()
		delete(p.sessions, sid)
		p.logouts++
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/oidc", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if back == "" {
		p.render(w, http.StatusOK, page{Fatal: "You are signed out of the development identity provider."})
		return
	}
	if redirectOrigin(back) == "" {
		p.render(w, http.StatusBadRequest, page{Fatal: "The post_logout_redirect_uri must be an absolute http or https URL."})
		return
	}
	u, _ := url.Parse(back)
	if st := r.Form.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// issuedHere checks an ID token's signature against this IdP's key and its
// audience against the client; expiry is not checked, as the spec allows
// an expired hint.
func (p *IdP) issuedHere(raw string) bool {
	p.mu.Lock()
	pub := p.m.Keypair.PublicKey
	clientID, issuer := p.m.ClientID, p.m.Issuer()
	p.mu.Unlock()
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil || claims.Issuer != issuer {
		return false
	}
	for _, a := range claims.Audience {
		if a == clientID {
			return true
		}
	}
	return false
}

// Logouts counts RP-initiated logouts that ended a session, for tests.
func (p *IdP) Logouts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logouts
}

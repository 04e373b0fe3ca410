// Package oidcrp is keyport's OpenID Connect relying party: discovery of
// the identity provider, the authorization-code flow with PKCE and nonce,
// verification of the ID token (go-oidc), step-up requests (max_age=0,
// prompt=login), a reachability probe, and RP-initiated logout. It knows
// nothing of echo, sessions or keyport's users: the sign-in handlers decide
// what a verified identity may do.
//
// It imports only the OIDC and OAuth 2 libraries.
package oidcrp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Client is keyport's relying-party configuration for one identity provider.
type Client struct {
	issuer   string
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client
	lastUp   atomic.Value // time.Time of the last successful reachability probe
	// endSession is the provider's end_session_endpoint ("" when it
	// advertises none): sign-out then ends the provider's session too.
	endSession string
}

// New discovers the provider at issuer and prepares the code flow.
// redirectURL is keyport's absolute /auth/callback URL.
func New(ctx context.Context, issuer, clientID, clientSecret, redirectURL string) (*Client, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return nil, fmt.Errorf("discover oidc provider %s: %w", issuer, err)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		EndSession  string   `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("read oidc provider metadata: %w", err)
	}
	ep := p.Endpoint()
	// Send the secret in the form body when the provider lists
	// client_secret_post (some, like the development IdP, read only that),
	// otherwise as HTTP Basic, the discovery default; never guess and retry.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if slices.Contains(meta.AuthMethods, "client_secret_post") {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &Client{
		issuer: issuer,
		oauth: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL,
			Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
		},
		verifier:   p.Verifier(&oidc.Config{ClientID: clientID}),
		client:     client,
		endSession: httpURL(meta.EndSession),
	}, nil
}

// AuthURL is where the browser is sent to sign in. A step-up asks the
// provider to authenticate the user again whatever session it holds
// (max_age=0, which also obliges it to send auth_time, and prompt=login).
func (o *Client) AuthURL(state, nonce, verifier string, stepUp bool) string {
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if stepUp {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "login"))
	}
	return o.oauth.AuthCodeURL(state, opts...)
}

// Identity is what keyport takes from a verified ID token.
type Identity struct {
	Issuer, Subject, Email, Name string
	EmailVerified                bool
	AMR                          []string
	ACR                          string
	// AuthTime is the auth_time claim, zero when the provider sent none:
	// iat is when the token was issued, which an SSO session does long
	// after the user last authenticated, so it never stands in.
	AuthTime time.Time
}

// ErrNonceMismatch: the ID token was not issued for this login flow.
var ErrNonceMismatch = errors.New("oidc: id token nonce does not match the login flow")

// ErrClientRejected: the provider refused keyport's own client credentials
// (invalid_client, unauthorized_client), an operator's configuration error,
// not a forged sign-in.
var ErrClientRejected = errors.New("oidc: the identity provider refused keyport's client credentials")

// ErrProviderUnreachable: the provider could not be reached or failed
// (connection refused, timeout, a 5xx answer) while completing the sign-in.
var ErrProviderUnreachable = errors.New("oidc: the identity provider could not be reached")

// classifyExchange tells an operator's error and an outage from a sign-in
// that does not verify, so each gets its own answer and audit reason.
func classifyExchange(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch {
		case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" ||
			(re.ErrorCode == "" && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized):
			return fmt.Errorf("%w: %w", ErrClientRejected, err)
		case re.Response != nil && re.Response.StatusCode >= 500:
			return fmt.Errorf("%w: %w", ErrProviderUnreachable, err)
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %w", ErrProviderUnreachable, err)
	}
	return err
}

// Exchange trades the code for tokens, verifies the ID token's signature,
// issuer, audience and expiry (go-oidc), and checks the nonce (go-oidc leaves
// that to us).
func (o *Client) Exchange(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange code: %w", classifyExchange(err))
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, errors.New("exchange code: token response has no id_token")
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		// Fetching the signing keys can fail for an outage too.
		return nil, fmt.Errorf("verify id token: %w", classifyExchange(err))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, ErrNonceMismatch
	}
	var claims struct {
		Email         string   `json:"email"`
		EmailVerified any      `json:"email_verified"`
		Name          string   `json:"name"`
		AMR           []string `json:"amr"`
		ACR           string   `json:"acr"`
		AuthTime      int64    `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("read id token claims: %w", err)
	}
	id := &Identity{
		Issuer: idt.Issuer, Subject: idt.Subject, Email: claims.Email, Name: claims.Name,
		EmailVerified: claims.EmailVerified == true || claims.EmailVerified == "true",
		AMR:           claims.AMR, ACR: claims.ACR,
	}
	if claims.AuthTime > 0 {
		id.AuthTime = time.Unix(claims.AuthTime, 0)
	}
	return id, nil
}

// DefaultMFAAMR are the RFC 8176 "amr" values that show more than a
// password: "mfa" itself, or a possession or inherence factor. They are what
// KEYPORT_OIDC_MFA_AMR accepts unless configured otherwise.
var DefaultMFAAMR = []string{"mfa", "otp", "hwk", "swk", "sms", "tel", "sc", "fpt", "face", "iris", "retina", "vbm"}

// HasSecondFactor reports whether the IdP asserted a second factor: one of
// the accepted "amr" values, or an accepted "acr" value (providers such as
// Keycloak or Entra ID express the strength of a sign-in as an acr level
// rather than a list of methods).
func (id *Identity) HasSecondFactor(amr, acr []string) bool {
	if amr == nil {
		amr = DefaultMFAAMR
	}
	for _, m := range id.AMR {
		if slices.Contains(amr, m) {
			return true
		}
	}
	return id.ACR != "" && slices.Contains(acr, id.ACR)
}

// Reachable checks that the provider answers its discovery document, so
// "Sign in" can say the provider is down instead of sending the browser to
// a connection error. A success is remembered for probeTTL; every failure
// is probed again next time.
func (o *Client) Reachable(ctx context.Context) error {
	if last, ok := o.lastUp.Load().(time.Time); ok && time.Since(last) < probeTTL {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(o.issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return fmt.Errorf("probe identity provider: %w", err)
	}
	res, err := o.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProviderUnreachable, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: discovery answered %d", ErrProviderUnreachable, res.StatusCode)
	}
	o.lastUp.Store(time.Now())
	return nil
}

const (
	probeTTL     = 10 * time.Second
	probeTimeout = 3 * time.Second
)

// httpURL returns raw when it is an absolute http(s) URL, else "".
func httpURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return raw
}

// LogoutURL is the RP-initiated logout request (OpenID Connect
// RP-Initiated Logout 1.0) that ends the provider's session and returns to
// back, or "" when the provider offers none. It identifies keyport by
// client_id, which the spec allows in place of id_token_hint, so no token
// is kept for it or put in a URL.
func (o *Client) LogoutURL(back string) string {
	if o.endSession == "" {
		return ""
	}
	u, _ := url.Parse(o.endSession)
	q := u.Query()
	q.Set("client_id", o.oauth.ClientID)
	q.Set("post_logout_redirect_uri", back)
	u.RawQuery = q.Encode()
	return u.String()
}

// EndSessionOrigin is the origin of the provider's end_session_endpoint
// ("" without one): sign-out forms redirect there, so the pages' CSP
// form-action must allow it.
func (o *Client) EndSessionOrigin() string {
	if o == nil || o.endSession == "" {
		return ""
	}
	u, _ := url.Parse(o.endSession)
	return u.Scheme + "://" + u.Host
}

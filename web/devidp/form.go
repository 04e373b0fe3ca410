package devidp

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/oauth2-proxy/mockoidc"
)

// authzRequest holds the authorization parameters the form carries through
// in hidden fields and hands to mockoidc unchanged.
type authzRequest struct {
	ClientID, RedirectURI, ResponseType, Scope       string
	State, Nonce, CodeChallenge, CodeChallengeMethod string
	LoginHint, Prompt, MaxAge                        string
}

// paramNames lists, in page order, the parameters preserved across the form.
var paramNames = []string{"client_id", "redirect_uri", "response_type", "scope",
	"state", "nonce", "code_challenge", "code_challenge_method", "login_hint", "prompt", "max_age"}

func parseAuthzRequest(v url.Values) authzRequest {
	return authzRequest{
		ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"),
		ResponseType: v.Get("response_type"), Scope: v.Get("scope"),
		State: v.Get("state"), Nonce: v.Get("nonce"),
		CodeChallenge: v.Get("code_challenge"), CodeChallengeMethod: v.Get("code_challenge_method"),
		LoginHint: v.Get("login_hint"), Prompt: v.Get("prompt"), MaxAge: v.Get("max_age"),
	}
}

func (a authzRequest) values() url.Values {
	v := url.Values{}
	for name, val := range map[string]string{
		"client_id": a.ClientID, "redirect_uri": a.RedirectURI,
		"response_type": a.ResponseType, "scope": a.Scope,
		"state": a.State, "nonce": a.Nonce,
		"code_challenge": a.CodeChallenge, "code_challenge_method": a.CodeChallengeMethod,
		"login_hint": a.LoginHint, "prompt": a.Prompt, "max_age": a.MaxAge,
	} {
		if val != "" {
			v.Set(name, val)
		}
	}
	return v
}

// validate checks what mockoidc does not, so a keyport bug (no PKCE, no
// nonce, a redirect to a strange place) fails here in development rather
// than against a stricter real provider. It returns a message for the page.
func (a authzRequest) validate(clientID string) string {
	switch {
	case a.ClientID != clientID:
		return "Unknown client_id."
	case a.ResponseType != "code":
		return "Only response_type=code is supported."
	case !slices.Contains(strings.Fields(a.Scope), "openid"):
		return "The scope must include openid."
	case slices.ContainsFunc(strings.Fields(a.Scope), func(s string) bool { return !slices.Contains(mockoidc.ScopesSupported, s) }):
		return "Only the scopes " + strings.Join(mockoidc.ScopesSupported, ", ") + " are supported."
	case a.State == "":
		return "The state parameter is required."
	case a.Nonce == "":
		return "The nonce parameter is required."
	case a.CodeChallenge == "" || a.CodeChallengeMethod != "S256":
		return "PKCE is required: send code_challenge with code_challenge_method=S256."
	case redirectOrigin(a.RedirectURI) == "":
		return "The redirect_uri must be an absolute http or https URL."
	}
	return ""
}

// redirectOrigin returns scheme://host of an acceptable redirect URI, or ""
// if it is not one. The host is restricted to plain characters because the
// origin is written into the Content-Security-Policy header.
func redirectOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	for _, c := range u.Host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

// authorize is the authorization_endpoint: it shows the form, or signs in a
// queued identity straight away as mockoidc itself would.
func (p *IdP) authorize(w http.ResponseWriter, r *http.Request) {
	ar := parseAuthzRequest(r.URL.Query())
	if msg := ar.validate(p.ClientID()); msg != "" {
		p.render(w, http.StatusBadRequest, page{Fatal: msg})
		return
	}
	// A queued identity stands for a user typing their credentials: a
	// fresh authentication, whatever session the browser has.
	if id, ok := p.popQueued(); ok {
		p.handOver(w, r, ar, id, p.fresh(w, id))
		return
	}
	if _, s := p.session(r); p.reuse(s, ar) {
		p.handOver(w, r, ar, s.id, s.authTime)
		return
	}
	if ar.hasPrompt("none") {
		loginRequired(w, r, ar)
		return
	}
	email := ""
	if _, msg := validateEmail(ar.LoginHint); msg == "" {
		email = ar.LoginHint
	}
	p.render(w, http.StatusOK, p.formPage(ar, email, "", true, false, ""))
}

// signIn handles the form: validate, then hand over to mockoidc, which
// redirects to redirect_uri with code and state.
func (p *IdP) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, page{Fatal: "The form could not be read."})
		return
	}
	ar := parseAuthzRequest(r.PostForm)
	if msg := ar.validate(p.ClientID()); msg != "" {
		p.render(w, http.StatusBadRequest, page{Fatal: msg})
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	verified := r.PostForm.Get("email_verified") != ""
	mfa := r.PostForm.Get("mfa") != ""
	email, msg := validateEmail(r.PostForm.Get("email"))
	if msg == "" && (utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name)) {
		msg = "Enter a name of at most 200 characters."
	}
	if msg != "" {
		p.render(w, http.StatusUnprocessableEntity,
			p.formPage(ar, r.PostForm.Get("email"), name, verified, mfa, msg))
		return
	}
	id := Identity{Email: email, Name: name, EmailVerified: verified, MFA: mfa}
	p.handOver(w, r, ar, id, p.fresh(w, id))
}

// validateEmail returns the trimmed address, or a message for the page.
func validateEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "Enter an email address."
	}
	a, err := mail.ParseAddress(s)
	// Comparing with the input rejects display names ("Ada <ada@x>") and
	// quoted local parts that would not round-trip.
	if err != nil || a.Address != s || len(s) > 254 {
		return "", "Enter a valid email address, like ada@example.com."
	}
	return s, ""
}

// page is everything the template shows.
type page struct {
	Fatal  string // the request itself is unusable: no form
	Error  string // the form needs correcting
	Action string
	Hidden []hidden
	Email  string
	Name   string
	// Verified and MFA are the checkbox states.
	Verified, MFA bool
	// formAction and nonce go into the headers and <style>.
	formAction string
	Nonce      string
}

type hidden struct{ Name, Value string }

func (p *IdP) formPage(ar authzRequest, email, name string, verified, mfa bool, msg string) page {
	v := ar.values()
	var hs []hidden
	for _, n := range paramNames {
		if val := v.Get(n); val != "" {
			hs = append(hs, hidden{n, val})
		}
	}
	return page{
		Error: msg, Action: mockoidc.AuthorizationEndpoint, Hidden: hs,
		Email: email, Name: name, Verified: verified, MFA: mfa,
		formAction: redirectOrigin(ar.RedirectURI),
	}
}

// render writes pg through a buffer so a failed render never sends half a
// page, with a CSP that allows only our nonce'd style and posting to
// ourselves; the redirect_uri origin is allowed too because Chrome applies
// form-action to the redirect that follows the POST.
func (p *IdP) render(w http.ResponseWriter, status int, pg page) {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	pg.Nonce = base64.RawStdEncoding.EncodeToString(nonce)
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, pg); err != nil {
		http.Error(w, "devidp: render sign-in page", http.StatusInternalServerError)
		return
	}
	formAction := "'self'"
	if pg.formAction != "" {
		formAction += " " + pg.formAction
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+pg.Nonce+"'; form-action "+
		formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keyport development sign-in</title>
<style nonce="{{.Nonce}}">
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}
main{max-width:26rem;margin:3rem auto;padding:1.5rem 2rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.25rem;margin:.5rem 0 1rem}
.banner{background:#fef3c7;border:1px solid #f59e0b;padding:.5rem .75rem;border-radius:.25rem;font-size:.875rem}
.error{background:#fee2e2;border:1px solid #ef4444;padding:.5rem .75rem;border-radius:.25rem}
label{display:block;margin:.75rem 0 .25rem}
input[type=email],input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #a1a1aa;border-radius:.25rem}
.check{display:flex;gap:.5rem;align-items:center}
button{margin-top:1.25rem;padding:.5rem 1.25rem;font:inherit;background:#1d4ed8;color:#fff;border:0;border-radius:.25rem;cursor:pointer}
</style>
</head>
<body>
<main>
<p class="banner" role="note" data-testid="devidp-banner">Development stand-in identity provider: there is no password and you can sign in as anyone. Never use it in production.</p>
<h1>keyport development sign-in</h1>
{{- if .Fatal}}
<p class="error" role="alert" id="error" data-testid="devidp-error">Invalid sign-in request: {{.Fatal}}</p>
{{- else}}
{{- with .Error}}
<p class="error" role="alert" id="error" data-testid="devidp-error">{{.}}</p>
{{- end}}
<form method="post" action="{{.Action}}" novalidate>
{{- range .Hidden}}
<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{- end}}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" autofocus value="{{.Email}}">
<label for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="name" value="{{.Name}}">
<label class="check" for="email_verified"><input id="email_verified" name="email_verified" type="checkbox" value="on"{{if .Verified}} checked{{end}}> Email verified</label>
<label class="check" for="mfa"><input id="mfa" name="mfa" type="checkbox" value="on"{{if .MFA}} checked{{end}}> Second factor (MFA)</label>
<button id="signin" type="submit">Sign in</button>
</form>
{{- end}}
</main>
</body>
</html>
`))

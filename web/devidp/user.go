package devidp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// Identity is who the form (or a test, through Queue) signs in as.
type Identity struct {
	Email         string
	Name          string
	EmailVerified bool
	// MFA makes the ID token's amr ["pwd", "otp"] instead of ["pwd"].
	MFA bool
	// ACR, when set, is sent as the ID token's acr claim (the strength of
	// the sign-in, as Keycloak or Entra ID express it).
	ACR string
	// Subject, when set, replaces the sub claim derived from the email, as
	// when a provider is reconfigured or a user re-created there.
	Subject string
	Groups  []string
}

// Subject returns the stable "sub" claim for an email address: the same
// person signing in twice must be the same user, whatever the letter case.
// It is a hash rather than the address so keyport cannot come to rely on
// sub being an email, which real providers do not promise.
func Subject(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "dev-" + hex.EncodeToString(sum[:16])
}

// user adapts an Identity to mockoidc.User; mockoidc's own MockUser has no
// name or amr claim.
type user struct {
	sub string
	id  Identity
	// authTime is sent as auth_time unless zero (the stateless mode).
	authTime time.Time
}

var _ mockoidc.User = (*user)(nil)

func newUser(id Identity) *user {
	id.Email = strings.TrimSpace(id.Email)
	id.Name = strings.TrimSpace(id.Name)
	if id.Name == "" {
		// Real providers nearly always send a name; keyport should be
		// exercised with one even when the tester leaves the field empty.
		id.Name, _, _ = strings.Cut(id.Email, "@")
	}
	id.Groups = slices.Clone(id.Groups)
	sub := id.Subject
	if sub == "" {
		sub = Subject(id.Email)
	}
	return &user{sub: sub, id: id}
}

// ID implements mockoidc.User; it becomes the "sub" claim.
func (u *user) ID() string { return u.sub }

// profile holds the scope-dependent claims shared by the ID token and
// userinfo. Like real providers, email claims need the "email" scope, name
// the "profile" scope and groups the "groups" scope.
type profile struct {
	Email         string   `json:"email,omitempty"`
	EmailVerified *bool    `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}

func (u *user) profile(scopes []string) profile {
	var p profile
	if slices.Contains(scopes, "email") {
		verified := u.id.EmailVerified
		p.Email, p.EmailVerified = u.id.Email, &verified
	}
	if slices.Contains(scopes, "profile") {
		p.Name = u.id.Name
	}
	if slices.Contains(scopes, "groups") {
		p.Groups = slices.Clone(u.id.Groups)
	}
	return p
}

// Userinfo implements mockoidc.User for the userinfo endpoint.
func (u *user) Userinfo(scopes []string) ([]byte, error) {
	return json.Marshal(struct {
		Subject string `json:"sub"`
		profile
	}{u.sub, u.profile(scopes)})
}

// idClaims is the ID token body: mockoidc's registered claims and nonce,
// plus ours.
type idClaims struct {
	*mockoidc.IDTokenClaims
	profile
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
}

// Claims implements mockoidc.User for the ID token.
func (u *user) Claims(scopes []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	amr := []string{"pwd"}
	if u.id.MFA {
		amr = append(amr, "otp")
	}
	c := &idClaims{IDTokenClaims: base, profile: u.profile(scopes), AMR: amr, ACR: u.id.ACR}
	if !u.authTime.IsZero() {
		c.AuthTime = u.authTime.Unix()
	}
	return c, nil
}

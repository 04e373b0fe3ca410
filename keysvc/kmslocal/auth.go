package kmslocal

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// principal is the identity a request acts as.
type principal struct {
	ARN     string
	Account string
	// RoleARN is the role behind an assumed-role session, so a key policy
	// naming the role matches its sessions.
	RoleARN     string
	AccessKeyID string
}

// parsePrincipalARN accepts the identities Config may name: IAM users,
// account roots and roles.
func parsePrincipalARN(arn string) (principal, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || (parts[2] != "iam" && parts[2] != "sts") || !isAccountID(parts[4]) {
		return principal{}, fmt.Errorf("kmslocal: %q is not an IAM principal ARN", arn)
	}
	return principal{ARN: arn, Account: parts[4]}, nil
}

func parseRoleARN(arn string) (account, name string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "iam" || !isAccountID(parts[4]) || !strings.HasPrefix(parts[5], "role/") {
		return "", "", fmt.Errorf("kmslocal: %q is not an IAM role ARN", arn)
	}
	path := strings.TrimPrefix(parts[5], "role/")
	return parts[4], path[strings.LastIndex(path, "/")+1:], nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// sigV4 is the parsed Authorization header.
type sigV4 struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
}

func parseAuthorization(h string) (sigV4, *apiError) {
	var v sigV4
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return v, newError("IncompleteSignatureException", "Authorization header requires the AWS4-HMAC-SHA256 algorithm")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return v, newError("IncompleteSignatureException", "malformed Authorization header element %q", part)
		}
		fields[k] = val
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" || scope[2] == "" {
		return v, newError("IncompleteSignatureException", "Authorization header requires a Credential of the form AKID/DATE/REGION/SERVICE/aws4_request")
	}
	if fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return v, newError("IncompleteSignatureException", "Authorization header requires SignedHeaders and Signature")
	}
	v.accessKeyID, v.date, v.region, v.service = scope[0], scope[1], scope[2], scope[3]
	v.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	v.signature = fields["Signature"]
	return v, nil
}

// authenticate maps the request's access key to a principal and, where the
// server knows the secret, verifies the SigV4 signature. The region comes
// from the credential scope, as it does in AWS.
func (s *Server) authenticate(r *http.Request, body []byte, service string, now time.Time) (principal, string, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, "", newError("MissingAuthenticationTokenException", "Request is missing Authentication Token")
	}
	sig, aerr := parseAuthorization(h)
	if aerr != nil {
		return principal{}, "", aerr
	}
	if sig.service != service {
		return principal{}, "", newError("InvalidSignatureException", "Credential should be scoped to correct service: '%s'.", service)
	}
	secret, who, aerr := s.lookupCredentials(r, sig.accessKeyID, now)
	if aerr != nil {
		return principal{}, "", aerr
	}
	if secret != "" {
		if aerr := verifySignature(r, body, sig, secret); aerr != nil {
			return principal{}, "", aerr
		}
	}
	return who, sig.region, nil
}

// lookupCredentials returns the secret for an access key (empty when the
// server accepts any signature) and the principal it stands for.
func (s *Server) lookupCredentials(r *http.Request, akid string, now time.Time) (string, principal, *apiError) {
	s.mu.Lock() // AddPrincipal may add principals while the server runs
	cred, ok := s.principals[akid]
	s.mu.Unlock()
	if ok {
		return cred.secret, cred.who, nil
	}
	s.mu.Lock()
	sess, ok := s.st.Sessions[akid]
	s.mu.Unlock()
	if ok {
		token := r.Header.Get("X-Amz-Security-Token")
		if subtle.ConstantTimeCompare([]byte(token), []byte(sess.SessionToken)) != 1 {
			return "", principal{}, newError("UnrecognizedClientException", "The security token included in the request is invalid.")
		}
		if !now.Before(sess.Expiration) {
			return "", principal{}, newError("ExpiredTokenException", "The security token included in the request is expired")
		}
		return sess.SecretAccessKey, principal{ARN: sess.ARN, Account: sess.Account, RoleARN: sess.RoleARN, AccessKeyID: akid}, nil
	}
	if s.strict {
		return "", principal{}, newError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	acct := s.cfg.DefaultAccount
	return "", principal{ARN: "arn:aws:iam::" + acct + ":root", Account: acct, AccessKeyID: akid}, nil
}

func verifySignature(r *http.Request, body []byte, sig sigV4, secret string) *apiError {
	amzDate := r.Header.Get("X-Amz-Date")
	if len(amzDate) < 8 || amzDate[:8] != sig.date {
		return newError("IncompleteSignatureException", "X-Amz-Date must be present and match the credential scope date")
	}
	var ch strings.Builder
	for _, name := range sig.signedHeaders {
		ch.WriteString(name)
		ch.WriteByte(':')
		switch name {
		case "host":
			ch.WriteString(stripSpaces(r.Host))
		case "content-length":
			ch.WriteString(strconv.FormatInt(r.ContentLength, 10))
		default:
			vals := r.Header.Values(name)
			for i, v := range vals {
				if i > 0 {
					ch.WriteByte(',')
				}
				ch.WriteString(strings.TrimSpace(stripSpaces(v)))
			}
		}
		ch.WriteByte('\n')
	}
	payload := sha256.Sum256(body)
	canonical := strings.Join([]string{
		r.Method,
		escapePath(uriPath(r.URL)),
		canonicalQuery(r.URL.Query()),
		ch.String(),
		strings.Join(sig.signedHeaders, ";"),
		hex.EncodeToString(payload[:]),
	}, "\n")
	creq := sha256.Sum256([]byte(canonical))
	scope := strings.Join([]string{sig.date, sig.region, sig.service, "aws4_request"}, "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(creq[:])
	k := hmacSHA256([]byte("AWS4"+secret), sig.date)
	k = hmacSHA256(k, sig.region)
	k = hmacSHA256(k, sig.service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig.signature)) != 1 {
		return newError("InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func uriPath(u *url.URL) string {
	if p := u.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// escapePath encodes every byte but the RFC 3986 unreserved set and '/',
// applied to the already-escaped path exactly as the SDK signer does.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	return strings.Join(parts, "&")
}

func awsEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(s), "+", "%20"), "%7E", "~")
}

func stripSpaces(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return strings.TrimSpace(s)
}

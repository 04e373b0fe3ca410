package kmslocal

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
)

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// idEncoding spells the random part of access key and role ids in upper
// case letters and digits, as AWS's do.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, reqID string, form url.Values, body []byte) {
	op := form.Get("Action")
	if op != "AssumeRole" && op != "GetCallerIdentity" {
		writeXMLError(w, reqID, newError("UnknownOperationException", "Could not find operation %s for version %s", op, form.Get("Version")))
		return
	}
	s.stats.countOp(op)
	now := s.now()
	caller, _, aerr := s.authenticate(r, body, "sts", now)
	if aerr == nil {
		aerr = s.injectFault(r.Context(), op)
	}
	if aerr != nil {
		writeXMLError(w, reqID, aerr)
		return
	}
	var result any
	if op == "GetCallerIdentity" {
		result = struct {
			XMLName xml.Name `xml:"GetCallerIdentityResult"`
			Arn     string   `xml:"Arn"`
			UserId  string   `xml:"UserId"`
			Account string   `xml:"Account"`
		}{Arn: caller.ARN, UserId: caller.AccessKeyID, Account: caller.Account}
	} else {
		c := &call{op: op, caller: caller, now: now, reqID: reqID}
		out, aerr := s.locked(c, func() (any, *apiError) { return s.assumeRole(c, form) })
		if aerr != nil {
			writeXMLError(w, reqID, aerr)
			return
		}
		result = out
	}
	type meta struct {
		RequestID string `xml:"RequestId"`
	}
	resp := struct {
		XMLName  xml.Name
		NS       string `xml:"xmlns,attr"`
		Result   any
		Metadata meta `xml:"ResponseMetadata"`
	}{XMLName: xml.Name{Local: op + "Response"}, NS: stsNamespace, Result: result, Metadata: meta{reqID}}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", reqID)
	_ = xml.NewEncoder(w).Encode(resp)
}

type assumeRoleResult struct {
	XMLName     xml.Name `xml:"AssumeRoleResult"`
	Credentials struct {
		AccessKeyId     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"Credentials"`
	AssumedRoleUser struct {
		AssumedRoleId string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	} `xml:"AssumedRoleUser"`
}

func (s *Server) assumeRole(c *call, form url.Values) (any, *apiError) {
	roleARN, sessName := form.Get("RoleArn"), form.Get("RoleSessionName")
	account, roleName, err := parseRoleARN(roleARN)
	if err != nil {
		return nil, errValidation("%s is not a valid role ARN", roleARN)
	}
	if !sessionNameRE.MatchString(sessName) {
		return nil, errValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", sessName)
	}
	denied := newError("AccessDeniedException", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.caller.ARN, roleARN)
	role, known := s.roles[roleARN]
	switch {
	case known:
		if !trusts(role, c.caller) {
			return nil, denied
		}
		if role.ExternalID != "" && form.Get("ExternalId") != role.ExternalID {
			return nil, denied
		}
	case s.strict:
		return nil, denied
	}
	maxDur := int32(3600)
	if role.MaxSessionSeconds > 0 {
		maxDur = role.MaxSessionSeconds
	}
	dur := int32(3600)
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errValidation("DurationSeconds must be a number")
		}
		dur = int32(n)
	}
	if dur < 900 || dur > maxDur {
		return nil, errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role (%d) or is below 900.", maxDur)
	}
	sess := &session{
		AccessKeyID:     "ASIA" + idEncoding.EncodeToString(s.randBytes(10)),
		SecretAccessKey: base64.RawStdEncoding.EncodeToString(s.randBytes(30)),
		SessionToken:    base64.StdEncoding.EncodeToString(append([]byte("kmslocal-session:"), s.randBytes(64)...)),
		ARN:             "arn:aws:sts::" + account + ":assumed-role/" + roleName + "/" + sessName,
		RoleARN:         roleARN,
		Account:         account,
		Expiration:      c.now.Add(time.Duration(dur) * time.Second),
	}
	s.st.Sessions[sess.AccessKeyID] = sess
	for id, old := range s.st.Sessions {
		if c.now.After(old.Expiration.Add(day)) {
			delete(s.st.Sessions, id)
		}
	}
	s.dirty = true
	var out assumeRoleResult
	out.Credentials.AccessKeyId = sess.AccessKeyID
	out.Credentials.SecretAccessKey = sess.SecretAccessKey
	out.Credentials.SessionToken = sess.SessionToken
	out.Credentials.Expiration = sess.Expiration.UTC().Format(time.RFC3339)
	out.AssumedRoleUser.AssumedRoleId = "AROA" + idEncoding.EncodeToString([]byte(roleARN))[:16] + ":" + sessName
	out.AssumedRoleUser.Arn = sess.ARN
	return out, nil
}

// trusts applies a role's trust rule; an entry ending in :root trusts every
// principal of that account.
func trusts(role Role, p principal) bool {
	for _, t := range role.TrustedPrincipals {
		if principalMatches(t, p) {
			return true
		}
	}
	return false
}

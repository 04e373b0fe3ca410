package kmslocal

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds a request body; the largest legitimate KMS request (an
// ImportKeyMaterial with a 4096-bit wrapped key) is a few kilobytes.
const maxBody = 1 << 20

// call is one authenticated request on its way through a handler.
type call struct {
	op     string
	caller principal
	region string
	now    time.Time
	reqID  string
	// encCtx is the request's encryption context, for key policy
	// conditions on kms:EncryptionContext:<key>; set before the key is
	// resolved.
	encCtx map[string]string
}

type handlerFunc func(s *Server, c *call, body []byte) (any, *apiError)

type opSpec struct {
	fn handlerFunc
	// selfLocking handlers take s.mu themselves, so slow work such as RSA
	// key generation does not stall every other caller.
	selfLocking bool
}

var kmsOps = map[string]opSpec{
	"CreateKey":                       {fn: (*Server).createKey},
	"DescribeKey":                     {fn: (*Server).describeKey},
	"ListKeys":                        {fn: (*Server).listKeys},
	"EnableKey":                       {fn: (*Server).enableKey},
	"DisableKey":                      {fn: (*Server).disableKey},
	"ScheduleKeyDeletion":             {fn: (*Server).scheduleKeyDeletion},
	"CancelKeyDeletion":               {fn: (*Server).cancelKeyDeletion},
	"UpdateKeyDescription":            {fn: (*Server).updateKeyDescription},
	"TagResource":                     {fn: (*Server).tagResource},
	"UntagResource":                   {fn: (*Server).untagResource},
	"ListResourceTags":                {fn: (*Server).listResourceTags},
	"ReplicateKey":                    {fn: (*Server).replicateKey},
	"CreateAlias":                     {fn: (*Server).createAlias},
	"UpdateAlias":                     {fn: (*Server).updateAlias},
	"DeleteAlias":                     {fn: (*Server).deleteAlias},
	"ListAliases":                     {fn: (*Server).listAliases},
	"Encrypt":                         {fn: (*Server).encrypt},
	"Decrypt":                         {fn: (*Server).decrypt},
	"ReEncrypt":                       {fn: (*Server).reEncrypt},
	"GenerateDataKey":                 {fn: (*Server).generateDataKey},
	"GenerateDataKeyWithoutPlaintext": {fn: (*Server).generateDataKeyWithoutPlaintext},
	"GenerateRandom":                  {fn: (*Server).generateRandom},
	"GetParametersForImport":          {fn: (*Server).getParametersForImport, selfLocking: true},
	"ImportKeyMaterial":               {fn: (*Server).importKeyMaterial},
	"DeleteImportedKeyMaterial":       {fn: (*Server).deleteImportedKeyMaterial},
	"EnableKeyRotation":               {fn: (*Server).enableKeyRotation},
	"DisableKeyRotation":              {fn: (*Server).disableKeyRotation},
	"GetKeyRotationStatus":            {fn: (*Server).getKeyRotationStatus},
	"RotateKeyOnDemand":               {fn: (*Server).rotateKeyOnDemand},
	"ListKeyRotations":                {fn: (*Server).listKeyRotations},
	"GetKeyPolicy":                    {fn: (*Server).getKeyPolicy},
	"PutKeyPolicy":                    {fn: (*Server).putKeyPolicy},
	"ListKeyPolicies":                 {fn: (*Server).listKeyPolicies},
}

// ServeHTTP answers KMS (X-Amz-Target) and STS (form-encoded Action=)
// requests on the same address, as the -addr of cmd/kmslocal promises.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	if r.Method == http.MethodGet && r.URL.Path == "/" && r.URL.RawQuery == "" {
		// A plain GET is a liveness probe for make run and scripts.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "kmslocal: development stand-in for AWS KMS and STS\n")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSONError(w, reqID, newError("SerializationException", "read request body: %v", err))
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveKMS(w, r, reqID, target, body)
		return
	}
	if form, ok := stsForm(r, body); ok {
		s.serveSTS(w, r, reqID, form, body)
		return
	}
	writeJSONError(w, reqID, newError("UnknownOperationException", "missing X-Amz-Target header or Action parameter"))
}

func (s *Server) serveKMS(w http.ResponseWriter, r *http.Request, reqID, target string, body []byte) {
	op, ok := strings.CutPrefix(target, "TrentService.")
	spec, known := kmsOps[op]
	if !ok || !known || r.Method != http.MethodPost {
		writeJSONError(w, reqID, newError("UnknownOperationException", ""))
		return
	}
	s.stats.countOp(op)
	now := s.now()
	caller, region, aerr := s.authenticate(r, body, "kms", now)
	if aerr == nil {
		aerr = s.injectFault(r.Context(), op)
	}
	if aerr != nil {
		writeJSONError(w, reqID, aerr)
		return
	}
	c := &call{op: op, caller: caller, region: region, now: now, reqID: reqID}
	var out any
	if spec.selfLocking {
		out, aerr = spec.fn(s, c, body)
	} else {
		out, aerr = s.locked(c, func() (any, *apiError) { return spec.fn(s, c, body) })
	}
	if aerr != nil {
		writeJSONError(w, reqID, aerr)
		return
	}
	writeJSON(w, reqID, out)
}

// locked runs fn with the state lock held, after applying whatever the
// clock says has happened since the last call, and saves state if fn (or the
// clock) changed it.
func (s *Server) locked(c *call, fn func() (any, *apiError)) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tick(c.now)
	out, aerr := fn()
	if s.dirty {
		s.nextEvent = time.Time{}
		if err := s.saveLocked(); err != nil {
			s.cfg.Logger.Error("kmslocal: persist state", "err", err, "request_id", c.reqID)
			return nil, newError("KMSInternalException", "persist state: %v", err)
		}
	}
	return out, aerr
}

// stsForm recognises an STS query request by its form-encoded Action.
func stsForm(r *http.Request, body []byte) (url.Values, bool) {
	if r.Method == http.MethodGet {
		if a := r.URL.Query().Get("Action"); a != "" {
			return r.URL.Query(), true
		}
		return nil, false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || mt != "application/x-www-form-urlencoded" {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("Action") == "" {
		return nil, false
	}
	return form, true
}

func decode(body []byte, v any) *apiError {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return newError("SerializationException", "%v", err)
	}
	return nil
}

// awsTime is a timestamp as awsJson carries it: epoch seconds, fractional.
type awsTime struct{ time.Time }

// MarshalJSON writes epoch seconds with millisecond precision.
func (t awsTime) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads epoch seconds.
func (t *awsTime) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	sec := int64(f)
	t.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	return nil
}

func tsOf(t time.Time) *awsTime { return &awsTime{t} }

func tsPtr(t *time.Time) *awsTime {
	if t == nil {
		return nil
	}
	return &awsTime{*t}
}

// sleepCtx waits d or until the client gives up, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

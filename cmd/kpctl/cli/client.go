// Package cli is kpctl: a client of keyport's management API, with human
// tables or JSON out, exit codes scripts can branch on, and a declarative
// plan/apply of a tenant's setup from a YAML file.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Exit codes, part of kpctl's contract.
const (
	ExitOK       = 0 // done (plan: nothing to change)
	ExitAPI      = 1 // the API refused the request (400, 409, 422, ...)
	ExitUsage    = 2 // bad command line or file
	ExitAuth     = 3 // the API key is missing, invalid or may not (401, 403)
	ExitNotFound = 4 // no such resource (404)
	ExitServer   = 5 // keyport failed or could not be reached (5xx, network)
	ExitChanges  = 6 // plan: there are changes to apply
)

// apiError is a failed API call.
type apiError struct {
	Status  int
	Code    string
	Message string
	Checks  []check
}

type check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("keyport answered %d", e.Status)
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// exitCode is the exit code of err.
func exitCode(err error) int {
	var ae *apiError
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &ae):
		switch {
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return ExitAuth
		case ae.Status == http.StatusNotFound:
			return ExitNotFound
		case ae.Status >= 500:
			return ExitServer
		}
		return ExitAPI
	}
	return ExitServer
}

// usageError is a mistake on the command line or in a file.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// client calls the management API.
type client struct {
	base string // ".../api/manage/v1"
	key  string
	http *http.Client
}

func newClient(baseURL, key string) (*client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--url must be keyport's address, such as https://keyport.example.com (got %q)", baseURL)
	}
	if key == "" {
		return nil, usagef("no API key: set KEYPORT_API_KEY or pass --api-key (create one on keyport's API keys page)")
	}
	if !strings.HasPrefix(key, "kpa_") {
		return nil, usagef("the API key must start with kpa_ (a tenant API key, not a data-API service token)")
	}
	return &client{base: u.String() + "/api/manage/v1", key: key, http: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// do sends one request; out (when not nil) receives the JSON answer. A
// POST carries an Idempotency-Key, so a retry after a lost answer does
// nothing twice.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", newIdempotencyKey())
	}
	var res *http.Response
	for attempt := 0; ; attempt++ {
		if payload != nil { // a fresh reader for each attempt
			req.Body = io.NopCloser(bytes.NewReader(payload))
			req.ContentLength = int64(len(payload))
		}
		res, err = c.http.Do(req)
		// Retry what could not have been served (a network error) or was
		// refused for load, with the same Idempotency-Key.
		retry := err != nil || res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable
		if !retry || attempt == 2 || (err == nil && method != http.MethodGet && method != http.MethodPost) {
			break
		}
		if res != nil {
			res.Body.Close()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("could not reach keyport at %s: %w", c.base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		ae := &apiError{Status: res.StatusCode}
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
			Checks []check `json:"checks"`
		}
		if json.Unmarshal(raw, &eb) == nil {
			ae.Code, ae.Message, ae.Checks = eb.Error.Code, eb.Error.Message, eb.Checks
		}
		return ae
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("keyport's answer to %s %s is not the JSON expected: %w", method, path, err)
		}
	}
	return nil
}

// list fetches every page of a list.
func (c *client) list(ctx context.Context, path string) ([]map[string]any, error) {
	var all []map[string]any
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cursor := ""
	for {
		p := path + sep + "limit=500"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := c.do(ctx, http.MethodGet, p, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// reportFileName is "keyport-<scope>-<report>-<time>.<ext>" in lowercase
// ASCII letters, digits and hyphens only, so no name a tenant chose can
// smuggle quotes, path separators or header syntax into the download.
func reportFileName(scope, report string, at time.Time, ext string) string {
	return "keyport-" + slug(scope, 40) + "-" + slug(report, 40) + "-" + at.UTC().Format("20060102T150405Z") + "." + ext
}

// slug keeps [a-z0-9] and turns every other run into one hyphen.
func slug(s string, max int) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			hyphen = false
		} else if !hyphen && b.Len() > 0 {
			b.WriteByte('-')
			hyphen = true
		}
		if b.Len() >= max {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "report"
	}
	return out
}

// sendDownload sends a report file as an attachment that no cache keeps.
func sendDownload(c echo.Context, name, contentType string, body []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, contentType, body)
}

// jsonReport encodes a report, indented, without HTML escaping (the file is
// data, not a page).
func jsonReport(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return buf.Bytes(), nil
}

package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/models"
	"keyport/views"
)

// defaultIdleDays is how long an old data-key version must go without a
// decrypt before the key page calls it safe to retire, unless the tenant
// chooses another period there.
const defaultIdleDays = 30

// idleDays reads the page's "safe to retire after N days" choice.
func idleDays(c echo.Context) int {
	n, err := strconv.Atoi(c.QueryParam("idle_days"))
	if err != nil || n < 1 || n > 3650 {
		return defaultIdleDays
	}
	return n
}

// keyVersions fills the key page's data-key versions table and retirement
// form.
func (h *Handler) keyVersions(ctx context.Context, c echo.Context, k *models.Key, rs []models.KeyRegion, d *views.KeyDetail) error {
	// Read once for the versions table and the timeline.
	dvs, err := h.db.DataKeyVersions(ctx, k.TenantID, k.ID)
	if err != nil {
		return err
	}
	vs := keysvc.VersionUses(k, dvs)
	days := idleDays(c)
	d.IdleDays = days
	d.CurrentVersion = k.CurrentVersion
	d.MinDecryptionVersion = max(k.MinDecryptionVersion, 1)
	tl, err := h.keys.KeyTimelineOf(ctx, k, dvs, rs)
	if err != nil {
		return err
	}
	d.Timeline = timelineRows(tl)
	now := h.now()
	for _, v := range vs {
		d.Versions = append(d.Versions, views.KeyVersionRow{Version: v.Version, Reason: v.Reason, CreatedAt: v.CreatedAt, Current: v.Current,
			Encrypts: v.Encrypts, Decrypts: v.Decrypts, LastUsedAt: v.LastUsedAt, Retired: v.Retired,
			SafeToRetire: v.SafeToRetire(now, time.Duration(days)*24*time.Hour)})
	}
	return nil
}

// SetMinDecryptionVersion retires (or brings back) a key's old data-key
// versions: ciphertexts under versions below the minimum stop decrypting.
func (h *Handler) SetMinDecryptionVersion(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	// The key first: another tenant's key id is "not found", whatever the form says.
	if _, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id")); err != nil {
		return err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("min_decryption_version")), 10, 64)
	if err != nil {
		return &keysvc.ValidationError{Field: "min_decryption_version", Message: "must be a whole number"}
	}
	k, err := h.keys.SetMinDecryptionVersion(ctx, v.Tenant.ID, c.Param("key_id"), n, h.by(c))
	if err != nil {
		return fmt.Errorf("set min decryption version: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+url.PathEscape(k.ID)+"?done=min_version")
}

// timelineRows is a key's timeline in the page's terms.
func timelineRows(tl []keysvc.TimelineEntry) []views.TimelineRow {
	out := make([]views.TimelineRow, len(tl))
	for i, e := range tl {
		out[i] = views.TimelineRow{At: e.At, Kind: e.Kind, Version: e.Version, Material: e.Material, Fingerprint: e.Fingerprint,
			KMSKeyARN: e.KMSKeyARN, Detail: e.Detail, Current: e.Current}
	}
	return out
}

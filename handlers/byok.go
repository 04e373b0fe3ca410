package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"keyport/models"
	"keyport/views"
)

// byokFlashes are the key page's texts after the issue-16 actions.
var byokFlashes = map[string]string{
	"data_key_uploaded": "Your data key is the key's new current version: KMS decrypted it in every region.",
	"kms_rotation_set":  "KMS automatic rotation is on for this key's KMS keys.",
}

// keyBYOK builds the key page's panels of a customer-managed key: the next
// data key (when the tenant supplies them) and KMS automatic rotation.
func (h *Handler) keyBYOK(ctx context.Context, v *Viewer, k *models.Key, rs []models.KeyRegion) (*views.KeyBYOK, error) {
	if k.Mode != models.ModeCMK || k.State == models.StateDeleted {
		return nil, nil
	}
	b := &views.KeyBYOK{CanManage: v.can(ActManageKeys) && k.State == models.StateEnabled, TenantDataKeys: k.TenantDataKeys,
		CurrentVersion: k.CurrentVersion}
	if k.TenantDataKeys && len(rs) > 0 {
		b.DataKeyCommand = "aws kms generate-data-key-without-plaintext --key-id " + rs[0].KMSKeyARN + " --key-spec AES_256 \\\n    --region " +
			rs[0].Region + " --query CiphertextBlob --output text"
		if h.rot != nil {
			due, at, err := h.rot.DataKeyRequested(ctx, k)
			if err != nil {
				return nil, err
			}
			b.DataKeyDue, b.DueAt = due, at
		}
	}
	// What validation last read from KMS, in the key's region order: a
	// page view makes no KMS call ("Check now" reads it again).
	recs, err := h.db.KMSRotation(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		row := views.KMSRotationRow{Region: r.Region, ARN: r.KMSKeyARN, Detail: "not read from KMS yet: press Check now."}
		for _, rec := range recs {
			if rec.Region == r.Region {
				at := rec.CheckedAt
				row = views.KMSRotationRow{Region: r.Region, ARN: r.KMSKeyARN, Verifiable: rec.Verifiable, Enabled: rec.Enabled,
					PeriodDays: rec.PeriodDays, NextRotation: rec.NextRotationAt, Detail: rec.Detail, CheckedAt: &at}
			}
		}
		b.KMSRotation = append(b.KMSRotation, row)
	}
	return b, nil
}

// UploadDataKey makes the tenant's next data key (a base64
// GenerateDataKeyWithoutPlaintext blob) the key's current version.
func (h *Handler) UploadDataKey(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	s, err := h.scheduler()
	if err != nil {
		return err
	}
	if _, err := s.UploadDataKey(ctx, v.Tenant.ID, k.ID, h.by(c), c.FormValue("encrypted_data_key")); err != nil {
		return fmt.Errorf("upload data key: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+url.PathEscape(k.ID)+"?done=data_key_uploaded")
}

// EnableKMSRotation turns on KMS automatic rotation of a customer-managed
// key's KMS keys with the period typed.
func (h *Handler) EnableKMSRotation(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if err := h.keys.EnableKMSAutoRotation(ctx, v.Tenant.ID, k.ID, h.by(c), c.FormValue("kms_rotation_days")); err != nil {
		return fmt.Errorf("enable kms rotation: %w", err)
	}
	return c.Redirect(http.StatusSeeOther, "/keys/"+url.PathEscape(k.ID)+"?done=kms_rotation_set")
}

package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/keysvc/managed"
	"keyport/models"
	"keyport/views"
)

// recentSignIn is how long after signing in a user may export key material.
const recentSignIn = 15 * time.Minute

// signedInRecently reports whether the viewer authenticated at the
// identity provider within recentSignIn (the ID token's auth_time; a
// session whose provider sent none never counts as recent).
func (h *Handler) signedInRecently(c echo.Context) bool {
	v := viewerFrom(c)
	return v.Session != nil && v.Session.AuthTime.After(authTimeUnknown) && h.now().Sub(v.Session.AuthTime) <= recentSignIn
}

// signInAgain sends the viewer through the identity provider again as a
// step-up (see checkStepUp), back to the page at back.
func signInAgain(c echo.Context, back string) error {
	return c.Redirect(http.StatusSeeOther, "/auth/login?return_to="+url.QueryEscape(back)+"&step_up=1")
}

// ExportPage shows the export forms of a keyport-managed key. It needs a
// recent sign-in: an export hands out the key itself.
func (h *Handler) ExportPage(c echo.Context) error {
	v := viewerFrom(c)
	k, err := h.db.GetKey(c.Request().Context(), v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if !h.signedInRecently(c) {
		return signInAgain(c, "/keys/"+k.ID+"/export")
	}
	return h.renderExport(c, http.StatusOK, k, views.ExportPage{})
}

func (h *Handler) renderExport(c echo.Context, status int, k *models.Key, d views.ExportPage) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	active, err := h.db.ActiveMaterial(ctx, v.Tenant.ID, k.ID)
	if err != nil {
		return managed.ErrNotManaged
	}
	d.KeyID, d.KeyName, d.Fingerprint, d.Version = k.ID, k.Name, active.Fingerprint, active.Seq
	d.RSAOpen = managed.RSAOpenCommand(managed.ExportFileName(k.ID, active.Seq, managed.ExportRSA))
	d.JWEOpen = managed.JWEOpenCommand(managed.ExportFileName(k.ID, active.Seq, managed.ExportJWE))
	d.FPCommand = managed.FingerprintCommand
	if d.NeedApproval, err = h.mgd.ApprovalRequired(ctx, models.ApprovalExport); err != nil {
		return err
	}
	if d.Approvals, err = h.approvalRows(ctx, v, k.ID); err != nil {
		return err
	}
	return render(c, status, views.ExportKeyPage(h.page(c, "Export "+k.Name, "keys"), d))
}

// ExportKey makes the export file and sends it as a download. The
// passphrase is never echoed back: a refused form is shown again with the
// public key and algorithm only.
func (h *Handler) ExportKey(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	k, err := h.db.GetKey(ctx, v.Tenant.ID, c.Param("key_id"))
	if err != nil {
		return err
	}
	if !h.signedInRecently(c) {
		return signInAgain(c, "/keys/"+k.ID+"/export")
	}
	in := managed.ExportInput{Format: c.FormValue("format"), PublicKeyPEM: c.FormValue("public_key"), Algorithm: c.FormValue("algorithm"),
		Passphrase: c.FormValue("passphrase"), ApprovalID: c.FormValue("approval_id")}
	// The passphrase is typed twice: a typo would lock the file for good.
	// A mismatch is a form error; the service never sees the second copy.
	if in.Format == managed.ExportJWE && in.Passphrase != c.FormValue("passphrase_confirm") {
		return h.renderExport(c, http.StatusUnprocessableEntity, k, views.ExportPage{Errors: map[string]string{
			"passphrase_confirm": "The two passphrases differ: type the same passphrase in both fields."}})
	}
	f, err := h.mgd.Export(ctx, v.Tenant.ID, h.by(c), k.ID, in)
	if errs := fieldErrors(err); errs != nil {
		return h.renderExport(c, http.StatusUnprocessableEntity, k, views.ExportPage{PublicKeyPEM: in.PublicKeyPEM, Algorithm: in.Algorithm, Errors: errs})
	}
	if err != nil {
		return fmt.Errorf("export key: %w", err)
	}
	defer clear(f.Body)
	h2 := c.Response().Header()
	h2.Set(echo.HeaderContentDisposition, `attachment; filename="`+f.Name+`"`)
	h2.Set("X-Keyport-Fingerprint", f.Fingerprint)
	h2.Set(echo.HeaderCacheControl, "no-store")
	return c.Blob(http.StatusOK, f.ContentType, f.Body)
}

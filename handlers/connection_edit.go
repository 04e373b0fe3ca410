package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/views"
)

// connectionEditForm is the edit-connection form: a new name, a new access
// key (id and secret) or another role.
type connectionEditForm struct {
	Name        string `form:"name"`
	AccessKeyID string `form:"access_key_id"`
	Secret      string `form:"secret_access_key"`
	RoleARN     string `form:"role_arn"`
}

// EditConnection shows the form to rename a connection, rotate its IAM
// secret or change its role (issue 14 item 5).
func (h *Handler) EditConnection(c echo.Context) error {
	d, err := h.connectionDetail(c)
	if err != nil {
		return err
	}
	return h.renderEditConnection(c, http.StatusOK, views.ConnectionEdit{Detail: *d, Name: d.Name, RoleARN: d.RoleARN})
}

func (h *Handler) renderEditConnection(c echo.Context, status int, f views.ConnectionEdit) error {
	return render(c, status, views.EditConnectionPage(h.page(c, "Edit "+f.Detail.Name, "connections"), f))
}

// UpdateConnection saves the edit through keysvc.UpdateConnection, which
// tests new credentials before they replace the old ones. A refusal or a
// failed test re-renders the form with every check, each failure at its
// field; the secret is never put back into the page.
func (h *Handler) UpdateConnection(c echo.Context) error {
	v := viewerFrom(c)
	ctx := c.Request().Context()
	var f connectionEditForm
	if err := c.Bind(&f); err != nil {
		return badForm(err)
	}
	d, err := h.connectionDetail(c)
	if err != nil {
		return err
	}
	mc, err := h.db.GetConnection(ctx, v.Tenant.ID, d.ID)
	if err != nil {
		return err
	}
	form := views.ConnectionEdit{Detail: *d, Name: f.Name, AccessKeyID: f.AccessKeyID, RoleARN: f.RoleARN, Errors: map[string]string{}}
	in := keysvc.ConnectionUpdate{Name: f.Name}
	name := strings.TrimSpace(f.Name)
	if name == "" {
		form.Errors["name"] = "give the connection a name"
	}
	changed := name != mc.Name
	switch mc.Kind {
	case awskms.KindAccessKey:
		akid := strings.TrimSpace(f.AccessKeyID)
		if f.Secret != "" || (akid != "" && akid != mc.AccessKeyID) {
			in.AccessKeyID, in.Secret, changed = akid, f.Secret, true
			if f.Secret == "" {
				form.Errors["secret_access_key"] = "give the secret access key of the new access key id"
			}
		}
	case awskms.KindAssumeRole:
		if r := strings.TrimSpace(f.RoleARN); r != mc.RoleARN {
			in.RoleARN, changed = r, true
			if r == "" {
				form.Errors["role_arn"] = "give the ARN of the role keyport assumes"
			}
		}
	}
	if !changed && len(form.Errors) == 0 {
		form.Errors["name"] = "nothing changed: give a new name, a new secret access key or another role"
	}
	if len(form.Errors) > 0 {
		return h.renderEditConnection(c, http.StatusUnprocessableEntity, form)
	}
	_, test, err := h.keys.UpdateConnection(ctx, v.Tenant.ID, h.by(c), d.ID, in)
	var cool *keysvc.ConnectionTestCooldownError
	var failed *keysvc.ConnectionTestFailedError
	switch {
	case errors.As(err, &cool):
		c.Response().Header().Set("Retry-After", strconv.Itoa(cool.WaitSeconds()))
		form.Errors["form"] = fmt.Sprintf("This tenant tested its connections many times in a short while; each test signs in to AWS. Try again in %d seconds. Nothing was changed.", cool.WaitSeconds())
		return h.renderEditConnection(c, http.StatusTooManyRequests, form)
	case errors.As(err, &failed):
		form.Errors = checkFieldErrors(mc.Kind, failed.Test.Checks)
		form.Errors["form"] = "The new credentials failed the connection test, so the old ones stay in use. " + failed.Test.Summary() + "."
		form.Checks = checkRows(failed.Test.Checks)
		return h.renderEditConnection(c, http.StatusUnprocessableEntity, form)
	case err != nil:
		if errs := fieldErrors(err); errs != nil {
			form.Errors = errs
			return h.renderEditConnection(c, http.StatusUnprocessableEntity, form)
		}
		return fmt.Errorf("update connection: %w", err)
	}
	done := "renamed"
	if test != nil {
		done = "updated"
	}
	return c.Redirect(http.StatusSeeOther, "/connections/"+d.ID+"?done="+done)
}

// checkFieldErrors places each failed check of a connection test at the
// form field it is about: signing in with the credentials at the secret
// (access key) or the role, assuming the role at the role; the others
// (keyport's own identity, reaching KMS) stay with the list of checks.
func checkFieldErrors(kind string, cs []keysvc.Check) map[string]string {
	out := map[string]string{}
	for _, ch := range cs {
		if ch.OK || ch.Skipped || ch.Unverifiable != "" {
			continue
		}
		field := ""
		switch ch.Kind {
		case keysvc.CheckIdentity:
			field = "secret_access_key"
			if kind == awskms.KindAssumeRole {
				field = "role_arn"
			}
		case keysvc.CheckAssumeRole:
			field = "role_arn"
		}
		if field == "" {
			continue
		}
		msg := ch.Name + ": " + ch.Detail
		if prev, ok := out[field]; ok {
			msg = prev + " " + msg
		}
		out[field] = msg
	}
	return out
}

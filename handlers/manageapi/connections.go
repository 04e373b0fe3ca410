package manageapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keyport/handlers"
	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/models"
)

// Connection is an AWS connection as the API shows it: never its secret.
type Connection struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Kind           string     `json:"kind" doc:"access_key or role"`
	AccountID      string     `json:"account_id"`
	Region         string     `json:"region"`
	AccessKeyLast4 string     `json:"access_key_last4,omitempty"`
	RoleARN        string     `json:"role_arn,omitempty"`
	ExternalID     string     `json:"external_id,omitempty" doc:"the external id the role's trust policy must require"`
	CreatedAt      time.Time  `json:"created_at"`
	LastTestAt     *time.Time `json:"last_test_at"`
	LastTestOK     bool       `json:"last_test_ok"`
	LastTest       string     `json:"last_test"`
}

// ConnectionCreate is the body of POST /connections.
type ConnectionCreate struct {
	Name            string `json:"name"`
	Kind            string `json:"kind" doc:"access_key or role"`
	AccountID       string `json:"account_id,omitempty" doc:"12 digits; dashes allowed; derived from role_arn when omitted"`
	Region          string `json:"region,omitempty" doc:"the default region; the provider's first allowed region when omitted"`
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	RoleARN         string `json:"role_arn,omitempty"`
}

// ConnectionPatch is the body of PATCH /connections/{id}: a new name, a
// rotated secret (with its access key id), or another role. New
// credentials are tested before they replace the old ones.
type ConnectionPatch struct {
	Name            string `json:"name,omitempty"`
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	RoleARN         string `json:"role_arn,omitempty"`
}

// CheckResult is one step of a test or validation.
type CheckResult struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// TestResult is the answer of a connection test or key validation.
type TestResult struct {
	OK     bool          `json:"ok"`
	Checks []CheckResult `json:"checks"`
}

func checks(cs []keysvc.Check) []CheckResult {
	out := make([]CheckResult, 0, len(cs))
	for _, c := range cs {
		out = append(out, CheckResult{Name: c.Name, OK: c.OK || !c.Required, Message: c.Detail})
	}
	return out
}

func connectionOut(mc *models.Connection) Connection {
	kind := mc.Kind
	if kind == awskms.KindAssumeRole {
		kind = "role"
	}
	return Connection{ID: mc.ID, Name: mc.Name, Kind: kind, AccountID: mc.AccountID, Region: mc.DefaultRegion,
		AccessKeyLast4: keysvc.Last4(mc.AccessKeyID), RoleARN: mc.RoleARN, ExternalID: mc.ExternalID,
		CreatedAt: mc.CreatedAt, LastTestAt: mc.LastTestAt, LastTestOK: mc.LastTestOK, LastTest: mc.LastTestSummary}
}

func (a *API) connectionOps() []Operation {
	return []Operation{
		{Method: http.MethodPost, Path: "/connections", ID: "createConnection", Tag: "connections", Act: handlers.ActManageConnections,
			Summary: "Add an AWS connection: an IAM access key, or a role keyport assumes (the answer names the external id).",
			Request: ConnectionCreate{}, Response: Connection{}, Status: http.StatusCreated, Handler: a.createConnection},
		{Method: http.MethodGet, Path: "/connections", ID: "listConnections", Tag: "connections", Act: handlers.ActViewTenant,
			Summary: "List the tenant's AWS connections.", Query: pageParams, Response: List[Connection]{}, Handler: a.listConnections},
		{Method: http.MethodGet, Path: "/connections/:id", ID: "getConnection", Tag: "connections", Act: handlers.ActViewTenant,
			Summary: "One AWS connection.", Response: Connection{}, Handler: a.getConnection},
		{Method: http.MethodPatch, Path: "/connections/:id", ID: "updateConnection", Tag: "connections", Act: handlers.ActManageConnections,
			Summary: "Rename, rotate the IAM secret or change the role. New credentials are tested first and replace the old ones only when every check passes (422 with the checks otherwise).",
			Request: ConnectionPatch{}, Response: Connection{}, Handler: a.updateConnection},
		{Method: http.MethodDelete, Path: "/connections/:id", ID: "deleteConnection", Tag: "connections", Act: handlers.ActManageConnections,
			Summary: "Delete a connection no key uses (409 while keys use it).", Status: http.StatusNoContent, Handler: a.deleteConnection},
		{Method: http.MethodPost, Path: "/connections/:id/test", ID: "testConnection", Tag: "connections", Act: handlers.ActManageConnections,
			Summary: "Test the connection with AWS STS and KMS.", Response: TestResult{}, Handler: a.testConnection},
	}
}

func (a *API) createConnection(c echo.Context) error {
	var in ConnectionCreate
	if err := bind(c, &in); err != nil {
		return err
	}
	kind := in.Kind
	switch kind {
	case "role":
		kind = awskms.KindAssumeRole
	case awskms.KindAccessKey:
	default:
		return badRequest("kind", `must be "access_key" or "role"`)
	}
	ctx := c.Request().Context()
	acct := awskms.NormalizeAccountID(in.AccountID)
	if acct == "" && kind == awskms.KindAssumeRole {
		acct, _ = awskms.ParseRoleARN("role_arn", in.RoleARN)
	}
	region := in.Region
	if region == "" {
		ps, err := a.keys.ProviderSettings(ctx)
		if err != nil {
			return err
		}
		region = "us-east-1"
		if len(ps.AllowedRegions) > 0 {
			region = ps.AllowedRegions[0]
		}
	}
	mc, err := a.keys.CreateConnection(ctx, tenant(c), by(c), keysvc.ConnectionInput{Name: in.Name, AccountID: acct,
		DefaultRegion: region, Kind: kind, AccessKeyID: in.AccessKeyID, Secret: in.SecretAccessKey, RoleARN: in.RoleARN})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, connectionOut(mc))
}

func (a *API) listConnections(c echo.Context) error {
	cs, err := a.db.ListConnections(c.Request().Context(), tenant(c))
	if err != nil {
		return err
	}
	out := make([]Connection, 0, len(cs))
	for i := range cs {
		out = append(out, connectionOut(&cs[i]))
	}
	return page(c, out, func(x Connection) string { return x.ID })
}

func (a *API) getConnection(c echo.Context) error {
	mc, err := a.db.GetConnection(c.Request().Context(), tenant(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, connectionOut(mc))
}

func (a *API) updateConnection(c echo.Context) error {
	var in ConnectionPatch
	if err := bind(c, &in); err != nil {
		return err
	}
	mc, _, err := a.keys.UpdateConnection(c.Request().Context(), tenant(c), by(c), c.Param("id"),
		keysvc.ConnectionUpdate{Name: in.Name, AccessKeyID: in.AccessKeyID, Secret: in.SecretAccessKey, RoleARN: in.RoleARN})
	var tf *keysvc.ConnectionTestFailedError
	switch {
	case errors.As(err, &tf):
		return c.JSON(http.StatusUnprocessableEntity, ErrorBody{Error: handlers.APIErrorDetail{Code: "connection_test_failed",
			Message: "The new credentials failed the connection test; the old ones stay in use. " + tf.Test.Summary() + "."}, Checks: checks(tf.Test.Checks)})
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, connectionOut(mc))
}

func (a *API) deleteConnection(c echo.Context) error {
	err := a.keys.DeleteConnection(c.Request().Context(), tenant(c), by(c), c.Param("id"))
	var ve *models.ValidationError
	switch {
	case errors.As(err, &ve) && ve.Field == "connection":
		return &handlers.APIError{Status: http.StatusConflict, Code: "connection_in_use", Message: "This connection " + ve.Message + "."}
	case err != nil:
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) testConnection(c echo.Context) error {
	res, err := a.keys.TestConnection(c.Request().Context(), tenant(c), by(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, TestResult{OK: res.OK, Checks: checks(res.Checks)})
}

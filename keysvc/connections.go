package keysvc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"keyport/keysvc/awskms"
	"keyport/keysvc/seal"
	"keyport/models"
)

// ConnectionInput is the "add AWS connection" form as typed. Secret is the
// IAM secret access key: sealed at once, never returned or logged.
type ConnectionInput struct {
	Name          string
	AccountID     string
	DefaultRegion string
	Kind          string
	AccessKeyID   string
	Secret        string
	RoleARN       string
}

// String redacts the secret.
func (in ConnectionInput) String() string {
	return fmt.Sprintf("keysvc.ConnectionInput{name: %q, account: %s, kind: %s}", in.Name, in.AccountID, in.Kind)
}

// LogValue redacts for slog too (its JSON handler ignores String).
func (in ConnectionInput) LogValue() slog.Value { return slog.StringValue(in.String()) }

var (
	accessKeyIDRE = regexp.MustCompile(`^AKIA[A-Z0-9]{16}$`)
	secretKeyRE   = regexp.MustCompile(`^[A-Za-z0-9/+=]{40}$`)
)

// Last4 is what keyport shows of an access key id once it is stored.
func Last4(akid string) string {
	if len(akid) < 4 {
		return ""
	}
	return akid[len(akid)-4:]
}

// CreateConnection validates and stores a tenant's AWS connection. The IAM
// secret is sealed (purpose SecretPurpose(id)) before it reaches the store;
// a role connection gets an external id keyport generates.
func (s *Service) CreateConnection(ctx context.Context, tenantID string, by RequestBy, in ConnectionInput) (*models.Connection, error) {
	ps, err := s.ProviderSettings(ctx)
	if err != nil {
		return nil, err
	}
	// Every bad field is reported at once, each at its field.
	var bad models.ValidationErrors
	if _, err := models.ValidateName("name", in.Name, 100); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			bad = append(bad, ve)
		}
	}
	acct := awskms.NormalizeAccountID(in.AccountID)
	region := strings.TrimSpace(in.DefaultRegion)
	switch {
	case !awskms.ValidAccountID(acct):
		bad = append(bad, &ValidationError{Field: "account_id", Message: "must be the 12-digit AWS account id, such as 111122223333 or 1111-2222-3333"})
	}
	switch {
	case !awskms.KnownRegion(region):
		bad = append(bad, &ValidationError{Field: "default_region", Message: "must be an AWS region of the standard partition, such as us-east-1"})
	case !ps.RegionAllowed(region):
		bad = append(bad, &ValidationError{Field: "default_region", Message: "is not one of the regions your provider allows: " + strings.Join(ps.AllowedRegions, ", ")})
	}
	c := &models.Connection{ID: models.NewID(models.PrefixConnection), TenantID: tenantID, Name: in.Name,
		AccountID: acct, DefaultRegion: region, Kind: in.Kind, CreatedBy: by.UserID}
	details := map[string]string{"name": strings.TrimSpace(in.Name), "account_id": acct, "region": region, "kind": in.Kind}
	var secret string
	switch in.Kind {
	case awskms.KindAccessKey:
		akid := strings.TrimSpace(in.AccessKeyID)
		secret = strings.TrimSpace(in.Secret)
		if !accessKeyIDRE.MatchString(akid) {
			bad = append(bad, &ValidationError{Field: "access_key_id", Message: "must be an IAM user's access key id: 20 characters starting with AKIA"})
		}
		if !secretKeyRE.MatchString(secret) {
			bad = append(bad, &ValidationError{Field: "secret_access_key", Message: "must be the 40-character secret access key shown when the access key was created"})
		}
		c.AccessKeyID = akid
		details["access_key_last4"] = Last4(akid)
	case awskms.KindAssumeRole:
		roleAcct, err := awskms.ParseRoleARN("role_arn", in.RoleARN)
		var ve *ValidationError
		switch {
		case errors.As(err, &ve):
			bad = append(bad, ve)
		case err != nil:
			return nil, err
		case awskms.ValidAccountID(acct) && roleAcct != acct:
			bad = append(bad, &ValidationError{Field: "role_arn", Message: "is in account " + roleAcct + ", not in this connection's account " + acct})
		}
		c.RoleARN = strings.TrimSpace(in.RoleARN)
		details["role_arn"] = c.RoleARN
	default:
		bad = append(bad, &ValidationError{Field: "kind", Message: "choose an access key or a role to assume"})
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	if in.Kind == awskms.KindAccessKey {
		if c.SecretSealed, err = s.sealer.Seal(seal.SecretPurpose(c.ID), []byte(secret)); err != nil {
			return nil, fmt.Errorf("seal connection secret: %w", err)
		}
	} else {
		c.ExternalID = s.clients.NewExternalID()
	}
	if err := s.db.CreateConnection(ctx, c, by.Audit("connection.created", details)); err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteConnection deletes a tenant's connection (refused while keys use
// it) and drops its cached clients.
func (s *Service) DeleteConnection(ctx context.Context, tenantID string, by RequestBy, id string) error {
	c, err := s.db.GetConnection(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if err := s.db.DeleteConnection(ctx, tenantID, id, by.Audit("connection.deleted", map[string]string{"name": c.Name, "account_id": c.AccountID})); err != nil {
		return err
	}
	s.clients.Forget(id)
	return nil
}

// Check is the outcome of one step of a connection test or key validation,
// in words a tenant can act on.
type Check struct {
	Name     string        `json:"name"`
	Kind     CheckKind     `json:"kind,omitempty"` // what the step examined; Name is for people
	OK       bool          `json:"ok"`
	Required bool          `json:"required"`
	Skipped  bool          `json:"skipped,omitempty"`
	Detail   string        `json:"detail"`
	Health   models.Health `json:"health,omitempty"` // the key health a failure means
	// Unverifiable names the KMS action keyport was not granted and
	// needed to verify this (kms:DescribeKey...): the check is then
	// neither passed nor failed but "not verifiable without" it, and does
	// not refuse the key (OK and Skipped are set for older readers).
	Unverifiable string `json:"unverifiable,omitempty"`
	// Region is the AWS region a per-region check examined, if any.
	Region string `json:"region,omitempty"`
}

// CheckKind says what a Check examined, so that code reading checks (the
// compliance reports) never parses their display names.
type CheckKind string

// The kinds of check keyport runs.
const (
	CheckDescribe      CheckKind = "describe"        // a region's KMS key: enabled, symmetric, account
	CheckRoundTrip     CheckKind = "round_trip"      // encrypt and decrypt in a region
	CheckPolicy        CheckKind = "policy"          // a region's key policy grants keyport's actions
	CheckReplicas      CheckKind = "replicas"        // the replicas the provider requires
	CheckTenantDataKey CheckKind = "tenant_data_key" // the data key a tenant brought at registration
	CheckMaterial      CheckKind = "material"        // a held key's material opens
	CheckHeldDataKey   CheckKind = "held_data_key"   // a held key's data key unwraps
	CheckProviderAWS   CheckKind = "provider_aws"    // keyport's own AWS identity
	CheckAssumeRole    CheckKind = "assume_role"     // keyport assumes the tenant's role
	CheckIdentity      CheckKind = "identity"        // the connection's credentials sign in to AWS
	CheckReachKMS      CheckKind = "reach_kms"       // KMS answers the connection
)

// ConnectionTest is the outcome of testing a connection.
type ConnectionTest struct {
	OK     bool
	Checks []Check
}

// Summary is one line for the connections list.
func (t *ConnectionTest) Summary() string {
	for _, c := range t.Checks {
		if !c.OK && c.Required {
			return c.Name + ": " + c.Detail
		}
	}
	return fmt.Sprintf("All %d checks passed", len(t.Checks))
}

// TestConnection calls STS and KMS with the connection's credentials and
// reports each step, then records the outcome with an audit event. A
// tenant that spent its budget of tests (ConnectionTestBurst, one more
// every ConnectionTestEvery) gets a *ConnectionTestCooldownError and no
// AWS call is made.
func (s *Service) TestConnection(ctx context.Context, tenantID string, by RequestBy, id string) (*ConnectionTest, error) {
	mc, err := s.db.GetConnection(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if err := s.tests.take(tenantID, s.now()); err != nil {
		return nil, err
	}
	t, err := s.probe(ctx, mc)
	if err != nil {
		return nil, err
	}
	details := map[string]string{"ok": fmt.Sprint(t.OK)}
	if err := s.db.RecordConnectionTest(ctx, tenantID, id, t.OK, t.Summary(), by.Audit("connection.tested", details)); err != nil {
		return nil, err
	}
	s.clients.Forget(id) // the next data-path call starts from what was just proven
	return t, nil
}

// probe runs a connection test's steps with mc's credentials, recording
// nothing.
func (s *Service) probe(ctx context.Context, mc *models.Connection) (*ConnectionTest, error) {
	ps, err := s.ProviderSettings(ctx)
	if err != nil {
		return nil, err
	}
	conn := awskms.ConnectionFromModel(mc)
	t := &ConnectionTest{}
	add := func(c Check) bool { c.Required = true; t.Checks = append(t.Checks, c); return c.OK }
	var prov aws.CredentialsProvider
	if conn.Kind == awskms.KindAssumeRole {
		prov, err = s.testAssumeRole(ctx, conn, ps, add)
	} else {
		prov, err = s.clients.Credentials(ctx, conn)
	}
	if err != nil {
		return nil, err
	}
	if prov != nil && s.testIdentity(ctx, conn, prov, add) {
		s.testKMS(ctx, conn, prov, add)
	}
	t.OK = true
	for _, c := range t.Checks {
		t.OK = t.OK && (c.OK || !c.Required)
	}
	return t, nil
}

// ConnectionUpdate changes a connection: a new name, a new access key and
// secret (access-key connections), or another role (role connections).
// Empty fields keep what is there.
type ConnectionUpdate struct {
	Name        string
	AccessKeyID string
	Secret      string
	RoleARN     string
}

// String redacts the secret.
func (in ConnectionUpdate) String() string {
	return fmt.Sprintf("keysvc.ConnectionUpdate{name: %q, new secret: %t, role: %q}", in.Name, in.Secret != "", in.RoleARN)
}

// LogValue redacts for slog too.
func (in ConnectionUpdate) LogValue() slog.Value { return slog.StringValue(in.String()) }

// ErrConnectionTestFailed: new credentials did not pass the connection
// test, so the old ones stay. The *ConnectionTestFailedError says why.
var ErrConnectionTestFailed = errors.New("keysvc: the new credentials failed the connection test")

// ConnectionTestFailedError carries the failed test of new credentials.
type ConnectionTestFailedError struct{ Test *ConnectionTest }

func (e *ConnectionTestFailedError) Error() string {
	return "keysvc: the new credentials failed the connection test: " + e.Test.Summary()
}
func (e *ConnectionTestFailedError) Unwrap() error { return ErrConnectionTestFailed }

// UpdateConnection rotates a connection's IAM secret (with its access key
// id) or changes its role. The new credentials are tested first, exactly as
// "Test connection" does; only when every check passes do they replace the
// old ones, so keys keep working through a mistyped secret. A rename alone
// needs no test.
func (s *Service) UpdateConnection(ctx context.Context, tenantID string, by RequestBy, id string, in ConnectionUpdate) (*models.Connection, *ConnectionTest, error) {
	mc, err := s.db.GetConnection(ctx, tenantID, id)
	if err != nil {
		return nil, nil, err
	}
	cand := *mc
	cand.Name = strings.TrimSpace(in.Name)
	details := map[string]string{"name": mc.Name}
	if cand.Name != "" && cand.Name != mc.Name {
		details["new_name"] = cand.Name
	}
	credentials := false
	switch {
	case in.Secret != "" || in.AccessKeyID != "":
		if mc.Kind != awskms.KindAccessKey {
			return nil, nil, &ValidationError{Field: "secret_access_key", Message: "this connection assumes a role; change role_arn instead"}
		}
		akid, secret := strings.TrimSpace(cmp.Or(in.AccessKeyID, mc.AccessKeyID)), strings.TrimSpace(in.Secret)
		if !accessKeyIDRE.MatchString(akid) {
			return nil, nil, &ValidationError{Field: "access_key_id", Message: "must be an IAM user's access key id: 20 characters starting with AKIA"}
		}
		if !secretKeyRE.MatchString(secret) {
			return nil, nil, &ValidationError{Field: "secret_access_key", Message: "must be the 40-character secret access key shown when the access key was created"}
		}
		cand.AccessKeyID = akid
		if cand.SecretSealed, err = s.sealer.Seal(seal.SecretPurpose(mc.ID), []byte(secret)); err != nil {
			return nil, nil, fmt.Errorf("seal connection secret: %w", err)
		}
		details["access_key_last4"] = Last4(akid)
		details["change"] = "secret rotated"
		credentials = true
	case in.RoleARN != "":
		if mc.Kind != awskms.KindAssumeRole {
			return nil, nil, &ValidationError{Field: "role_arn", Message: "this connection uses an access key; rotate secret_access_key instead"}
		}
		roleAcct, err := awskms.ParseRoleARN("role_arn", in.RoleARN)
		if err != nil {
			return nil, nil, err
		}
		if roleAcct != mc.AccountID {
			return nil, nil, &ValidationError{Field: "role_arn", Message: "is in account " + roleAcct + ", not in this connection's account " + mc.AccountID}
		}
		cand.RoleARN = strings.TrimSpace(in.RoleARN)
		details["role_arn"] = cand.RoleARN
		details["change"] = "role changed"
		credentials = true
	case cand.Name == "":
		return nil, nil, &ValidationError{Field: "name", Message: "nothing to change: give a new name, secret or role"}
	}
	var t *ConnectionTest
	if credentials {
		if err := s.tests.take(tenantID, s.now()); err != nil {
			return nil, nil, err
		}
		if t, err = s.probe(ctx, &cand); err != nil {
			return nil, nil, err
		}
		if !t.OK {
			return nil, t, &ConnectionTestFailedError{Test: t}
		}
		cand.LastTestSummary = t.Summary()
	}
	if err := s.db.UpdateConnectionCredentials(ctx, &cand, credentials, by.Audit("connection.updated", details)); err != nil {
		return nil, t, err
	}
	s.clients.Forget(id)
	out, err := s.db.GetConnection(ctx, tenantID, id)
	return out, t, err
}

// testAssumeRole checks keyport's own identity, then assumes the role.
func (s *Service) testAssumeRole(ctx context.Context, conn awskms.Connection, ps ProviderSettings, add func(Check) bool) (aws.CredentialsProvider, error) {
	own, err := s.clients.STS(ctx, nil, conn.DefaultRegion)
	if err != nil {
		return nil, err
	}
	if _, err := own.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		s.log.Warn("provider aws identity failed", "err", err)
		add(Check{Name: "keyport's AWS identity", Kind: CheckProviderAWS, Detail: "keyport's own AWS credentials did not work (" + errCode(err) + "). This is on the provider's side: tell your provider."})
		return nil, nil
	}
	add(Check{Name: "keyport's AWS identity", Kind: CheckProviderAWS, OK: true, Detail: "keyport signed in to AWS as itself."})
	prov, err := s.clients.Credentials(ctx, conn)
	if err != nil {
		return nil, err
	}
	if _, err := prov.Retrieve(ctx); err != nil {
		acct := ps.AccountID
		if acct == "" {
			acct = "the provider's account"
		}
		msg := "AWS refused to let keyport assume the role (" + errCode(err) + "). Either the role's trust policy does not allow keyport's account (" +
			acct + "), or it requires another external id than " + conn.ExternalID + " (external id mismatch). Fix the trust policy as shown on this page and test again."
		if awskms.ClassifyKMSError(err) != nil && !errors.Is(awskms.ClassifyKMSError(err), awskms.ErrAccessDenied) {
			msg = "keyport could not reach AWS STS to assume the role (" + errCode(err) + "). Try again in a minute."
		}
		add(Check{Name: "Assume the role", Kind: CheckAssumeRole, Detail: msg})
		return nil, nil
	}
	add(Check{Name: "Assume the role", Kind: CheckAssumeRole, OK: true, Detail: "keyport assumed " + conn.RoleARN + " with the external id."})
	return prov, nil
}

// testIdentity asks STS who the credentials are and checks the account.
func (s *Service) testIdentity(ctx context.Context, conn awskms.Connection, prov aws.CredentialsProvider, add func(Check) bool) bool {
	name := "Sign in to AWS"
	if conn.Kind == awskms.KindAssumeRole {
		name = "Use the role's credentials"
	}
	client, err := s.clients.STS(ctx, prov, conn.DefaultRegion)
	if err != nil {
		return add(Check{Name: name, Kind: CheckIdentity, Detail: "keyport could not build an STS client."})
	}
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return add(Check{Name: name, Kind: CheckIdentity, Detail: identityFailure(err)})
	}
	if got := aws.ToString(out.Account); got != conn.AccountID {
		return add(Check{Name: name, Kind: CheckIdentity, Detail: "The credentials belong to account " + got + ", not to this connection's account " + conn.AccountID + ". Create the connection again with the right account id."})
	}
	return add(Check{Name: name, Kind: CheckIdentity, OK: true, Detail: "AWS accepted the credentials as " + aws.ToString(out.Arn) + "."})
}

// identityFailure explains a failed GetCallerIdentity.
func identityFailure(err error) string {
	switch errCode(err) {
	case "InvalidClientTokenId", "UnrecognizedClientException":
		return "AWS does not recognise the access key id: the access key is disabled or wrong (deleted, deactivated or mistyped). Create a new access key and add the connection again."
	case "SignatureDoesNotMatch", "InvalidSignatureException":
		return "The secret access key does not match the access key id: the access key is disabled or wrong. Add the connection again with the secret shown when the key was created."
	case "ExpiredToken", "ExpiredTokenException":
		return "The credentials have expired. Test again; if it keeps failing, tell your provider."
	case "AccessDenied", "AccessDeniedException":
		return "AWS refused the request (" + errCode(err) + "): an IAM policy denies sts:GetCallerIdentity to these credentials."
	}
	if errors.Is(awskms.ClassifyKMSError(err), awskms.ErrThrottled) || errors.Is(awskms.ClassifyKMSError(err), awskms.ErrUnavailable) {
		return "keyport could not reach AWS STS (" + errCode(err) + "). Try again in a minute."
	}
	return "AWS STS refused the credentials (" + errCode(err) + ")."
}

// testKMS lists keys in the default region: proof that KMS answers these
// credentials there. Refusal of ListKeys alone is not fatal, since the key
// policy, checked at registration, is what matters.
func (s *Service) testKMS(ctx context.Context, conn awskms.Connection, prov aws.CredentialsProvider, add func(Check) bool) {
	name := "Reach KMS in " + conn.DefaultRegion
	client, err := s.clients.KMSWith(ctx, prov, conn.DefaultRegion)
	if err == nil {
		_, err = client.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1)})
	}
	switch c := awskms.ClassifyKMSError(err); {
	case err == nil:
		add(Check{Name: name, Kind: CheckReachKMS, OK: true, Detail: "KMS answered in " + conn.DefaultRegion + "."})
	case errors.Is(c, awskms.ErrAccessDenied):
		t := Check{Name: name, Kind: CheckReachKMS, OK: true, Detail: "KMS answered, but these credentials may not list keys (kms:ListKeys). That is fine: each key's policy is checked when you register it."}
		add(t)
	default:
		add(Check{Name: name, Kind: CheckReachKMS, Detail: "keyport could not reach KMS in " + conn.DefaultRegion + " (" + errCode(err) + "). Try again in a minute."})
	}
}

// errCode is the AWS error code of err, or a plain word for other failures;
// never AWS's message text.
func errCode(err error) string {
	if code := awskms.ErrorCode(err); code != "" {
		return code
	}
	c := awskms.ClassifyKMSError(err)
	switch {
	case errors.Is(c, awskms.ErrUnavailable):
		return "network error"
	case errors.Is(c, awskms.ErrThrottled):
		return "throttled"
	}
	return "error"
}

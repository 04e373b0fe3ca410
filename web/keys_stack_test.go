package web_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/seal"
	"keyport/models"
)

// The stack's AWS world in kmslocal: a tenant account with an admin (who
// creates keys in tests) and an IAM user for keyport, a role trusting the
// provider account with an external id, and the provider's own principal.
const (
	awsTenantAcct   = "111122223333"
	awsProviderAcct = "999988887777"
	awsRegion       = "us-east-1"
	awsAdminAKID    = "AKIASTACKADMIN000001"
	awsAdminSecret  = "stack-admin-secret"
	awsUserAKID     = "AKIASTACKUSER0000001"
	awsUserSecret   = "StackUserSecretAccessKey0000000000000001" // 40 characters
	awsRoleARN      = "arn:aws:iam::" + awsTenantAcct + ":role/keyport-access"
	awsExternalID   = "keyport-00112233445566778899aabbccddeeff"
)

// newKeyService starts kmslocal and the key service talking to it over
// HTTP with the real SDK clients.
func newKeyService(tb testing.TB, db *models.DB, sealer *seal.Sealer, log *slog.Logger) (*kmslocal.Server, *keysvc.Service) {
	tb.Helper()
	srv, err := kmslocal.New(kmslocal.Config{
		Principals: []kmslocal.Principal{
			{AccessKeyID: awsAdminAKID, SecretAccessKey: awsAdminSecret, ARN: "arn:aws:iam::" + awsTenantAcct + ":user/admin"},
			{AccessKeyID: awsUserAKID, SecretAccessKey: awsUserSecret, ARN: "arn:aws:iam::" + awsTenantAcct + ":user/keyport"},
			{AccessKeyID: "AKIASTACKPROVIDER001", SecretAccessKey: "stack-provider-secret", ARN: "arn:aws:iam::" + awsProviderAcct + ":user/keyport"},
		},
		Roles: []kmslocal.Role{{ARN: awsRoleARN, TrustedPrincipals: []string{"arn:aws:iam::" + awsProviderAcct + ":root"}, ExternalID: awsExternalID}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	base := srv.AWSConfig(awsRegion, "AKIASTACKPROVIDER001", "stack-provider-secret")
	clients := awskms.NewClients(awskms.ClientOptions{Base: &base, Sealer: sealer, MaxAttempts: 1, Logger: log,
		NewExternalID: func() string { return awsExternalID }})
	svc := keysvc.NewService(keysvc.Deps{DB: db, Sealer: sealer, Logger: log, Clients: clients, KMSFor: keysvc.KMSForStore(db, clients)})
	return srv, svc
}

// tenantKMSKey creates a key in the tenant's account as its admin.
func (s *stack) tenantKMSKey(tb testing.TB, policy string) string {
	tb.Helper()
	cfg := s.KMS.AWSConfig(awsRegion, awsAdminAKID, awsAdminSecret)
	in := &kms.CreateKeyInput{}
	if policy != "" {
		in.Policy, in.BypassPolicyLockoutSafetyCheck = aws.String(policy), true
	}
	out, err := kms.NewFromConfig(cfg).CreateKey(context.Background(), in)
	if err != nil {
		tb.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// keyParams gives the authorization matrix a connection and a key of
// tenant A for the :conn_id and :key_id path parameters.
func (w *matrixWorld) keyParams(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	cs, err := w.s.DB.ListConnections(ctx, w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) == 0 {
		c := &models.Connection{TenantID: w.tenantA, Name: "Alpha Matrix Connection", AccountID: awsTenantAcct, DefaultRegion: awsRegion,
			Kind: awskms.KindAssumeRole, RoleARN: awsRoleARN, ExternalID: "keyport-matrix"}
		if err := w.s.DB.CreateConnection(ctx, c, models.AuditInput{Actor: "matrix", Action: "connection.created"}); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, *c)
	}
	ks, err := w.s.DB.ListKeys(ctx, w.tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) == 0 {
		arn := "arn:aws:kms:" + awsRegion + ":" + awsTenantAcct + ":key/00000000-0000-0000-0000-000000000000"
		nk := &models.NewKey{Key: models.Key{TenantID: w.tenantA, ConnectionID: cs[0].ID, Name: "Alpha Matrix Key", Mode: models.ModeCMK, State: models.StateEnabled},
			Regions: []models.KeyRegion{{Region: awsRegion, KMSKeyARN: arn}},
			Version: &models.DataKeyVersion{Version: 1, Reason: "register"},
			Wraps:   []models.DataKeyWrap{{Region: awsRegion, KMSKeyARN: arn, Ciphertext: []byte("matrix")}}}
		if err := w.s.DB.CreateKey(ctx, nk, models.AuditInput{Actor: "matrix", Action: "key.registered"}); err != nil {
			t.Fatal(err)
		}
		ks = append(ks, nk.Key)
	}
	return map[string]string{":conn_id": cs[0].ID, ":key_id": ks[0].ID}
}

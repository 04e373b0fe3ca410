package kmslocal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"keyport/keysvc/kmslocal"
)

const (
	region       = "eu-west-1"
	tenantAcct   = "111122223333"
	providerAcct = "999988887777"
	aliceARN     = "arn:aws:iam::111122223333:user/alice"
	providerARN  = "arn:aws:iam::999988887777:user/keyport"
	roleARN      = "arn:aws:iam::111122223333:role/keyport-access"
	externalID   = "kp-ext-123"
)

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// strictConfig is the -config of the issue: a tenant admin, the provider's
// service user and a role the provider may assume with an external id.
func strictConfig(clock *kmslocal.ManualClock) kmslocal.Config {
	return kmslocal.Config{
		DefaultAccount: tenantAcct,
		Principals: []kmslocal.Principal{
			{AccessKeyID: "AKIAEXAMPLEALICE", SecretAccessKey: "alice-secret", ARN: aliceARN},
			{AccessKeyID: "AKIAEXAMPLEPROVIDER", SecretAccessKey: "provider-secret", ARN: providerARN},
		},
		Roles: []kmslocal.Role{
			{ARN: roleARN, TrustedPrincipals: []string{"arn:aws:iam::999988887777:root"}, ExternalID: externalID},
		},
		Clock: clock.Now,
	}
}

// startServer starts a kmslocal on a loopback port for the test's lifetime.
func startServer(tb testing.TB, cfg kmslocal.Config) *kmslocal.Server {
	tb.Helper()
	srv, err := kmslocal.New(cfg)
	if err != nil {
		tb.Fatalf("kmslocal.New: %v", err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	return srv
}

// openServer starts a server that accepts any credentials, with a manual
// clock.
func openServer(tb testing.TB) (*kmslocal.Server, *kmslocal.ManualClock) {
	tb.Helper()
	clock := kmslocal.NewManualClock(t0)
	return startServer(tb, kmslocal.Config{Clock: clock.Now}), clock
}

// noRetry makes failures visible on the first attempt, so tests see the
// error the server sent and counters are exact.
func noRetry(o *kms.Options) { o.RetryMaxAttempts = 1 }

func kmsClient(tb testing.TB, srv *kmslocal.Server, reg, akid, secret string) *kms.Client {
	tb.Helper()
	return kms.NewFromConfig(srv.AWSConfig(reg, akid, secret), noRetry)
}

func anyClient(tb testing.TB, srv *kmslocal.Server) *kms.Client {
	tb.Helper()
	return kmsClient(tb, srv, region, "AKIDANY", "any-secret")
}

func stsClient(tb testing.TB, srv *kmslocal.Server, akid, secret string) *sts.Client {
	tb.Helper()
	return sts.NewFromConfig(srv.AWSConfig("us-east-1", akid, secret), func(o *sts.Options) { o.RetryMaxAttempts = 1 })
}

func sessionClient(tb testing.TB, srv *kmslocal.Server, creds *aws.Credentials) *kms.Client {
	tb.Helper()
	cfg := srv.AWSConfig(region, "", "")
	cfg.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	return kms.NewFromConfig(cfg, noRetry)
}

func ctx() context.Context { return context.Background() }

func createKey(tb testing.TB, c *kms.Client, in *kms.CreateKeyInput) *types.KeyMetadata {
	tb.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	out, err := c.CreateKey(ctx(), in)
	if err != nil {
		tb.Fatalf("CreateKey: %v", err)
	}
	return out.KeyMetadata
}

func describe(tb testing.TB, c *kms.Client, id string) *types.KeyMetadata {
	tb.Helper()
	out, err := c.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: aws.String(id)})
	if err != nil {
		tb.Fatalf("DescribeKey %s: %v", id, err)
	}
	return out.KeyMetadata
}

func encrypt(tb testing.TB, c *kms.Client, id string, pt []byte, ec map[string]string) []byte {
	tb.Helper()
	out, err := c.Encrypt(ctx(), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: pt, EncryptionContext: ec})
	if err != nil {
		tb.Fatalf("Encrypt: %v", err)
	}
	return out.CiphertextBlob
}

func decrypt(tb testing.TB, c *kms.Client, blob []byte, ec map[string]string) []byte {
	tb.Helper()
	out, err := c.Decrypt(ctx(), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		tb.Fatalf("Decrypt: %v", err)
	}
	return out.Plaintext
}

// wantErr checks err is the SDK's typed error T.
func wantErr[T error](tb testing.TB, err error) {
	tb.Helper()
	var target T
	if !errors.As(err, &target) {
		tb.Fatalf("error = %v (%T), want %T", err, err, target)
	}
}

// wantCode checks the AWS error code, for the common errors (AccessDenied,
// Validation, Throttling...) that the KMS SDK has no type for.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		tb.Fatalf("error = %v, want API error %s", err, code)
	}
	if apiErr.ErrorCode() != code {
		tb.Fatalf("error code = %s (%v), want %s", apiErr.ErrorCode(), err, code)
	}
}

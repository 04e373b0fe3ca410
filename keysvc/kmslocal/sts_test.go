package kmslocal_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"keyport/keysvc/kmslocal"
)

func assume(tb testing.TB, c *sts.Client, in *sts.AssumeRoleInput) (*aws.Credentials, error) {
	tb.Helper()
	out, err := c.AssumeRole(ctx(), in)
	if err != nil {
		return nil, err
	}
	return &aws.Credentials{
		AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey,
		SessionToken: *out.Credentials.SessionToken, Expires: *out.Credentials.Expiration,
	}, nil
}

func TestAssumeRole(t *testing.T) {
	clock := kmslocal.NewManualClock(t0)
	srv := startServer(t, strictConfig(clock))
	providerSTS := stsClient(t, srv, "AKIAEXAMPLEPROVIDER", "provider-secret")

	out, err := providerSTS.AssumeRole(ctx(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("keyport-t1"), ExternalId: aws.String(externalID)})
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:sts::111122223333:assumed-role/keyport-access/keyport-t1"
	if *out.AssumedRoleUser.Arn != wantARN || !out.Credentials.Expiration.Equal(t0.Add(time.Hour)) {
		t.Fatalf("AssumeRole = %s expires %v", *out.AssumedRoleUser.Arn, out.Credentials.Expiration)
	}
	creds := &aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}

	sessSTS := sts.NewFromConfig(srv.AWSConfig("us-east-1", creds.AccessKeyID, creds.SecretAccessKey), func(o *sts.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	})
	id, err := sessSTS.GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Arn != wantARN || *id.Account != tenantAcct {
		t.Fatalf("GetCallerIdentity = %s / %s", *id.Arn, *id.Account)
	}

	// The session acts in the tenant's account, so a bare key id resolves.
	sess := sessionClient(t, srv, creds)
	k := createKey(t, sess, nil)
	if *k.AWSAccountId != tenantAcct {
		t.Fatalf("session created key in %s", *k.AWSAccountId)
	}
	tenant := kmsClient(t, srv, region, "AKIAEXAMPLEALICE", "alice-secret")
	describe(t, tenant, *k.KeyId)

	// A policy naming the role covers its sessions.
	rolePolicy := `{"Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Allow","Principal":{"AWS":"` + roleARN + `"},"Action":"kms:Encrypt","Resource":"*"}]}`
	rk := createKey(t, tenant, &kms.CreateKeyInput{Policy: aws.String(rolePolicy)})
	encrypt(t, sess, *rk.KeyId, []byte("x"), nil)
	_, err = sess.DisableKey(ctx(), &kms.DisableKeyInput{KeyId: rk.KeyId})
	wantCode(t, err, "AccessDeniedException")

	// Once the session expires on the server's clock it is refused.
	clock.Advance(time.Hour)
	_, err = sess.DescribeKey(ctx(), &kms.DescribeKeyInput{KeyId: k.KeyId})
	wantCode(t, err, "ExpiredTokenException")
	_, err = sessSTS.GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	wantCode(t, err, "ExpiredToken")
}

func TestAssumeRoleRefused(t *testing.T) {
	srv := startServer(t, strictConfig(kmslocal.NewManualClock(t0)))
	provider := stsClient(t, srv, "AKIAEXAMPLEPROVIDER", "provider-secret")
	alice := stsClient(t, srv, "AKIAEXAMPLEALICE", "alice-secret")
	tests := []struct {
		name   string
		client *sts.Client
		in     sts.AssumeRoleInput
		code   string
	}{
		{"wrong external id", provider, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String("guess")}, "AccessDenied"},
		{"missing external id", provider, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"untrusted principal", alice, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID)}, "AccessDenied"},
		{"unknown role", provider, sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111122223333:role/nope"), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"duration above role maximum", provider, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(7200)}, "ValidationError"},
		{"duration below 900", provider, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(600)}, "ValidationError"},
		{"bad session name", provider, sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("has space"), ExternalId: aws.String(externalID)}, "ValidationError"},
		{"bad secret", stsClient(t, srv, "AKIAEXAMPLEPROVIDER", "wrong"), sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID)}, "SignatureDoesNotMatch"},
		{"unknown access key", stsClient(t, srv, "AKIAUNKNOWN", "x"), sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID)}, "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := assume(t, tt.client, &tt.in)
			wantCode(t, err, tt.code)
		})
	}
}

func TestKMSAuthentication(t *testing.T) {
	srv := startServer(t, strictConfig(kmslocal.NewManualClock(t0)))
	tests := []struct {
		name string
		cfg  func() aws.Config
		code string
	}{
		{"unknown access key", func() aws.Config { return srv.AWSConfig(region, "AKIAUNKNOWN", "x") }, "UnrecognizedClientException"},
		{"wrong secret", func() aws.Config { return srv.AWSConfig(region, "AKIAEXAMPLEALICE", "wrong") }, "InvalidSignatureException"},
		{"unsigned", func() aws.Config {
			c := srv.AWSConfig(region, "", "")
			c.Credentials = aws.AnonymousCredentials{}
			return c
		}, "MissingAuthenticationTokenException"},
		{"forged session token", func() aws.Config {
			c := srv.AWSConfig(region, "", "")
			c.Credentials = credentials.NewStaticCredentialsProvider("ASIAFORGED", "x", "y")
			return c
		}, "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kms.NewFromConfig(tt.cfg(), noRetry).ListKeys(ctx(), &kms.ListKeysInput{})
			wantCode(t, err, tt.code)
		})
	}
	t.Run("good signature", func(t *testing.T) {
		k := createKey(t, kmsClient(t, srv, region, "AKIAEXAMPLEALICE", "alice-secret"), nil)
		if k.KeyState != types.KeyStateEnabled {
			t.Fatalf("state %s", k.KeyState)
		}
	})
}

func TestOpenModeAcceptsAnyCredentials(t *testing.T) {
	srv, _ := openServer(t)
	id, err := stsClient(t, srv, "AKIDANYTHING", "whatever").GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Account != kmslocal.DefaultAccount || *id.Arn != "arn:aws:iam::111122223333:root" {
		t.Fatalf("caller = %s in %s", *id.Arn, *id.Account)
	}
	creds, err := assume(t, stsClient(t, srv, "AKIDANYTHING", "x"), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::444455556666:role/any"), RoleSessionName: aws.String("dev")})
	if err != nil {
		t.Fatal(err)
	}
	if k := createKey(t, sessionClient(t, srv, creds), nil); *k.AWSAccountId != "444455556666" {
		t.Fatalf("assumed-role key in %s", *k.AWSAccountId)
	}
}

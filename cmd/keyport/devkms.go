package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"keyport/keysvc"
	"keyport/keysvc/awskms"
	"keyport/keysvc/kmslocal"
	"keyport/keysvc/seal"
	"keyport/models"
	"keyport/views"
)

// The development AWS world served by kmslocal: a demo tenant account with
// a user whose access key a tenant can paste, a role that trusts the
// provider account with an external id, and the provider principal keyport
// itself signs as. These are stand-in credentials for a local emulator,
// never real AWS ones.
const (
	devDemoAccount     = "111122223333"
	devProviderAccount = "999988887777"
	devRegion          = "us-east-1"
	devDemoAKID        = "AKIAKEYPORTDEMO00001"
	devDemoSecret      = "keyportDemoSecretAccessKey+DoNotUse/0001" // 40 characters, like AWS's
	devProviderAKID    = "AKIAKEYPORTPROVIDER1"
	devProviderSecret  = "keyportProviderSecretAccessKey/DoNotUse1"
	devProviderARN     = "arn:aws:iam::" + devProviderAccount + ":user/keyport"
	devRoleARN         = "arn:aws:iam::" + devDemoAccount + ":role/keyport-access"
	devDemoAlias       = "alias/keyport-demo"
	// devExternalID is what the demo role's trust policy requires. kmslocal
	// has no IAM API to edit a trust policy, so in development every role
	// connection gets this external id instead of a random one; production
	// always generates 128 random bits per connection.
	devExternalID = "keyport-dev-demo-external-id"
)

// startDevKMS starts kmslocal on a loopback port with its state under the
// data directory, and makes sure the demo key exists.
func startDevKMS(ctx context.Context, cfg *config) (*kmslocal.Server, *views.DemoAWS, error) {
	srv, err := kmslocal.New(kmslocal.Config{
		DefaultAccount: devDemoAccount,
		Principals: []kmslocal.Principal{
			{AccessKeyID: devDemoAKID, SecretAccessKey: devDemoSecret, ARN: "arn:aws:iam::" + devDemoAccount + ":user/demo"},
			{AccessKeyID: devProviderAKID, SecretAccessKey: devProviderSecret, ARN: devProviderARN},
		},
		Roles:    []kmslocal.Role{{ARN: devRoleARN, TrustedPrincipals: []string{"arn:aws:iam::" + devProviderAccount + ":root"}, ExternalID: devExternalID}},
		DataFile: filepath.Join(cfg.DataDir, "kmslocal.json"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start development kms: %w", err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return nil, nil, fmt.Errorf("start development kms: %w", err)
	}
	arn, err := ensureDemoKey(ctx, srv)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, &views.DemoAWS{AccountID: devDemoAccount, Region: devRegion, AccessKeyID: devDemoAKID,
		SecretAccessKey: devDemoSecret, RoleARN: devRoleARN, KeyARN: arn}, nil
}

// ensureDemoKey creates, once per data directory, a symmetric key in the
// demo account whose policy lets the provider use it, with an alias.
func ensureDemoKey(ctx context.Context, srv *kmslocal.Server) (string, error) {
	client := kms.NewFromConfig(srv.AWSConfig(devRegion, devDemoAKID, devDemoSecret))
	out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(devDemoAlias)})
	var api smithy.APIError
	switch {
	case err == nil:
		return aws.ToString(out.KeyMetadata.Arn), nil
	case !errors.As(err, &api) || api.ErrorCode() != "NotFoundException":
		return "", fmt.Errorf("look up the demo key: %w", err)
	}
	// Every development tenant may register the demo key: the demo user
	// and role reach it through the account root's delegation to IAM.
	// keyport's own statements, bound to one tenant's encryption context,
	// carry the placeholder tenant here, as no single tenant owns it.
	created, err := client.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("keyport demo key (development)"),
		Policy:      aws.String(keysvc.KeyPolicy(devDemoAccount, []string{devRoleARN}, "")),
	})
	if err != nil {
		return "", fmt.Errorf("create the demo key: %w", err)
	}
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(devDemoAlias), TargetKeyId: created.KeyMetadata.KeyId}); err != nil {
		return "", fmt.Errorf("name the demo key: %w", err)
	}
	return aws.ToString(created.KeyMetadata.Arn), nil
}

// awsClients are the key service's client options in development: every
// call goes to kmslocal, signed as the provider principal.
func (d *devStandIns) awsClients(sealer *seal.Sealer, log *slog.Logger) (awskms.ClientOptions, *views.DemoAWS) {
	base := d.kms.AWSConfig(devRegion, devProviderAKID, devProviderSecret)
	return awskms.ClientOptions{Base: &base, Sealer: sealer, Logger: log, NewExternalID: func() string { return devExternalID }}, d.demo
}

// seedProviderSettings names the development provider account and
// principal, so policy snippets show them, unless an operator set them.
func (d *devStandIns) seedProviderSettings(ctx context.Context, db *models.DB, log *slog.Logger) error {
	cur, err := db.ProviderSettings(ctx)
	if err != nil {
		return err
	}
	if cur["aws_account_id"] != "" {
		return nil
	}
	_, err = db.SetProviderSettings(ctx, map[string]string{"aws_account_id": devProviderAccount, "principal_arn": devProviderARN},
		models.AuditInput{Actor: "keyport dev", Action: "provider.settings_updated"})
	if err != nil {
		return fmt.Errorf("seed development provider settings: %w", err)
	}
	log.Info("development provider settings seeded", "account", devProviderAccount)
	return nil
}

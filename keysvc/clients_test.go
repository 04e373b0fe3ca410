package keysvc

import (
	"context"
	"errors"
	"fmt"
	"keyport/keysvc/awskms"
	"keyport/keysvc/seal"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

func TestClientsCacheAndAssumeRoleOnce(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	mc := e.roleConn(t, "role", cpRoleARN)
	conn := awskms.ConnectionFromModel(mc)
	a, err := e.svc.clients.KMS(ctx, conn, cpRegion)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.svc.clients.KMS(ctx, conn, cpRegion)
	w, _ := e.svc.clients.KMS(ctx, conn, "us-west-2")
	if a != b || a == w {
		t.Error("clients are not cached per connection and region")
	}
	for _, c := range []*kms.Client{a, w, a} {
		if _, err := c.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.srv.Calls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole called %d times for two regions, want 1 (credentials cached)", n)
	}
	edited := conn
	edited.ExternalID = "keyport-other"
	if c, _ := e.svc.clients.KMS(ctx, edited, cpRegion); c == a {
		t.Error("a changed connection reused the old client")
	}
	e.svc.clients.Forget(conn.ID)
	if c, _ := e.svc.clients.KMS(ctx, conn, cpRegion); c == a {
		t.Error("Forget kept the client")
	}
	if _, err := e.svc.clients.KMS(ctx, conn, "us-gov-west-1"); err == nil {
		t.Error("a GovCloud region got a client")
	}
}

// TestClientsConcurrentCallersShareOneClient: a burst of callers asking
// for a connection's client at once (cold misses after a restart) get one
// client, built once, not one each with its own connection pool.
func TestClientsConcurrentCallersShareOneClient(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	conn := awskms.ConnectionFromModel(e.accessKeyConn(t, "user", cpUserAKID, cpUserSecret))
	got := make([]*kms.Client, 64)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.svc.clients.KMS(ctx, conn, cpRegion)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		}()
	}
	wg.Wait()
	for _, c := range got {
		if c == nil || c != got[0] {
			t.Fatal("concurrent callers got different clients")
		}
	}
	if _, err := got[0].ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	bad := conn
	bad.SecretSealed = []byte("not sealed")
	if _, err := e.svc.clients.KMS(ctx, bad, cpRegion); err == nil {
		t.Fatal("a secret that does not open gave a client")
	}
	if _, err := e.svc.clients.KMS(ctx, bad, cpRegion); err == nil {
		t.Fatal("a failed build was kept as a client")
	}
	c, err := e.svc.clients.KMS(ctx, conn, cpRegion) // failures are not kept: the good connection builds again
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
}

func TestClassifyKMSError(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	mc := e.accessKeyConn(t, "user", cpUserAKID, cpUserSecret)
	client, err := e.svc.clients.KMS(ctx, awskms.ConnectionFromModel(mc), cpRegion)
	if err != nil {
		t.Fatal(err)
	}
	arn := e.createKMSKey(t, cpRegion, nil)
	gen := func() error {
		_, err := client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &arn, NumberOfBytes: aws.Int32(32)})
		return err
	}
	for code, want := range map[string]error{
		"AccessDeniedException":       awskms.ErrAccessDenied,
		"UnrecognizedClientException": awskms.ErrAccessDenied,
		"InvalidSignatureException":   awskms.ErrAccessDenied,
		"ExpiredTokenException":       awskms.ErrAccessDenied,
		"DisabledException":           awskms.ErrKeyDisabled,
		"ThrottlingException":         awskms.ErrThrottled,
		"LimitExceededException":      awskms.ErrThrottled,
		"KMSInternalException":        awskms.ErrUnavailable,
		"DependencyTimeoutException":  awskms.ErrUnavailable,
		"KMSInvalidStateException":    awskms.ErrKeyNotUsable,
	} {
		e.srv.FailNext("GenerateDataKey", 1, code)
		got := awskms.ClassifyKMSError(gen())
		if !errors.Is(got, want) || !strings.Contains(got.Error(), code) {
			t.Errorf("%s -> %v, want %v", code, got, want)
		}
	}
	// Real refusals, not injected ones.
	if _, err := e.adminIn(cpRegion).ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &arn, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	got := awskms.ClassifyKMSError(gen())
	if !errors.Is(got, awskms.ErrKeyPendingDeletion) {
		t.Errorf("pending deletion -> %v", got)
	}
	if strings.Contains(got.Error(), "pending deletion.") || strings.Contains(got.Error(), arn) {
		t.Errorf("classified error carries AWS's message: %v", got)
	}
	// A code no sentinel covers keeps its code, and the SDK error beneath
	// it, but not AWS's message.
	e.srv.FailNext("GenerateDataKey", 1, "InvalidGrantTokenException")
	raw := gen()
	var api smithy.APIError
	if got := awskms.ClassifyKMSError(raw); !strings.Contains(got.Error(), "InvalidGrantTokenException") ||
		strings.Contains(got.Error(), awsMessage(raw)) || !errors.As(got, &api) || api.ErrorCode() != "InvalidGrantTokenException" {
		t.Errorf("unmapped code -> %q", got)
	}
	// A dead endpoint is "unavailable".
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	base := e.srv.AWSConfig(cpRegion, cpProvAKID, cpProvSecret)
	base.BaseEndpoint = &dead
	down := awskms.NewClients(awskms.ClientOptions{Base: &base, Sealer: e.svc.sealer, MaxAttempts: 1})
	dc, _ := down.KMS(ctx, awskms.ConnectionFromModel(mc), cpRegion)
	_, err = dc.ListKeys(ctx, &kms.ListKeysInput{})
	if got := awskms.ClassifyKMSError(err); !errors.Is(got, awskms.ErrUnavailable) {
		t.Errorf("dead endpoint -> %v", got)
	}
	if awskms.ClassifyKMSError(nil) != nil || !errors.Is(awskms.ClassifyKMSError(fmt.Errorf("x: %w", awskms.ErrThrottled)), awskms.ErrThrottled) {
		t.Error("nil or classified errors changed")
	}
	if errors.Is(awskms.ClassifyKMSError(errors.New("other")), awskms.ErrUnavailable) {
		t.Error("an unknown error was classified")
	}
}

// The process-wide endpoint override is the SDK's standard environment,
// applied by LoadDefaultConfig.
func TestClientsHonourEndpointEnvironment(t *testing.T) {
	e := newCPEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_KMS", e.srv.URL())
	t.Setenv("AWS_ENDPOINT_URL_STS", e.srv.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", cpProvAKID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", cpProvSecret)
	t.Setenv("AWS_REGION", cpRegion)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	clients := awskms.NewClients(awskms.ClientOptions{Sealer: e.svc.sealer, MaxAttempts: 1, NewExternalID: func() string { return cpExternalID }})
	svc := NewService(Deps{DB: e.db, Sealer: e.svc.sealer, Clients: clients})
	mc, err := svc.CreateConnection(context.Background(), e.tenant.ID, e.by, ConnectionInput{Name: "env", AccountID: cpTenantAcct,
		DefaultRegion: cpRegion, Kind: awskms.KindAssumeRole, RoleARN: cpRoleARN})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.TestConnection(context.Background(), e.tenant.ID, e.by, mc.ID)
	if err != nil || !res.OK {
		t.Fatalf("test through environment endpoints: %+v, %v", res, err)
	}
	if e.srv.Calls("AssumeRole") == 0 || e.srv.Calls("ListKeys") == 0 {
		t.Error("calls did not reach kmslocal")
	}
}

func TestLoadKMSKEK(t *testing.T) {
	e := newCPEnv(t)
	ctx := context.Background()
	// The provider's own key, in the provider's account.
	provCfg := e.srv.AWSConfig(cpRegion, cpProvAKID, cpProvSecret)
	out, err := kms.NewFromConfig(provCfg).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.KeyMetadata.Arn)
	kek1, err := awskms.LoadKMSKEK(ctx, e.db, e.svc.clients, arn)
	if err != nil || len(kek1) != 32 {
		t.Fatalf("first start: %d bytes, %v", len(kek1), err)
	}
	blob, err := e.db.GetSealedSecret(ctx, seal.KMSKEKSecret)
	if err != nil || strings.Contains(string(blob), string(kek1)) {
		t.Fatalf("stored blob: %v", err)
	}
	kek2, err := awskms.LoadKMSKEK(ctx, e.db, e.svc.clients, arn)
	if err != nil || string(kek1) != string(kek2) {
		t.Fatalf("second start got another KEK: %v", err)
	}
	if e.srv.Calls("GenerateDataKeyWithoutPlaintext") != 1 || e.srv.Calls("Decrypt") != 2 {
		t.Errorf("calls = %v", e.srv.CallCounts())
	}
	if _, err := kms.NewFromConfig(provCfg).DisableKey(ctx, &kms.DisableKeyInput{KeyId: &arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := awskms.LoadKMSKEK(ctx, e.db, e.svc.clients, arn); !errors.Is(err, awskms.ErrKeyDisabled) {
		t.Errorf("disabled provider key: %v", err)
	}
	if _, err := awskms.LoadKMSKEK(ctx, e.db, e.svc.clients, "arn:aws-cn:kms:cn-north-1:999988887777:key/x"); err == nil {
		t.Error("a China ARN was accepted")
	}
}

// awsMessage is the message of the AWS error in err.
func awsMessage(err error) string {
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorMessage() == "" {
		panic("no AWS error message in " + err.Error())
	}
	return api.ErrorMessage()
}

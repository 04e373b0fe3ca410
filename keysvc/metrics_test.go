package keysvc

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/keysvc/kmslocal"
)

// recordingObserver keeps what it hears.
type recordingObserver struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingObserver) AWSCall(service, op, outcome string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, service+" "+op+" "+outcome)
}
func (r *recordingObserver) JobDone(string, string, time.Duration, time.Duration) {}
func (r *recordingObserver) EmailDelivery(string)                                 {}

// TestClientsNeverLogBodies: even when the shared AWS configuration asks
// for body logging, the clients keyport builds drop it outside
// development, and no body reaches the log; every call is observed.
func TestClientsNeverLogBodies(t *testing.T) {
	srv, err := kmslocal.New(kmslocal.Config{Principals: []kmslocal.Principal{
		{AccessKeyID: "AKIALOGMODETEST00001", SecretAccessKey: "log-mode-secret", ARN: "arn:aws:iam::111122223333:user/admin"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, dev := range []bool{false, true} {
		t.Run(fmt.Sprintf("dev=%v", dev), func(t *testing.T) {
			base := srv.AWSConfig("eu-west-1", "AKIALOGMODETEST00001", "log-mode-secret")
			base.ClientLogMode = aws.LogRequestWithBody | aws.LogResponseWithBody | aws.LogRetries
			var logs bytes.Buffer
			obs := &recordingObserver{}
			c := awskms.NewClients(awskms.ClientOptions{Base: &base, LogMode: aws.LogRetries | aws.LogRequestWithBody | aws.LogResponseWithBody,
				AllowBodyLogging: dev, Observer: obs, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			client, err := c.Provider(context.Background(), "eu-west-1")
			if err != nil {
				t.Fatal(err)
			}
			mode := client.Options().ClientLogMode
			if got := mode&(aws.LogRequestWithBody|aws.LogResponseWithBody|aws.LogRequestEventMessage|aws.LogResponseEventMessage) != 0; got != dev {
				t.Fatalf("client log mode %b has body modes = %v, want %v", mode, got, dev)
			}
			out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("body-marker-description")})
			if err != nil {
				t.Fatal(err)
			}
			_, err = client.GenerateDataKey(context.Background(), &kms.GenerateDataKeyInput{KeyId: out.KeyMetadata.KeyId, NumberOfBytes: aws.Int32(32)})
			if err != nil {
				t.Fatal(err)
			}
			if logged := strings.Contains(logs.String(), "body-marker-description"); logged != dev {
				t.Errorf("request body in the log = %v, want %v", logged, dev)
			}
			if !dev && strings.Contains(logs.String(), "Plaintext") {
				t.Error("a response body reached the log")
			}
			if want := []string{"kms CreateKey ok", "kms GenerateDataKey ok"}; fmt.Sprint(obs.calls) != fmt.Sprint(want) {
				t.Errorf("observed %v, want %v", obs.calls, want)
			}
		})
	}
}

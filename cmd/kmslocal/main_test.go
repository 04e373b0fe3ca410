package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/kmslocal"
)

func TestRunRejectsBadInvocations(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"non-loopback address", []string{"-addr", "0.0.0.0:4599"}, kmslocal.ErrNotLoopback},
		{"all interfaces", []string{"-addr", ":4599"}, kmslocal.ErrNotLoopback},
		{"unknown flag", []string{"-port", "1"}, nil},
		{"stray argument", []string{"serve"}, nil},
		{"missing config file", []string{"-config", filepath.Join(t.TempDir(), "none.json")}, nil},
		{"negative latency", []string{"-addr", "127.0.0.1:0", "-latency", "-1s"}, nil},
		{"latency over a minute", []string{"-addr", "127.0.0.1:0", "-latency", "2m"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("run = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRunServesUntilSIGTERM drives the binary's real startup: it waits for
// the readiness line, uses the server through the SDK with the -config
// credentials, then stops it with SIGTERM.
func TestRunServesUntilSIGTERM(t *testing.T) {
	dir := t.TempDir()
	configFile := filepath.Join(dir, "config.json")
	dataFile := filepath.Join(dir, "data.json")
	config := `{"defaultAccount": "111122223333", "principals": [
	  {"accessKeyId": "AKIAEXAMPLEALICE", "secretAccessKey": "alice-secret", "arn": "arn:aws:iam::111122223333:user/alice"}]}`
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-addr", "127.0.0.1:0", "-config", configFile, "-data", dataFile, "-latency", "30ms"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read readiness line: %v (run: %v)", err, <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "kmslocal listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("readiness line = %q", line)
	}

	client := kms.NewFromConfig(aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAEXAMPLEALICE", "alice-secret", ""),
		BaseEndpoint: aws.String(url),
	})
	began := time.Now()
	out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey through the binary: %v", err)
	}
	if took := time.Since(began); took < 30*time.Millisecond {
		t.Errorf("CreateKey answered in %s despite -latency 30ms", took)
	}
	if !strings.HasPrefix(*out.KeyMetadata.Arn, "arn:aws:kms:eu-west-1:111122223333:key/") {
		t.Fatalf("key ARN = %s", *out.KeyMetadata.Arn)
	}
	stranger := kms.NewFromConfig(aws.Config{
		Region:           "eu-west-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAUNKNOWN", "x", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
	})
	if _, err := stranger.ListKeys(context.Background(), &kms.ListKeysInput{}); err == nil {
		t.Fatal("unknown access key accepted although -config names principals")
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after SIGTERM = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
	if _, err := os.Stat(dataFile); err != nil {
		t.Fatalf("-data file not written: %v", err)
	}
}

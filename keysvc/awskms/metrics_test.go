package awskms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestParseAWSLogMode(t *testing.T) {
	m, err := ParseAWSLogMode(" retries, request ,response", false)
	if err != nil || m != aws.LogRetries|aws.LogRequest|aws.LogResponse {
		t.Errorf("production modes = %v, %v", m, err)
	}
	for _, body := range []string{"request_with_body", "response_with_body", "request_event_message", "response_event_message"} {
		if _, err := ParseAWSLogMode("retries,"+body, false); err == nil || !strings.Contains(err.Error(), "refused outside development") {
			t.Errorf("%s in production: err = %v", body, err)
		}
		if m, err := ParseAWSLogMode(body, true); err != nil || m&awsBodyModes == 0 {
			t.Errorf("%s in development: %v, %v", body, m, err)
		}
	}
	if m, err := ParseAWSLogMode("", false); err != nil || m != 0 {
		t.Errorf("empty = %v, %v", m, err)
	}
}

func TestCallOutcome(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"}, {ErrThrottled, "throttled"}, {fmt.Errorf("x: %w", ErrAccessDenied), "access_denied"},
		{ErrUnavailable, "unavailable"}, {context.Canceled, "canceled"}, {errors.New("odd"), "error"},
	} {
		if got := CallOutcome(tc.err); got != tc.want {
			t.Errorf("CallOutcome(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

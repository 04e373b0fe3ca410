package awskms

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

// TestRetryBackoffIsJittered inspects the retryer every KMS and STS client
// gets: throttling is retried, every wait is random within its ceiling (the
// SDK's default waits a flat MaxBackoff from the second retry on, which
// puts every throttled caller's retries in step), and there is no shared
// retry quota to run dry.
func TestRetryBackoffIsJittered(t *testing.T) {
	const draws = 200
	r := NewClients(ClientOptions{}).retryer() // production defaults: 3 attempts, 2s cap
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException"}
	if r.MaxAttempts() != 3 || !r.IsErrorRetryable(throttle) {
		t.Fatalf("max attempts %d, throttling retryable %v", r.MaxAttempts(), r.IsErrorRetryable(throttle))
	}
	for _, tt := range []struct {
		attempt int
		ceiling time.Duration
	}{{1, 2 * time.Second}, {2, 2 * time.Second}, {5, 2 * time.Second}} {
		t.Run(fmt.Sprintf("attempt %d", tt.attempt), func(t *testing.T) {
			distinct := map[time.Duration]bool{}
			for range draws {
				d, err := r.RetryDelay(tt.attempt, throttle)
				if err != nil || d < 0 || d >= tt.ceiling {
					t.Fatalf("delay %v, %v; want within [0, %v)", d, err, tt.ceiling)
				}
				distinct[d] = true
			}
			if len(distinct) < draws*9/10 {
				t.Errorf("%d draws gave %d distinct delays: the backoff is not jittered", draws, len(distinct))
			}
		})
	}
	for range 1000 {
		if _, err := r.GetRetryToken(context.Background(), throttle); err != nil {
			t.Fatalf("retry quota ran dry: %v", err)
		}
	}
}

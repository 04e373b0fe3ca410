package keysvc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/awskms"
	"keyport/keysvc/kmslocal"
)

// TestRetriesOverTheWireAreJittered watches the attempts arrive at kmslocal
// while it throttles everything: each call makes exactly MaxAttempts
// attempts, and the gaps between them are spread, not in step.
func TestRetriesOverTheWireAreJittered(t *testing.T) {
	const calls, attempts, maxBackoff = 10, 3, 100 * time.Millisecond
	srv, err := kmslocal.New(kmslocal.Config{DefaultAccount: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetThrottle(1)
	var mu sync.Mutex
	arrivals := map[string][]time.Time{} // by the SDK's invocation id
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		id := r.Header.Get("Amz-Sdk-Invocation-Id")
		arrivals[id] = append(arrivals[id], time.Now())
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()

	base := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(ts.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAJITTERTEST000001", "secret", "")}
	c := awskms.NewClients(awskms.ClientOptions{Base: &base, MaxAttempts: attempts, MaxBackoff: maxBackoff})
	client, err := c.Provider(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.ListKeys(context.Background(), &kms.ListKeysInput{})
			if !errors.Is(awskms.ClassifyKMSError(err), awskms.ErrThrottled) {
				t.Errorf("call under full throttling: %v", err)
			}
		}()
	}
	wg.Wait()

	var gaps []time.Duration
	total := 0
	for id, at := range arrivals {
		total += len(at)
		if len(at) != attempts {
			t.Errorf("invocation %s made %d attempts, want %d", id, len(at), attempts)
		}
		for i := 1; i < len(at); i++ {
			gaps = append(gaps, at[i].Sub(at[i-1]))
		}
	}
	if len(arrivals) != calls {
		t.Fatalf("%d invocations seen, want %d", len(arrivals), calls)
	}
	slices.Sort(gaps)
	short := 0 // a flat backoff never waits less than MaxBackoff
	for _, g := range gaps {
		if g < maxBackoff/2 {
			short++
		}
	}
	fmt.Printf("METRIC kms_retry_jitter calls=%d attempts=%d gaps=%d below_half_cap=%d gap_min_ms=%.1f gap_p50_ms=%.1f gap_max_ms=%.1f max_backoff_ms=%d\n",
		calls, total, len(gaps), short, msf(gaps[0]), msf(gaps[len(gaps)/2]), msf(gaps[len(gaps)-1]), maxBackoff.Milliseconds())
	// Uniform waits put about half the gaps under half the cap; fewer than
	// two of twenty happens by chance once in ~50,000 runs.
	if short < 2 {
		t.Errorf("only %d of %d retry gaps are shorter than half the backoff cap: the waits are not jittered", short, len(gaps))
	}
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

package kmslocal_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"keyport/keysvc/kmslocal"
)

// BenchmarkDecrypt measures Decrypt round trips through the SDK over
// loopback, signature verification included: the ceiling for keysvc's
// cache-miss tests.
func BenchmarkDecrypt(b *testing.B) {
	srv := startServer(b, strictConfig(kmslocal.NewManualClock(t0)))
	c := kmsClient(b, srv, region, "AKIAEXAMPLEPROVIDER", "provider-secret")
	k := createKey(b, c, nil)
	ec := map[string]string{"tenant": "t1", "key": "k1"}
	blob := encrypt(b, c, *k.KeyId, make([]byte, 32), ec)
	in := &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		t := time.Now()
		if _, err := c.Decrypt(ctx(), in); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) int64 { return lat[int(p*float64(len(lat)-1))].Microseconds() }
	line := fmt.Sprintf("METRIC kmslocal_decrypt ops_per_sec=%.0f p50_us=%d p99_us=%d", float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99))
	// Printed rather than b.Log-ged so the line is greppable in plain output.
	fmt.Println(line)
}

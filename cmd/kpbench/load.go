package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// load sends requests of one kind from many connections for a while.
type load struct {
	info   serverInfo
	conns  int
	client *http.Client
	bodies map[string][]byte // request body per variant
	paths  map[string]string
}

func newLoad(info serverInfo, conns, size int) *load {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	encBody, _ := json.Marshal(map[string]any{"key_id": info.KeyID, "plaintext": b64(make([]byte, size)), "context": map[string]string{"field": "bench"}})
	decBody, _ := json.Marshal(map[string]any{"ciphertext": info.Ciphertext, "context": map[string]string{"field": "bench"}})
	return &load{
		info: info, conns: conns, client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		bodies: map[string][]byte{"encrypt": encBody, "baseline_encrypt": encBody, "encrypt_nocount": encBody, "decrypt": decBody, "baseline_decrypt": decBody},
		paths: map[string]string{"encrypt": "/api/v1/encrypt", "baseline_encrypt": "/baseline/encrypt", "encrypt_nocount": "/nocount/api/v1/encrypt",
			"decrypt": "/api/v1/decrypt", "baseline_decrypt": "/baseline/decrypt"},
	}
}

// blockResult is one block's figures.
type blockResult struct {
	rps      float64
	p50, p99 float64 // milliseconds
	errors   int
}

// run sends one variant's requests from every connection for d.
func (l *load) run(ctx context.Context, variant string, d time.Duration) blockResult {
	url, body := l.info.URL+l.paths[variant], l.bodies[variant]
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	for range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if !post(ctx, l.client, url, l.info.Token, body) {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	r := blockResult{rps: float64(len(lat)) / elapsed.Seconds(), errors: errs}
	if len(lat) > 0 {
		r.p50 = ms(lat[len(lat)/2])
		r.p99 = ms(lat[len(lat)*99/100])
	}
	return r
}

// post sends one data-API request and reports whether it was answered 200.
func post(ctx context.Context, c *http.Client, url, token string, body []byte) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// comparison is the median of each variant's blocks.
type comparison struct{ a, b blockResult }

// compare runs A B B A ... so that drift (thermal, other load) falls on
// both variants alike, and takes medians over the blocks.
func (l *load) compare(ctx context.Context, a, b string, blocks int, d time.Duration) (comparison, error) {
	var as, bs []blockResult
	for i := 0; i < blocks/2; i++ {
		order := []string{a, b, b, a}
		for _, v := range order {
			r := l.run(ctx, v, d)
			if ctx.Err() != nil {
				return comparison{}, ctx.Err()
			}
			if v == a {
				as = append(as, r)
			} else {
				bs = append(bs, r)
			}
		}
	}
	return comparison{median(as), median(bs)}, nil
}

// medianOf is the median of f over xs.
func medianOf[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// median takes the median of each figure across blocks; errors are summed.
func median(rs []blockResult) blockResult {
	out := blockResult{
		rps: medianOf(rs, func(r blockResult) float64 { return r.rps }),
		p50: medianOf(rs, func(r blockResult) float64 { return r.p50 }),
		p99: medianOf(rs, func(r blockResult) float64 { return r.p99 }),
	}
	for _, r := range rs {
		out.errors += r.errors
	}
	return out
}

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// variant is one kind of request: where it goes and what it sends.
type variant struct {
	url   string
	body  []byte
	items int // data-API items per request (1, or the batch size)
}

// newVariants is every request kpbench sends. The baselines get the same
// path, body and headers as keyport's, on the bare server's port.
func newVariants(info serverInfo, size int) map[string]variant {
	ctx := map[string]string{"field": "bench"}
	enc := map[string]any{"key_id": info.KeyID, "plaintext": b64(make([]byte, size)), "context": ctx}
	dec := map[string]any{"ciphertext": info.Ciphertext, "context": ctx}
	encBody, _ := json.Marshal(enc)
	decBody, _ := json.Marshal(dec)
	encBatch, _ := json.Marshal(map[string]any{"items": slices.Repeat([]any{enc}, batchItems)})
	decBatch, _ := json.Marshal(map[string]any{"items": slices.Repeat([]any{dec}, batchItems)})
	return map[string]variant{
		"encrypt":          {info.URL + "/api/v1/encrypt", encBody, 1},
		"decrypt":          {info.URL + "/api/v1/decrypt", decBody, 1},
		"baseline_encrypt": {info.BaselineURL + "/api/v1/encrypt", encBody, 1},
		"baseline_decrypt": {info.BaselineURL + "/api/v1/decrypt", decBody, 1},
		"encrypt_nocount":  {info.NoCountURL + "/api/v1/encrypt", encBody, 1},
		"batch_encrypt":    {info.URL + "/api/v1/encrypt/batch", encBatch, batchItems},
		"batch_decrypt":    {info.URL + "/api/v1/decrypt/batch", decBatch, batchItems},
	}
}

// generator sends one variant's requests from many connections for a
// while: wrk, or the Go fallback.
type generator interface {
	name() string
	run(ctx context.Context, variant string, d time.Duration) (blockResult, error)
}

// blockResult is one block's figures.
type blockResult struct {
	rps      float64
	p50, p99 float64 // milliseconds
	errors   int     // non-200 answers and socket errors
	requests int     // answered requests
	cpuUS    float64 // server CPU time per request, microseconds
}

// load is the Go fallback generator, used only where wrk cannot run: it
// costs more CPU per request than wrk, so its figures are lower.
type load struct {
	token    string
	conns    int
	client   *http.Client
	variants map[string]variant
}

func newLoad(info serverInfo, conns int, variants map[string]variant) *load {
	tr := &http.Transport{MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &load{token: info.Token, conns: conns, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, variants: variants}
}

func (l *load) name() string { return "go" }

func (l *load) run(ctx context.Context, name string, d time.Duration) (blockResult, error) {
	v := l.variants[name]
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
				if !post(ctx, l.client, v.url, l.token, v.body) {
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
	r := blockResult{rps: float64(len(lat)) / elapsed.Seconds(), errors: errs, requests: len(lat)}
	if len(lat) > 0 {
		r.p50 = ms(lat[len(lat)/2])
		r.p99 = ms(lat[len(lat)*99/100])
	}
	return r, ctx.Err()
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
// both variants alike, and takes medians over the blocks. The server's CPU
// time (pid's, from /proc) per request is read around each block: unlike
// requests per second it hardly moves when other processes share the cores.
func compare(ctx context.Context, g generator, pid int, a, b string, blocks int, d time.Duration) (comparison, error) {
	var as, bs []blockResult
	for i := 0; i < blocks/2; i++ {
		for _, v := range []string{a, b, b, a} {
			cpu0 := cpuTime(pid)
			r, err := g.run(ctx, v, d)
			if err != nil {
				return comparison{}, err
			}
			if r.requests > 0 {
				r.cpuUS = float64((cpuTime(pid) - cpu0).Microseconds()) / float64(r.requests)
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
		rps:   medianOf(rs, func(r blockResult) float64 { return r.rps }),
		p50:   medianOf(rs, func(r blockResult) float64 { return r.p50 }),
		p99:   medianOf(rs, func(r blockResult) float64 { return r.p99 }),
		cpuUS: medianOf(rs, func(r blockResult) float64 { return r.cpuUS }),
	}
	for _, r := range rs {
		out.errors += r.errors
	}
	return out
}

// cpuTime is a process's user and system CPU time so far, from
// /proc/<pid>/stat (0 where there is none).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on Linux
// everywhere kpbench runs.
const clockTicks = 100

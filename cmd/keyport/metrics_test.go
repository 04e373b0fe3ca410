package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServeMetrics: with a separate listener the metrics are there (and
// only there) behind the token; with a token alone they are on the public
// listener behind it; with neither they are nowhere.
func TestServeMetrics(t *testing.T) {
	const token = "metrics-token-for-tests-0123456789"
	t.Run("separate listener", func(t *testing.T) {
		lines := startDevLines(t, map[string]string{"KEYPORT_METRICS_ADDR": "127.0.0.1:0", "KEYPORT_METRICS_TOKEN": token})
		base, metrics := lines[runningAt], lines["keyport metrics at "]
		if metrics == "" {
			t.Fatal("no metrics address printed")
		}
		scrape(t, base+"/healthz", "")
		if code, _ := scrape(t, metrics, ""); code != http.StatusUnauthorized {
			t.Errorf("metrics listener without the token = %d", code)
		}
		code, body := scrape(t, metrics, token)
		if code != 200 || !strings.Contains(body, `keyport_http_requests_total{method="GET",route="/healthz",status="200"} 1`) ||
			!strings.Contains(body, "keyport_cache_entries 0") {
			t.Errorf("metrics listener = %d:\n%.2000s", code, body)
		}
		if code, _ := scrape(t, base+"/metrics", token); code != http.StatusNotFound {
			t.Errorf("public /metrics with a separate listener = %d, want 404", code)
		}
	})
	t.Run("token on the public listener", func(t *testing.T) {
		base := startDev(t, map[string]string{"KEYPORT_METRICS_TOKEN": token})
		if code, _ := scrape(t, base+"/metrics", ""); code != http.StatusUnauthorized {
			t.Errorf("public /metrics without the token = %d", code)
		}
		if code, body := scrape(t, base+"/metrics", token); code != 200 || !strings.Contains(body, "keyport_http_requests_total") {
			t.Errorf("public /metrics with the token = %d", code)
		}
	})
	t.Run("off", func(t *testing.T) {
		base := startDev(t, nil)
		if code, _ := scrape(t, base+"/metrics", token); code != http.StatusNotFound {
			t.Errorf("/metrics with metrics off = %d, want 404", code)
		}
	})
}

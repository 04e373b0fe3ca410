package models

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestGormLoggerNeverLogsParameters(t *testing.T) {
	var buf bytes.Buffer
	l := newGormLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	const secret = "c2VhbGVkLWJsb2I="
	if sql, params := l.(*gormLogger).ParamsFilter(context.Background(), "INSERT INTO t VALUES (?)", secret); sql != "INSERT INTO t VALUES (?)" || params != nil {
		t.Errorf("ParamsFilter = %q, %v; want the SQL unchanged and no parameters", sql, params)
	}
	fc := func() (string, int64) { return "INSERT INTO t VALUES (?)", 1 }
	l.Trace(context.Background(), time.Now(), fc, errors.New("UNIQUE constraint failed"))
	if buf.Len() != 0 {
		t.Errorf("a fast failing query was logged: %s", buf.String())
	}
	l.Trace(context.Background(), time.Now().Add(-time.Second), fc, nil)
	l.Warn(context.Background(), "note %s", secret)
	out := buf.String()
	if !strings.Contains(out, "slow query") || strings.Contains(out, secret) {
		t.Errorf("log = %q, want a slow query line and no parameter values", out)
	}
}

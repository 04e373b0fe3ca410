package models

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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

// TestSealedFieldsStayOutOfLogs: a type holding a sealed blob prints and
// logs (text and JSON) without it.
func TestSealedFieldsStayOutOfLogs(t *testing.T) {
	const canary = "SEALED-CANARY"
	blob := []byte(canary)
	for _, v := range []any{
		Connection{ID: "con_x", Kind: "access_key", SecretSealed: blob},
		KeyMaterial{ID: "mat_x", Sealed: blob},
		ImportRequest{ID: "imp_x", PrivateSealed: blob, TokenHash: blob},
		OutboxMessage{ID: "out_x", BodySealed: blob},
		NewMail{ID: "out_y", BodySealed: blob},
	} {
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "v", v)
		slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "v", v)
		for _, out := range []string{fmt.Sprint(v), fmt.Sprintf("%+v", v), logs.String()} {
			if strings.Contains(out, canary) || strings.Contains(out, base64.StdEncoding.EncodeToString(blob)) || strings.Contains(out, fmt.Sprint(blob)) {
				t.Errorf("%T leaks its sealed field: %s", v, out)
			}
		}
	}
}

package managed

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"keyport/models"
)

// TestSecretsStayOutOfLogs: the import token and an export's body never
// reach a log line or a formatted value.
func TestSecretsStayOutOfLogs(t *testing.T) {
	const token, body = "kpi_the-one-time-token", "eyJhbGciOiJQQkVTMi1IUzUxMitBMjU2S1cifQ.secret-body"
	for name, v := range map[string]any{
		"import request": NewImportRequest{Request: &models.ImportRequest{ID: "imp_1"}, Token: token},
		"export file":    ExportFile{Name: "keyport-1-v1.jwe", Body: []byte(body)},
	} {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "value", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "value", v)
		buf.WriteString(fmt.Sprintf("%v %+v %s", v, v, v))
		if out := buf.String(); strings.Contains(out, token) || strings.Contains(out, "secret-body") {
			t.Errorf("%s: a secret reached the output: %s", name, out)
		}
	}
}

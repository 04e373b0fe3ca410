package handlers

import (
	"bytes"
	"encoding/csv"
	"regexp"
	"strings"
	"testing"
	"time"

	"keyport/views"
)

func TestCSVNeutralisesFormulas(t *testing.T) {
	evil := []string{"=HYPERLINK(\"http://evil.test\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"}
	r := &views.InventoryReport{Meta: views.ReportMeta{Report: "key_inventory", Scope: "=cmd|' /C calc'!A0"}}
	for _, e := range evil {
		r.Keys = append(r.Keys, views.InventoryKey{ID: "key_1", Name: e, Store: e, Aliases: []string{e}})
	}
	body, err := views.InventoryCSV(r)
	if err != nil {
		t.Fatal(err)
	}
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = -1
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	cells := 0
	for _, rec := range recs {
		for _, cell := range rec {
			cells++
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts with a formula character", cell)
			}
		}
	}
	if !strings.Contains(string(body), "'=HYPERLINK") || !strings.Contains(string(body), "'-2+3") || cells < 30 {
		t.Errorf("the formulas were not kept as text:\n%s", body)
	}
	if views.CSVCell("plain") != "plain" || views.CSVCell("") != "" || views.CSVCell("a=b") != "a=b" {
		t.Error("harmless cells were changed")
	}
}

func TestReportFileNamesAreSafe(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 30, 5, 0, time.UTC)
	safe := regexp.MustCompile(`^keyport-[a-z0-9-]+-[a-z0-9-]+-20261122T143005Z\.(csv|json)$`)
	for _, scope := range []string{"Acme Corp", `evil"; filename=x.exe`, "../../etc/passwd", "Ünïcödé ☃", "", "\r\nSet-Cookie: x=y", strings.Repeat("a", 500)} {
		name := reportFileName(scope, "key_inventory", at, "csv")
		if !safe.MatchString(name) || len(name) > 120 {
			t.Errorf("reportFileName(%q) = %q", scope, name)
		}
	}
	if got := reportFileName("Acme Corp-tnt_abc", "activity", at, "json"); got != "keyport-acme-corp-tnt-abc-activity-20261122T143005Z.json" {
		t.Errorf("name = %q", got)
	}
}

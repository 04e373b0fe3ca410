package managed

import (
	"strings"
	"testing"

	"keyport/models"
)

// TestUndoStack: an undo walks back through renewals only; creation and
// an in-place rotation start the history again, so an undo can never bring
// back a KMS key that a later operation left behind.
func TestUndoStack(t *testing.T) {
	op := func(kind, mat string) models.KeyOperation { return models.KeyOperation{Kind: kind, MaterialID: mat} }
	for _, tc := range []struct {
		name string
		ops  []models.KeyOperation
		want string
	}{
		{"created", []models.KeyOperation{op("create", "m1")}, "m1"},
		{"renewed", []models.KeyOperation{op("create", "m1"), op("renew", "m2")}, "m1 m2"},
		{"renewed twice, undone twice", []models.KeyOperation{op("create", "m1"), op("renew", "m2"), op("renew", "m3"), op("undo", "m2"), op("undo", "m1")}, "m1"},
		{"issue 14: renew, undo, rotate in place", []models.KeyOperation{op("create", "m1"), op("renew", "m2"), op("undo", "m1"), op("rotate", "m3")}, "m3"},
		{"renew then rotate in place", []models.KeyOperation{op("create", "m1"), op("renew", "m2"), op("rotate", "m3")}, "m3"},
		{"rotate then renew", []models.KeyOperation{op("create", "m1"), op("rotate", "m2"), op("renew", "m3")}, "m2 m3"},
		{"an undo history cannot follow", []models.KeyOperation{op("undo", "m9")}, "m9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(UndoStack(tc.ops), " "); got != tc.want {
				t.Errorf("UndoStack = %q, want %q", got, tc.want)
			}
		})
	}
}

package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestSealerKeyring: with a previous KEK the sealer opens blobs of either
// key, seals only under the current one, and Reseal moves a blob across.
func TestSealerKeyring(t *testing.T) {
	oldKEK, newKEK := testKEK(), bytes.Repeat([]byte{0x42}, 32)
	old := newTestSealer(t, oldKEK)
	oldBlob := mustSeal(t, old, "iam-secret/conn_1", []byte("old secret"))

	s := newTestSealer(t, newKEK)
	if _, err := s.Open("iam-secret/conn_1", oldBlob); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("without the previous KEK: err = %v, want ErrWrongKEK", err)
	}
	if err := s.AddPrevious(oldKEK); err != nil {
		t.Fatal(err)
	}
	if ids := s.PreviousKeyIDs(); len(ids) != 1 || ids[0] != old.KeyID() {
		t.Errorf("PreviousKeyIDs = %v, want [%s]", ids, old.KeyID())
	}
	if got, err := s.Open("iam-secret/conn_1", oldBlob); err != nil || string(got) != "old secret" {
		t.Fatalf("Open(old blob) = %q, %v", got, err)
	}
	if _, err := s.Open("iam-secret/conn_2", oldBlob); !errors.Is(err, ErrSealedCorrupt) {
		t.Errorf("old blob under another purpose: err = %v", err)
	}
	fresh := mustSeal(t, s, "p", []byte("new"))
	if !s.IsCurrent(fresh) || s.IsCurrent(oldBlob) {
		t.Errorf("IsCurrent(new) = %v, IsCurrent(old) = %v", s.IsCurrent(fresh), s.IsCurrent(oldBlob))
	}
	if !bytes.Equal(fresh[1:1+kekIDSize], s.kid[:]) {
		t.Error("a new blob does not name the current KEK")
	}
	moved, err := s.Reseal("iam-secret/conn_1", oldBlob)
	if err != nil || !s.IsCurrent(moved) {
		t.Fatalf("Reseal = %x, %v", moved, err)
	}
	// The current KEK alone now opens it: the previous one can go.
	alone := newTestSealer(t, newKEK)
	if got, err := alone.Open("iam-secret/conn_1", moved); err != nil || string(got) != "old secret" {
		t.Errorf("Open(resealed) with the new KEK alone = %q, %v", got, err)
	}
	if _, err := s.Reseal("other-purpose", oldBlob); !errors.Is(err, ErrSealedCorrupt) {
		t.Errorf("Reseal under the wrong purpose: err = %v", err)
	}
}

// TestSealerKeyringFrozenVector: a sealer whose previous KEK is the test
// vector's still opens the frozen blob, so the format is unchanged.
func TestSealerKeyringFrozenVector(t *testing.T) {
	frozen, _ := hex.DecodeString("01e6e1ba831b45456fa0a1a2a3a4a5a6a7a8a9aaab8d7d055d2ab9769f1600f4a7270ca5bd04c32bc2037e9e236a928dd8bbd3a6bb53b6f6")
	s := newTestSealer(t, bytes.Repeat([]byte{7}, 32))
	if err := s.AddPrevious(testKEK()); err != nil {
		t.Fatal(err)
	}
	pt, err := s.Open("test-vector", frozen)
	if err != nil || string(pt) != "keyport test vector" {
		t.Errorf("Open(frozen vector) via the previous KEK = %q, %v", pt, err)
	}
}

func TestSealerAddPreviousRefuses(t *testing.T) {
	s := newTestSealer(t, testKEK())
	if err := s.AddPrevious(testKEK()); err == nil {
		t.Error("AddPrevious(the current KEK) succeeded")
	}
	if err := s.AddPrevious(make([]byte, 16)); err == nil {
		t.Error("AddPrevious(16 bytes) succeeded")
	}
	prev := bytes.Repeat([]byte{9}, 32)
	if err := s.AddPrevious(prev); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPrevious(prev); err != nil || len(s.PreviousKeyIDs()) != 1 {
		t.Errorf("adding the same previous KEK twice: %v, %d keys", err, len(s.PreviousKeyIDs()))
	}
	inner := s.previous[0].key
	s.Close()
	if !bytes.Equal(inner, make([]byte, 32)) {
		t.Error("Close did not zero the previous KEK")
	}
	if err := s.AddPrevious(bytes.Repeat([]byte{8}, 32)); !errors.Is(err, ErrSealerClosed) {
		t.Errorf("AddPrevious after Close: %v", err)
	}
}

package kmslocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// persistedVersion guards against reading a file written by an
// incompatible kmslocal.
const persistedVersion = 1

type persisted struct {
	Version int    `json:"version"`
	Warning string `json:"warning"`
	State   *state `json:"state"`
}

func (s *Server) load() error {
	b, err := os.ReadFile(s.cfg.DataFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kmslocal: read data file: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("kmslocal: parse data file %s: %w", s.cfg.DataFile, err)
	}
	if p.Version != persistedVersion || p.State == nil {
		return fmt.Errorf("kmslocal: data file %s has version %d, want %d", s.cfg.DataFile, p.Version, persistedVersion)
	}
	fresh := newState()
	if p.State.Keys != nil {
		fresh.Keys = p.State.Keys
	}
	if p.State.Aliases != nil {
		fresh.Aliases = p.State.Aliases
	}
	if p.State.Sessions != nil {
		fresh.Sessions = p.State.Sessions
	}
	if p.State.Deleted != nil {
		fresh.Deleted = p.State.Deleted
	}
	s.st = fresh
	return nil
}

// saveLocked writes the whole state to a temp file in the same directory
// and renames it over DataFile, so a crash never leaves a half-written
// file. Called with s.mu held.
func (s *Server) saveLocked() error {
	s.dirty = false
	if s.cfg.DataFile == "" {
		return nil
	}
	return s.writeStateLocked(s.cfg.DataFile)
}

// SaveTo writes the server's keys, aliases and sessions to path in the
// -data file format of cmd/kmslocal, so another kmslocal (a second process,
// say) can start from them. Key material is in the clear in that file.
func (s *Server) SaveTo(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeStateLocked(path)
}

// writeStateLocked writes the state to path through a temp file and a
// rename. Called with s.mu held.
func (s *Server) writeStateLocked(path string) error {
	b, err := json.MarshalIndent(persisted{
		Version: persistedVersion,
		Warning: "kmslocal development state: key material below is NOT protected; never use for production data",
		State:   s.st,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".kmslocal-*.tmp")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after a successful rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename state: %w", err)
	}
	return nil
}

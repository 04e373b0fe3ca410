package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LoadOrCreateKEKFile reads a 32-byte KEK file. create=true (development)
// creates it with mode 0600 (and its directory 0700) if missing.
// It refuses a file that is not exactly 32 bytes or is readable by group/others
// (mode & 0o077 != 0), with a clear error naming the path and the problem.
func LoadOrCreateKEKFile(path string, create bool) ([]byte, error) {
	if path == "" {
		return nil, errors.New("seal: kek file path is empty")
	}
	key, err := loadKEKFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return key, err
	}
	if err := createKEKFile(path); err != nil {
		return nil, err
	}
	// Read back what is on disk: if another process created the file at the
	// same moment, its key is the one both must use.
	return loadKEKFile(path)
}

// loadKEKFile reads and checks an existing KEK file. Mode and size come from
// the opened file, not the path, so the checks cover what is actually read.
func loadKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("seal: kek file %s does not exist: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open kek file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat kek file: %w", err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("seal: kek file %s is not a regular file", path)
	// Windows has no Unix permission bits; os reports 0666 for every file.
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("seal: kek file %s has mode %04o, which lets group or others read it; run chmod 600 %s",
			path, fi.Mode().Perm(), path)
	case fi.Size() != KEKSize:
		return nil, fmt.Errorf("seal: kek file %s is %d bytes, want exactly %d random bytes", path, fi.Size(), KEKSize)
	}
	key := make([]byte, KEKSize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("read kek file: %w", err)
	}
	if n, _ := f.Read(make([]byte, 1)); n != 0 { // grew since Stat
		clear(key)
		return nil, fmt.Errorf("seal: kek file %s is longer than %d bytes", path, KEKSize)
	}
	if bytes.Equal(key, make([]byte, KEKSize)) {
		return nil, fmt.Errorf("seal: kek file %s is all zero bytes, a placeholder, not a key", path)
	}
	return key, nil
}

// createKEKFile writes a fresh random KEK to path unless a file is already
// there. It writes a temporary file and hard-links it into place, so path
// either does not exist or holds a complete key: a crash cannot leave a
// truncated KEK behind, and an existing key is never overwritten.
func createKEKFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create kek directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".kek-*.tmp") // CreateTemp uses mode 0600
	if err != nil {
		return fmt.Errorf("create kek file: %w", err)
	}
	defer os.Remove(tmp.Name())
	key := make([]byte, KEKSize)
	defer clear(key)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write kek file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create kek file: %w", err)
	}
	return nil
}

package seal

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeKEKFile writes content with mode into a temporary directory.
func writeKEKFile(tb testing.TB, content []byte, mode os.FileMode) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kek")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // independent of umask
		tb.Fatal(err)
	}
	return path
}

func TestLoadOrCreateKEKFileCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys")
	path := filepath.Join(dir, "kek")
	key, err := LoadOrCreateKEKFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 32 || bytes.Equal(key, make([]byte, 32)) {
		t.Fatalf("created key = %x", key)
	}
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{path, 0o600},
		{dir, 0o700},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("%s mode = %04o, want %04o", tc.path, fi.Mode().Perm(), tc.want)
		}
	}
	again, err := LoadOrCreateKEKFile(path, true)
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("second call = %x, %v; want the same key", again, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the kek (temporary file left behind?)", len(entries))
	}
}

func TestLoadOrCreateKEKFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	_, err := LoadOrCreateKEKFile(path, false)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want fs.ErrNotExist naming %s", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("create=false created the file")
	}
}

func TestLoadKEKFileRefuses(t *testing.T) {
	good := bytes.Repeat([]byte{0x42}, 32)
	for _, tc := range []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string
	}{
		{"empty", nil, 0o600, "0 bytes"},
		{"short", good[:31], 0o600, "31 bytes"},
		{"long", append(bytes.Clone(good), 0), 0o600, "33 bytes"},
		{"hex text", []byte(strings.Repeat("ab", 32)), 0o600, "64 bytes"},
		{"world readable", good, 0o644, "mode 0644"},
		{"group readable", good, 0o640, "mode 0640"},
		{"others writable", good, 0o602, "mode 0602"},
		{"all zero", make([]byte, 32), 0o600, "all zero"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeKEKFile(t, tc.content, tc.mode)
			for _, create := range []bool{false, true} {
				key, err := LoadOrCreateKEKFile(path, create)
				if err == nil {
					t.Fatalf("create=%v: loaded %d bytes, want refusal", create, len(key))
				}
				if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) {
					t.Errorf("create=%v: error %q should name %s and say %q", create, msg, path, tc.want)
				}
				if strings.Contains(err.Error(), string(tc.content)) && len(tc.content) > 0 {
					t.Errorf("error leaks the file content")
				}
			}
		})
	}
	t.Run("owner read-only", func(t *testing.T) {
		path := writeKEKFile(t, good, 0o400)
		if key, err := LoadOrCreateKEKFile(path, false); err != nil || !bytes.Equal(key, good) {
			t.Errorf("0400 file = %x, %v; want it accepted", key, err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := LoadOrCreateKEKFile(t.TempDir(), false); err == nil {
			t.Error("a directory was accepted as a kek file")
		}
	})
}

package durable_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/loamdb/loam/internal/durable"
)

// TestWriteReadFiles: WriteFile makes the directory, replaces a file whole
// (0600, no temporary file left), and ReadFiles reads back the files of a
// suffix only, by name; a missing directory holds none.
func TestWriteReadFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spaces")
	for _, f := range []struct{ name, data string }{{"a.keys", "old"}, {"a.keys", "new"}, {"b.keys", "b"}, {"c.other", "c"}} {
		if err := durable.WriteFile(filepath.Join(dir, f.name), []byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "a.keys")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("a.keys: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.keys.tmp")); !os.IsNotExist(err) {
		t.Fatalf("the temporary file is left: %v", err)
	}
	var got []string
	err := durable.ReadFiles(dir, ".keys", func(name, path string, b []byte) error {
		got = append(got, name+"="+string(b))
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"a=new", "b=b"}) {
		t.Fatalf("ReadFiles: %v, %v", got, err)
	}
	if err := durable.ReadFiles(filepath.Join(dir, "none"), ".keys", func(string, string, []byte) error {
		t.Error("a file in a missing directory")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCacheSize: the block cache is an eighth of the tables' bytes, from
// minCache to maxCache; other files do not count (sparse files: no disk).
func TestCacheSize(t *testing.T) {
	dir := t.TempDir()
	if got := cacheSize(vfs.Default, filepath.Join(dir, "none")); got != minCache {
		t.Fatalf("new store: cache %d, want %d", got, minCache)
	}
	grow := func(name string, size int64) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		size int64
		want int64
	}{
		{"000001.log", 4 << 30, minCache},         // a log is not a table
		{"000002.sst", 100 << 20, minCache},       // 100 MiB of tables
		{"000003.sst", 1 << 30, (1124 << 20) / 8}, // 1,124 MiB
		{"000004.sst", 2 << 30, maxCache},         // 3.1 GiB
	} {
		grow(c.name, c.size)
		if got := cacheSize(vfs.Default, dir); got != c.want {
			t.Fatalf("after %s: cache %d, want %d", c.name, got, c.want)
		}
	}
}

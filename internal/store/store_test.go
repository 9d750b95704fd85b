package store_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

func TestConformanceDisk(t *testing.T) {
	storetest.Run(t, func(t testing.TB, dir string) storetest.Store {
		s, err := store.Open(dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformanceMemFS(t *testing.T) {
	fs := vfs.NewMem()
	storetest.Run(t, func(t testing.TB, dir string) storetest.Store {
		s, err := store.Open(dir, store.Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

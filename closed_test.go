package loam_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loamdb/loam"
)

// TestClosedNodeSaysClosed: once a Node is closed, every call fails with
// ErrClosed, embedded and through a daemon alike (the same error kinds).
func TestClosedNodeSaysClosed(t *testing.T) {
	ctx := context.Background()
	eachVia(t, func(t *testing.T, n *loam.Node) {
		sp, err := n.CreateSpace(ctx, "garden", loam.Public)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		calls := map[string]func() error{
			"Spaces": func() error { _, err := n.Spaces(ctx); return err },
			"Space":  func() error { _, err := n.Space(ctx, "garden"); return err },
			"Get":    func() error { _, err := sp.Get(ctx, []byte("k")); return err },
			"Put":    func() error { return sp.Put(ctx, []byte("k"), []byte("w")) },
			"Range": func() error {
				for _, err := range sp.Range(ctx) {
					if err != nil {
						return err
					}
				}
				return nil
			},
			"State":   func() error { _, err := sp.State(ctx); return err },
			"Members": func() error { _, err := sp.Members(ctx); return err },
			"Blobs":   func() error { _, err := n.Blobs(ctx); return err },
			"Watch":   func() error { _, err := sp.Watch(ctx); return err },
		}
		for call, f := range calls {
			if err := f(); !errors.Is(err, loam.ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", call, err)
			}
		}
	})
}

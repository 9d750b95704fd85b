package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/testkit"
)

// TestEndDelivers: End returns once the peer read and stored every frame
// sent before: right after it, the peer holds all this side holds, though
// this side counted the commits as the peer's (InSync) when it wrote
// them. Both sessions end without an error.
func TestEndDelivers(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	sp, err := space.Open(c.ctx, a.Store, a.id, a.dev, commit.NewClock())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 150 { // about 9 MB: frames of 1 MiB
		if _, err := sp.Commit(c.ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "k/%03d", i), bytes.Repeat([]byte{byte(i)}, 60<<10))}); err != nil {
			t.Fatal(err)
		}
	}
	ca, cb := testkit.FramePipe(1024)
	gate := make(chan struct{}) // b stores nothing until a sent all: frames wait unread
	sa := NewSession(Config{Self: a.dev.Author(), Peer: b.dev.Author()}, a, ca)
	sb := NewSession(Config{Self: b.dev.Author(), Peer: a.dev.Author()}, gatedLocal{b, gate}, cb)
	errs := make(chan error, 2)
	for _, s := range []*Session{sa, sb} {
		go func() { errs <- s.Run(c.ctx) }()
	}
	c.waitFor(20*time.Second, "a to have sent all", func() bool {
		heads, err := a.Store.SyncHeads(c.ctx, a.id)
		return err == nil && sa.InSync(a.id, heads)
	})
	close(gate)
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	if err := sa.End(ctx); err != nil {
		t.Fatalf("End: %v", err)
	}
	if !c.converged() {
		t.Fatal("b lacks commits a sent before End returned")
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("a session ended with %v", err)
		}
	}
}

// gatedLocal is a tnode whose Apply waits until gate is closed.
type gatedLocal struct {
	*tnode
	gate chan struct{}
}

func (g gatedLocal) Apply(ctx context.Context, sp keys.SpaceID, cs []*commit.Commit) (store.Result, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return store.Result{}, ctx.Err()
	}
	return g.tnode.Apply(ctx, sp, cs)
}

// TestEndBounded: a peer that does not answer the goodbye cannot hold End
// past its context: neither one that stopped reading (the Bye cannot be
// written) nor one that reads but never ends its side (it got the Bye).
// Run returns soon after.
func TestEndBounded(t *testing.T) {
	for _, reads := range []bool{false, true} {
		t.Run(fmt.Sprintf("reads=%v", reads), func(t *testing.T) {
			c := newCluster(t, 1)
			a := c.nodes[0]
			ours, theirs := testkit.FramePipe(1)
			s := NewSession(Config{Self: a.dev.Author()}, a, ours)
			bye := make(chan string, 1)
			if reads {
				go func() {
					for {
						f, err := theirs.ReadFrame()
						if err != nil {
							return
						}
						if m, err := DecodeMsg(f); err == nil && m.Type == msgBye {
							bye <- m.Reason
						}
					}
				}()
			}
			ran := make(chan error, 1)
			go func() { ran <- s.Run(c.ctx) }()
			ctx, cancel := context.WithTimeout(c.ctx, 200*time.Millisecond)
			defer cancel()
			if err := s.End(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("End with a peer that does not answer: %v", err)
			}
			select {
			case <-ran:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after End's bound")
			}
			if reads {
				select {
				case r := <-bye:
					if r != ByeClosing {
						t.Errorf("Bye reason %q", r)
					}
				case <-time.After(10 * time.Second):
					t.Error("the peer got no Bye")
				}
			}
		})
	}
}

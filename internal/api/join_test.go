package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/p2p"
)

// TestJoinGivenUpLeavesNothing: a join through the daemon that gives up
// at its deadline (the inviter gone; the daemon has a DHT, so it waits)
// answers once the daemon has removed the space: the space list read
// just after does not show it. Before the client sent its deadline, it
// gave up alone while the daemon was still removing the space, and
// TestMistypedTicket (cmd/loam) saw the space listed in CI.
func TestJoinGivenUpLeavesNothing(t *testing.T) {
	ctx := ctxT(t)
	a := serve(t, true)
	a.mustSpace(ctx, t, "garden")
	ticket, err := a.c.Invite(ctx, "garden", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a.n.Close() // the inviter is away

	k, err := keys.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	n, err := node.Open(context.Background(), node.Options{Home: home, NoSync: true,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, DHT: p2p.DHTPrivate,
		Bootstrap: []string{"/ip4/127.0.0.1/tcp/1/p2p/" + p2p.PeerIDString(k.Author())}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadOrCreateToken(home)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewServer(n, tok))
	t.Cleanup(func() { srv.Close(); n.Close() })
	c := &Client{BaseURL: srv.URL, Token: tok, HTTP: srv.Client()}

	for i := range 3 {
		jctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := c.Join(jctx, ticket)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("join %d with the inviter gone: %v; want a deadline exceeded", i, err)
		}
		spaces, err := c.Spaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(spaces) != 0 {
			t.Fatalf("join %d: spaces after it gave up: %+v", i, spaces)
		}
	}
}

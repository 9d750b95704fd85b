package loam_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/testkit"
)

// TestLinkThroughDaemons: Ana's laptop and home server, each a daemon,
// used through the library: the laptop makes a link ticket, the server
// adds itself with it; a private space Ana makes on the laptop comes to
// the server, which writes there as Ana, and the space's members show one
// person with two devices. The ticket works once.
func TestLinkThroughDaemons(t *testing.T) {
	ctx := ctxT(t)
	laptop := connect(t, startDaemon(t).home)
	server := connect(t, startDaemon(t).home)
	other := connect(t, startDaemon(t).home)
	ana, _, err := laptop.CreateIdentity(ctx, "Ana", loam.IdentityOptions{Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	diary := must(laptop.CreateSpace(ctx, "diary", loam.Private))(t)
	if err := diary.Put(ctx, []byte("day/1"), []byte("sunny")); err != nil {
		t.Fatal(err)
	}
	lt := must(laptop.LinkDevice(ctx, loam.LinkOptions{}))(t)
	if time.Until(lt.Expires) < 9*time.Minute || time.Until(lt.Expires) > 10*time.Minute {
		t.Fatalf("the ticket expires at %v", lt.Expires)
	}
	linked := make(chan loam.DeviceCert, 1)
	go func() {
		c, err := laptop.WaitLinked(ctx, lt.Ticket)
		if err != nil {
			t.Error(err)
		}
		linked <- c
	}()
	sid := must(server.AddDevice(ctx, lt.Ticket, "server"))(t)
	if sid.ID != ana.ID || sid.Name != "Ana" || sid.HoldsKey || sid.Device.Name != "server" || sid.Device.Author != server.Author() {
		t.Fatalf("the server's identity: %+v", sid)
	}
	if c := <-linked; c.Author != server.Author() || c.Name != "server" {
		t.Fatalf("WaitLinked: %+v", c)
	}
	var ssp *loam.Space
	if !testkit.Poll(60*time.Second, 20*time.Millisecond, func() bool {
		ssp, err = server.Space(ctx, diary.ID())
		return err == nil && ssp.Put(ctx, []byte("day/2"), []byte("rain")) == nil
	}) {
		t.Fatalf("the server does not hold or write in Ana's diary: %v", err)
	}
	if !testkit.Poll(30*time.Second, 20*time.Millisecond, func() bool {
		ms, err := diary.Members(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.Identity == ana.ID && len(m.Devices) == 2 {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the diary's members do not show Ana with two devices")
	}
	var kv loam.KV
	if !testkit.Poll(30*time.Second, 20*time.Millisecond, func() bool {
		kv, err = diary.Lookup(ctx, []byte("day/2"))
		return err == nil
	}) {
		t.Fatalf("the server's write does not reach the laptop: %v", err)
	}
	if kv.Author != server.Author() {
		t.Fatalf("day/2 by %s", kv.Author)
	}
	if _, err := other.AddDevice(ctx, lt.Ticket, "intruder"); !errors.Is(err, loam.ErrLinkVoid) {
		t.Fatalf("a used link ticket: %v, want ErrLinkVoid", err)
	}
	if _, err := server.LinkDevice(ctx, loam.LinkOptions{}); !errors.Is(err, loam.ErrNoIdentityKey) {
		t.Fatalf("linking from the server, which holds no key: %v, want ErrNoIdentityKey", err)
	}
}

// TestRecoverErrors: a wrong phrase is refused with ErrBadPhrase and
// leaves no identity, embedded and through a daemon; a home with an
// identity refuses another.
func TestRecoverErrors(t *testing.T) {
	ctx := ctxT(t)
	eachVia(t, func(t *testing.T, n *loam.Node) {
		for _, bad := range []string{"", "one two three", "zoo " + phraseOf(23, "abandon")} {
			if _, err := n.RecoverIdentity(ctx, bad, loam.RecoverOptions{}); !errors.Is(err, loam.ErrBadPhrase) {
				t.Fatalf("phrase %q: %v, want ErrBadPhrase", bad, err)
			}
		}
		if _, err := n.Identity(ctx); !errors.Is(err, loam.ErrNoIdentity) {
			t.Fatalf("a bad phrase left an identity: %v", err)
		}
		_, phrase, err := n.CreateIdentity(ctx, "Ana", loam.IdentityOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.RecoverIdentity(context.Background(), phrase, loam.RecoverOptions{}); !errors.Is(err, loam.ErrIdentityExists) {
			t.Fatalf("recover over an identity: %v, want ErrIdentityExists", err)
		}
	})
}

func phraseOf(n int, w string) string {
	s := w
	for range n - 1 {
		s += " " + w
	}
	return s
}

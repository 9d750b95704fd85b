package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/store"
)

// commitOps writes ops to space id on n.
func commitOps(t *testing.T, n *Node, id keys.SpaceID, ops ...commit.Op) (*commit.Commit, error) {
	t.Helper()
	sp, err := n.openSpace(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return sp.Commit(context.Background(), ops)
}

// TestAppRulesEnforcedByEveryReplica (#15): an admin declares the chat's
// rules; a message written before a stricter version stays readable; a
// member's node refuses to write a message under another author's name;
// a member that makes one anyway and sends it to every node has it held
// void by every replica, never shown, and is counted as misbehaving by
// each.
func TestAppRulesEnforcedByEveryReplica(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, _ := line(t, 3)
	admin, ada, bob := nodes[0], nodes[1], nodes[2]
	h, forger := rogue(t, 151)
	msgKey := func(au keys.AuthorID, ms string) string { return "chat/msg/general/" + ms + "-" + au.String() }
	loose := `{"rules":[{"key":"chat/msg/{channel}/{ms}-{author}","write":"named"}]}`
	strict := `{"prefix":"chat/","rules":[{"key":"chat/msg/{channel}/{ms}-{author}","write":"named","value":{"type":"object","required":["text"]}},{"key":"chat/topic/{channel}","write":"anyone"}]}`

	if _, err := commitOps(t, admin, id,
		commit.GrantOp(commit.Grant{Subject: forger.Author(), Role: commit.RoleWrite}),
		commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(loose)})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the rules to reach Ada", func() bool { return converged(nodes, id) })
	old := msgKey(ada.Author(), "1795275122119")
	put(t, ada, id, old, "plain text, before the stricter rules")
	waitFor(t, 15*time.Second, "Ada's message everywhere", func() bool { return holdKeys(nodes, id, old) })
	if _, err := commitOps(t, admin, id, commit.SchemaOp(commit.Schema{App: "chat", Version: 2, Body: []byte(strict)})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the stricter rules everywhere", func() bool { return converged(nodes, id) })

	// Bob's own node refuses to sign a message under Ada's name.
	forgedKey := msgKey(ada.Author(), "1795275122120")
	_, err := commitOps(t, bob, id, commit.Put([]byte(forgedKey), []byte(`{"text":"I am Ada"}`)))
	if !errors.Is(err, acl.ErrSchema) || !strings.Contains(err.Error(), "names author "+ada.Author().String()) {
		t.Fatalf("Bob writing under Ada's name: %v, want an acl.ErrSchema naming Ada", err)
	}

	// A member that signs one anyway, sending it to every node itself.
	forged, err := commit.Build(commit.Header{Space: id, Author: forger.Author(), Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}, Deps: sortIDs(headIDs(t, admin, id, keys.AuthorID{}))},
		[]commit.Op{commit.Put([]byte(forgedKey), []byte(`{"text":"I am Ada"}`))}, forger)
	if err != nil {
		t.Fatal(err)
	}
	disc := keys.DiscoveryID(id)
	for _, n := range nodes {
		_, conn := syncStream(t, h, n)
		conn.WriteFrame((&reconcile.Msg{Type: 1, Version: reconcile.Version, Spaces: []reconcile.SpaceProof{{Disc: disc, Proof: keys.SyncProof(id, forger.Author(), n.Author())}}}).Encode())
		conn.WriteFrame((&reconcile.Msg{Type: 3, Disc: disc, Commits: [][]byte{forged.Bytes()}}).Encode())
	}
	for i, n := range nodes {
		waitFor(t, 15*time.Second, "the forger to be counted", func() bool { return n.Counters().Misbehaving["broken_app_rule"] == 1 })
		voided, err := n.st.Voided(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if why := voided[acl.Loc{Author: forger.Author(), Seq: 1}]; !strings.Contains(why, "breaks the rules of app \"chat\"") {
			t.Fatalf("node %d: the forged message is held as %q, want void for breaking the chat's rules", i, why)
		}
		if _, err := n.st.Get(ctx, id, []byte(forgedKey)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("node %d shows the forged message (%v)", i, err)
		}
		e, err := n.st.Get(ctx, id, []byte(old))
		if err != nil || string(e.Value) != "plain text, before the stricter rules" {
			t.Fatalf("node %d: the message written before the stricter rules reads %q, %v", i, e.Value, err)
		}
	}
	// Honest writes go on.
	put(t, bob, id, "chat/topic/general", "fences")
	waitFor(t, 15*time.Second, "an honest write everywhere", func() bool { return holdKeys(nodes, id, "chat/topic/general") })
}

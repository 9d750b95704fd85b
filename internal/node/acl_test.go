package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/reconcile"
	"github.com/loamdb/loam/internal/store"
	"github.com/loamdb/loam/internal/store/storetest"
)

// sameView reports whether nodes hold the same view of id (heads may
// differ: commits that do not count need not be everywhere).
func sameView(nodes []*Node, id keys.SpaceID) bool {
	ref, err := nodes[0].st.View(context.Background(), id)
	if err != nil {
		return false
	}
	for _, n := range nodes[1:] {
		if v, err := n.st.View(context.Background(), id); err != nil || v.Hash != ref.Hash {
			return false
		}
	}
	return true
}

func has(n *Node, id keys.SpaceID, c keys.CommitID) bool {
	_, err := n.st.CommitByID(context.Background(), id, c)
	return !errors.Is(err, store.ErrNotFound)
}

func misbehaving(nodes []*Node) int {
	total := 0
	for _, n := range nodes {
		for _, v := range n.Counters().Misbehaving {
			total += int(v)
		}
	}
	return total
}

// TestUnauthorizedCommitNotForwarded: a commit crafted by a key without a
// grant (validly signed) sent to the middle of a line is rejected there,
// counted as misbehaviour, and never reaches the other nodes, while an
// honest write sent after it does.
func TestUnauthorizedCommitNotForwarded(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, _ := line(t, 3)
	put(t, nodes[0], id, "first", "1")
	waitFor(t, 15*time.Second, "the line to converge", func() bool { return converged(nodes, id) })
	mid := nodes[1]
	h, key := rogue(t, 150)
	heads, _ := mid.st.Heads(ctx, id)
	var deps []keys.CommitID
	for _, hd := range heads {
		deps = append(deps, hd.ID)
	}
	evil, err := commit.Build(commit.Header{Space: id, Author: key.Author(), Seq: 1, Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}, Deps: sortIDs(deps)},
		[]commit.Op{commit.Put([]byte("evil"), []byte("x"))}, key)
	if err != nil {
		t.Fatal(err)
	}
	_, conn := syncStream(t, h, mid)
	disc := keys.DiscoveryID(id)
	conn.WriteFrame((&reconcile.Msg{Type: 1, Version: reconcile.Version, Spaces: []reconcile.SpaceProof{{Disc: disc, Proof: keys.SyncProof(id, key.Author(), mid.Author())}}}).Encode())
	conn.WriteFrame((&reconcile.Msg{Type: 3, Disc: disc, Commits: [][]byte{evil.Bytes()}}).Encode())
	waitFor(t, 10*time.Second, "the refusal to be counted", func() bool { return mid.Counters().Misbehaving["unauthorized_commit"] == 1 })
	put(t, mid, id, "after", "2")
	waitFor(t, 15*time.Second, "the honest write to reach both ends", func() bool { return converged(nodes, id) })
	for i, n := range nodes {
		if has(n, id, evil.ID) {
			t.Fatalf("node %d holds the unauthorized commit", i)
		}
		if _, err := n.st.Get(ctx, id, []byte("evil")); err == nil {
			t.Fatalf("node %d shows the unauthorized write", i)
		}
	}
}

func sortIDs(ids []keys.CommitID) []keys.CommitID {
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if string(ids[j][:]) < string(ids[i][:]) {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}

// TestRevokedWriterIgnoredEverywhere: the admin at one end of a partitioned
// line revokes the writer at the other end while that writer goes on
// writing. The writer's commits above the cut reached a peer before the
// revocation did; once the line heals, every node ignores them (its
// commits up to the cut remain), nobody is counted as misbehaving, and a
// commit of the writer made after its node learnt of the revocation is
// never sent on.
func TestRevokedWriterIgnoredEverywhere(t *testing.T) {
	ctx := ctxT(t)
	nodes, id, homes := line(t, 4)
	admin, writer := nodes[0], nodes[3]
	put(t, writer, id, "x/before", "kept")
	waitFor(t, 15*time.Second, "the line to converge", func() bool { return converged(nodes, id) })
	heads, _ := admin.st.Heads(ctx, id)
	var cut uint64
	for _, h := range heads {
		if h.Author == writer.Author() {
			cut = h.Seq
		}
	}
	if cut == 0 {
		t.Fatal("the admin does not know the writer")
	}

	// Partition between 1 and 2, as in TestPartitionHeals.
	nodes[2].Close()
	n2 := openNode(t, homes[2])
	if _, err := n2.Connect(ctx, writer.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	all := []*Node{admin, nodes[1], n2, writer}
	put(t, writer, id, "x/after", "void")
	waitFor(t, 15*time.Second, "the write above the cut to reach node 2", func() bool {
		_, err := n2.st.Get(ctx, id, []byte("x/after"))
		return err == nil
	})
	sp, err := admin.openSpace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Commit(ctx, []commit.Op{commit.RevokeOp(commit.Revoke{Author: writer.Author(), LastSeq: cut})}); err != nil {
		t.Fatal(err)
	}

	if _, err := n2.Connect(ctx, nodes[1].Addrs()[0]); err != nil { // heal
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "every node to ignore the writer above the cut", func() bool {
		for _, n := range all {
			if _, err := n.st.Get(ctx, id, []byte("x/after")); err == nil {
				return false
			}
			if e, err := n.st.Get(ctx, id, []byte("x/before")); err != nil || string(e.Value) != "kept" {
				return false
			}
		}
		return sameView(all, id)
	})
	if m := misbehaving(all); m != 0 {
		t.Fatalf("%d misbehaviours counted; peers forwarding before they knew are honest", m)
	}
	// Whether or not they hold the voided commits, all announce the same
	// heads, and each says it is in sync with its peers.
	ref, _ := admin.st.SyncHeads(ctx, id)
	for i, n := range all[1:] {
		if hs, _ := n.st.SyncHeads(ctx, id); fmt.Sprint(hs) != fmt.Sprint(ref) {
			t.Fatalf("node %d announces %v, the admin %v", i+1, hs, ref)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, n := range all {
				p, in, _ := n.SpaceSync(ctx, id)
				hs, _ := n.st.SyncHeads(ctx, id)
				var b []string
				for _, h := range hs {
					b = append(b, fmt.Sprintf("%s:%d", h.Author.Short()[4:8], h.Seq))
				}
				t.Logf("node %d (%s): peers %d in sync %d; announces %v", i, n.Author().Short(), p, in, b)
			}
		}
	})
	waitFor(t, 10*time.Second, "every node in sync with its peers", func() bool {
		for _, n := range all {
			if peers, inSync, err := n.SpaceSync(ctx, id); err != nil || peers == 0 || inSync != peers {
				return false
			}
		}
		return true
	})

	// The writer's own node now refuses to write...
	wsp, err := writer.openSpace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wsp.Commit(ctx, []commit.Op{commit.Put([]byte("x/refused"), []byte("1"))}); err == nil {
		t.Fatal("a revoked writer's node wrote")
	}
	// ...and a commit it makes anyway is stored there as void and never sent.
	h := storetest.NextHeader(ctx, t, writer.st, id, writer.Author())
	late, err := commit.Build(h, []commit.Op{commit.Put([]byte("x/late"), []byte("1"))}, writer.dev)
	if err != nil {
		t.Fatal(err)
	}
	res, err := writer.st.Apply(ctx, id, []*commit.Commit{late})
	if err != nil || res.Outcomes[0].Status != store.Revoked {
		t.Fatalf("late commit on the writer's node: %v %v", res.Outcomes, err)
	}
	put(t, admin, id, "marker", "1") // an honest write after it, to every node
	waitFor(t, 15*time.Second, "the marker everywhere", func() bool {
		for _, n := range all {
			if _, err := n.st.Get(ctx, id, []byte("marker")); err != nil {
				return false
			}
		}
		return sameView(all, id)
	})
	// The writer's session has had every chance to send it: the marker
	// went both ways through node 2.
	if has(n2, id, late.ID) {
		t.Fatal("a void commit was sent on")
	}
}

// TestMembersRevokeAndSecret: members shows who holds which role through
// whom, an invite limited to one use admits one device, revoke works on a
// member by author ID and on an invite by its ticket, a non-admin's revoke
// is refused naming the role, and the space secret can leave the home and
// come back.
func TestMembersRevokeAndSecret(t *testing.T) {
	ctx := ctxT(t)
	a, b := openNode(t, t.TempDir()), openNode(t, t.TempDir())
	newSpace(t, a, "club")
	tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite, Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	sp := joinWith(t, b, tk)
	id := sp.ID()
	put(t, b, id, "hello", "from b")
	waitFor(t, 10*time.Second, "b's write on a", func() bool {
		_, err := a.st.Get(ctx, id, []byte("hello"))
		return err == nil
	})
	ms, err := a.Members(ctx, "club")
	if err != nil {
		t.Fatal(err)
	}
	byAuthor := map[keys.AuthorID]int{}
	for i, m := range ms {
		byAuthor[m.Author] = i
	}
	inv := tk.Invite.Author()
	if i, ok := byAuthor[a.Author()]; !ok || ms[i].Role != commit.RoleAdmin || ms[i].Grants[0].GrantedBy != keys.AuthorID(id) {
		t.Fatalf("a in members: %+v", ms)
	}
	if i, ok := byAuthor[inv]; !ok || !ms[i].Invite || len(ms[i].Joined) != 1 || ms[i].Joined[0] != b.Author() || ms[i].Grants[0].Uses != 1 {
		t.Fatalf("the invite in members: %+v", ms)
	}
	if i, ok := byAuthor[b.Author()]; !ok || ms[i].Role != commit.RoleWrite || ms[i].Grants[0].Via != inv || ms[i].Grants[0].Since.IsZero() {
		t.Fatalf("b in members: %+v", ms)
	}

	// b is not an admin: its revoke is refused before anything is signed.
	if _, err := b.Revoke(ctx, sp.Info().Name, a.Author().String()); err == nil || !strings.Contains(err.Error(), "needs admin") {
		t.Fatalf("b's revoke: %v", err)
	}
	if _, err := a.Revoke(ctx, "club", keys.AuthorID{9}.String()); !errors.Is(err, ErrNotMember) {
		t.Fatalf("revoking a stranger: %v", err)
	}
	r, err := a.Revoke(ctx, "club", tk.String())
	if err != nil || !r.Invite || r.Author != inv || r.LastSeq != 1 {
		t.Fatalf("revoke the invite: %+v %v", r, err)
	}
	r, err = a.Revoke(ctx, "club", b.Author().String())
	if err != nil || r.Invite || r.LastSeq == 0 {
		t.Fatalf("revoke b: %+v %v", r, err)
	}
	ms, _ = a.Members(ctx, "club")
	for _, m := range ms {
		if (m.Author == b.Author() || m.Author == inv) && (m.Revoked == nil || m.Revoked.By != a.Author() || m.Role != 0) {
			t.Fatalf("after revoking: %+v", m)
		}
	}
	if _, err := a.st.Get(ctx, id, []byte("hello")); err != nil {
		t.Fatalf("b's write up to the cut is gone: %v", err)
	}
	waitFor(t, 10*time.Second, "b to learn it was revoked", func() bool {
		_, err := sp.Commit(ctx, []commit.Op{commit.Put([]byte("more"), []byte("x"))})
		return err != nil && strings.Contains(err.Error(), "was revoked")
	})

	secret, err := a.ExportSecret(ctx, "club", true)
	if err != nil || !strings.HasPrefix(secret, "spcsec_") {
		t.Fatalf("export: %q %v", secret, err)
	}
	if _, err := a.ExportSecret(ctx, "club", false); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("export after removing: %v", err)
	}
	other, _ := keys.NewSpaceKey()
	if err := a.ImportSecret(ctx, "club", other.String()); err == nil {
		t.Fatal("imported another space's secret")
	}
	if err := a.ImportSecret(ctx, "club", secret); err != nil {
		t.Fatal(err)
	}
	if again, err := a.ExportSecret(ctx, "club", false); err != nil || again != secret {
		t.Fatalf("export after import: %v", err)
	}
}

// TestJoinWithAnExpiredInvite fails at once, saying why, instead of
// waiting for a grant that will never be in force.
func TestJoinWithAnExpiredInvite(t *testing.T) {
	ctx := ctxT(t)
	a, b := openNode(t, t.TempDir()), openNode(t, t.TempDir())
	newSpace(t, a, "club")
	tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite, Expires: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, tk); !errors.Is(err, ErrInviteVoid) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("join with an expired invite: %v", err)
	}
}

// TestJoinWithARevokedInvite fails at once, saying the invite was revoked.
func TestJoinWithARevokedInvite(t *testing.T) {
	ctx := ctxT(t)
	a, b := openNode(t, t.TempDir()), openNode(t, t.TempDir())
	newSpace(t, a, "club")
	tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, "club", tk.String()); err != nil {
		t.Fatal(err)
	}
	_, err = b.Join(ctx, tk)
	if !errors.Is(err, ErrInviteVoid) || !strings.Contains(err.Error(), "was revoked") {
		t.Fatalf("join with a revoked invite: %v", err)
	}
	if r, err := b.st.Role(ctx, tk.Space, b.Author()); err == nil && r != 0 {
		t.Fatalf("the joiner holds role %s through a revoked invite", r)
	}
}

// TestOneTimeInviteUsedTwice: two devices join with the same one-use
// ticket at the same time. Both may believe they joined for a moment;
// every node ends admitting the same one, and the other's node refuses
// its writes.
func TestOneTimeInviteUsedTwice(t *testing.T) {
	ctx := ctxT(t)
	a, b, c := openNode(t, t.TempDir()), openNode(t, t.TempDir()), openNode(t, t.TempDir())
	newSpace(t, a, "club")
	tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleWrite, Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   *Node
		err error
	}
	results := make(chan result, 2)
	for _, n := range []*Node{b, c} {
		go func() {
			_, err := n.Join(ctx, tk)
			results <- result{n, err}
		}()
	}
	all := []*Node{a}
	for range 2 {
		// A join may fail if its node saw the other join first (the invite
		// is used up, or its own grant does not count): a failed join
		// leaves nothing behind, so that node holds no space.
		r := <-results
		if r.err == nil {
			all = append(all, r.n)
			continue
		}
		if infos, err := r.n.Spaces(ctx); err != nil || len(infos) != 0 {
			t.Errorf("a failed join left %+v (%v)", infos, err)
		}
	}
	joined := func(n *Node) []keys.AuthorID {
		ms, err := n.Members(ctx, tk.Space.String())
		if err != nil {
			return nil
		}
		for _, m := range ms {
			if m.Author == tk.Invite.Author() {
				return m.Joined
			}
		}
		return nil
	}
	waitFor(t, 20*time.Second, "every node to admit the same one joiner", func() bool {
		ref := joined(a)
		if len(ref) != 1 {
			return false
		}
		for _, n := range all[1:] {
			if js := joined(n); len(js) != 1 || js[0] != ref[0] {
				return false
			}
		}
		return sameView(all, tk.Space)
	})
	winner, loser := b, c
	if joined(a)[0] == c.Author() {
		winner, loser = c, b
	}
	put(t, winner, tk.Space, "winner", "1")
	if !slices.Contains(all, loser) {
		return // its join failed
	}
	lsp, err := loser.openSpace(ctx, tk.Space)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lsp.Commit(ctx, []commit.Op{commit.Put([]byte("loser"), []byte("1"))}); err == nil {
		t.Fatal("the joiner who was not admitted wrote")
	}
}

// TestSeedJoins: a seed invite admits a device that holds and syncs the
// space but may not write.
func TestSeedJoins(t *testing.T) {
	ctx := ctxT(t)
	a, s := openNode(t, t.TempDir()), openNode(t, t.TempDir())
	id := newSpace(t, a, "club").ID()
	sp := joinAs(t, a, s, "club", commit.RoleSeed, 0)
	put(t, a, id, "k", "v")
	waitFor(t, 10*time.Second, "the seeder to hold a's write", func() bool { return sameView([]*Node{a, s}, id) })
	if _, err := sp.Commit(ctx, []commit.Op{commit.Put([]byte("x"), []byte("1"))}); err == nil || !strings.Contains(err.Error(), "has role seed") {
		t.Fatalf("a seeder's write: %v", err)
	}
}

// TestUnusedInviteIsAnInvite: an invite without a limit that nobody has
// used yet is listed as an invite, not as a member, with no limit.
func TestUnusedInviteIsAnInvite(t *testing.T) {
	ctx := ctxT(t)
	a := openNode(t, t.TempDir())
	newSpace(t, a, "club")
	tk, err := a.NewInvite(ctx, "club", InviteOptions{Role: commit.RoleRead})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := a.Members(ctx, "club")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Author == tk.Invite.Author() {
			if !m.Invite || len(m.Grants) != 1 || m.Grants[0].Uses != 0 {
				t.Fatalf("the unused invite: %+v", m)
			}
			return
		}
	}
	t.Fatal("the invite key is not listed")
}

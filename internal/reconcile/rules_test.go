package reconcile

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// TestVoidedRuleFollowedNotMisbehaviour (#15): admin A declares a lenient
// version 2 of the chat's rules; member M, seeing it, writes a value v2
// allows and v1 forbids; admin B had revoked A concurrently, below its v2
// commit. Every replica holds M's commit void (v1 is in force for it once
// v2 does not count), but none counts M's node as misbehaving for sending
// it: M followed the rules it could see. The replicas learn of the
// revocation before M's commit (B's own node: the incremental path), with
// it in one frame from M (deciding the space again), and after it.
// Forger F's own commit that breaks every version in its causal past
// (v1 and v2 alike) is still counted broken_app_rule.
func TestVoidedRuleFollowedNotMisbehaviour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3) // node 0's device is admin B; every node is a replica
		sp, g := c.sk.Space(), c.genesisID()
		b := c.nodes[0].dev
		a := keys.DeviceKeyFromSeed([32]byte{101})
		m := keys.DeviceKeyFromSeed([32]byte{102})
		f := keys.DeviceKeyFromSeed([32]byte{103})
		strict := `{"prefix":"chat/","rules":[{"key":"chat/msg/{id}","write":"anyone","value":{"type":"object","required":["text"]}}]}`
		lenient := `{"prefix":"chat/","rules":[{"key":"chat/msg/{id}","write":"anyone"}]}`
		now := time.Now()
		at := func(ms int) time.Time { return now.Add(time.Duration(ms) * time.Millisecond) }

		b1 := c.build(b, b.Author(), 1, keys.CommitID{}, []keys.CommitID{g}, at(1),
			commit.GrantOp(commit.Grant{Subject: a.Author(), Role: commit.RoleAdmin}),
			commit.GrantOp(commit.Grant{Subject: m.Author(), Role: commit.RoleWrite}),
			commit.GrantOp(commit.Grant{Subject: f.Author(), Role: commit.RoleWrite}),
			commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(strict)}))
		a1 := c.build(a, a.Author(), 1, keys.CommitID{}, []keys.CommitID{b1.ID}, at(2),
			commit.SchemaOp(commit.Schema{App: "chat", Version: 2, Body: []byte(lenient)}))
		revoke := c.build(b, b.Author(), 2, b1.ID, nil, at(3), commit.RevokeOp(commit.Revoke{Author: a.Author(), LastSeq: 0}))
		m1 := c.build(m, m.Author(), 1, keys.CommitID{}, []keys.CommitID{a1.ID}, at(4), commit.Put([]byte("chat/msg/1"), []byte(`"plain text, as v2 allows"`)))
		// F breaks both versions: a key under the prefix that is no layout.
		f1 := c.build(f, f.Author(), 1, keys.CommitID{}, []keys.CommitID{a1.ID, revoke.ID}, at(5), commit.Put([]byte("chat/nowhere"), []byte(`{"text":"x"}`)))

		genesis, apply := c.genesis(), c.applyKept
		apply(0, b1, a1, revoke)  // B's node knows the revocation first
		apply(1, genesis, b1, a1) // node 1 gets it from M with M's commit
		apply(2, genesis, b1, a1) // node 2 gets it after M's commit
		peers := []*rawPeer{
			newRawPeer(t, c.ctx, c.nodes[0], sp, m.Author(), Config{}),
			newRawPeer(t, c.ctx, c.nodes[1], sp, m.Author(), Config{}),
			newRawPeer(t, c.ctx, c.nodes[2], sp, m.Author(), Config{}),
		}
		peers[0].commits(m1)
		peers[1].commits(m1, revoke)
		peers[2].commits(m1)
		synctest.Wait()
		apply(2, revoke)
		synctest.Wait()
		for i, p := range peers {
			p.running(t, "M sending its own commit that follows a version voided by a revocation it had not seen")
			voided, err := c.nodes[i].Store.Voided(c.ctx, sp)
			if err != nil {
				t.Fatal(err)
			}
			if why := voided[acl.Loc{Author: m.Author(), Seq: 1}]; !strings.Contains(why, `breaks the rules of app "chat" (schema version 1)`) {
				t.Fatalf("node %d holds M's commit as %q, want void by the chat's version 1", i, why)
			}
			if _, err := c.nodes[i].Store.Get(c.ctx, sp, []byte("chat/msg/1")); err == nil {
				t.Fatalf("node %d shows M's void write", i)
			}
			if err := p.stop(); err != nil {
				t.Fatalf("node %d: M's session: %v", i, err)
			}
		}

		for i := range c.nodes {
			p := newRawPeer(t, c.ctx, c.nodes[i], sp, f.Author(), Config{})
			p.commits(f1)
			synctest.Wait()
			p.endedWith(t, ErrBrokenRule, "F sending its own commit that breaks every version in its causal past")
		}
	})
}

// TestVoidedGrantFollowedNotMisbehaviour (#15): admin A grants member M
// admin of chat/pin/, and Ana's laptop L carries the certificate of her
// phone P; admin B revoked A and L concurrently, below those commits. M,
// seeing its grant, writes a pin only an admin may write; P, seeing its
// certificate, writes its profile under Ana's name. Every replica holds
// both writes void (the grant and the certificate do not count), and none
// counts M's or P's node as misbehaving for sending them: a grant or a
// certificate in the commit's causal past, counting or not, allows it.
// The replicas learn of the revocation before the writes (B's own node:
// the incremental path), with M's (deciding the space again) and after
// them. F's own pin, with no admin grant of F in its causal past (A's
// grant to M is there), is still counted broken_app_rule.
func TestVoidedGrantFollowedNotMisbehaviour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3) // node 0's device is admin B; every node is a replica
		sp, g := c.sk.Space(), c.genesisID()
		b := c.nodes[0].dev
		a := keys.DeviceKeyFromSeed([32]byte{111})
		m := keys.DeviceKeyFromSeed([32]byte{112})
		f := keys.DeviceKeyFromSeed([32]byte{113})
		l := keys.DeviceKeyFromSeed([32]byte{114})
		p := keys.DeviceKeyFromSeed([32]byte{115})
		ana := identity.KeyFromSeed([32]byte{116})
		rules := `{"prefix":"chat/","rules":[{"key":"chat/pin/{channel}","write":"admin"},{"key":"chat/profile/{person}/{author}","write":"named"}]}`
		now := time.Now()
		at := func(ms int) time.Time { return now.Add(time.Duration(ms) * time.Millisecond) }
		cert := func(d keys.DeviceKey) commit.Op {
			ct, err := identity.NewCert(ana, d, "device", 1000)
			if err != nil {
				t.Fatal(err)
			}
			return commit.CertOp(ct.Encode())
		}
		write := func(d keys.DeviceKey) commit.Op {
			return commit.GrantOp(commit.Grant{Subject: d.Author(), Role: commit.RoleWrite})
		}

		b1 := c.build(b, b.Author(), 1, keys.CommitID{}, []keys.CommitID{g}, at(1),
			commit.GrantOp(commit.Grant{Subject: a.Author(), Role: commit.RoleAdmin}),
			write(m), write(f), write(l), write(p),
			commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(rules)}))
		a1 := c.build(a, a.Author(), 1, keys.CommitID{}, []keys.CommitID{b1.ID}, at(2),
			commit.GrantOp(commit.Grant{Subject: m.Author(), Role: commit.RoleAdmin, Prefix: []byte("chat/pin/")}))
		l1 := c.build(l, l.Author(), 1, keys.CommitID{}, []keys.CommitID{b1.ID}, at(2), cert(l), cert(p))
		revoke := c.build(b, b.Author(), 2, b1.ID, nil, at(3),
			commit.RevokeOp(commit.Revoke{Author: a.Author(), LastSeq: 0}),
			commit.RevokeOp(commit.Revoke{Author: l.Author(), LastSeq: 0}))
		m1 := c.build(m, m.Author(), 1, keys.CommitID{}, []keys.CommitID{a1.ID}, at(4), commit.Put([]byte("chat/pin/general"), []byte(`"by M"`)))
		profile := "chat/profile/" + ana.ID().String() + "/" + p.Author().String()
		p1 := c.build(p, p.Author(), 1, keys.CommitID{}, []keys.CommitID{l1.ID}, at(4), commit.Put([]byte(profile), []byte(`{}`)))
		f1 := c.build(f, f.Author(), 1, keys.CommitID{}, []keys.CommitID{a1.ID, l1.ID, revoke.ID}, at(5), commit.Put([]byte("chat/pin/general"), []byte(`"by F"`)))

		genesis, apply := c.genesis(), c.applyKept
		apply(0, b1, a1, l1, revoke)  // B's node knows the revocation first
		apply(1, genesis, b1, a1, l1) // node 1 gets it from M with M's commit
		apply(2, genesis, b1, a1, l1) // node 2 gets it after both writes
		type sender struct {
			who  keys.DeviceKey
			c    *commit.Commit
			key  string
			why  string
			what string
		}
		senders := []sender{
			{m, m1, "chat/pin/general", "only an admin may write it", "M sending its own pin that relies on a grant a revocation it had not seen voided"},
			{p, p1, profile, "who has not certified", "P sending its own profile that relies on a certificate a revocation it had not seen voided"},
		}
		var peers [3][]*rawPeer
		for i := range c.nodes {
			for _, s := range senders {
				peers[i] = append(peers[i], newRawPeer(t, c.ctx, c.nodes[i], sp, s.who.Author(), Config{}))
			}
		}
		peers[0][0].commits(m1)
		peers[1][0].commits(m1, revoke)
		peers[2][0].commits(m1)
		synctest.Wait()
		for i := range c.nodes {
			peers[i][1].commits(p1)
		}
		synctest.Wait()
		apply(2, revoke)
		synctest.Wait()
		for i := range c.nodes {
			voided, err := c.nodes[i].Store.Voided(c.ctx, sp)
			if err != nil {
				t.Fatal(err)
			}
			for j, s := range senders {
				peers[i][j].running(t, s.what)
				if why := voided[acl.Loc{Author: s.who.Author(), Seq: 1}]; !strings.Contains(why, s.why) {
					t.Fatalf("node %d holds %s's commit as %q, want void with %q", i, s.who.Author().Short(), why, s.why)
				}
				if err := peers[i][j].stop(); err != nil {
					t.Fatalf("node %d: %s's session: %v", i, s.who.Author().Short(), err)
				}
			}
			if _, err := c.nodes[i].Store.Get(c.ctx, sp, []byte(profile)); err == nil {
				t.Fatalf("node %d shows P's void write", i)
			}
		}

		for i := range c.nodes {
			p := newRawPeer(t, c.ctx, c.nodes[i], sp, f.Author(), Config{})
			p.commits(f1)
			synctest.Wait()
			p.endedWith(t, ErrBrokenRule, "F sending its own pin with no admin grant of its own in its causal past")
		}
	})
}

// genesis returns the cluster's genesis commit, as node 0 holds it.
func (c *cluster) genesis() *commit.Commit {
	c.t.Helper()
	raw, err := c.nodes[0].Store.CommitByID(c.ctx, c.sk.Space(), c.genesisID())
	if err != nil {
		c.t.Fatal(err)
	}
	g, err := commit.Decode(raw)
	if err != nil {
		c.t.Fatal(err)
	}
	return g
}

// applyKept applies cs on node i in one request and wants each kept:
// Applied, Revoked (held void) or a Duplicate.
func (c *cluster) applyKept(i int, cs ...*commit.Commit) {
	c.t.Helper()
	res, err := c.nodes[i].Store.Apply(c.ctx, c.sk.Space(), cs)
	if err != nil {
		c.t.Fatal(err)
	}
	for j, o := range res.Outcomes {
		if o.Status != store.Applied && o.Status != store.Revoked && o.Status != store.Duplicate {
			c.t.Fatalf("node %d: commit %d: %s %v", i, j, o.Status, o.Err)
		}
	}
}

package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// BenchmarkRedecide measures, in spaces of growing history, a revocation
// (of a member, of a person, of a device) and a join through an invite
// with uses to spare, and the worst wait of
// a writer committing all along the revocations (ms-write-stall). A
// revocation whose cuts void only data commits is decided from the cut
// (store/redecide.go); a fork, a join that uses up its invite, or another
// revocation decides the space's authorization again from every commit
// held, on the store's applier goroutine, so writes wait meanwhile; a join
// with uses to spare only adds its grant. Run it with (the million takes
// minutes to write):
//
//	go test -run='^$' -bench='Redecide/revoke(-person|-device)?/commits=(10000|50000|1000000)$' -benchtime=3x ./internal/node
func BenchmarkRedecide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 10_000, 50_000, 1_000_000} {
		b.Run(fmt.Sprintf("join/commits=%d", n), func(b *testing.B) {
			a, sp := benchSpace(b, n)
			defer a.Close()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				tk := benchInvite(b, a)
				joiner := keys.DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8), 0xee})
				c := joinCommit(b, a, sp, tk, joiner)
				b.StartTimer()
				res, err := a.st.Apply(ctx, sp.ID(), []*commit.Commit{c})
				if err != nil || res.Outcomes[0].Status != store.Applied {
					b.Fatalf("join: %+v, %v", res.Outcomes, err)
				}
			}
		})
		b.Run(fmt.Sprintf("revoke/commits=%d", n), func(b *testing.B) {
			a, sp := benchSpace(b, n)
			defer a.Close()
			benchRevoke(b, sp, n, func(int) []commit.Op {
				// The revocation's commit, as Revoke makes it in a public
				// space (Revoke first lists the members: see revoke-call).
				tk := benchInvite(b, a)
				return []commit.Op{commit.RevokeOp(commit.Revoke{Author: tk.Invite.Author()})}
			})
		})
		b.Run(fmt.Sprintf("revoke-person/commits=%d", n), func(b *testing.B) {
			// A person's revocation, as Revoke makes it: each of the
			// person's two certified devices cut after its latest commit.
			a, sp, people := benchPeopleSpace(b, n)
			defer a.Close()
			benchRevoke(b, sp, n, func(i int) []commit.Op {
				p := people[i%len(people)]
				rp := commit.RevokePerson{Identity: p.id.ID()}
				for _, d := range p.devices {
					rp.Cuts = append(rp.Cuts, commit.Revoke{Author: d.Author(), LastSeq: 1})
				}
				return []commit.Op{commit.RevokePersonOp(rp)}
			})
		})
		b.Run(fmt.Sprintf("revoke-device/commits=%d", n), func(b *testing.B) {
			// A device revocation signed by its person, carried by the
			// admin, as the revocation carrier does.
			a, sp, people := benchPeopleSpace(b, n)
			defer a.Close()
			benchRevoke(b, sp, n, func(i int) []commit.Op {
				p := people[i%len(people)]
				d := p.devices[(i/len(people))%len(p.devices)]
				rv, err := identity.NewRevocation(p.id, d.Author(), uint64(time.Now().UnixMicro()))
				if err != nil {
					b.Fatal(err)
				}
				return []commit.Op{commit.DevRevokeOp(commit.DevRevoke{Revocation: rv.Encode(), LastSeq: 1})}
			})
		})
		b.Run(fmt.Sprintf("revoke-voiding/commits=%d", n), func(b *testing.B) {
			// A member wrote voided commits past the cut (the admin cuts
			// it right after its join): each leaves the view.
			const voided = 1_000
			a, sp := benchSpace(b, n)
			defer a.Close()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				tk := benchInvite(b, a)
				m := keys.DeviceKeyFromSeed([32]byte{byte(i), byte(i >> 8), 0xdd})
				prev := joinCommit(b, a, sp, tk, m)
				cs := []*commit.Commit{prev}
				for s := uint64(2); s <= voided+1; s++ {
					c, err := commit.Build(commit.Header{Space: sp.ID(), Author: m.Author(), Seq: s, Prev: prev.ID,
						Time: commit.HLC{Wall: prev.Time.Wall + 1}},
						[]commit.Op{commit.Put(fmt.Appendf(nil, "m/%d/%06d", i, s), []byte("a message of the revoked"))}, m)
					if err != nil {
						b.Fatal(err)
					}
					cs, prev = append(cs, c), c
				}
				for len(cs) > 0 {
					k := min(len(cs), 500)
					res, err := a.st.Apply(ctx, sp.ID(), cs[:k])
					if err != nil || res.Outcomes[k-1].Status != store.Applied {
						b.Fatalf("member's commits: %+v, %v", res.Outcomes[k-1], err)
					}
					cs = cs[k:]
				}
				b.StartTimer()
				if _, err := sp.Commit(ctx, []commit.Op{commit.RevokeOp(commit.Revoke{Author: m.Author(), LastSeq: 1})}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if e, err := a.st.Get(ctx, sp.ID(), fmt.Appendf(nil, "m/%d/%06d", i, 2)); err == nil && e.Visible() {
					b.Fatal("a voided write is still in the view")
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/voided, "µs/voided-commit")
		})
		if n > 50_000 {
			continue
		}
		b.Run(fmt.Sprintf("revoke-call/commits=%d", n), func(b *testing.B) {
			a, _ := benchSpace(b, n)
			defer a.Close()
			for b.Loop() {
				b.StopTimer()
				tk := benchInvite(b, a)
				b.StartTimer()
				if _, err := a.Revoke(ctx, "club", tk.String()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/commit-held")
		})
	}
}

// benchRevoke times the commits of the revocations revocation makes (its
// argument counts them; it runs with the timer stopped), while a writer
// commits to sp all along: its worst wait from submit to commit among the
// writes that overlap a revocation is the stall (ms-write-stall).
func benchRevoke(b *testing.B, sp *space.Space, n int, revocation func(i int) []commit.Op) {
	ctx := context.Background()
	stop := make(chan struct{})
	spans := make(chan []span)
	go func() {
		var ws []span
		defer func() { spans <- ws }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			t := time.Now()
			if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "w%06d", i%1000), []byte("a message meanwhile"))}); err != nil {
				b.Error(err)
				return
			}
			ws = append(ws, span{t, time.Now()})
		}
	}()
	var revs []span
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ops := revocation(i)
		b.StartTimer()
		t := time.Now()
		if _, err := sp.Commit(ctx, ops); err != nil {
			b.Fatal(err)
		}
		revs = append(revs, span{t, time.Now()})
	}
	close(stop)
	var stall time.Duration
	for _, w := range <-spans {
		for _, r := range revs {
			if w.from.Before(r.to) && r.from.Before(w.to) {
				stall = max(stall, w.to.Sub(w.from))
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/commit-held")
	b.ReportMetric(float64(stall.Microseconds())/1000, "ms-write-stall")
}

// benchPerson is a person with two devices certified in a bench space.
type benchPerson struct {
	id      identity.Key
	devices []keys.DeviceKey
}

// benchPeopleSpace is benchSpace with, before the n commits, six people
// whose two devices each hold a write grant and wrote one commit carrying
// their certificate.
func benchPeopleSpace(b *testing.B, n int) (*Node, *space.Space, []benchPerson) {
	ctx := context.Background()
	var people []benchPerson
	a, sp := benchSpaceAfter(b, n, func(a *Node, sp *space.Space) {
		var grants []commit.Op
		for p := range 6 {
			bp := benchPerson{id: identity.KeyFromSeed([32]byte{byte(p), 0x1d})}
			for d := range 2 {
				k := keys.DeviceKeyFromSeed([32]byte{byte(p), byte(d), 0xde})
				bp.devices = append(bp.devices, k)
				grants = append(grants, commit.GrantOp(commit.Grant{Subject: k.Author(), Role: commit.RoleWrite}))
			}
			people = append(people, bp)
		}
		if _, err := sp.Commit(ctx, grants); err != nil {
			b.Fatal(err)
		}
		deps := headIDs(b, a, sp.ID(), keys.AuthorID{}) // commit.Build sorts them
		var cs []*commit.Commit
		for _, p := range people {
			for _, d := range p.devices {
				now := uint64(time.Now().UnixMicro())
				ct, err := identity.NewCert(p.id, d, "a phone", now)
				if err != nil {
					b.Fatal(err)
				}
				c, err := commit.Build(commit.Header{Space: sp.ID(), Author: d.Author(), Seq: 1, Time: commit.HLC{Wall: now}, Deps: deps},
					[]commit.Op{commit.CertOp(ct.Encode()), commit.Put(fmt.Appendf(nil, "hello/%s", d.Author()), []byte("hi"))}, d)
				if err != nil {
					b.Fatal(err)
				}
				cs = append(cs, c)
			}
		}
		res, err := a.st.Apply(ctx, sp.ID(), cs)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range res.Outcomes {
			if o.Status != store.Applied {
				b.Fatalf("a device's certificate: %+v", o)
			}
		}
	})
	return a, sp, people
}

// benchInvite makes an invite to a's space "club" for a writer.
func benchInvite(b *testing.B, a *Node) keys.Ticket {
	tk, err := a.NewInvite(context.Background(), "club", InviteOptions{Role: commit.RoleWrite})
	if err != nil {
		b.Fatal(err)
	}
	return tk
}

// joinCommit builds joiner's join through invite tk, depending on every
// head of sp.
func joinCommit(b *testing.B, a *Node, sp *space.Space, tk keys.Ticket, joiner keys.DeviceKey) *commit.Commit {
	c, err := commit.Build(commit.Header{Space: sp.ID(), Author: joiner.Author(), Seq: 1,
		Time: commit.HLC{Wall: uint64(time.Now().UnixMicro())}, Deps: headIDs(b, a, sp.ID(), keys.AuthorID{})},
		[]commit.Op{commit.GrantOp(commit.InviteGrant(sp.ID(), joiner.Author(), commit.RoleWrite, tk.Invite))}, joiner)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// span is when something ran.
type span struct{ from, to time.Time }

// benchSpace opens a node with a space "club" of n one-put commits.
func benchSpace(b *testing.B, n int) (*Node, *space.Space) {
	return benchSpaceAfter(b, n, func(*Node, *space.Space) {})
}

// benchSpaceAfter is benchSpace, calling before on the new space first.
func benchSpaceAfter(b *testing.B, n int, before func(*Node, *space.Space)) (*Node, *space.Space) {
	ctx := context.Background()
	a, err := Open(ctx, Options{Home: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	sp, err := a.NewSpace(ctx, "club", SpaceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	before(a, sp)
	for i := range n {
		if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "k%06d", i%1000), []byte("a chat message"))}); err != nil {
			b.Fatal(err)
		}
	}
	return a, sp
}

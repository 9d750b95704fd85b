package space_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// TestLocalRefusal: a write the device's grants do not allow is refused
// before anything is built or signed, with an error that names the
// missing role and what to do; nothing reaches the store.
func TestLocalRefusal(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	reader, chatter, temp, gone, stranger := dev(t), dev(t), dev(t), dev(t), dev(t)
	past := uint64(time.Now().Add(-time.Hour).UnixMicro())
	if _, err := f.sp.Commit(ctx, []commit.Op{
		commit.GrantOp(commit.Grant{Subject: reader.Author(), Role: commit.RoleRead}),
		commit.GrantOp(commit.Grant{Subject: chatter.Author(), Role: commit.RoleWrite, Prefix: []byte("chat/")}),
		commit.GrantOp(commit.Grant{Subject: temp.Author(), Role: commit.RoleWrite, Expires: past}),
		commit.GrantOp(commit.Grant{Subject: gone.Author(), Role: commit.RoleWrite}),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sp.Commit(ctx, []commit.Op{commit.RevokeOp(commit.Revoke{Author: gone.Author(), LastSeq: 0})}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		key  keys.DeviceKey
		op   commit.Op
		want []string // in the error; nil: allowed
	}{
		{"reader writes", reader, commit.Put([]byte("k"), []byte("v")), []string{reader.Author().String(), "has role read", `writing "k" needs write`, "loam invite --role write"}},
		{"prefix writer inside", chatter, commit.Put([]byte("chat/hi"), []byte("v")), nil},
		{"prefix writer outside", chatter, commit.Put([]byte("tools/saw"), []byte("v")), []string{`only under ["chat/"]`, `writing "tools/saw" needs write`}},
		{"expired writer", temp, commit.Put([]byte("k"), []byte("v")), []string{"has no role", "expired"}},
		{"revoked writer", gone, commit.Put([]byte("k"), []byte("v")), []string{"was revoked", "ask an admin for a new invite"}},
		{"stranger", stranger, commit.Put([]byte("k"), []byte("v")), []string{"has no role", "needs write", "the join has not finished: run loam daemon"}},
		{"reader grants", reader, commit.GrantOp(commit.Grant{Subject: stranger.Author(), Role: commit.RoleRead}), []string{"needs admin", "loam invite --role admin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := f.as(t, tc.key)
			before, _ := f.st.Heads(ctx, f.sk.Space())
			_, err := sp.Commit(ctx, []commit.Op{tc.op})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, space.ErrReadOnly) {
				t.Fatalf("err = %v, want ErrReadOnly", err)
			}
			if !strings.Contains(tc.name, "revoked") && !errors.Is(err, acl.ErrDenied) {
				t.Fatalf("err = %v, want it to wrap acl.ErrDenied", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after, _ := f.st.Heads(ctx, f.sk.Space()); len(after) != len(before) {
				t.Fatalf("a refused write reached the store: heads %d → %d", len(before), len(after))
			}
		})
	}
}

// TestVerifyLogChecksDecisions: log verification decides the log again and
// finds a store that counts a commit a revocation voided.
func TestVerifyLogChecksDecisions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	w, wsp := f.writer(t)
	for _, k := range []string{"a", "b"} {
		if _, err := wsp.Commit(ctx, []commit.Op{commit.Put([]byte(k), []byte("v"))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.sp.Commit(ctx, []commit.Op{commit.RevokeOp(commit.Revoke{Author: w.Author(), LastSeq: 1})}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Get(ctx, f.sk.Space(), []byte("b")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b after the revocation: %v", err)
	}
	f.st.Close()
	if _, err := f.verify(t); err != nil {
		t.Fatalf("a log with a revocation: %v", err)
	}
	withPebble(t, f.dir, func(db *pebble.DB) {
		if err := db.DeleteRange([]byte{0x18}, []byte{0x19}, nil); err != nil { // the store's voided-commit rows
			t.Fatal(err)
		}
	})
	if _, err := f.verify(t); !errors.Is(err, space.ErrInvalidLog) || !strings.Contains(err.Error(), "counts in the store, but must not") {
		t.Fatalf("verify after forgetting a voided commit: %v", err)
	}
}

// TestNoDepsOnVoidedCommits: the write path never makes a commit depend on
// a commit that does not count, whether it was voided when it arrived or
// by a later revocation, so peers are never made to fetch it.
func TestNoDepsOnVoidedCommits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	w, other := dev(t), dev(t)
	if _, err := f.sp.Commit(ctx, []commit.Op{
		commit.GrantOp(commit.Grant{Subject: w.Author(), Role: commit.RoleWrite}),
		commit.GrantOp(commit.Grant{Subject: other.Author(), Role: commit.RoleAdmin}),
	}); err != nil {
		t.Fatal(err)
	}
	heads, _ := f.st.Heads(ctx, f.sk.Space())
	var deps []keys.CommitID
	for _, h := range heads {
		deps = append(deps, h.ID)
	}
	deps = sortedIDs(deps)
	apply := func(c *commit.Commit) store.Result {
		t.Helper()
		res, err := f.st.Apply(ctx, f.sk.Space(), []*commit.Commit{c})
		if err != nil {
			t.Fatal(err)
		}
		f.sp.Observe(store.Event{Space: f.sk.Space(), Stored: res.Stored, Voided: res.Voided, Redecided: res.Redecided})
		return res
	}
	now := uint64(time.Now().UnixMicro())
	w1, _ := commit.Build(commit.Header{Space: f.sk.Space(), Author: w.Author(), Seq: 1, Time: commit.HLC{Wall: now}, Deps: deps}, []commit.Op{commit.Put([]byte("w"), []byte("1"))}, w)
	apply(w1) // counts, for now: the write path will depend on it
	rev, _ := commit.Build(commit.Header{Space: f.sk.Space(), Author: other.Author(), Seq: 1, Time: commit.HLC{Wall: now + 1}, Deps: deps}, []commit.Op{commit.RevokeOp(commit.Revoke{Author: w.Author(), LastSeq: 0})}, other)
	if res := apply(rev); !res.Redecided {
		t.Fatalf("a revocation did not decide the space again: %+v", res)
	}
	w2, _ := commit.Build(commit.Header{Space: f.sk.Space(), Author: w.Author(), Seq: 2, Prev: w1.ID, Time: commit.HLC{Wall: now + 2}}, []commit.Op{commit.Put([]byte("w"), []byte("2"))}, w)
	if res := apply(w2); res.Outcomes[0].Status != store.Revoked || len(res.Voided) != 1 {
		t.Fatalf("w2: %+v", res)
	}
	c, err := f.sp.Commit(ctx, []commit.Op{commit.Put([]byte("mine"), []byte("1"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range c.Deps {
		if d == w1.ID || d == w2.ID {
			t.Fatalf("the admin's commit depends on a voided commit (%s)", d.Short())
		}
	}
	if len(c.Deps) != 1 || c.Deps[0] != rev.ID {
		t.Fatalf("deps %v, want only the revocation %s", c.Deps, rev.ID.Short())
	}
}

func sortedIDs(ids []keys.CommitID) []keys.CommitID {
	slices.SortFunc(ids, func(a, b keys.CommitID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

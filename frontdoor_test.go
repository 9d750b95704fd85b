package loam_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam"
)

// errKinds are the sentinels a table step's error is classified by.
var errKinds = []struct {
	name string
	err  error
}{
	{"not_found", loam.ErrNotFound}, {"unknown_space", loam.ErrUnknownSpace}, {"name_taken", loam.ErrNameTaken},
	{"read_only", loam.ErrReadOnly}, {"invalid_log", loam.ErrInvalidLog}, {"bad_name", loam.ErrBadName},
	{"offline", loam.ErrOffline}, {"bad_ticket", loam.ErrBadTicket}, {"is_blob", loam.ErrIsBlob},
	{"not_blob", loam.ErrNotBlob}, {"clear_blob", loam.ErrClearBlob}, {"no_read_key", loam.ErrNoReadKey},
	{"unavailable", loam.ErrBlobUnavailable}, {"deadline", context.DeadlineExceeded},
	{"app_rule", loam.ErrAppRule}, {"rules_version", loam.ErrRulesVersion}, {"bad_rules", loam.ErrBadRules},
}

func kindOf(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range errKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "other"
}

// step is one operation of the table: it returns what it saw, in a form
// equal on every node (no author IDs, times or view hashes).
type step struct {
	name string
	do   func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error)
}

func rangeOf(ctx context.Context, sp *loam.Space, opts ...loam.RangeOption) (any, error) {
	var out []string
	for kv, err := range sp.Range(ctx, opts...) {
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%s=%s blob=%v", kv.Key, kv.Value, kv.Blob != nil))
	}
	return out, nil
}

func readAll(r *loam.BlobReader, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return fmt.Sprintf("%d bytes, size %d, %x", len(b), r.Size(), b[:min(len(b), 16)]), err
}

var photo = bytes.Repeat([]byte("photo "), 20_000)

var table = []step{
	{"put", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Put(ctx, []byte("a"), []byte("1"))
	}},
	{"get", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		v, err := sp.Get(ctx, []byte("a"))
		return string(v), err
	}},
	{"get missing", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return sp.Get(ctx, []byte("nothing"))
	}},
	{"lookup", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		kv, err := sp.Lookup(ctx, []byte("a"))
		return fmt.Sprintf("%s=%s mine=%v dated=%v", kv.Key, kv.Value, kv.Author == n.Author(), !kv.Time.IsZero()), err
	}},
	{"batch", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		b := sp.Batch()
		for _, k := range []string{"k/1", "k/2", "k/3", "k/4", "z"} {
			b.Put([]byte(k), []byte("v"+k))
		}
		b.Delete([]byte("a"))
		return b.Len(), b.Commit(ctx)
	}},
	{"range", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) { return rangeOf(ctx, sp) }},
	{"range prefix", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return rangeOf(ctx, sp, loam.Prefix("k/"))
	}},
	{"range start end", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return rangeOf(ctx, sp, loam.Start("k/2"), loam.End("k/4"))
	}},
	{"range limit reverse", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return rangeOf(ctx, sp, loam.Prefix("k/"), loam.Limit(3), loam.Reverse())
	}},
	{"delete", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Delete(ctx, []byte("k/4"))
	}},
	{"delete missing", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Delete(ctx, []byte("never"))
	}},
	{"get deleted", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return sp.Get(ctx, []byte("k/4"))
	}},
	{"put empty key", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Put(ctx, nil, []byte("x"))
	}},
	{"put too large", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Put(ctx, []byte("big"), make([]byte, loam.MaxValueSize+1))
	}},
	{"watch", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := sp.Watch(wctx, loam.Prefix("w/"), loam.Start("w/b"))
		if err != nil {
			return nil, err
		}
		for _, k := range []string{"w/a", "w/b", "x", "w/c"} {
			if err := sp.Put(ctx, []byte(k), []byte("v")); err != nil {
				return nil, err
			}
		}
		if err := sp.Delete(ctx, []byte("w/b")); err != nil {
			return nil, err
		}
		var seen []string
		for len(seen) < 3 {
			select {
			case c := <-ch:
				seen = append(seen, fmt.Sprintf("%s deleted=%v value=%s mine=%v", c.Key, c.Deleted, c.Value, c.Author == n.Author()))
			case <-ctx.Done():
				return seen, ctx.Err()
			}
		}
		return seen, nil
	}},
	{"put blob", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return sp.PutBlob(ctx, []byte("files/photo"), bytes.NewReader(photo), "image/jpeg")
	}},
	{"get blob key", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return sp.Get(ctx, []byte("files/photo"))
	}},
	{"lookup blob key", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		kv, err := sp.Lookup(ctx, []byte("files/photo"))
		return fmt.Sprintf("%+v %v", kv.Blob, kv.Value == nil), err
	}},
	{"open blob by key", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return readAll(sp.OpenBlob(ctx, []byte("files/photo")))
	}},
	{"open blob of a value", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return readAll(sp.OpenBlob(ctx, []byte("z")))
	}},
	{"add blob, reference it", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		info, err := n.AddBlob(ctx, strings.NewReader(strings.Repeat("added ", 30_000)))
		if err != nil {
			return nil, err
		}
		b := sp.Batch()
		b.PutBlobRef([]byte("files/added"), loam.BlobRef{ID: info.ID, Size: info.Size})
		return info, b.Commit(ctx)
	}},
	{"blob ref of a bad ID", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		b := sp.Batch()
		b.PutBlobRef([]byte("files/bad"), loam.BlobRef{ID: "blb_bad", Size: 1})
		return nil, b.Commit(ctx)
	}},
	{"blobs, pin, unpin, gc", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		info, err := n.AddBlob(ctx, strings.NewReader(strings.Repeat("loose ", 30_000)))
		if err != nil {
			return nil, err
		}
		if err := n.UnpinBlob(ctx, info.ID); err != nil {
			return nil, err
		}
		if err := n.PinBlob(ctx, info.ID); err != nil {
			return nil, err
		}
		if err := n.UnpinBlob(ctx, info.ID); err != nil {
			return nil, err
		}
		before, err := n.Blobs(ctx)
		if err != nil {
			return nil, err
		}
		freed, err := n.GCBlobs(ctx)
		if err != nil {
			return nil, err
		}
		after, err := n.Blobs(ctx)
		return fmt.Sprintf("%d blobs, freed %d, %d left", len(before), freed, len(after)), err
	}},
	{"open blob by ID", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		kv, err := sp.Lookup(ctx, []byte("files/added"))
		if err != nil {
			return nil, err
		}
		return readAll(n.OpenBlob(ctx, kv.Blob.ID))
	}},
	{"pin a bad ID", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, n.PinBlob(ctx, "blb_nope")
	}},
	{"conflicts", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		cs, err := sp.Conflicts(ctx, []byte("z"))
		return len(cs), err
	}},
	{"state", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		st, err := sp.State(ctx)
		return st.Keys, err
	}},
	{"heads", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		hs, err := sp.Heads(ctx)
		var seqs []uint64
		for _, h := range hs {
			if h.Author == n.Author() {
				seqs = append(seqs, h.Seq)
			}
		}
		return fmt.Sprintf("%d heads, mine %v", len(hs), seqs), err
	}},
	{"role", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) { return sp.Role(ctx) }},
	{"verify", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) { return sp.Verify(ctx) }},
	{"invite", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		t, err := sp.InviteUses(ctx, loam.Write, time.Hour, 2)
		return strings.HasPrefix(t, "loam2"), err
	}},
	{"invite with a bad role", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return sp.Invite(ctx, "boss", time.Hour)
	}},
	{"members", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		ms, err := sp.Members(ctx)
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("invite=%v role=%s grants=%d mine=%v", m.Invite, m.Role, len(m.Grants), m.Author == n.Author()))
		}
		return len(out), err // author order differs between nodes: compare the count and, below, the set
	}},
	{"revoke an invite", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		t, err := sp.Invite(ctx, loam.Read, time.Hour)
		if err != nil {
			return nil, err
		}
		r, err := sp.Revoke(ctx, t)
		return fmt.Sprintf("invite=%v cut=%d", r.Invite, r.LastSeq), err
	}},
	{"revoke nobody", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return sp.Revoke(ctx, "aut_nobody")
	}},
	{"unknown space", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		_, err := n.Space(ctx, "nowhere")
		return nil, err
	}},
	{"space by ID", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		s, err := n.Space(ctx, sp.ID())
		if err != nil {
			return nil, err
		}
		return s.Name() + fmt.Sprint(s.Info().Private), nil
	}},
	{"name taken", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		_, err := n.CreateSpace(ctx, sp.Name(), loam.Public)
		return nil, err
	}},
	{"bad name", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		_, err := n.CreateSpace(ctx, "a/b", loam.Public)
		return nil, err
	}},
	{"spaces", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		ss, err := n.Spaces(ctx)
		var names []string
		for _, s := range ss {
			names = append(names, fmt.Sprintf("%s private=%v", s.Name, s.Private))
		}
		return names, err
	}},
	{"private blob", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		ps, err := n.CreateSpace(ctx, "private", loam.Private)
		if err != nil {
			return nil, err
		}
		ref, err := ps.PutBlob(ctx, []byte("photo"), bytes.NewReader(photo), "")
		if err != nil {
			return nil, err
		}
		got, err := readAll(ps.OpenBlob(ctx, []byte("photo")))
		return fmt.Sprintf("sealed=%v size=%d %v", ref.Sealed, ref.Size, got), err
	}},
	{"join a bad ticket", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		_, err := n.Join(ctx, "loam2notaticket")
		return nil, err
	}},
	{"declare the chat's rules", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		chat, _ := loam.BuiltinRules("chat")
		r, err := sp.DeclareRules(ctx, chat)
		return fmt.Sprintf("%s v%d %d bytes", r.App, r.Version, len(r.Body)), err
	}},
	{"rules in force", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		rs, err := sp.Rules(ctx)
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s v%d %d bytes", r.App, r.Version, len(r.Body)))
		}
		return out, err
	}},
	{"declare an old version", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		chat, _ := loam.BuiltinRules("chat")
		return sp.DeclareRules(ctx, chat)
	}},
	{"declare a bad body", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return sp.DeclareRules(ctx, loam.AppRules{App: "board", Body: []byte(`{"rules":[{"key":"board/{x}","write":"whoever"}]}`)})
	}},
	{"write a message of one's own", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Put(ctx, []byte("chat/msg/general/1795275122119-"+n.Author()), []byte(`{"text":"hi"}`))
	}},
	{"write a message under another's name", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Put(ctx, []byte("chat/msg/general/1795275122120-aut_a6oixdyethdi5wljznyjvdvsy5se32gbdrhnqqhisfton7vczciq"), []byte(`{"text":"hi"}`))
	}},
	{"write a message off the layout", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		return nil, sp.Put(ctx, []byte("chat/general/0001"), []byte(`{"text":"hi"}`))
	}},
	{"retire the chat's rules", func(ctx context.Context, n *loam.Node, sp *loam.Space) (any, error) {
		r, err := sp.DeclareRules(ctx, loam.AppRules{App: "chat"})
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("v%d", r.Version), sp.Put(ctx, []byte("chat/general/0001"), []byte(`{"text":"hi"}`))
	}},
}

// TestFrontDoor runs every step of the table through an embedded node
// (Open) and through a daemon (Connect), and checks that both see the
// same results and the same kinds of error.
func TestFrontDoor(t *testing.T) {
	ctx := ctxT(t)
	nodes := []*loam.Node{openEmbedded(t), connect(t, startDaemon(t).home)}
	spaces := make([]*loam.Space, len(nodes))
	for i, n := range nodes {
		spaces[i] = must(n.CreateSpace(ctx, "table", loam.Public))(t)
	}
	for _, s := range table {
		var got [2]any
		var kinds [2]string
		for i, n := range nodes {
			v, err := s.do(ctx, n, spaces[i])
			got[i], kinds[i] = v, kindOf(err)
			if err != nil {
				got[i] = nil // compare the error's kind, not what came with it
			}
		}
		t.Logf("%s: %q %v", s.name, kinds[0], got[0])
		if kinds[0] != kinds[1] {
			t.Errorf("%s: error kind %q embedded, %q through the daemon", s.name, kinds[0], kinds[1])
		}
		if !reflect.DeepEqual(got[0], got[1]) {
			t.Errorf("%s:\n embedded: %#v\n daemon:   %#v", s.name, got[0], got[1])
		}
	}
}

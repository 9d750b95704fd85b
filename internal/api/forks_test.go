package api

import (
	"encoding/json"
	"testing"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store/storetest"
)

// forkSelf makes the node's own device sign two commits with the same seq
// in space sp, as a device whose key was copied to a second machine
// would, and stores both. It returns the seq.
func forkSelf(t *testing.T, f *fixture, name string) uint64 {
	t.Helper()
	ctx := ctxT(t)
	dev, err := keys.LoadOrCreateDeviceKey(f.n.Home())
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.n.Resolve(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Fork(ctx, t, f.n.Store(), id, dev, "twice")
}

// TestForkShown: an author that forked shows in status and in members,
// with the seq from which its commits do not count.
func TestForkShown(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.c.CreateSpace(ctx, "garden")
	f.c.Put(ctx, "garden", []byte("a"), []byte("1"))
	seq := forkSelf(t, f, "garden")
	me := f.n.Author().String()

	st, err := f.c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Spaces[0].Forked; len(got) != 1 || got[0].Author != me || got[0].Seq != seq {
		t.Errorf("status: forked %+v, want %s at %d", got, me, seq)
	}
	ms, err := f.c.Members(ctx, "garden")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		want := uint64(0)
		if m.Author == me {
			want = seq
		}
		if m.ForkedAt != want {
			t.Errorf("member %s: forked_at %d, want %d", m.Author, m.ForkedAt, want)
		}
	}
	// In JSON, as documented.
	resp := get(t, f, "/v1/status", nil)
	defer resp.Body.Close()
	var raw struct {
		Spaces []struct {
			Forked []map[string]any `json:"forked"`
		} `json:"spaces"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || len(raw.Spaces[0].Forked) != 1 || raw.Spaces[0].Forked[0]["author"] != me || raw.Spaces[0].Forked[0]["seq"] != float64(seq) {
		t.Errorf("status JSON: %+v, %v", raw, err)
	}
}

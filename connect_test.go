package loam_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
)

// daemon is a real node serving the real API on a loopback port, with its
// daemon.json and token in home, as 'loam daemon' leaves them.
type daemon struct {
	home string
	n    *node.Node
}

func startDaemon(t testing.TB) *daemon { return startDaemonSync(t, false) }

// startDaemonSync starts a daemon whose store syncs to disk (as a real
// daemon's does) if durable.
func startDaemonSync(t testing.TB, durable bool) *daemon {
	t.Helper()
	return serveNode(t, node.Options{Home: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoSync: !durable})
}

// serveNode opens a node with opts and serves the API for it on a
// loopback port, as 'loam daemon' does, until the test ends.
func serveNode(t testing.TB, opts node.Options) *daemon {
	t.Helper()
	n, err := node.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := api.Serve(context.Background(), n, api.ServeOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		n.Close()
	})
	return &daemon{home: opts.Home, n: n}
}

// openEmbedded opens a node in a new home in this process, closed when
// the test ends.
func openEmbedded(t testing.TB) *loam.Node {
	t.Helper()
	n, err := loam.Open(context.Background(), loam.Options{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// vias are the two ways in that the tests compare: a node opened in this
// process, and one reached through its daemon.
var vias = []string{"embedded", "daemon"}

// openVia opens a node in a new home, embedded (without a network) or
// through a daemon of its own whose store syncs to disk if durable; it is
// closed when the test ends.
func openVia(t testing.TB, via string, durable bool) *loam.Node {
	t.Helper()
	if via == "embedded" {
		return openEmbedded(t)
	}
	return connect(t, startDaemonSync(t, durable).home)
}

// eachVia runs f as a subtest on a new node of each way in (vias), the
// daemon's store not synced to disk.
func eachVia(t *testing.T, f func(t *testing.T, n *loam.Node)) {
	t.Helper()
	for _, via := range vias {
		t.Run(via, func(t *testing.T) { f(t, openVia(t, via, false)) })
	}
}

func connect(t testing.TB, home string) *loam.Node {
	t.Helper()
	n, err := loam.Connect(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// must(f())(t) returns f's value, failing t on f's error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func keysOf(t *testing.T, sp *loam.Space, opts ...loam.RangeOption) []string {
	t.Helper()
	var out []string
	for kv, err := range sp.Range(context.Background(), opts...) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(kv.Key))
	}
	return out
}

// TestConnectNoDaemon: Connect to a home without a daemon fails with
// ErrNoDaemon; to a home whose daemon.json names a port where nothing
// answers, with ErrStaleDaemon too, saying so.
func TestConnectNoDaemon(t *testing.T) {
	ctx := ctxT(t)
	home := t.TempDir()
	_, err := loam.Connect(ctx, home)
	if !errors.Is(err, loam.ErrNoDaemon) || errors.Is(err, loam.ErrStaleDaemon) {
		t.Fatalf("Connect with no daemon.json: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := api.LoadOrCreateToken(home); err != nil {
		t.Fatal(err)
	}
	if err := api.WriteDaemonInfo(home, api.DaemonInfo{API: addr, PID: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = loam.Connect(ctx, home)
	if !errors.Is(err, loam.ErrNoDaemon) || !errors.Is(err, loam.ErrStaleDaemon) {
		t.Fatalf("Connect with a stale daemon.json: %v", err)
	}
	if want := filepath.Join(home, api.DaemonFile); !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("the error does not name %s: %v", want, err)
	}
}

// TestConnectData runs the data operations through a real daemon: spaces,
// put, get, lookup, range with every option, delete, batch with a blob
// reference, watch, conflicts, state, heads, role, verify, and the errors
// they fail with.
func TestConnectData(t *testing.T) {
	ctx := ctxT(t)
	d := startDaemon(t)
	n := connect(t, d.home)
	if !n.Daemon() || n.Author() != d.n.Author().String() || n.PeerID() != d.n.PeerID() || n.Home() != d.home {
		t.Fatalf("Connect: daemon=%v author %s peer %s home %s", n.Daemon(), n.Author(), n.PeerID(), n.Home())
	}
	sp := must(n.CreateSpace(ctx, "garden", loam.Public))(t)
	if _, err := n.CreateSpace(ctx, "garden", loam.Public); !errors.Is(err, loam.ErrNameTaken) {
		t.Errorf("CreateSpace of a taken name: %v", err)
	}
	if _, err := n.CreateSpace(ctx, "no good/name", loam.Public); !errors.Is(err, loam.ErrBadName) {
		t.Errorf("CreateSpace of a bad name: %v", err)
	}
	if _, err := n.Space(ctx, "nowhere"); !errors.Is(err, loam.ErrUnknownSpace) {
		t.Errorf("Space of an unknown name: %v", err)
	}
	byID := must(n.Space(ctx, sp.ID()))(t)
	if byID.Name() != "garden" || byID.ID() != sp.ID() {
		t.Errorf("Space by ID: %s %s", byID.Name(), byID.ID())
	}
	infos := must(n.Spaces(ctx))(t)
	if len(infos) != 1 || infos[0].ID != sp.ID() || infos[0].Name != "garden" || infos[0].Created.IsZero() {
		t.Errorf("Spaces: %+v", infos)
	}

	changes, err := sp.Watch(ctx, loam.Prefix("tools/"), loam.End("tools/s"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tools/drill", "tools/ladder", "tools/saw", "other/x"} {
		if err := sp.Put(ctx, []byte(k), []byte("v:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v := must(sp.Get(ctx, []byte("tools/drill")))(t); string(v) != "v:tools/drill" {
		t.Errorf("Get: %q", v)
	}
	kv := must(sp.Lookup(ctx, []byte("tools/saw")))(t)
	if kv.Author != n.Author() || kv.Time.IsZero() || string(kv.Value) != "v:tools/saw" {
		t.Errorf("Lookup: %+v", kv)
	}
	if _, err := sp.Get(ctx, []byte("nothing")); !errors.Is(err, loam.ErrNotFound) {
		t.Errorf("Get of a missing key: %v", err)
	}
	for _, c := range []struct {
		opts []loam.RangeOption
		want []string
	}{
		{nil, []string{"other/x", "tools/drill", "tools/ladder", "tools/saw"}},
		{[]loam.RangeOption{loam.Prefix("tools/")}, []string{"tools/drill", "tools/ladder", "tools/saw"}},
		{[]loam.RangeOption{loam.Start("tools/l"), loam.End("tools/z")}, []string{"tools/ladder", "tools/saw"}},
		{[]loam.RangeOption{loam.Limit(2)}, []string{"other/x", "tools/drill"}},
		{[]loam.RangeOption{loam.Reverse(), loam.Limit(2)}, []string{"tools/saw", "tools/ladder"}},
	} {
		if got := keysOf(t, sp, c.opts...); !slices.Equal(got, c.want) {
			t.Errorf("Range(%d options) = %q, want %q", len(c.opts), got, c.want)
		}
	}
	if err := sp.Delete(ctx, []byte("tools/ladder")); err != nil {
		t.Fatal(err)
	}
	if err := sp.Delete(ctx, []byte("never/there")); err != nil {
		t.Errorf("Delete of a missing key (a tombstone, as embedded): %v", err)
	}
	// The watch saw tools/drill, tools/ladder and its delete (End cuts saw).
	var seen []string
	for len(seen) < 3 {
		select {
		case c := <-changes:
			op := "put"
			if c.Deleted {
				op = "del"
			}
			seen = append(seen, op+" "+string(c.Key))
		case <-ctx.Done():
			t.Fatalf("watch saw only %q", seen)
		}
	}
	if want := []string{"put tools/drill", "put tools/ladder", "del tools/ladder"}; !slices.Equal(seen, want) {
		t.Errorf("watch saw %q, want %q", seen, want)
	}

	info := must(n.AddBlob(ctx, bytes.NewReader(bytes.Repeat([]byte("b"), 5000))))(t)
	b := sp.Batch()
	b.Put([]byte("a"), []byte("1"))
	b.Delete([]byte("other/x"))
	b.PutBlobRef([]byte("file"), loam.BlobRef{ID: info.ID, Size: info.Size, Type: "text/plain"})
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, sp); !slices.Equal(got, []string{"a", "file", "tools/drill", "tools/saw"}) {
		t.Errorf("after the batch: %q", got)
	}
	if _, err := sp.Get(ctx, []byte("file")); !errors.Is(err, loam.ErrIsBlob) {
		t.Errorf("Get of a blob key: %v", err)
	}
	if kv := must(sp.Lookup(ctx, []byte("file")))(t); kv.Blob == nil || kv.Blob.ID != info.ID || kv.Blob.Type != "text/plain" || kv.Value != nil {
		t.Errorf("Lookup of a blob key: %+v", kv)
	}
	big := sp.Batch()
	big.Put([]byte("big"), make([]byte, loam.MaxValueSize+1))
	if err := big.Commit(ctx); err == nil {
		t.Error("a value over the limit committed")
	}

	if cs := must(sp.Conflicts(ctx, []byte("a")))(t); len(cs) != 0 {
		t.Errorf("Conflicts: %+v", cs)
	}
	st := must(sp.State(ctx))(t)
	if st.Keys != 4 || st.Hash == "" {
		t.Errorf("State: %+v", st)
	}
	hs := must(sp.Heads(ctx))(t)
	// The space key's genesis, and this device's seven commits.
	if len(hs) != 2 || !slices.ContainsFunc(hs, func(h loam.Head) bool { return h.Author == n.Author() && h.Seq == 7 && !h.Time.IsZero() }) {
		t.Errorf("Heads: %+v", hs)
	}
	if r := must(sp.Role(ctx))(t); r != loam.Admin {
		t.Errorf("Role: %q", r)
	}
	rep := must(sp.Verify(ctx))(t)
	if rep.Commits != 8 || rep.Authors != 2 || rep.Forks != 0 {
		t.Errorf("Verify: %+v", rep)
	}

	// Closing the node ends its watches, as an embedded node's Close does.
	n.Close()
	for {
		select {
		case _, ok := <-changes:
			if !ok {
				return
			}
		case <-ctx.Done():
			t.Fatal("the watch went on after Close")
		}
	}
}

// TestConnectBlobs: blobs through a daemon: PutBlob and OpenBlob by key
// (reads, seeks, ReadAt) in a public and a private space, AddBlob,
// OpenBlob by ID, Blobs, pin, unpin, GC, and ErrNotBlob.
func TestConnectBlobs(t *testing.T) {
	ctx := ctxT(t)
	d := startDaemon(t)
	n := connect(t, d.home)
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, vis := range []loam.Visibility{loam.Public, loam.Private} {
		sp := must(n.CreateSpace(ctx, map[loam.Visibility]string{loam.Public: "pub", loam.Private: "priv"}[vis], vis))(t)
		ref := must(sp.PutBlob(ctx, []byte("photo"), bytes.NewReader(data), "image/png"))(t)
		if ref.Size != int64(len(data)) || ref.Type != "image/png" || ref.Sealed != (vis == loam.Private) {
			t.Errorf("PutBlob (%v): %+v", vis, ref)
		}
		small := must(sp.PutBlob(ctx, []byte("tiny"), bytes.NewReader([]byte("hi")), ""))(t)
		if small.Size != 2 {
			t.Errorf("PutBlob of 2 bytes (a blob all the same): %+v", small)
		}
		r := must(sp.OpenBlob(ctx, []byte("photo")))(t)
		if r.Size() != int64(len(data)) {
			t.Errorf("Size: %d", r.Size())
		}
		got := must(io.ReadAll(r))(t)
		if !bytes.Equal(got, data) {
			t.Errorf("OpenBlob (%v) read %d bytes, not the blob", vis, len(got))
		}
		if _, err := r.Seek(250_000, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		tail := must(io.ReadAll(r))(t)
		if !bytes.Equal(tail, data[250_000:]) {
			t.Errorf("read after Seek: %d bytes", len(tail))
		}
		p := make([]byte, 100)
		if n, err := r.ReadAt(p, 1234); err != nil || n != 100 || !bytes.Equal(p, data[1234:1334]) {
			t.Errorf("ReadAt: %d %v", n, err)
		}
		if n, err := r.ReadAt(p, int64(len(data))-10); n != 10 || !errors.Is(err, io.EOF) {
			t.Errorf("ReadAt over the end: %d %v", n, err)
		}
		r.Close()
		if err := sp.Put(ctx, []byte("value"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if _, err := sp.OpenBlob(ctx, []byte("value")); !errors.Is(err, loam.ErrNotBlob) {
			t.Errorf("OpenBlob of a value: %v", err)
		}
		if _, err := sp.OpenBlob(ctx, []byte("none")); !errors.Is(err, loam.ErrNotFound) {
			t.Errorf("OpenBlob of a missing key: %v", err)
		}
	}

	info := must(n.AddBlob(ctx, bytes.NewReader(data[:70_000])))(t)
	if !info.Pinned || info.Size != 70_000 {
		t.Errorf("AddBlob: %+v", info)
	}
	r := must(n.OpenBlob(ctx, info.ID))(t)
	if got := must(io.ReadAll(r))(t); !bytes.Equal(got, data[:70_000]) || r.Size() != 70_000 {
		t.Errorf("OpenBlob by ID: %d bytes", len(got))
	}
	r.Close()
	if _, err := n.OpenBlob(ctx, "blb_nonsense"); err == nil {
		t.Error("OpenBlob of a bad ID")
	}
	pinned := func() bool {
		for _, b := range must(n.Blobs(ctx))(t) {
			if b.ID == info.ID {
				return b.Pinned
			}
		}
		t.Fatalf("Blobs lacks %s", info.ID)
		return false
	}
	if !pinned() {
		t.Error("an added blob is not pinned")
	}
	if err := n.UnpinBlob(ctx, info.ID); err != nil || pinned() {
		t.Errorf("UnpinBlob: %v", err)
	}
	if err := n.PinBlob(ctx, info.ID); err != nil || !pinned() {
		t.Errorf("PinBlob: %v", err)
	}
	if err := n.UnpinBlob(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if freed := must(n.GCBlobs(ctx))(t); freed < 70_000 {
		t.Errorf("GCBlobs freed %d bytes, want the unpinned blob's 70000", freed)
	}
	for _, b := range must(n.Blobs(ctx))(t) {
		if b.ID == info.ID {
			t.Errorf("GC kept %s", info.ID)
		}
	}
}

// TestConnectNetwork: invite (with uses), join and its first sync
// (WaitSynced, both ways), members, revoke, connect, peers and a blob
// fetch with progress, through a daemon, with an embedded node as the
// other side.
func TestConnectNetwork(t *testing.T) {
	ctx := ctxT(t)
	d := startDaemon(t)
	n := connect(t, d.home)
	other, err := loam.Open(ctx, networked(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	// The daemon's space, joined by the embedded node.
	sp := must(n.CreateSpace(ctx, "street", loam.Public))(t)
	for _, k := range []string{"a", "b", "c"} {
		if err := sp.Put(ctx, []byte(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	ticket := must(sp.InviteUses(ctx, loam.Write, time.Hour, 1))(t)
	osp := must(other.Join(ctx, ticket))(t)
	if err := osp.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, osp); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("after WaitSynced the joiner holds %q", got)
	}
	if _, err := other.Join(ctx, "loam2nonsense"); !errors.Is(err, loam.ErrBadTicket) {
		t.Errorf("Join of a bad ticket: %v", err)
	}
	if err := sp.WaitSynced(ctx); err != nil {
		t.Errorf("WaitSynced through the daemon: %v", err)
	}
	var ms []loam.Member
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms = must(sp.Members(ctx))(t)
		if slices.ContainsFunc(ms, func(m loam.Member) bool { return m.Author == other.Author() && m.Role == loam.Write }) || time.Now().After(deadline) {
			break
		}
		if err := sp.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.ContainsFunc(ms, func(m loam.Member) bool { return m.Author == other.Author() && m.Role == loam.Write }) {
		t.Fatalf("Members lacks the joiner: %+v", ms)
	}
	if !slices.ContainsFunc(ms, func(m loam.Member) bool {
		return m.Invite && len(m.Grants) > 0 && m.Grants[0].Uses == 1
	}) {
		t.Errorf("Members lacks the invite of one use: %+v", ms)
	}
	rv := must(sp.Revoke(ctx, other.Author()))(t)
	if rv.Author != other.Author() {
		t.Errorf("Revoke: %+v", rv)
	}
	if _, err := sp.Revoke(ctx, "aut_nonsense"); err == nil {
		t.Error("Revoke of a bad author")
	}

	// The embedded node's space, joined through the daemon.
	esp := must(other.CreateSpace(ctx, "lane", loam.Public))(t)
	if err := esp.Put(ctx, []byte("x"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	jsp := must(n.Join(ctx, must(esp.Invite(ctx, loam.Read, time.Hour))(t)))(t)
	if err := jsp.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if v := must(jsp.Get(ctx, []byte("x")))(t); string(v) != "y" {
		t.Errorf("after WaitSynced through the daemon: %q", v)
	}
	if r := must(jsp.Role(ctx))(t); r != loam.Read {
		t.Errorf("Role after a read invite: %q", r)
	}
	if err := jsp.Put(ctx, []byte("x"), []byte("mine")); !errors.Is(err, loam.ErrReadOnly) {
		t.Errorf("Put of a reader through the daemon: %v", err)
	}

	if err := n.Connect(ctx, other.Addrs()[0]+"/p2p/"+other.PeerID()); err != nil {
		t.Fatal(err)
	}
	ps := must(n.Peers(ctx))(t)
	if !slices.ContainsFunc(ps, func(p loam.PeerInfo) bool { return p.Peer == other.PeerID() && p.Connected }) {
		t.Errorf("Peers lacks the other node: %+v", ps)
	}
	if _, err := n.Refusals(ctx); err != nil {
		t.Error(err)
	}
	blob := bytes.Repeat([]byte("chunk "), 200_000)
	info := must(other.AddBlob(ctx, bytes.NewReader(blob)))(t)
	var last loam.BlobProgress
	st, err := n.FetchBlob(ctx, info.ID, func(p loam.BlobProgress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != int64(len(blob)) || last.Done != int64(len(blob)) || last.Total != int64(len(blob)) {
		t.Errorf("FetchBlob: %+v, last progress %+v", st, last)
	}
	if _, err := n.FetchBlob(ctx, "blb_x", nil); err == nil {
		t.Error("FetchBlob of a bad ID")
	}

	// Closed, a Node of Connect refuses as an embedded one does.
	n.Close()
	if _, err := n.Spaces(ctx); !errors.Is(err, loam.ErrClosed) {
		t.Errorf("Spaces after Close: %v", err)
	}
}

// TestConnectConflicts: a put and a delete written concurrently on two
// nodes (neither had seen the other's) show as the same conflicts
// embedded and through the daemon: the losing delete with no value.
func TestConnectConflicts(t *testing.T) {
	ctx := ctxT(t)
	d := startDaemon(t)
	n := connect(t, d.home)
	home := t.TempDir()
	open := func(network bool) *loam.Node {
		o := loam.Options{Home: home}
		if network {
			o.Network, o.Listen = true, []string{"/ip4/127.0.0.1/tcp/0"}
		}
		e, err := loam.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	sp := must(n.CreateSpace(ctx, "c", loam.Public))(t)
	e := open(true)
	esp := must(e.Join(ctx, must(sp.Invite(ctx, loam.Write, time.Hour))(t)))(t)
	if err := esp.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	e.Close()

	// Offline, the joiner deletes k; then the daemon puts it: concurrent.
	e = open(false)
	if err := must(e.Space(ctx, "c"))(t).Delete(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if err := sp.Put(ctx, []byte("k"), []byte("daemon's")); err != nil {
		t.Fatal(err)
	}
	e = open(true)
	defer e.Close()
	esp = must(e.Space(ctx, "c"))(t)
	if err := e.Connect(ctx, d.n.Addrs()[0]+"/p2p/"+d.n.PeerID()); err != nil {
		t.Fatal(err)
	}
	waitConflict := func(s *loam.Space) []loam.KV {
		deadline := time.Now().Add(30 * time.Second)
		for {
			cs, err := s.Conflicts(ctx, []byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) > 0 || time.Now().After(deadline) {
				return cs
			}
			if err := s.WaitSynced(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, s := range map[string]*loam.Space{"daemon": sp, "embedded": esp} {
		cs := waitConflict(s)
		if len(cs) != 1 || cs[0].Value != nil || cs[0].Author != e.Author() || string(cs[0].Key) != "k" {
			t.Errorf("%s: conflicts of k: %+v", name, cs)
		}
		if v, err := s.Get(ctx, []byte("k")); err != nil || string(v) != "daemon's" {
			t.Errorf("%s: k = %q, %v", name, v, err)
		}
	}
}

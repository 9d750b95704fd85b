package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a node with its API served on loopback.
type fixture struct {
	n      *node.Node
	srv    *httptest.Server
	c      *Client
	token  string
	server *Server
}

// serve opens a node in a new home (offline unless networked) and serves
// its API.
func serve(t *testing.T, networked bool) *fixture {
	t.Helper()
	home := t.TempDir()
	o := node.Options{Home: home, Offline: !networked, NoSync: true}
	if networked {
		o.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	n, err := node.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadOrCreateToken(home)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(n, tok)
	srv := httptest.NewServer(s)
	srv.Config.RegisterOnShutdown(s.CloseStreams)
	t.Cleanup(func() {
		s.CloseStreams()
		srv.Close()
		n.Close()
	})
	c := &Client{BaseURL: srv.URL, Token: tok, HTTP: srv.Client()}
	return &fixture{n: n, srv: srv, c: c, token: tok, server: s}
}

// mustSpace creates a space named name on f's node, failing t if it
// cannot.
func (f *fixture) mustSpace(ctx context.Context, t *testing.T, name string) SpaceInfo {
	t.Helper()
	sp, err := f.c.CreateSpace(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// kv returns an entry's key and value as strings.
func kv(t *testing.T, e Entry) (string, string) {
	t.Helper()
	k, v, err := e.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(k), string(v)
}

func TestSpaces(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	if got, err := f.c.Spaces(ctx); err != nil || len(got) != 0 {
		t.Fatalf("no spaces yet: %v %v", got, err)
	}
	info := f.mustSpace(ctx, t, "garden")
	if info.Name != "garden" || !strings.HasPrefix(info.ID, "spc_") {
		t.Fatalf("created %+v", info)
	}
	if _, err := ParseTime(info.Created); err != nil || info.Created == "" {
		t.Errorf("created time %q: %v", info.Created, err)
	}
	if _, err := f.c.CreateSpace(ctx, "garden"); !errors.Is(err, store.ErrNameTaken) || err.(*Error).Status != http.StatusConflict {
		t.Errorf("taken name: %v", err)
	}
	if _, err := f.c.CreateSpace(ctx, "bad name!"); !errors.Is(err, node.ErrBadName) || err.(*Error).Status != http.StatusBadRequest {
		t.Errorf("bad name: %v", err)
	}
	f.c.CreateSpace(ctx, "chat")
	got, err := f.c.Spaces(ctx)
	if err != nil || len(got) != 2 || got[0].Name != "chat" || got[1] != info {
		t.Fatalf("spaces: %+v %v", got, err)
	}
	if got, err := f.c.Space(ctx, info.ID); err != nil || got != info {
		t.Errorf("space by ID: %+v %v", got, err)
	}
	if got, err := f.c.Space(ctx, "garden"); err != nil || got != info {
		t.Errorf("space by name: %+v %v", got, err)
	}
	// By ID as well as by name; unknown spaces are 404.
	if err := f.c.Put(ctx, info.ID, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Get(ctx, "garden", []byte("k")); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"nope", "spc_xyz"} {
		_, err := f.c.Get(ctx, ref, []byte("k"))
		var ae *Error
		if !errors.As(err, &ae) || (ae.Status != 404 && ae.Status != 400) {
			t.Errorf("space %q: %v", ref, err)
		}
	}
	if _, err := f.c.Get(ctx, "nope", []byte("k")); !errors.Is(err, store.ErrUnknownSpace) {
		t.Errorf("unknown space: %v", err)
	}
	if _, err := f.c.Get(ctx, "spc_xyz", []byte("k")); !errors.Is(err, keys.ErrMalformed) {
		t.Errorf("malformed space ID: %v", err)
	}
}

func TestKeys(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.c.CreateSpace(ctx, "garden")
	// Keys the path must carry intact.
	tricky := []string{
		"tools/drill", "a//b", "/lead", "trail/", "a/./b", "a/../b", ".", "..", "%2F", "sp ace",
		"q?x#y&z=1", "\xff\x00bin", "ünï/cödé", strings.Repeat("k", 4096),
	}
	for i, k := range tricky {
		v := []byte{byte(i), 0xff, 'v'}
		if err := f.c.Put(ctx, "garden", []byte(k), v); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
		e, err := f.c.Get(ctx, "garden", []byte(k))
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		gk, gv, err := e.Bytes()
		if err != nil || string(gk) != k || !bytes.Equal(gv, v) || !strings.HasPrefix(e.Author, "aut_") || e.Time == "" {
			t.Errorf("get %q: %+v %v", k, e, err)
		}
		if e.ValueB64 == nil || *e.ValueB64 != base64.StdEncoding.EncodeToString(v) {
			t.Errorf("binary value of %q not in value_b64: %+v", k, e)
		}
	}
	if err := f.c.Put(ctx, "garden", []byte("text"), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.c.Get(ctx, "garden", []byte("text")); e.Value == nil || *e.Value != "hello" || e.ValueB64 != nil {
		t.Errorf("text value: %+v", e)
	}

	// Limits and missing keys.
	var ae *Error
	if err := f.c.Put(ctx, "garden", []byte(strings.Repeat("k", 4097)), nil); !errors.As(err, &ae) || ae.Status != 400 {
		t.Errorf("key too long: %v", err)
	}
	if err := f.c.Put(ctx, "garden", []byte("big"), make([]byte, 64<<10+1)); err != nil {
		t.Errorf("value over the limit (stored as a blob): %v", err)
	}
	if e, err := f.c.Get(ctx, "garden", []byte("big")); err != nil || e.Blob == nil || e.Blob.Size != 64<<10+1 || e.Value != nil || e.ValueB64 != nil {
		t.Errorf("a value over the limit reads back as %+v, %v; want a blob reference", e, err)
	}
	if err := f.c.Put(ctx, "garden", []byte("max"), make([]byte, 64<<10)); err != nil {
		t.Errorf("value at the limit: %v", err)
	}
	if _, err := f.c.Get(ctx, "garden", []byte("nope")); !errors.Is(err, store.ErrNotFound) || err.(*Error).Status != 404 {
		t.Errorf("missing key: %v", err)
	}
	if _, err := f.c.Get(ctx, "garden", nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("empty key: %v", err)
	}

	// Delete.
	if err := f.c.Delete(ctx, "garden", []byte("a//b")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Get(ctx, "garden", []byte("a//b")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
	if err := f.c.Delete(ctx, "garden", []byte("a//b")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a missing key: %v", err)
	}
}

func TestRange(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.c.CreateSpace(ctx, "garden")
	var ops []BatchOp
	for _, k := range []string{"a/1", "a/2", "a/3", "a/4", "b/1"} {
		ops = append(ops, PutOp([]byte(k), []byte("v"+k)))
	}
	if _, err := f.c.Batch(ctx, "garden", ops); err != nil {
		t.Fatal(err)
	}
	list := func(q store.Query) string {
		t.Helper()
		var ks []string
		for e, err := range f.c.Range(ctx, "garden", q) {
			if err != nil {
				t.Fatal(err)
			}
			k, v := kv(t, e)
			if v != "v"+k || e.Author == "" {
				t.Errorf("entry %+v", e)
			}
			ks = append(ks, k)
		}
		return strings.Join(ks, " ")
	}
	for _, c := range []struct {
		q    store.Query
		want string
	}{
		{store.Query{}, "a/1 a/2 a/3 a/4 b/1"},
		{store.Query{Prefix: []byte("a/")}, "a/1 a/2 a/3 a/4"},
		{store.Query{Prefix: []byte("a/"), Limit: 2, Reverse: true}, "a/4 a/3"},
		{store.Query{Start: []byte("a/2"), End: []byte("a/4")}, "a/2 a/3"},
		{store.Query{End: []byte("")}, ""},
		{store.Query{Prefix: []byte("c/")}, ""},
	} {
		if got := list(c.q); got != c.want {
			t.Errorf("range %+v = %q, want %q", c.q, got, c.want)
		}
	}
	// A large range streams whole.
	ops = ops[:0]
	for i := range 3000 {
		ops = append(ops, PutOp([]byte("many/"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String()), bytes.Repeat([]byte{'v'}, 100)))
	}
	if _, err := f.c.Batch(ctx, "garden", ops); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range f.c.Range(ctx, "garden", store.Query{Prefix: []byte("many/")}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3000 {
		t.Errorf("listed %d keys, want 3000", n)
	}
	// Bad parameters.
	for _, q := range []string{"limit=0", "limit=x", "reverse=maybe", "prefx=a"} {
		resp := get(t, f, "/v1/spaces/garden/keys?"+q, nil)
		if readBody(t, resp); resp.StatusCode != 400 {
			t.Errorf("?%s: %s", q, resp.Status)
		}
	}
}

func TestBatch(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.c.CreateSpace(ctx, "garden")
	f.c.Put(ctx, "garden", []byte("old"), []byte("x"))
	res, err := f.c.Batch(ctx, "garden", []BatchOp{
		PutOp([]byte("a"), []byte("1")), PutOp([]byte{0xff, 'k'}, []byte{0, 1}), DeleteOp([]byte("old")),
	})
	if err != nil || res.Ops != 3 || !strings.HasPrefix(res.Commit, "cmt_") {
		t.Fatalf("batch: %+v %v", res, err)
	}
	hs, err := f.c.Heads(ctx, "garden")
	if err != nil {
		t.Fatal(err)
	}
	mine := f.n.Author().String()
	i := slices.IndexFunc(hs, func(h Head) bool { return h.Author == mine })
	if i < 0 || hs[i].Commit != res.Commit || hs[i].Seq != 2 {
		t.Errorf("heads %+v after batch %s, the device's second commit", hs, res.Commit)
	}
	if _, err := f.c.Get(ctx, "garden", []byte("old")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted in the batch: %v", err)
	}
	if e, err := f.c.Get(ctx, "garden", []byte{0xff, 'k'}); err != nil || e.KeyB64 == nil {
		t.Errorf("binary key: %+v %v", e, err)
	}
	if res, err := f.c.Batch(ctx, "garden", nil); err != nil || res.Ops != 0 {
		t.Errorf("empty batch: %+v %v", res, err)
	}
}

// TestBatchIsAtomic: a bad entry anywhere fails the whole batch with 400,
// naming the entry, and writes nothing.
func TestBatchIsAtomic(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	f.c.CreateSpace(ctx, "garden")
	f.c.Put(ctx, "garden", []byte("keep"), []byte("x"))
	snapshot := func() string {
		var b strings.Builder
		for e, err := range f.c.Range(ctx, "garden", store.Query{}) {
			if err != nil {
				t.Fatal(err)
			}
			k, v := kv(t, e)
			b.WriteString(k + "=" + v + ";")
		}
		hs, _ := f.c.Heads(ctx, "garden")
		for _, h := range hs {
			b.WriteString(h.Commit)
		}
		return b.String()
	}
	before := snapshot()
	good := `{"key":"new","value":"1"}`
	for _, c := range []struct{ body, want string }{
		{`[` + good + `,{"key":"","value":"x"}]`, "entry 2: the key is empty"},
		{`[` + good + `,` + good + `,{"key":"a","value_b64":"not base64!"}]`, "entry 3"},
		{`[` + good + `,{"key":"a","value":"x","extra":1}]`, "entry 2"},
		{`[` + good + `,{"key":"a"}]`, `entry 2: no "value"`},
		{`[` + good + `,{"key":"a","value":"x","delete":true}]`, "entry 2"},
		{`[` + good + `,{"key":"a","value":"x","value_b64":"eA=="}]`, "give exactly one"},
		{`[` + good + `,{"key":"a","value":"` + strings.Repeat("v", 64<<10+1) + `"}]`, "entry 2"},
		{`[` + good, "not a complete JSON array"},
		{`{"key":"a","value":"x"}`, "JSON array"},
		{`[` + good + `] []`, "after the batch"},
	} {
		resp := post(t, f, "/v1/spaces/garden/batch", c.body, nil)
		body := readError(resp).Error()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("batch %.60s…: %s %s, want 400 with %q", c.body, resp.Status, body, c.want)
		}
		if after := snapshot(); after != before {
			t.Fatalf("a failed batch changed the space:\nbefore %s\nafter  %s", before, after)
		}
	}
}

func TestVerifyHeadsStatus(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	info, _ := f.c.CreateSpace(ctx, "garden")
	f.c.Put(ctx, "garden", []byte("k"), []byte("v"))
	f.c.Put(ctx, "garden", []byte("k2"), []byte("v"))
	r, err := f.c.Verify(ctx, "garden")
	if err != nil || r != (VerifyReport{Commits: 3, Ops: 3, Authors: 2}) {
		t.Errorf("verify: %+v %v", r, err)
	}
	hs, err := f.c.Heads(ctx, "garden")
	if err != nil || len(hs) != 2 {
		t.Fatalf("heads: %+v %v", hs, err)
	}
	st, err := f.c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Peer != f.n.PeerID() || st.Author != f.n.Author().String() || len(st.Spaces) != 1 || st.Peers != 0 || st.Refusals == nil {
		t.Fatalf("status: %+v", st)
	}
	s := st.Spaces[0]
	if s.Name != "garden" || s.ID != info.ID || s.Commits != 3 || s.Keys != 2 || len(s.ViewHash) != 64 || !slices.Equal(s.Heads, hs) {
		t.Errorf("space status: %+v (heads %+v)", s, hs)
	}
	h, err := f.c.Hello(ctx)
	if err != nil || h.API != "v1" || h.Peer != f.n.PeerID() {
		t.Errorf("hello: %+v %v", h, err)
	}
	if ps, err := f.c.Peers(ctx); err != nil || ps == nil || len(ps) != 0 {
		t.Errorf("peers offline: %#v %v", ps, err)
	}
	if _, err := f.c.Connect(ctx, "/ip4/127.0.0.1/tcp/1"); !errors.Is(err, node.ErrOffline) || err.(*Error).Status != 503 {
		t.Errorf("connect offline: %v", err)
	}
}

// TestVerifyNamesTheBadCommit: a history that does not verify is an error
// naming the commit.
func TestVerifyNamesTheBadCommit(t *testing.T) {
	// The store re-verifies every commit it applies, so a bad commit can
	// only be made by editing the store's files (as cmd/loam's test does);
	// here the error path is checked through the kinds table.
	err := &kindError{msg: "invalid commit in log: aut_x seq 2 (cmt_y): bad signature", kind: space.ErrInvalidLog}
	rec := httptest.NewRecorder()
	writeError(rec, err)
	got := readError(rec.Result())
	if rec.Code != 500 || !errors.Is(got, space.ErrInvalidLog) || !strings.Contains(got.Error(), "cmt_y") {
		t.Errorf("verify error: %d %v", rec.Code, got)
	}
}

func TestInviteJoinPeersConnect(t *testing.T) {
	ctx := ctxT(t)
	a := serve(t, true)
	b := serve(t, true)
	info := a.mustSpace(ctx, t, "garden")
	a.c.Put(ctx, "garden", []byte("tools/drill"), []byte("cordless"))
	for _, c := range []struct {
		req  string
		want int
	}{
		{`{"role":"boss"}`, 400},
		{`{"role":"write","expires":"soon"}`, 400},
		{`{"role":"write","expires":"-1h"}`, 400},
		{`{"rolle":"write"}`, 400},
	} {
		resp := post(t, a, "/v1/spaces/garden/invites", c.req, nil)
		if body := readBody(t, resp); resp.StatusCode != c.want {
			t.Errorf("invite %s: %s %s", c.req, resp.Status, body)
		}
	}
	ticket, err := a.c.Invite(ctx, "garden", "write", 24*time.Hour)
	if err != nil || !strings.HasPrefix(ticket, keys.TicketPrefix) {
		t.Fatalf("invite: %q %v", ticket, err)
	}
	if _, err := b.c.Join(ctx, "loam1nonsense"); !errors.Is(err, keys.ErrBadTicket) || err.(*Error).Status != 400 {
		t.Errorf("bad ticket: %v", err)
	}
	joined, err := b.c.Join(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if joined.ID != info.ID || joined.Name != "garden" {
		t.Errorf("joined %+v, want %+v", joined, info)
	}
	// b has the write role now, and its writes reach a.
	if err := b.c.Put(ctx, "garden", []byte("tools/saw"), []byte("hand saw")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err1 := a.c.Get(ctx, "garden", []byte("tools/saw"))
		_, err2 := b.c.Get(ctx, "garden", []byte("tools/drill"))
		if err1 == nil && err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sync: %v / %v", err1, err2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// b, not an admin, cannot invite.
	if _, err := b.c.Invite(ctx, "garden", "write", 0); !errors.Is(err, node.ErrNotAdmin) || err.(*Error).Status != 403 {
		t.Errorf("invite by a writer: %v", err)
	}

	ps, err := b.c.Peers(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("b's peers: %+v %v", ps, err)
	}
	p := ps[0]
	if p.Peer != a.n.PeerID() || p.Author != a.n.Author().String() || !p.Direct || !p.Connected ||
		!slices.Equal(p.Spaces, []string{info.ID}) || len(p.Addrs) == 0 || p.BytesIn == 0 || p.LastSeen == "" {
		t.Errorf("b's peer: %+v", p)
	}
	st, err := b.c.Status(ctx)
	if err != nil || st.Peers != 1 || len(st.Addrs) == 0 {
		t.Errorf("b's status: %+v %v", st, err)
	}

	// Connect dials by multiaddr; it answers the peer ID.
	c := serve(t, true)
	addr := a.n.Addrs()[0]
	got, err := c.c.Connect(ctx, addr)
	if err != nil || got != a.n.PeerID() {
		t.Errorf("connect %s: %q %v", addr, got, err)
	}
	if _, err := c.c.Connect(ctx, "not a multiaddr"); err == nil || err.(*Error).Status != http.StatusBadGateway {
		t.Errorf("connect to garbage: %v", err)
	}
}

func TestNoRoute(t *testing.T) {
	f := serve(t, false)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v2/spaces", 404},
		{"GET", "/", 404},
		{"DELETE", "/v1/spaces", 405},
		{"GET", "/v1/spaces/x/batch", 405},
		{"POST", "/v1/spaces/x/batch", 404}, // an unknown space, before its (empty) body is read
		{"GET", "/v1/spaces/x/keys/a/../b", 404},
	} {
		req, _ := http.NewRequest(c.method, f.srv.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != c.want || !strings.Contains(body, `"error":`) {
			t.Errorf("%s %s: %s %s", c.method, c.path, resp.Status, body)
		}
	}
}

func TestTokenFile(t *testing.T) {
	home := t.TempDir()
	if _, err := LoadToken(home); err == nil {
		t.Fatal("a token in an empty home")
	}
	tok, err := LoadOrCreateToken(home)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 {
		t.Errorf("token %q", tok)
	}
	assertMode(t, home, TokenFile)
	os.Chmod(filepath.Join(home, TokenFile), 0o644)
	for range 3 {
		if again, err := LoadOrCreateToken(home); err != nil || again != tok {
			t.Errorf("second call: %q %v, want %q", again, err, tok)
		}
	}
	assertMode(t, home, TokenFile)
	// Concurrent first calls agree.
	home2 := t.TempDir()
	got := make(chan string, 8)
	for range 8 {
		go func() {
			tok, err := LoadOrCreateToken(home2)
			if err != nil {
				t.Error(err)
			}
			got <- tok
		}()
	}
	first := <-got
	for range 7 {
		if tok := <-got; tok != first {
			t.Errorf("concurrent tokens differ: %q %q", tok, first)
		}
	}
}

func TestDaemonFile(t *testing.T) {
	home := t.TempDir()
	if _, err := ReadDaemonInfo(home); err == nil {
		t.Fatal("daemon info in an empty home")
	}
	in := DaemonInfo{API: "127.0.0.1:7777", Peer: "12D3KooW", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, PID: 42}
	if err := WriteDaemonInfo(home, in); err != nil {
		t.Fatal(err)
	}
	assertMode(t, home, DaemonFile)
	out, err := ReadDaemonInfo(home)
	if err != nil || out.API != in.API || out.PID != 42 || !slices.Equal(out.Addrs, in.Addrs) {
		t.Errorf("read %+v %v", out, err)
	}
	for _, bad := range []string{"192.168.1.2:7777", "evil.example:80", "127.0.0.1"} {
		WriteDaemonInfo(home, DaemonInfo{API: bad})
		if _, err := ReadDaemonInfo(home); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("daemon.json naming %q: %v", bad, err)
		}
	}
	if err := RemoveDaemonInfo(home); err != nil {
		t.Fatal(err)
	}
	if err := RemoveDaemonInfo(home); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

func TestEscapeKey(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"tools/drill", "tools/drill"},
		{"a b", "a%20b"},
		{"v1.2/x", "v1.2/x"},
		{"a//b", "a%2F%2Fb"},
		{"a/../b", "a%2F%2E%2E%2Fb"},
		{"..", "%2E%2E"},
	} {
		if got := escapeKey([]byte(c.key)); got != c.want {
			t.Errorf("escapeKey(%q) = %q, want %q", c.key, got, c.want)
		}
	}
	if got := escapeSegment(".."); got != "%2E%2E" {
		t.Errorf("escapeSegment(..) = %q", got)
	}
	if got := escapeSegment("garden.club"); got != "garden.club" {
		t.Errorf("escapeSegment(garden.club) = %q", got)
	}
}

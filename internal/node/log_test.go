package node

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/testkit"
)

// openLogged opens a node on loopback whose log, at Debug, goes to a
// buffer: JSON if json, else text.
func openLogged(t *testing.T, json bool) (*Node, *testkit.SyncBuffer) {
	t.Helper()
	buf := &testkit.SyncBuffer{}
	o := &slog.HandlerOptions{Level: slog.LevelDebug}
	h := slog.Handler(slog.NewTextHandler(buf, o))
	if json {
		h = slog.NewJSONHandler(buf, o)
	}
	n, err := Open(context.Background(), Options{Home: t.TempDir(), Listen: loopback, NoSync: true, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, buf
}

// encodings returns b as the logs could spell it: raw, hex, base64 and
// base32 in their usual forms.
func encodings(b []byte) []string {
	return []string{
		string(b), hex.EncodeToString(b),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)),
	}
}

// TestLogNoSecrets: through a private space's life on two nodes (an
// invite used, canary keys and values written both ways, a sealed blob
// fetched, a member revoked and the read key rotated), the logs, JSON and
// text at Debug, hold every event (the blob fetch's start and end once
// each) and no secret: not the ticket, the invite key, a device key, any
// epoch's read key, or a key, value or blob byte written, in any usual
// encoding.
func TestLogNoSecrets(t *testing.T) {
	ctx := ctxT(t)
	a, alog := openLogged(t, true)
	b, blog := openLogged(t, false)
	c := openNode(t, t.TempDir())
	sp, err := a.NewSpace(ctx, "club", SpaceOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	id := sp.ID()
	tk := inviteFor(t, a, "club", commit.RoleWrite, time.Hour)
	joinWith(t, b, tk)
	ctk := inviteFor(t, a, "club", commit.RoleRead, time.Hour)
	joinWith(t, c, ctk)
	cs := canaries(5)
	put(t, a, id, cs[0], cs[1])
	put(t, b, id, cs[2], cs[3])
	ref, _, err := a.PutBlob(ctx, sp, []byte("blob/"+cs[4]), bytes.NewReader(canaryFile(200_000, cs)), "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "b to hold every write and the blob", func() bool {
		return value(b, id, cs[0]) == cs[1] && value(a, id, cs[2]) == cs[3] && b.BlobComplete(ref.ID) && sameHeads([]*Node{a, b, c}, id)
	})
	if _, err := a.Revoke(ctx, "club", c.Author().String()); err != nil {
		t.Fatal(err)
	}
	put(t, a, id, "after", cs[1]+"-after")
	// The log lines come from the store's event hook, which runs after the
	// write is readable, the fetch's after the blob is whole: wait for
	// b's lines too.
	waitFor(t, 30*time.Second, "b to read the write of epoch 1 and log the revocation", func() bool {
		l := blog.String()
		return value(b, id, "after") == cs[1]+"-after" && strings.Contains(l, `msg="member revoked"`) && strings.Contains(l, `msg="blob fetch done"`)
	})

	for _, l := range strings.Split(strings.TrimSpace(alog.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("a JSON log line does not parse: %v: %s", err, l)
		}
	}
	bid := ref.ID.String()
	for _, w := range []struct {
		log, line string
		want      int
	}{
		{alog.String(), `"msg":"invite used","space":"` + id.String() + `","member":"` + b.Author().String() + `","role":"write"`, 1},
		{alog.String(), `"msg":"member revoked","space":"` + id.String() + `","member":"` + c.Author().String() + `"`, 1},
		{blog.String(), `msg="joined space" space=` + id.String() + ` name=club invite=true`, 1},
		{blog.String(), `msg="member revoked" space=` + id.String() + ` member=` + c.Author().String(), 1},
		{blog.String(), `msg="blob fetch started" blob=` + bid + ` peers=`, 1},
		{blog.String(), `msg="blob fetch done" blob=` + bid + ` bytes=`, 1},
		{blog.String(), `msg="peer connected" peer=` + a.PeerID() + ` path=direct`, 1},
	} {
		if got := strings.Count(w.log, w.line); got != w.want {
			t.Errorf("%d log lines with %s, want %d", got, w.line, w.want)
		}
	}

	var secrets []string
	for _, s := range append(cs, cs[1]+"-after", "blob/"+cs[4]) {
		secrets = append(secrets, s)
	}
	secrets = append(secrets, tk.String(), ctk.String())
	for _, k := range []keys.DeviceKey{tk.Invite, ctk.Invite, a.dev, b.dev} {
		secrets = append(secrets, k.String())
		secrets = append(secrets, encodings(k.Ed25519().Seed())...)
	}
	rks := a.rk.All(id)
	if len(rks) != 2 {
		t.Fatalf("a holds read keys of %d epochs, want 2", len(rks))
	}
	for _, k := range rks {
		secrets = append(secrets, encodings(k.Key[:])...)
	}
	for _, s := range secrets {
		for who, log := range map[string]string{"a": alog.String(), "b": blog.String()} {
			if strings.Contains(log, s) {
				t.Errorf("%s's log holds the secret %q", who, s)
			}
		}
	}
	if t.Failed() {
		t.Logf("a's log:\n%s\nb's log:\n%s", alog, blog)
	}
}

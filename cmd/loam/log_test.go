package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/testkit"
)

// logDaemon is a 'loam daemon' process whose stderr (its log) is kept
// apart from its stdout.
type logDaemon struct {
	*daemonProc
	log *testkit.SyncBuffer // stderr
}

// startLogDaemon starts 'loam daemon' in h with args, its stderr in log,
// and waits until it has written its daemon.json.
func startLogDaemon(t *testing.T, h *home, args ...string) *logDaemon {
	t.Helper()
	log := &testkit.SyncBuffer{}
	return &logDaemon{daemonProc: startDaemonTo(t, h, log, args...), log: log}
}

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !testkit.Poll(within, 20*time.Millisecond, cond) {
		t.Fatalf("%s: not within %s", what, within)
	}
}

// logLine is one line of a daemon's --log-format json log.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Attrs map[string]any
}

// parseJSONLog parses a JSON log, failing the test on a line that is not
// one JSON object with time, level and msg.
func parseJSONLog(t *testing.T, log string) []logLine {
	t.Helper()
	var out []logLine
	for l := range strings.Lines(log) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("a --log-format json line does not parse: %v\n%s", err, l)
		}
		line := logLine{Attrs: m}
		line.Level, _ = m["level"].(string)
		line.Msg, _ = m["msg"].(string)
		if _, ok := m["time"].(string); !ok || line.Level == "" || line.Msg == "" {
			t.Fatalf("a JSON log line lacks time, level or msg: %s", l)
		}
		out = append(out, line)
	}
	return out
}

// count counts the lines with message msg whose attributes include want.
func count(lines []logLine, msg string, want map[string]string) int {
	n := 0
	for _, l := range lines {
		ok := l.Msg == msg
		for k, v := range want {
			ok = ok && l.Attrs[k] == v
		}
		if ok {
			n++
		}
	}
	return n
}

// TestDaemonLog: the log of a daemon (A, --log-format json) through a
// two-node session (B joins, both write, B leaves, A revokes B, B writes
// offline and comes back, B leaves) shows each event once, one line each,
// at info, and every line parses. B's log (text, the default) shows its
// join once. Neither log holds a secret: the ticket, the API token, the
// space secret, or a key or value written.
func TestDaemonLog(t *testing.T) {
	t.Parallel()
	a, b := newHome(t), newHome(t)
	a.timeout, b.timeout = time.Minute, time.Minute
	da := startLogDaemon(t, a, append(loopbackDaemon, "--log-format", "json")...)
	db := startLogDaemon(t, b, loopbackDaemon...)

	id := strings.TrimSpace(a.ok("", "space", "create", "garden"))
	ticket := strings.TrimSpace(a.ok("", "invite", "garden", "--uses", "1"))
	b.ok("", "join", ticket)
	aAuthor, bst := mustStatus(t, a).Author, mustStatus(t, b)
	secrets := []string{ticket}
	for i, h := range []*home{a, a, b, b} {
		key, value := "log-key-"+string(rune('a'+i)), "log-value-"+string(rune('a'+i))
		h.ok("", "put", "garden", key, value)
		secrets = append(secrets, key, value)
	}
	waitUntil(t, 30*time.Second, "B's writes on A", func() bool {
		r := a.run("", "get", "garden", "log-key-d")
		return r.code == 0 && strings.Contains(r.stdout, "log-value-d")
	})
	db.stop(t)
	blog := db.log.String() // its join; the second run has its own log
	a.ok("", "revoke", "garden", bst.Author)
	b.ok("", "put", "garden", "log-key-revoked", "log-value-revoked") // B has not seen its revocation
	secrets = append(secrets, "log-key-revoked", "log-value-revoked")
	db = startLogDaemon(t, b, loopbackDaemon...)
	refused := func() bool {
		return count(parseJSONLog(t, da.log.String()), "commit refused", map[string]string{"author": bst.Author, "outcome": "revoked"}) > 0
	}
	waitUntil(t, 60*time.Second, "A logging B's refused commit", refused)
	db.stop(t)
	waitUntil(t, 30*time.Second, "A logging B's second disconnect", func() bool {
		return count(parseJSONLog(t, da.log.String()), "peer disconnected", nil) == 2
	})
	secret := strings.TrimSpace(a.ok("", "space", "export-secret", "garden"))
	da.stop(t)
	for _, h := range []*home{a, b} {
		tok, err := os.ReadFile(filepath.Join(h.dir, api.TokenFile))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, strings.TrimSpace(string(tok)))
	}
	secrets = append(secrets, secret)

	lines := parseJSONLog(t, da.log.String())
	bPeer := db.info.Peer
	for _, c := range []struct {
		msg   string
		attrs map[string]string
		want  int
	}{
		{"peer connected", map[string]string{"peer": bPeer, "path": "direct"}, 2},
		{"peer disconnected", map[string]string{"peer": bPeer}, 2},
		{"invite used", map[string]string{"space": id, "member": bst.Author, "role": "write"}, 1},
		{"member revoked", map[string]string{"space": id, "member": bst.Author, "by": aAuthor}, 1},
		{"commit refused", map[string]string{"space": id, "author": bst.Author, "peer": bPeer, "outcome": "revoked"}, 1},
	} {
		if got := count(lines, c.msg, c.attrs); got != c.want {
			t.Errorf("A's log has %d %q lines with %v, want %d", got, c.msg, c.attrs, c.want)
		}
	}
	for _, l := range lines {
		if l.Level != "INFO" {
			t.Errorf("A's log has a line at %s: %v", l.Level, l.Attrs)
		}
	}
	if t.Failed() {
		t.Logf("A's log:\n%s", da.log)
	}
	blog += db.log.String()
	if n := strings.Count(blog, `msg="joined space" space=`+id+" name=garden invite=true"); n != 1 {
		t.Errorf("B's log has %d join lines, want 1:\n%s", n, blog)
	}
	for _, s := range secrets {
		for who, log := range map[string]string{"A": da.log.String(), "B": blog} {
			if strings.Contains(log, s) {
				t.Errorf("%s's log holds the secret %q", who, s)
			}
		}
	}
}

func mustStatus(t *testing.T, h *home) api.Status {
	t.Helper()
	var st api.Status
	h.okJSON(&st, "status", "--json")
	return st
}

// TestLogFlags: bad --log-level and --log-format values are usage errors
// that name the choices.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	for _, c := range []struct{ flag, want string }{
		{"--log-level=loud", "use debug, info, warn or error"},
		{"--log-format=xml", "use text or json"},
	} {
		if line := h.fail(2, "", append([]string{"daemon", c.flag}, loopbackDaemon...)...); !strings.Contains(line, c.want) {
			t.Errorf("loam daemon %s: %q lacks %q", c.flag, line, c.want)
		}
	}
}

package api

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

const h64 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// goodSessionsFile is a valid sessions file.
const goodSessionsFile = `{"version":1,"sessions":[{"name":"Ana's phone","hash":"` + h64 + `","created":"2026-12-06T08:00:00Z","last_used":"2026-12-06T09:00:00Z","addr":"192.168.1.20","via":"lan"}],"gone":[{"name":"old","hash":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","at":"2026-12-01T00:00:00Z","why":"revoked"}]}`

func TestDecodeSessions(t *testing.T) {
	if _, err := decodeSessions([]byte(goodSessionsFile)); err != nil {
		t.Fatalf("a good file: %v", err)
	}
	bad := map[string]string{
		"not JSON":         `{`,
		"trailing data":    goodSessionsFile + `{}`,
		"unknown field":    strings.Replace(goodSessionsFile, `"version":1`, `"version":1,"x":1`, 1),
		"version 2":        strings.Replace(goodSessionsFile, `"version":1`, `"version":2`, 1),
		"short hash":       strings.Replace(goodSessionsFile, h64, "aa", 1),
		"not hex":          strings.Replace(goodSessionsFile, h64, strings.Repeat("z", 64), 1),
		"empty name":       strings.Replace(goodSessionsFile, `"Ana's phone"`, `""`, 1),
		"control in name":  strings.Replace(goodSessionsFile, `"Ana's phone"`, `"a\u0007b"`, 1),
		"long name":        strings.Replace(goodSessionsFile, `"Ana's phone"`, `"`+strings.Repeat("a", maxSessionName+1)+`"`, 1),
		"unknown via":      strings.Replace(goodSessionsFile, `"via":"lan"`, `"via":"wan"`, 1),
		"unknown why":      strings.Replace(goodSessionsFile, `"why":"revoked"`, `"why":"bored"`, 1),
		"live and gone":    strings.Replace(goodSessionsFile, strings.Repeat("b", 64), h64, 1),
		"long address":     strings.Replace(goodSessionsFile, `"192.168.1.20"`, `"`+strings.Repeat("1", maxSessionAddr+1)+`"`, 1),
		"too large":        goodSessionsFile + strings.Repeat(" ", maxSessionsFile),
		"a session twice":  strings.Replace(goodSessionsFile, `"sessions":[`, `"sessions":[{"name":"Ana's phone","hash":"`+strings.Repeat("c", 64)+`","created":"2026-12-06T08:00:00Z","last_used":"2026-12-06T09:00:00Z","addr":"","via":"lan"},`, 1),
		"not an object":    `[]`,
		"sessions as null": `{"version":1,"sessions":{},"gone":[]}`,
	}
	for name, in := range bad {
		if _, err := decodeSessions([]byte(in)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// TestSessionIdle: a session lasts while it is used, and ends when it is
// unused for SessionTTL; its browser is then told it expired.
func TestSessionIdle(t *testing.T) {
	home := t.TempDir()
	ss, err := openSessions(home)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	ss.now = func() time.Time { return now }
	sec, name, err := ss.start("browser", "127.0.0.1", viaLoopback)
	if err != nil || name != "browser" {
		t.Fatal(name, err)
	}
	for range 3 { // used every 80 days: still live after 240
		now = now.Add(80 * 24 * time.Hour)
		if st, _, _ := ss.use(sec, "127.0.0.1"); st != sessionLive {
			t.Fatalf("used after 80 days: state %d", st)
		}
	}
	// The last use was written: a restart keeps it.
	ss2, err := openSessions(home)
	if err != nil {
		t.Fatal(err)
	}
	ss2.now = ss.now
	now = now.Add(SessionTTL - time.Second)
	if st, _, _ := ss2.use(sec, "127.0.0.1"); st != sessionLive {
		t.Fatalf("after a restart: state %d", st)
	}
	now = now.Add(SessionTTL)
	if st, n, _ := ss2.use(sec, "127.0.0.1"); st != sessionExpired || n != "browser" {
		t.Fatalf("unused for 90 days: state %d %q", st, n)
	}
	if len(ss2.list("")) != 0 {
		t.Error("an expired session is listed")
	}
}

func FuzzSessionsFile(f *testing.F) {
	f.Add([]byte(goodSessionsFile))
	f.Add([]byte(`{"version":1,"sessions":[],"gone":[]}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"sessions":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeSessions(b)
		if err != nil {
			return
		}
		// What decodes encodes to a file that decodes to the same.
		enc := encodeSessions(d)
		d2, err := decodeSessions(enc)
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v\n%s", err, enc)
		}
		if !bytes.Equal(encodeSessions(d2), enc) {
			t.Fatalf("re-encoding changed the file:\n%s\n%s", enc, encodeSessions(d2))
		}
		// And loads.
		ss := newSessions()
		if len(d.Sessions) > maxSessions || len(ss.list("")) != 0 {
			t.Fatal("bounds")
		}
	})
}

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loamdb/loam/internal/keys"
)

// commitRowTag is the first byte of a commit row's key in the store
// (internal/store/layout.go): tag ‖ space ‖ author ‖ seq (8, big endian),
// and its value is the commit ID ‖ the encoded commit, or (since the body
// log, internal/store/bodies.go) the commit ID ‖ 0x00 ‖ the place of its
// record: a bit flipped in the place makes the commit unreadable, which
// log verify reports as it does a bad commit.
const commitRowTag = 0x10

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// flipCommitByte flips one bit in the middle of the encoded commit stored
// for author's seq in the home's store, and returns a function that puts
// the byte back. No loam process may be using the home.
func flipCommitByte(t *testing.T, home string, space keys.SpaceID, author keys.AuthorID, seq uint64) (restore func()) {
	t.Helper()
	key := append([]byte{commitRowTag}, space[:]...)
	key = append(key, author[:]...)
	key = binary.BigEndian.AppendUint64(key, seq)
	var orig []byte
	withStore(t, home, func(db *pebble.DB) {
		v, closer, err := db.Get(key)
		if err != nil {
			t.Fatalf("commit row of %s seq %d: %v", author, seq, err)
		}
		orig = bytes.Clone(v)
		closer.Close()
		bad := bytes.Clone(orig)
		bad[keys.Size+(len(bad)-keys.Size)/2] ^= 0x04
		if err := db.Set(key, bad, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	return func() {
		withStore(t, home, func(db *pebble.DB) {
			if err := db.Set(key, orig, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// withStore opens the Pebble database of the home's store, runs fn and
// closes it.
func withStore(t *testing.T, home string, fn func(*pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(filepath.Join(home, "store"), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	fn(db)
}

func TestLogVerifyTampered(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	var me struct{ Author string }
	h.okJSON(&me, "init", "--json")
	author, err := keys.ParseAuthorID(me.Author)
	if err != nil {
		t.Fatal(err)
	}
	space, err := keys.ParseSpaceID(strings.TrimSpace(h.ok("", "space", "create", "garden")))
	if err != nil {
		t.Fatal(err)
	}
	h.ok("", "space", "create", "other")
	for _, kv := range [][2]string{{"tools/drill", "cordless"}, {"tools/saw", "hand"}, {"seeds/kale", "curly"}} {
		h.ok("", "put", "garden", kv[0], kv[1])
	}
	h.ok("", "put", "other", "k", "v")
	if out := h.ok("", "log", "verify", "garden"); !verifiedRE.MatchString(out) {
		t.Fatalf("intact space: log verify printed %q", out)
	}

	restore := flipCommitByte(t, h.dir, space, author, 2)
	r := h.run("", "log", "verify", "garden")
	if r.code != 1 {
		t.Errorf("tampered space: exit %d, want 1 (stderr %q)", r.code, r.stderr)
	}
	line := errorLineOf(t, r.stderr)
	t.Logf("tampered space: %s", line)
	if want := fmt.Sprintf("%s seq 2", author); !strings.Contains(line, want) {
		t.Errorf("error line %q does not name the bad commit %q", line, want)
	}
	if r.stdout != "" {
		t.Errorf("tampered space: stdout %q, want nothing", r.stdout)
	}
	// By ID too, and the other space of the home is not affected.
	if line := h.fail(1, "", "log", "verify", space.String()); !strings.Contains(line, author.String()) {
		t.Errorf("verify by ID: %q does not name %s", line, author)
	}
	h.ok("", "log", "verify", "other")

	restore()
	if out := h.ok("", "log", "verify", "garden"); !verifiedRE.MatchString(out) {
		t.Errorf("restored space: log verify printed %q", out)
	}
}

package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/store"
)

// testAppRules (#15): a write that breaks the app rules in force in its
// causal past is stored but does not count, with a reason wrapping
// acl.ErrSchema, across a reopen; a value written before a stricter
// version stays readable; a write that does not have the rules in its
// causal past counts.
func testAppRules(t *testing.T, e *env) {
	f := newFixture(t, 3)
	sp := e.create(f)
	admin, ada, bob := f.writer(t, 0), f.writer(t, 1), f.writer(t, 2)
	msgKey := func(w *writer, ms string) string { return "chat/msg/general/" + ms + "-" + w.key.Author().String() }
	loose := `{"rules":[{"key":"chat/msg/{channel}/{ms}-{author}","write":"named"}]}`
	strict := `{"prefix":"chat/","rules":[{"key":"chat/msg/{channel}/{ms}-{author}","write":"named","value":{"type":"object","required":["text"]}}]}`

	first := ada.next([]keys.CommitID{f.genesis.ID}, put("tools/saw", "1")) // Ada's fast path starts here
	concurrent := bob.next([]keys.CommitID{f.genesis.ID}, put(msgKey(ada, "1"), "written before any rules"))
	v1 := admin.next([]keys.CommitID{f.genesis.ID}, commit.SchemaOp(commit.Schema{App: "chat", Version: 1, Body: []byte(loose)}))
	e.mustApply(sp, first, concurrent, v1)
	e.want(sp, msgKey(ada, "1"), "written before any rules", "a write without the rules in its causal past counts")

	old := ada.next([]keys.CommitID{v1.ID}, put(msgKey(ada, "2"), "plain text"))
	e.mustApply(sp, old)
	e.reopen()
	forged := ada.next(nil, put(msgKey(bob, "3"), "I am Bob"))
	wantBroken(t, e.apply(sp, forged)[0], "names author "+bob.key.Author().String())
	e.want(sp, msgKey(bob, "3"), "<none>", "a forged message is not shown")

	v2 := admin.next([]keys.CommitID{old.ID}, commit.SchemaOp(commit.Schema{App: "chat", Version: 2, Body: []byte(strict)}))
	e.mustApply(sp, v2)
	e.reopen()
	plain := ada.next([]keys.CommitID{v2.ID}, put(msgKey(ada, "4"), "plain text"))
	wantBroken(t, e.apply(sp, plain)[0], "not JSON")
	good := ada.next(nil, put(msgKey(ada, "5"), `{"text":"hi"}`))
	e.mustApply(sp, good)
	e.want(sp, msgKey(ada, "2"), "plain text", "a value written before the stricter version stays readable")
	e.want(sp, msgKey(ada, "5"), `{"text":"hi"}`, "")
	if o := e.apply(sp, plain); o[0].Status != store.Duplicate || !errors.Is(o[0].Err, store.ErrRevoked) {
		t.Fatalf("the broken commit again: %s %v, want a duplicate that does not count", o[0].Status, o[0].Err)
	}
	if s, ok := e.st.(*store.Store); ok {
		voided, err := s.Voided(e.ctx, sp)
		if err != nil || !strings.Contains(voided[acl.Loc{Author: plain.Author, Seq: plain.Seq}], "breaks the rules of app") {
			t.Fatalf("Voided = %v, %v; want the broken commit with its reason", voided, err)
		}
	}
}

func wantBroken(t *testing.T, o store.Outcome, why string) {
	t.Helper()
	var se *acl.SchemaError
	if o.Status != store.Revoked || !errors.As(o.Err, &se) || !errors.Is(o.Err, acl.ErrSchema) {
		t.Fatalf("outcome %s %v, want Revoked with an acl.SchemaError", o.Status, o.Err)
	}
	if !strings.Contains(o.Err.Error(), why) {
		t.Fatalf("outcome %v, want %q in it", o.Err, why)
	}
}

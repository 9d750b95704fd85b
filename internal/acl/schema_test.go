package acl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
)

// chatRules: a message key names its author; a message is {"text": …}.
const chatRules = `{"prefix":"chat/","rules":[
 {"key":"chat/msg/{channel}/{ms}-{author}","write":"named",
  "value":{"type":"object","required":["text"],"properties":{"text":{"type":"string"}}}},
 {"key":"chat/topic/{channel}","write":"anyone"},
 {"key":"chat/pin/{channel}","write":"admin"},
 {"key":"chat/profile/{person}/{author}","write":"named"}]}`

func schemaOp(app string, version uint64, body string) commit.Op {
	return commit.SchemaOp(commit.Schema{App: app, Version: version, Body: []byte(body)})
}

func msg(author keys.DeviceKey, text string) commit.Op {
	return commit.Put([]byte("chat/msg/general/1795275122119-"+author.Author().String()), []byte(`{"text":"`+text+`"}`))
}

func putv(k, v string) commit.Op { return commit.Put([]byte(k), []byte(v)) }

func wantSchemaError(t *testing.T, d *acl.Decision, c *commit.Commit, why string) {
	t.Helper()
	err := reason(d, c)
	var se *acl.SchemaError
	if !errors.Is(err, acl.ErrSchema) || !errors.As(err, &se) || !strings.Contains(err.Error(), why) {
		t.Fatalf("seq %d: err = %v, want a SchemaError with %q", c.Seq, err, why)
	}
	if se.App != "chat" || se.Author != c.Author {
		t.Fatalf("SchemaError names app %q, author %s; want chat, %s", se.App, se.Author, c.Author)
	}
}

func TestSchemaRules(t *testing.T) {
	w := newWorld(t)
	admin, ada, bob := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(ada, commit.RoleWrite), grant(bob, commit.RoleWrite))
	before := w.at(ada, 1500, []*commit.Commit{g}, msg(bob, "written before any schema"))
	s := w.at(admin, 2000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
	notSeen := w.at(bob, 2100, []*commit.Commit{g}, msg(ada, "concurrent with the schema"))
	own := w.at(ada, 3000, []*commit.Commit{s}, msg(ada, "hi"))
	forged := w.at(ada, 3100, []*commit.Commit{s}, msg(bob, "I am Bob"))
	badValue := w.at(ada, 3200, []*commit.Commit{s}, putv("chat/msg/general/1-"+ada.Author().String(), `{"txt":"hi"}`))
	notJSON := w.at(ada, 3300, []*commit.Commit{s}, putv("chat/msg/general/2-"+ada.Author().String(), `hi`))
	stray := w.at(ada, 3400, []*commit.Commit{s}, putv("chat/elsewhere", `x`))
	topic := w.at(bob, 3500, []*commit.Commit{s}, putv("chat/topic/general", `anything`))
	pinByMember := w.at(bob, 3600, []*commit.Commit{s}, putv("chat/pin/general", `x`))
	pinByAdmin := w.at(admin, 3700, []*commit.Commit{s}, putv("chat/pin/general", `x`))
	delForged := w.at(bob, 3800, []*commit.Commit{s}, commit.Del([]byte("chat/msg/general/1795275122119-"+ada.Author().String())))
	outside := w.at(bob, 3900, []*commit.Commit{s}, putv("tools/x", `x`))
	memberSchema := w.at(bob, 4000, []*commit.Commit{s}, schemaOp("chat", 2, `{}`))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"written before any schema", before, true},
		{"concurrent with the schema", notSeen, true},
		{"the schema", s, true},
		{"own message", own, true},
		{"forged message", forged, false},
		{"bad value", badValue, false},
		{"not JSON", notJSON, false},
		{"key under the prefix matching no rule", stray, false},
		{"topic by anyone", topic, true},
		{"pin by a member", pinByMember, false},
		{"pin by an admin", pinByAdmin, true},
		{"delete of another's message", delForged, false},
		{"key outside the app", outside, true},
		{"schema by a member", memberSchema, false},
	})
	wantSchemaError(t, d, forged, "names author "+bob.Author().String())
	wantSchemaError(t, d, badValue, "does not fit")
	wantSchemaError(t, d, stray, "matches none")
	wantSchemaError(t, d, pinByMember, "only an admin")
	if err := reason(d, memberSchema); !errors.Is(err, acl.ErrDenied) {
		t.Fatalf("a member's schema: %v, want ErrDenied", err)
	}
	if len(d.Schemas) != 1 || d.Schemas[0].App != "chat" || d.Schemas[0].Granter != admin.Author() {
		t.Fatalf("Decision.Schemas = %+v, want the admin's chat schema", d.Schemas)
	}
}

// A new version applies to the commits that have it in their causal past;
// what was written before stays valid.
func TestSchemaNewVersion(t *testing.T) {
	w := newWorld(t)
	admin, ada := dev(1), dev(2)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(ada, commit.RoleWrite))
	v1 := w.at(admin, 2000, []*commit.Commit{g}, schemaOp("chat", 1, `{"rules":[{"key":"chat/msg/{channel}/{ms}-{author}","write":"named"}]}`))
	old := w.at(ada, 2500, []*commit.Commit{v1}, putv("chat/msg/general/1-"+ada.Author().String(), `plain text`))
	v2 := w.at(admin, 3000, []*commit.Commit{old}, schemaOp("chat", 2, chatRules))
	v1again := w.at(admin, 3100, []*commit.Commit{v2}, schemaOp("chat", 1, `{}`)) // an older version does not replace a newer
	after := w.at(ada, 4000, []*commit.Commit{v1again}, putv("chat/msg/general/2-"+ada.Author().String(), `plain text`))
	good := w.at(ada, 4100, []*commit.Commit{v1again}, msg(ada, "json"))
	retire := w.at(admin, 5000, []*commit.Commit{good}, schemaOp("chat", 3, ``))
	free := w.at(ada, 6000, []*commit.Commit{retire}, putv("chat/anything", `plain`))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"old value under v1", old, true},
		{"plain value under v2", after, false},
		{"JSON value under v2", good, true},
		{"after the rules are retired", free, true},
	})
	wantSchemaError(t, d, after, "version 2")
	// Void, but not evidence of misbehaviour: version 1, in its causal
	// past, allows it (see TestSchemaFollowedVoidedVersion).
	if acl.Broken(reason(d, after)) {
		t.Fatalf("a write version 1 allows: Broken(%v)", reason(d, after))
	}
}

// TestSchemaFollowedVoidedVersion (#15): admin A declares a lenient
// version 2; member M, seeing it, writes a value v2 allows and v1 forbids;
// admin B cut A below its v2 concurrently. M's commit is void (v1 is in
// force for it) but Followed: not evidence that M misbehaved. A commit
// with a write that no version in its causal past allows is Broken, with
// a write that keeps v2 beside it or not; and a store's incremental path
// (a State from a Decision) says the same as Evaluate.
func TestSchemaFollowedVoidedVersion(t *testing.T) {
	w := newWorld(t)
	b, a, m, f := dev(1), dev(2), dev(3), dev(4)
	g := w.genesis(grant(b, commit.RoleAdmin), grant(a, commit.RoleAdmin), grant(m, commit.RoleWrite), grant(f, commit.RoleWrite))
	v1 := w.at(b, 2000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
	lenient := `{"prefix":"chat/","rules":[{"key":"chat/msg/{channel}/{ms}-{author}","write":"named"}]}`
	v2 := w.at(a, 3000, []*commit.Commit{v1}, schemaOp("chat", 2, lenient))
	cut := w.at(b, 3100, nil, revoke(a, 0))
	plain := func(d keys.DeviceKey, ms string) commit.Op {
		return putv("chat/msg/general/"+ms+"-"+d.Author().String(), `"plain text"`)
	}
	st := w.eval().State(w.sp()) // before the writes: as a store holding g, v1, v2 and the cut
	followed := w.at(m, 4000, []*commit.Commit{v2}, plain(m, "1"))
	stray := w.at(f, 4100, []*commit.Commit{v2, cut}, putv("chat/elsewhere", `{"text":"x"}`))
	mixed := w.at(m, 4200, []*commit.Commit{v2}, plain(m, "2"), putv("chat/elsewhere", `{"text":"x"}`))
	forged := w.at(f, 4300, []*commit.Commit{v2}, plain(m, "3")) // under M's name: named in v1 and v2 alike
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"v2 of the cut admin", v2, false},
		{"a value v2 allows, v1 not", followed, false},
		{"a key no version lays out", stray, false},
		{"a write v2 allows beside one no version allows", mixed, false},
		{"a message under another's name", forged, false},
	})
	all := func(keys.AuthorID, uint64) bool { return true }
	for _, tc := range []struct {
		name   string
		c      *commit.Commit
		broken bool
	}{
		{"a value v2 allows, v1 not", followed, false},
		{"a key no version lays out", stray, true},
		{"a write v2 allows beside one no version allows", mixed, true},
		{"a message under another's name", forged, true},
	} {
		wantSchemaError(t, d, tc.c, "version 1")
		if got := acl.Broken(reason(d, tc.c)); got != tc.broken {
			t.Errorf("%s: Evaluate: Broken = %v, want %v (%v)", tc.name, got, tc.broken, reason(d, tc.c))
		}
		_, err := st.Check(tc.c, all)
		if got := acl.Broken(err); !errors.Is(err, acl.ErrSchema) || got != tc.broken {
			t.Errorf("%s: State.Check: Broken = %v, want %v (%v)", tc.name, got, tc.broken, err)
		}
	}
	if why := reason(d, followed).Error(); !strings.Contains(why, "may have followed a version") {
		t.Errorf("M's commit is void as %q, want it to say the rules it kept were voided", why)
	}
}

// A schema counts only while the commit declaring it does: when its admin
// is cut below it, the writes it refused count.
func TestSchemaOfRevokedAdmin(t *testing.T) {
	w := newWorld(t)
	owner, rogue, ada := dev(1), dev(2), dev(3)
	g := w.genesis(grant(owner, commit.RoleAdmin), grant(rogue, commit.RoleAdmin), grant(ada, commit.RoleWrite))
	s := w.at(rogue, 2000, []*commit.Commit{g}, schemaOp("chat", 9, `{"prefix":"chat/","rules":[]}`))
	blocked := w.at(ada, 3000, []*commit.Commit{s}, msg(ada, "hi"))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{{"blocked by the rogue schema", blocked, false}})
	w.at(owner, 4000, []*commit.Commit{blocked}, revoke(rogue, 0))
	d = evalShuffled(t, w)
	checkValid(t, d, []validity{{"the rogue schema", s, false}, {"after the rogue admin is cut", blocked, true}})
	if len(d.Schemas) != 0 {
		t.Fatalf("Decision.Schemas = %+v, want none", d.Schemas)
	}
}

// {person}: only devices the named identity certified write the key.
func TestSchemaPerson(t *testing.T) {
	w := newWorld(t)
	admin, d1, d2 := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(d1, commit.RoleWrite), grant(d2, commit.RoleWrite))
	s := w.at(admin, 2000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
	key := func(d keys.DeviceKey) string { return "chat/profile/" + ana.ID().String() + "/" + d.Author().String() }
	certified := w.at(d1, 3000, []*commit.Commit{s}, certOp(t, ana, d1), putv(key(d1), `{}`))
	later := w.at(d1, 3100, []*commit.Commit{certified}, putv(key(d1), `{}`))
	notCertified := w.at(d2, 3200, []*commit.Commit{certified}, putv(key(d2), `{}`))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"certified in the same commit", certified, true},
		{"certified before", later, true},
		{"not certified by the person", notCertified, false},
	})
	wantSchemaError(t, d, notCertified, "names person")
}

// Check with a State rebuilt from a Decision decides a new commit as
// Evaluate does with it: the incremental path of a store.
func TestSchemaStateFromDecision(t *testing.T) {
	w := newWorld(t)
	admin, ada, bob := dev(1), dev(2), dev(3)
	g := w.genesis(grant(admin, commit.RoleAdmin), grant(ada, commit.RoleWrite), grant(bob, commit.RoleWrite))
	s := w.at(admin, 2000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
	st := w.eval().State(w.sp())
	if got := st.Schemas(); len(got) != 1 {
		t.Fatalf("State.Schemas = %+v, want one", got)
	}
	forged := w.at(ada, 3000, []*commit.Commit{s}, msg(bob, "I am Bob"))
	if !st.Constrains(forged) {
		t.Fatal("Constrains = false for a chat message")
	}
	all := func(keys.AuthorID, uint64) bool { return true }
	if _, err := st.Check(forged, all); !errors.Is(err, acl.ErrSchema) || !acl.Broken(err) {
		t.Fatalf("Check = %v, want ErrSchema, Broken", err)
	}
	if valid(w.eval(), forged) {
		t.Fatal("Evaluate counts what Check refused")
	}
	other := w.at(ada, 3100, []*commit.Commit{s}, put("tools/x"))
	if st.Constrains(other) {
		t.Fatal("Constrains = true for a key no rule covers")
	}
}

// TestSchemaScope: an admin of tools/ declares the rules of app "tools"
// under tools/, but not another app's, rules without the app's prefix, a
// new version of the chat's under tools/ (which would retire the chat's
// rules), nor a retirement; a whole-space admin may.
func TestSchemaScope(t *testing.T) {
	w := newWorld(t)
	admin, toolsAdmin := dev(1), dev(2)
	g := w.genesis(grant(admin, commit.RoleAdmin), commit.GrantOp(commit.Grant{Subject: toolsAdmin.Author(), Role: commit.RoleAdmin, Prefix: []byte("tools/")}))
	tools := w.at(toolsAdmin, 2000, []*commit.Commit{g}, schemaOp("tools", 1, `{"prefix":"tools/","rules":[{"key":"tools/item/{ms}-{author}","write":"named"}]}`))
	chatByTools := w.at(toolsAdmin, 2100, nil, schemaOp("chat", 1, chatRules))
	noPrefix := w.at(toolsAdmin, 2200, nil, schemaOp("tools", 2, `{"rules":[{"key":"tools/note/{author}","write":"named"}]}`))
	chat := w.at(admin, 3000, []*commit.Commit{g}, schemaOp("chat", 1, chatRules))
	hijack := w.at(toolsAdmin, 4000, []*commit.Commit{chat}, schemaOp("chat", 2, `{"prefix":"tools/chat/","rules":[{"key":"tools/chat/{author}","write":"named"}]}`))
	retire := w.at(toolsAdmin, 4100, nil, schemaOp("chat", 3, `{}`))
	retireByAdmin := w.at(admin, 5000, []*commit.Commit{hijack, retire}, schemaOp("chat", 4, `{}`))
	d := evalShuffled(t, w)
	checkValid(t, d, []validity{
		{"tools rules by the tools admin", tools, true},
		{"chat rules by the tools admin", chatByTools, false},
		{"rules without the app's prefix by the tools admin", noPrefix, false},
		{"chat rules by the admin", chat, true},
		{"a new chat version under tools/ by the tools admin", hijack, false},
		{"the chat's retirement by the tools admin", retire, false},
		{"the chat's retirement by the admin", retireByAdmin, true},
	})
	if err := reason(d, chatByTools); !errors.Is(err, acl.ErrDenied) || !strings.Contains(err.Error(), `app "chat"`) {
		t.Errorf("chat rules by the tools admin: %v", err)
	}
}

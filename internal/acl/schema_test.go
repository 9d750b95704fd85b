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
	if _, err := st.Check(forged, all); !errors.Is(err, acl.ErrSchema) {
		t.Fatalf("Check = %v, want ErrSchema", err)
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

package space_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/schema"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

func chatRules(t *testing.T) commit.Schema {
	t.Helper()
	for _, a := range schema.Apps {
		if a.Name == "chat" {
			return commit.Schema{App: a.Name, Version: a.Version, Body: a.Body}
		}
	}
	t.Fatal("schema.Apps has no chat")
	return commit.Schema{}
}

// TestDeclareRules: an admin declares an app's rules, which are then in
// force; a version not newer than the one in force is refused with
// ErrRulesVersion, version 0 takes the next one, a body that does not
// decode is refused before anything is written, and a member who is not
// an admin gets the acl's refusal (ErrReadOnly, naming admin).
func TestDeclareRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	chat := chatRules(t)
	got, err := f.sp.DeclareRules(ctx, chat)
	if err != nil || got.Version != 1 || !json.Valid(got.Body) || bytes.ContainsAny(got.Body, "\n ") {
		t.Fatalf("DeclareRules(chat v1) = %s, %v; want version 1, compact", got.Body, err)
	}
	in, err := f.sp.Rules(ctx)
	if err != nil || len(in) != 1 || in[0].App != "chat" || in[0].Version != 1 || string(in[0].Body) != string(got.Body) {
		t.Fatalf("Rules = %+v, %v; want chat v1", in, err)
	}
	if _, err := f.sp.DeclareRules(ctx, chat); !errors.Is(err, space.ErrRulesVersion) || !strings.Contains(err.Error(), "declare version 2 or later") {
		t.Fatalf("declaring v1 again: %v, want ErrRulesVersion", err)
	}
	loose := chat
	loose.Version, loose.Body = 0, []byte(`{"rules":[{"key":"chat/msg/{channel}/{ms}-{author}","write":"named"}]}`)
	if got, err := f.sp.DeclareRules(ctx, loose); err != nil || got.Version != 2 {
		t.Fatalf("DeclareRules(version 0) = %+v, %v; want version 2", got, err)
	}
	before, _ := f.st.Heads(ctx, f.sk.Space())
	if _, err := f.sp.DeclareRules(ctx, commit.Schema{App: "chat", Body: []byte(`{"rules":[{"key":"chat/{x}","write":"whoever"}]}`)}); !errors.Is(err, schema.ErrBody) {
		t.Fatalf("a bad body: %v, want schema.ErrBody", err)
	}
	if after, _ := f.st.Heads(ctx, f.sk.Space()); len(after) != len(before) || after[0].Seq != before[0].Seq {
		t.Fatal("a refused declaration reached the store")
	}
	_, wsp := f.writer(t)
	if _, err := wsp.DeclareRules(ctx, commit.Schema{App: "tools"}); !errors.Is(err, space.ErrReadOnly) || !errors.Is(err, acl.ErrDenied) || !strings.Contains(err.Error(), "declaring the rules of app") {
		t.Fatalf("a writer declaring rules: %v, want ErrReadOnly naming admin", err)
	}
}

// TestAppRuleRefusal: a write that breaks a rule in force is refused
// before it is signed with its own kind (ErrAppRule, not ErrReadOnly) and
// a message that names the app, the rule and what to do; one the store
// voids because the device checked against older rules says the write
// was kept but does not count, and names the rule, not a revocation.
func TestAppRuleRefusal(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{})
	if _, err := f.sp.DeclareRules(ctx, chatRules(t)); err != nil {
		t.Fatal(err)
	}
	w, wsp := f.writer(t)
	forged := []byte("chat/msg/general/1795275122119-" + f.dev.Author().String())
	cases := []struct {
		name string
		op   commit.Op
		want []string
	}{
		{"under another's name", commit.Put(forged, []byte(`{"text":"I am the admin"}`)),
			[]string{`rule "chat/msg/{channel}/{ms}-{author}"`, "names author " + f.dev.Author().String(), "use your own author ID"}},
		{"a value off the layout", commit.Put([]byte("chat/msg/general/1795275122119-"+w.Author().String()), []byte(`{"txt":"typo"}`)),
			[]string{"does not fit the app's layout", "text"}},
		{"a key off the layout", commit.Put([]byte("chat/general/0001"), []byte(`{"text":"hi"}`)),
			[]string{`matches none of its key layouts`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := f.st.Heads(ctx, f.sk.Space())
			_, err := wsp.Commit(ctx, []commit.Op{tc.op})
			if !errors.Is(err, space.ErrAppRule) || errors.Is(err, space.ErrReadOnly) {
				t.Fatalf("err = %v, want ErrAppRule and not ErrReadOnly", err)
			}
			var se *acl.SchemaError
			if !errors.As(err, &se) || se.App != "chat" || se.Version != 1 {
				t.Fatalf("err = %v, want an *acl.SchemaError of chat v1", err)
			}
			for _, s := range append(tc.want, "not written", `app "chat" (version 1)`, "docs/apps.md", "loam space rules") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if after, _ := f.st.Heads(ctx, f.sk.Space()); len(after) != len(before) {
				t.Fatalf("a refused write reached the store: heads %d → %d", len(before), len(after))
			}
		})
	}

	_, err := wsp.CommitUnchecked(ctx, []commit.Op{commit.Put(forged, []byte(`{"text":"I am the admin"}`))})
	if !errors.Is(err, space.ErrAppRule) || errors.Is(err, space.ErrReadOnly) {
		t.Fatalf("a write the store voids for a rule: %v, want ErrAppRule and not ErrReadOnly", err)
	}
	for _, s := range []string{"kept but does not count", `rule "chat/msg/{channel}/{ms}-{author}"`, "use your own author ID"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "revoked") || strings.Contains(err.Error(), "invite") {
		t.Errorf("error %q speaks of a revocation", err)
	}
	// The device's chain goes on: the next write is its next seq.
	if _, err := wsp.Commit(ctx, []commit.Op{commit.Put([]byte("chat/topic/general"), []byte(`{"topic":"street"}`))}); err != nil {
		t.Fatalf("a write after the voided one: %v", err)
	}
}

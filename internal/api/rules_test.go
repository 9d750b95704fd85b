package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/schema"
	"github.com/loamdb/loam/internal/space"
)

// TestRulesEndpoint: POST /v1/spaces/{space}/schemas without a body
// declares the rules Loam ships for the app, with one the rules given;
// GET lists those in force; an old version is 409 rules_version, a bad
// body 400 bad_rules, an app Loam does not ship without a body 400; a
// write that breaks a rule is 422 app_rule with a sentence naming the
// rule.
func TestRulesEndpoint(t *testing.T) {
	ctx := ctxT(t)
	f := serve(t, false)
	sp := f.mustSpace(ctx, t, "street")
	if in, err := f.c.Rules(ctx, sp.ID); err != nil || len(in) != 0 {
		t.Fatalf("rules of a new space: %+v, %v", in, err)
	}
	got, err := f.c.DeclareRules(ctx, sp.ID, RulesBody{App: "chat"})
	if err != nil || got.App != "chat" || got.Version != schema.Apps[0].Version || !json.Valid(got.Body) {
		t.Fatalf("declaring the shipped chat rules: %+v, %v", got, err)
	}
	if _, err := f.c.DeclareRules(ctx, sp.ID, RulesBody{App: "board", Body: json.RawMessage(`{"prefix":"board/","rules":[{"key":"board/offer/{ms}-{author}","write":"named"}]}`)}); err != nil {
		t.Fatalf("declaring rules given: %v", err)
	}
	in, err := f.c.Rules(ctx, sp.ID)
	if err != nil || len(in) != 2 || in[0].App != "board" || in[0].Version != 1 || in[1].App != "chat" {
		t.Fatalf("rules in force: %+v, %v", in, err)
	}
	for _, tc := range []struct {
		name   string
		req    RulesBody
		status int
		code   string
		want   error
	}{
		{"an old version", RulesBody{App: "chat"}, http.StatusConflict, "rules_version", space.ErrRulesVersion},
		{"a bad body", RulesBody{App: "board", Body: json.RawMessage(`{"rules":[{"key":"board/{x}","write":"whoever"}]}`)}, http.StatusBadRequest, "bad_rules", schema.ErrBody},
		{"an unknown app without a body", RulesBody{App: "weather"}, http.StatusBadRequest, "bad_request", ErrBadRequest},
		{"no app", RulesBody{Body: json.RawMessage(`{}`)}, http.StatusBadRequest, "bad_request", ErrBadRequest},
	} {
		_, err := f.c.DeclareRules(ctx, sp.ID, tc.req)
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != tc.code || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %d %s", tc.name, err, tc.status, tc.code)
		}
	}

	other := "aut_a6oixdyethdi5wljznyjvdvsy5se32gbdrhnqqhisfton7vczciq"
	err = f.c.Put(ctx, sp.ID, []byte("chat/msg/general/1795275122119-"+other), []byte(`{"text":"I am someone else"}`))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || ae.Code != "app_rule" || !errors.Is(err, space.ErrAppRule) ||
		!strings.Contains(ae.Message, `rule "chat/msg/{channel}/{ms}-{author}"`) || !strings.Contains(ae.Message, "use your own author ID") {
		t.Fatalf("a message under another's name: %v", err)
	}
}

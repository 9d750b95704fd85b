package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/schema"
	"github.com/loamdb/loam/internal/space"
)

// App rules (#15): POST /v1/spaces/{space}/schemas declares an app's
// rules (admins), GET lists those in force.

// RulesBody is one app's rules. Body is the rules themselves (a JSON
// object, docs/apps.md "App rules"); in a request, leaving it out
// declares the rules Loam ships for App ("chat", "tools", "profile"), and
// a Version of 0 takes the version after the one in force (for a shipped
// app without a body: the shipped version).
type RulesBody struct {
	App     string          `json:"app"`
	Version uint64          `json:"version,omitempty"`
	Body    json.RawMessage `json:"body,omitempty"`
}

// RulesList is the app rules in force in a space, by app.
type RulesList struct {
	Apps []RulesBody `json:"apps"`
}

// RulesOf converts a declaration to its API form.
func RulesOf(sc commit.Schema) RulesBody {
	b := RulesBody{App: sc.App, Version: sc.Version}
	if len(sc.Body) > 0 {
		b.Body = json.RawMessage(sc.Body)
	}
	return b
}

// Schema returns b as the declaration it asks for: a shipped app's rules
// when it has no body.
func (b RulesBody) Schema() (commit.Schema, error) {
	if b.App == "" {
		return commit.Schema{}, badRequestf(`"app" is missing: name the app whose rules these are (e.g. "chat")`)
	}
	if len(b.Body) > 0 {
		return commit.Schema{App: b.App, Version: b.Version, Body: []byte(b.Body)}, nil
	}
	for _, a := range schema.Apps {
		if a.Name == b.App {
			v := b.Version
			if v == 0 {
				v = a.Version
			}
			return commit.Schema{App: a.Name, Version: v, Body: a.Body}, nil
		}
	}
	return commit.Schema{}, badRequestf(`"body" is missing, and Loam ships no rules of app %q (it has chat, tools and profile)`, b.App)
}

// maxRulesRequest bounds the body of a declaration: the rules, at most
// schema.MaxBody, and the fields around them.
const maxRulesRequest = schema.MaxBody + 4<<10

func (s *Server) rules(r *http.Request, sp *space.Space) (RulesList, error) {
	in, err := sp.Rules(r.Context())
	out := RulesList{Apps: []RulesBody{}}
	for _, sc := range in {
		out.Apps = append(out.Apps, RulesOf(sc))
	}
	return out, err
}

func (s *Server) declareRules(r *http.Request) (RulesBody, error) {
	var req RulesBody
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRulesRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return RulesBody{}, badRequestf("the request has no JSON body")
		}
		return RulesBody{}, badRequestf("the request body is not the JSON expected: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return RulesBody{}, badRequestf("the request body has data after its JSON object")
	}
	sc, err := req.Schema()
	if err != nil {
		return RulesBody{}, err
	}
	sp, err := s.space(r)
	if err != nil {
		return RulesBody{}, err
	}
	sc, err = sp.DeclareRules(r.Context(), sc)
	if err != nil {
		return RulesBody{}, err
	}
	return RulesOf(sc), nil
}

// Rules returns the app rules in force in space sp.
func (c *Client) Rules(ctx context.Context, sp string) ([]RulesBody, error) {
	out, err := callFor[RulesList](ctx, c, http.MethodGet, spacePath(sp, "/schemas"), nil)
	return out.Apps, err
}

// DeclareRules declares an app's rules in space sp and returns what it
// declared.
func (c *Client) DeclareRules(ctx context.Context, sp string, b RulesBody) (RulesBody, error) {
	return callFor[RulesBody](ctx, c, http.MethodPost, spacePath(sp, "/schemas"), b)
}

package space

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/loamdb/loam/internal/acl"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/schema"
)

// App rules (#15) from this device's side: declaring them (an admin's
// schema op), reading those in force, and the error of a write that
// breaks one.

// ErrAppRule is wrapped by the error of a write of this device that breaks
// an app rule in force (acl.ErrSchema: the error also wraps the
// *acl.SchemaError). It is its own kind, not ErrReadOnly: the device may
// write, but not this key or value.
var ErrAppRule = acl.ErrSchema

// ErrRulesVersion refuses a declaration whose version is not greater than
// the version of the app's rules in force: it would not take effect.
var ErrRulesVersion = errors.New("a version of the app's rules as new or newer is in force")

// ruleError is the error of a write of this device that breaks an app
// rule: refused before it was signed, or (kept) stored but void because
// the store held rules the device had not seen when it checked.
type ruleError struct {
	se    *acl.SchemaError
	space string
	kept  bool
}

func (e *ruleError) Error() string {
	what := "not written"
	if e.kept {
		what = "the write was kept but does not count on any replica"
	}
	why := "it breaks them"
	if e.se.Why != nil {
		why = e.se.Why.Error()
	}
	return fmt.Sprintf("space %s: %s: the write to %q breaks the rules of app %q (version %d): %s. Write the key and value as the app lays them out (docs/apps.md; the rules in force: loam space rules %s --json)",
		e.space, what, e.se.Key, e.se.App, e.se.Version, why, e.space)
}

func (e *ruleError) Unwrap() error { return e.se }

// appRuleErr returns err as the error of a write that breaks an app rule,
// or nil if err is not one.
func (s *Space) appRuleErr(err error, kept bool) error {
	var se *acl.SchemaError
	if !errors.As(err, &se) {
		return nil
	}
	return &ruleError{se: se, space: s.info.Name, kept: kept}
}

// Rules returns the app rules in force for this device's next write: per
// app, the newest declaration made by a commit that counts here, by app
// name.
func (s *Space) Rules(ctx context.Context) ([]commit.Schema, error) {
	a, err := s.st.Access(ctx, s.info.ID)
	if err != nil {
		return nil, err
	}
	var out []commit.Schema
	for _, sc := range a.State.InForce(func(keys.AuthorID, uint64) bool { return true }) {
		out = append(out, commit.Schema{App: sc.App, Version: sc.Version, Body: sc.Body})
	}
	return out, nil
}

// DeclareRules declares the rules of an app (an admin's schema op): they
// apply to the commits that have the declaration in their causal past. A
// body with no rules retires the app's rules. Version 0 takes the version
// after the one in force; a version not greater than it is refused with
// ErrRulesVersion. It returns what it declared.
func (s *Space) DeclareRules(ctx context.Context, sc commit.Schema) (commit.Schema, error) {
	if sc.App == "" || len(sc.App) > 64 {
		return sc, fmt.Errorf("space: rules: %w: an app's name is 1 to 64 bytes", schema.ErrBody)
	}
	if _, err := schema.Parse(sc.Body); err != nil {
		return sc, fmt.Errorf("space: rules of app %q: %w", sc.App, err)
	}
	if len(sc.Body) > 0 { // signed compact, as the API carries it (encoding/json compacts raw JSON)
		var b bytes.Buffer
		if err := json.Compact(&b, sc.Body); err != nil {
			return sc, fmt.Errorf("space: rules of app %q: %w: %v", sc.App, schema.ErrBody, err)
		}
		sc.Body = b.Bytes()
	}
	if err := s.canWrite(ctx, []commit.Op{commit.SchemaOp(sc)}); err != nil {
		return sc, err // not an admin: that first, whatever the version
	}
	in, err := s.Rules(ctx)
	if err != nil {
		return sc, err
	}
	var cur uint64
	for _, r := range in {
		if r.App == sc.App {
			cur = r.Version
		}
	}
	switch {
	case sc.Version == 0:
		sc.Version = cur + 1
	case sc.Version <= cur:
		return sc, fmt.Errorf("%w: version %d of app %q is in force in space %s; declare version %d or later (or leave the version out)", ErrRulesVersion, cur, sc.App, s.info.Name, cur+1)
	}
	if _, err = s.Commit(ctx, []commit.Op{commit.SchemaOp(sc)}); err != nil {
		return sc, err
	}
	s.mu.Lock()
	s.accessGen++ // the device's next write is checked against these rules
	s.mu.Unlock()
	return sc, nil
}

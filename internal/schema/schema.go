// Package schema decodes and applies app rules: the body of a schema
// control op (commit.Schema.Body), which says, per key pattern of an app,
// who may write the key and which JSON values it may hold.
//
// A body is one JSON object, decoded strictly (unknown fields, trailing
// bytes and anything over the limits below are errors):
//
//	{"prefix": "chat/",
//	 "rules": [
//	   {"key": "chat/msg/{channel}/{ms}-{author}", "write": "named",
//	    "value": {"type": "object", "required": ["text"]}},
//	   {"key": "chat/topic/{channel}", "write": "anyone"}]}
//
// A key pattern is '/'-separated segments. A segment is a literal, one
// placeholder `{name}` (any non-empty segment), or parts joined by '-'
// (`{ms}-{author}`), which then match a key segment with exactly as many
// '-'-separated non-empty parts. Two placeholder names mean something:
// `{author}` must be the signer's author ID (`aut_…`) and `{person}` an
// identity (`idt_…`) that certified the signer. Patterns of one body must
// not overlap: a key matches at most one rule of an app.
//
// write is who may write a matching key (put, del, putblob), besides what
// the signer's grants allow:
//   - "anyone": whoever the grants allow;
//   - "named": the signer named by the key's {author} (and certified by
//     its {person}, when the pattern has both); the pattern must have one;
//   - "admin": an admin whose grant covers the key.
//
// once, when true, makes a matching key write-once: a put, del or putblob
// of it is refused when a write of the key (by anyone) is already in the
// writing commit's causal past. Two first writes made concurrently both
// stand (neither saw the other); the key then holds both, as any
// concurrent writes. The caller says what is in the causal past
// (Signer.Written).
//
// value, when set, is a JSON Schema (draft 2020-12, no remote references,
// formats as annotations) every put's value must meet; a key with a value
// schema holds JSON, never a blob. prefix, when set, closes the app: a key
// under it that matches no rule may not be written. A body with no rules
// retires the app's rules.
package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Limits of a body.
const (
	MaxBody     = 64 << 10 // bytes of one body (a control op's payload bound)
	MaxRules    = 64       // rules of one app
	MaxPattern  = 512      // bytes of one key pattern
	MaxSegments = 16       // segments of one key pattern
	MaxParts    = 4        // '-'-separated parts of one segment
	MaxName     = 32       // bytes of a placeholder name
)

// ErrBody wraps every reason a body does not decode.
var ErrBody = errors.New("schema: bad body")

// Write says who may write a key.
type Write string

// The ways a key may be written.
const (
	Anyone Write = "anyone"
	Named  Write = "named"
	Admin  Write = "admin"
)

type wireBody struct {
	Prefix string     `json:"prefix,omitempty"`
	Rules  []wireRule `json:"rules"`
}

type wireRule struct {
	Key   string          `json:"key"`
	Write Write           `json:"write"`
	Value json.RawMessage `json:"value,omitempty"`
	Once  bool            `json:"once,omitempty"`
}

// Set is a decoded, compiled body. It is immutable and safe for
// concurrent use.
type Set struct {
	Prefix string
	Rules  []*Rule
	size   int // bytes held, about (for the cache's bound)
}

// Rule is one rule of a Set.
type Rule struct {
	Key   string // the pattern as written
	Write Write
	Once  bool               // write-once: refused when the key was written in the commit's causal past
	value *jsonschema.Schema // nil: any value, blobs too
	segs  [][]part
}

// part is a literal (name empty) or a placeholder.
type part struct {
	lit, name string
}

// Decode decodes and compiles a body, strictly. An empty body is a Set
// with no rules.
func Decode(body []byte) (*Set, error) {
	if len(body) == 0 {
		return &Set{}, nil
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrBody, len(body), MaxBody)
	}
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var w wireBody
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBody, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: bytes after the object", ErrBody)
	}
	if len(w.Rules) > MaxRules {
		return nil, fmt.Errorf("%w: %d rules, over %d", ErrBody, len(w.Rules), MaxRules)
	}
	if strings.ContainsAny(w.Prefix, "{}") || len(w.Prefix) > MaxPattern {
		return nil, fmt.Errorf("%w: prefix %q must be literal, at most %d bytes", ErrBody, w.Prefix, MaxPattern)
	}
	s := &Set{Prefix: w.Prefix, size: len(body) * 8}
	for i, wr := range w.Rules {
		r, err := compileRule(wr)
		if err != nil {
			return nil, fmt.Errorf("%w: rule %d (%q): %v", ErrBody, i, wr.Key, err)
		}
		if !strings.HasPrefix(wr.Key, w.Prefix) {
			return nil, fmt.Errorf("%w: rule %d: pattern %q is not under the prefix %q", ErrBody, i, wr.Key, w.Prefix)
		}
		for _, o := range s.Rules {
			if overlap(o.segs, r.segs) {
				return nil, fmt.Errorf("%w: patterns %q and %q overlap: a key must match one rule at most", ErrBody, o.Key, r.Key)
			}
		}
		s.Rules = append(s.Rules, r)
	}
	return s, nil
}

func compileRule(wr wireRule) (*Rule, error) {
	if wr.Key == "" || len(wr.Key) > MaxPattern {
		return nil, fmt.Errorf("a pattern is 1..%d bytes", MaxPattern)
	}
	r := &Rule{Key: wr.Key, Write: wr.Write, Once: wr.Once}
	names := map[string]bool{}
	for _, seg := range strings.Split(wr.Key, "/") {
		if len(r.segs) == MaxSegments {
			return nil, fmt.Errorf("more than %d segments", MaxSegments)
		}
		ps, err := parseSegment(seg)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p.name != "" {
				if names[p.name] {
					return nil, fmt.Errorf("placeholder {%s} twice", p.name)
				}
				names[p.name] = true
			}
		}
		r.segs = append(r.segs, ps)
	}
	switch wr.Write {
	case Anyone, Admin:
	case Named:
		if !names["author"] && !names["person"] {
			return nil, errors.New(`write "named" needs {author} or {person} in the pattern`)
		}
	default:
		return nil, fmt.Errorf(`write is "anyone", "named" or "admin", not %q`, wr.Write)
	}
	if len(wr.Value) > 0 {
		v, err := compileValue(wr.Value)
		if err != nil {
			return nil, err
		}
		r.value = v
	}
	return r, nil
}

// parseSegment parses one segment of a pattern.
func parseSegment(seg string) ([]part, error) {
	if seg == "" {
		return nil, errors.New("an empty segment")
	}
	if !strings.ContainsAny(seg, "{}") {
		return []part{{lit: seg}}, nil // a literal segment may hold '-'
	}
	raw := strings.Split(seg, "-")
	if len(raw) > MaxParts {
		return nil, fmt.Errorf("segment %q has more than %d parts", seg, MaxParts)
	}
	out := make([]part, 0, len(raw))
	for _, p := range raw {
		switch {
		case p == "":
			return nil, fmt.Errorf("segment %q has an empty part", seg)
		case p[0] == '{' && p[len(p)-1] == '}':
			name := p[1 : len(p)-1]
			if !validName(name) {
				return nil, fmt.Errorf("placeholder %q: a name is 1..%d of a-z, 0-9, _ starting with a letter", p, MaxName)
			}
			out = append(out, part{name: name})
		case strings.ContainsAny(p, "{}"):
			return nil, fmt.Errorf("segment %q: a placeholder is a whole part, {name}", seg)
		default:
			out = append(out, part{lit: p})
		}
	}
	return out, nil
}

func validName(s string) bool {
	if s == "" || len(s) > MaxName || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// overlap reports whether some key matches both patterns.
func overlap(a, b [][]part) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !segOverlap(a[i], b[i]) {
			return false
		}
	}
	return true
}

func segOverlap(a, b []part) bool {
	if len(a) == 1 && a[0].name != "" || len(b) == 1 && b[0].name != "" {
		return true // a whole-segment placeholder matches anything
	}
	if len(a) == 1 && len(b) == 1 {
		return a[0].lit == b[0].lit
	}
	// Compound or literal segments: compare the '-'-split literal parts.
	as, bs := splitLits(a), splitLits(b)
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i].name == "" && bs[i].name == "" && as[i].lit != bs[i].lit {
			return false
		}
	}
	return true
}

// splitLits splits a single literal part on '-' so that it compares with a
// compound segment part by part.
func splitLits(ps []part) []part {
	if len(ps) != 1 || ps[0].name != "" {
		return ps
	}
	var out []part
	for _, l := range strings.Split(ps[0].lit, "-") {
		out = append(out, part{lit: l})
	}
	return out
}

// compileValue compiles a rule's JSON Schema, with no loader: a reference
// to anything outside the schema fails, so compiling reads nothing but
// the body and decides alike on every replica.
func compileValue(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("value schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const loc = "loam:value.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("value schema: %v", err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("value schema: %v", err)
	}
	return sch, nil
}

// hash names a body in the cache.
func hash(body []byte) [32]byte { return sha256.Sum256(body) }

// Hash names a body: equal bodies, equal hashes.
func Hash(body []byte) [32]byte { return hash(body) }

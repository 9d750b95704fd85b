package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Op is the kind of write being checked.
type Op int

// The writes a rule decides.
const (
	Put     Op = iota // a JSON value (or any bytes, without a value schema)
	Del               // a tombstone: who may write only
	PutBlob           // a blob reference: refused where a value schema is set
)

// Signer is who signs a write, asked lazily: only what a matching rule
// needs is looked at.
type Signer struct {
	Author string                // the signer's author ID, aut_…
	Person func(idt string) bool // whether idt certified the signer
	Admin  func(key []byte) bool // whether the signer is an admin over key
	// Written reports whether key has a write in the causal past of the
	// commit being checked (any author), for write-once rules; nil: none.
	Written func(key []byte) bool
}

// Violation says which rule a write breaks and why, in words for users.
type Violation struct {
	Rule string // the pattern, or "" for a key under the prefix that matches none
	Why  string
}

func (v *Violation) Error() string {
	if v.Rule == "" {
		return v.Why
	}
	return fmt.Sprintf("rule %q: %s", v.Rule, v.Why)
}

// Covers reports whether the set has anything to say about key: it is
// under the prefix or matches a rule.
func (s *Set) Covers(key []byte) bool {
	if s.Prefix != "" && bytes.HasPrefix(key, []byte(s.Prefix)) {
		return true
	}
	r, _ := s.match(key)
	return r != nil
}

// Check decides one write of key by signer; nil if the set allows it.
func (s *Set) Check(key []byte, op Op, value []byte, signer Signer) *Violation {
	r, binds := s.match(key)
	if r == nil {
		if s.Prefix != "" && bytes.HasPrefix(key, []byte(s.Prefix)) {
			return &Violation{Why: fmt.Sprintf("%q is under %q but matches none of its key layouts: write one of them", key, s.Prefix)}
		}
		return nil
	}
	switch r.Write {
	case Named:
		if a, ok := binds["author"]; ok && a != signer.Author {
			return &Violation{Rule: r.Key, Why: fmt.Sprintf("the key names author %s, but %s signed it: only the author named in the key may write it (use your own author ID)", a, signer.Author)}
		}
		if p, ok := binds["person"]; ok && (signer.Person == nil || !signer.Person(p)) {
			return &Violation{Rule: r.Key, Why: fmt.Sprintf("the key names person %s, who has not certified %s here: only that person's devices may write it", p, signer.Author)}
		}
	case Admin:
		if signer.Admin == nil || !signer.Admin(key) {
			return &Violation{Rule: r.Key, Why: fmt.Sprintf("only an admin may write it, and %s is not an admin over %q (ask an admin)", signer.Author, key)}
		}
	}
	if r.Once && signer.Written != nil && signer.Written(key) {
		return &Violation{Rule: r.Key, Why: fmt.Sprintf("%q is written once, and a write of it is already in this commit's past: write a new key instead", key)}
	}
	if r.value == nil {
		return nil
	}
	switch op {
	case PutBlob:
		return &Violation{Rule: r.Key, Why: "the key holds a JSON value, not a blob"}
	case Put:
		v, err := decodeValue(value)
		if err != nil {
			return &Violation{Rule: r.Key, Why: "the value is not JSON: " + err.Error()}
		}
		if err := r.value.Validate(v); err != nil {
			return &Violation{Rule: r.Key, Why: "the value does not fit the app's layout: " + inWords(err)}
		}
	}
	return nil
}

// Once reports whether key matches a write-once rule of the set.
func (s *Set) Once(key []byte) bool {
	if s.Prefix != "" && !bytes.HasPrefix(key, []byte(s.Prefix)) {
		return false // a rule's pattern is under the prefix (Decode)
	}
	r, _ := s.match(key)
	return r != nil && r.Once
}

// HasOnce reports whether some rule of the set is write-once.
func (s *Set) HasOnce() bool {
	for _, r := range s.Rules {
		if r.Once {
			return true
		}
	}
	return false
}

// match returns the rule key matches, with its placeholders' values.
func (s *Set) match(key []byte) (*Rule, map[string]string) {
	if !utf8.Valid(key) {
		return nil, nil
	}
	segs := strings.Split(string(key), "/")
	for _, r := range s.Rules {
		if binds, ok := r.match(segs); ok {
			return r, binds
		}
	}
	return nil, nil
}

func (r *Rule) match(segs []string) (map[string]string, bool) {
	if len(segs) != len(r.segs) {
		return nil, false
	}
	var binds map[string]string
	bind := func(name, v string) {
		if binds == nil {
			binds = map[string]string{}
		}
		binds[name] = v
	}
	for i, ps := range r.segs {
		seg := segs[i]
		if seg == "" {
			return nil, false
		}
		if len(ps) == 1 {
			if ps[0].name != "" {
				bind(ps[0].name, seg)
			} else if ps[0].lit != seg {
				return nil, false
			}
			continue
		}
		vs := strings.Split(seg, "-")
		if len(vs) != len(ps) {
			return nil, false
		}
		for j, p := range ps {
			switch {
			case vs[j] == "":
				return nil, false
			case p.name != "":
				bind(p.name, vs[j])
			case p.lit != vs[j]:
				return nil, false
			}
		}
	}
	return binds, true
}

// decodeValue decodes a value as one JSON document (numbers kept exact).
func decodeValue(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("bytes after the value")
	}
	return v, nil
}

// oneLine joins a validation error's lines, so that it reads as one
// sentence in a log or a refusal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

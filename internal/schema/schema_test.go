package schema

import (
	"errors"
	"strings"
	"testing"
)

const chatBody = `{"prefix":"chat/","rules":[
 {"key":"chat/msg/{channel}/{ms}-{author}","write":"named",
  "value":{"type":"object","required":["text"],"properties":{"text":{"type":"string","maxLength":20}}}},
 {"key":"chat/topic/{channel}","write":"anyone"},
 {"key":"chat/pin/{channel}","write":"admin"},
 {"key":"chat/profile/{person}/{author}","write":"named"}]}`

const ada = "aut_ada"

func signer(author string, persons ...string) Signer {
	return Signer{
		Author: author,
		Person: func(p string) bool {
			for _, q := range persons {
				if p == q {
					return true
				}
			}
			return false
		},
		Admin: func([]byte) bool { return false },
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"unknown field", `{"rules":[],"extra":1}`, "unknown field"},
		{"trailing", `{"rules":[]} {}`, "after"},
		{"bad write", `{"rules":[{"key":"a/{b}","write":"me"}]}`, "write is"},
		{"named without author", `{"rules":[{"key":"a/{b}","write":"named"}]}`, "needs {author}"},
		{"overlap", `{"rules":[{"key":"a/{b}","write":"anyone"},{"key":"a/x","write":"admin"}]}`, "overlap"},
		{"overlap compound", `{"rules":[{"key":"a/{b}-{c}","write":"anyone"},{"key":"a/x-y","write":"admin"}]}`, "overlap"},
		{"not under prefix", `{"prefix":"chat/","rules":[{"key":"tools/{x}","write":"anyone"}]}`, "not under"},
		{"empty segment", `{"rules":[{"key":"a//b","write":"anyone"}]}`, "empty segment"},
		{"twice", `{"rules":[{"key":"{a}/{a}","write":"anyone"}]}`, "twice"},
		{"half placeholder", `{"rules":[{"key":"a/x{b}","write":"anyone"}]}`, "whole part"},
		{"bad name", `{"rules":[{"key":"a/{B}","write":"anyone"}]}`, "placeholder"},
		{"remote ref", `{"rules":[{"key":"a/{b}","write":"anyone","value":{"$ref":"https://example.com/s.json"}}]}`, "value schema"},
		{"file ref", `{"rules":[{"key":"a/{b}","write":"anyone","value":{"$ref":"file:///etc/passwd"}}]}`, "value schema"},
		{"bad schema", `{"rules":[{"key":"a/{b}","write":"anyone","value":{"type":12}}]}`, "value schema"},
		{"too many segments", `{"rules":[{"key":"` + strings.Repeat("a/", 16) + `a","write":"anyone"}]}`, "segments"},
		{"too big", `{"prefix":"` + strings.Repeat("a", MaxBody) + `"}`, "over"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.body))
			if !errors.Is(err, ErrBody) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Decode(%s) = %v, want ErrBody with %q", c.body, err, c.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	s, err := Decode([]byte(chatBody))
	if err != nil {
		t.Fatal(err)
	}
	admin := signer("aut_root")
	admin.Admin = func([]byte) bool { return true }
	for _, c := range []struct {
		name   string
		key    string
		op     Op
		value  string
		signer Signer
		want   string // "" allowed, else part of the violation
	}{
		{"own message", "chat/msg/general/1795275122119-" + ada, Put, `{"text":"hi"}`, signer(ada), ""},
		{"someone else's message", "chat/msg/general/1795275122119-aut_bob", Put, `{"text":"hi"}`, signer(ada), "names author aut_bob"},
		{"delete someone else's", "chat/msg/general/1795275122119-aut_bob", Del, "", signer(ada), "names author"},
		{"value breaks schema", "chat/msg/general/1-" + ada, Put, `{"txt":"hi"}`, signer(ada), "does not fit"},
		{"value too long", "chat/msg/general/1-" + ada, Put, `{"text":"` + strings.Repeat("x", 21) + `"}`, signer(ada), "does not fit"},
		{"not JSON", "chat/msg/general/1-" + ada, Put, `{"text":`, signer(ada), "not JSON"},
		{"two values", "chat/msg/general/1-" + ada, Put, `{"text":"a"} {}`, signer(ada), "not JSON"},
		{"blob where JSON", "chat/msg/general/1-" + ada, PutBlob, "", signer(ada), "not a blob"},
		{"del needs no value", "chat/msg/general/1-" + ada, Del, "", signer(ada), ""},
		{"channel with dash", "chat/msg/garden-tools/1-" + ada, Put, `{"text":"a"}`, signer(ada), ""},
		{"three parts", "chat/msg/general/1-2-" + ada, Put, `{"text":"a"}`, signer(ada), "matches none"},
		{"anyone", "chat/topic/general", Put, `anything`, signer(ada), ""},
		{"admin only", "chat/pin/general", Put, `x`, signer(ada), "only an admin"},
		{"admin", "chat/pin/general", Put, `x`, admin, ""},
		{"closed prefix", "chat/other", Put, `x`, signer(ada), "matches none"},
		{"outside prefix", "tools/item/1", Put, `x`, signer(ada), ""},
		{"profile of own person", "chat/profile/idt_ada/" + ada, Put, `x`, signer(ada, "idt_ada"), ""},
		{"profile of another person", "chat/profile/idt_bob/" + ada, Put, `x`, signer(ada, "idt_ada"), "names person idt_bob"},
		{"not UTF-8 key", "chat/\xff", Put, `x`, signer(ada), "matches none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := s.Check([]byte(c.key), c.op, []byte(c.value), c.signer)
			switch {
			case c.want == "" && v != nil:
				t.Fatalf("refused: %v", v)
			case c.want != "" && v == nil:
				t.Fatalf("allowed, want a violation with %q", c.want)
			case c.want != "" && !strings.Contains(v.Error(), c.want):
				t.Fatalf("violation %q, want %q in it", v, c.want)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	s, err := Decode([]byte(`{"rules":[{"key":"a/{x}","write":"named","value":true},{"key":"b/{author}","write":"named"}]}`))
	if err == nil {
		t.Fatal("a named rule without author was accepted")
	}
	s, err = Decode([]byte(`{"prefix":"c/","rules":[{"key":"b/{author}","write":"named"}]}`))
	if err == nil {
		t.Fatal("a rule outside the prefix was accepted")
	}
	s, err = Decode([]byte(`{"rules":[{"key":"b/{author}","write":"named"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"b/x": true, "b/x/y": false, "c/x": false, "b": false} {
		if got := s.Covers([]byte(key)); got != want {
			t.Errorf("Covers(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestEmptyBodyRetires(t *testing.T) {
	s, err := Decode(nil)
	if err != nil || len(s.Rules) != 0 || s.Covers([]byte("chat/x")) {
		t.Fatalf("Decode(nil) = %v, %v; want an empty set", s, err)
	}
}

func TestParseCaches(t *testing.T) {
	a, err := Parse([]byte(chatBody))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse([]byte(chatBody))
	if a != b {
		t.Fatal("the same body was compiled twice")
	}
	if _, err := Parse([]byte(`{"bad":1}`)); !errors.Is(err, ErrBody) {
		t.Fatalf("a bad body parsed: %v", err)
	}
}

func TestCacheBound(t *testing.T) {
	c := newLRU(1000)
	for i := range 100 {
		c.put([32]byte{byte(i)}, &Set{}, nil, 100)
		if c.bytes > 1000 || c.order.Len() != len(c.byKey) {
			t.Fatalf("after %d puts: %d bytes, %d entries, %d keys", i+1, c.bytes, c.order.Len(), len(c.byKey))
		}
	}
	if _, _, ok := c.get([32]byte{99}); !ok {
		t.Fatal("the newest entry was evicted")
	}
	if _, _, ok := c.get([32]byte{0}); ok {
		t.Fatal("the oldest entry was kept past the bound")
	}
	c.put([32]byte{200}, &Set{}, nil, 2000)
	if _, _, ok := c.get([32]byte{200}); ok {
		t.Fatal("an entry over the whole bound was kept")
	}
}

// TestOnce: a write-once rule refuses a put, del or putblob of a key with
// a write in the commit's past (Signer.Written), by anyone, and leaves
// other rules' keys and first writes alone.
func TestOnce(t *testing.T) {
	s, err := Decode([]byte(`{"prefix":"b/","rules":[
 {"key":"b/poll/{ms}-{author}","write":"named","once":true,"value":{"type":"object"}},
 {"key":"b/note/{ms}-{author}","write":"named"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	written := func(keys ...string) Signer {
		sg := signer(ada)
		sg.Written = func(k []byte) bool {
			for _, w := range keys {
				if w == string(k) {
					return true
				}
			}
			return false
		}
		return sg
	}
	poll, note := "b/poll/1-"+ada, "b/note/1-"+ada
	for _, c := range []struct {
		name   string
		key    string
		op     Op
		signer Signer
		want   string
	}{
		{"first write", poll, Put, written(), ""},
		{"first write, nothing asked", poll, Put, signer(ada), ""},
		{"rewrite", poll, Put, written(poll), "written once"},
		{"delete after a write", poll, Del, written(poll), "written once"},
		{"blob after a write", poll, PutBlob, written(poll), "written once"},
		{"another key written", poll, Put, written("b/poll/2-" + ada), ""},
		{"not a once rule", note, Put, written(note), ""},
		{"forged, written", "b/poll/1-aut_bob", Put, written("b/poll/1-aut_bob"), "names author"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := s.Check([]byte(c.key), c.op, []byte(`{}`), c.signer)
			switch {
			case c.want == "" && v != nil:
				t.Fatalf("Check = %v, want allowed", v)
			case c.want != "" && (v == nil || !strings.Contains(v.Error(), c.want)):
				t.Fatalf("Check = %v, want %q", v, c.want)
			}
		})
	}
	if !s.HasOnce() || !s.Once([]byte(poll)) || s.Once([]byte(note)) {
		t.Fatal("HasOnce/Once do not report the write-once rule")
	}
}

// TestViolationInWords: a value off its layout is refused in a sentence
// naming the field and what it needs, not in the validator's report
// ("jsonschema validation failed with 'loam:value.json#'…").
func TestViolationInWords(t *testing.T) {
	var poll *Set
	for _, a := range Apps {
		if a.Name == "board" {
			s, err := Decode(a.Body)
			if err != nil {
				t.Fatal(err)
			}
			poll = s
		}
	}
	key := []byte("board/poll/1-" + ada)
	for _, c := range []struct{ value, want string }{
		{`{"question":"Paint?","options":["green"],"closes":"2026-12-20T18:00:00Z"}`, `field "options" has 1 items, and needs at least 2`},
		{`{"options":["a","b"],"closes":"2026-12-20T18:00:00Z"}`, `field "question" is missing`},
		{`{"question":"Paint?","options":["a","b"],"closes":"x","ballot":"hidden"}`, `field "ballot" is "hidden", and must be one of "open", "secret"`},
		{`{"question":"Paint?","options":["a",2],"closes":"x"}`, `field "options.1" is a number, and must be a string`},
		{`[]`, `the value is an array, and must be an object`},
	} {
		v := poll.Check(key, Put, []byte(c.value), signer(ada))
		if v == nil {
			t.Fatalf("%s: allowed", c.value)
		}
		if msg := v.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "jsonschema") || strings.Contains(msg, "loam:value.json") {
			t.Errorf("%s:\n got %s\nwant %s, without the validator's words", c.value, msg, c.want)
		}
	}
}

package schema

import (
	"os"
	"strings"
	"testing"
)

// TestApps: the shipped apps' rules decode, and decide the layouts of
// docs/apps.md: the examples there are allowed, forgeries refused.
func TestApps(t *testing.T) {
	sets := map[string]*Set{}
	for _, a := range Apps {
		s, err := Decode(a.Body)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		sets[a.Name] = s
	}
	const ada, bob, idt = "aut_a6oixdyethdi5wljznyjvdvsy5se32gbdrhnqqhisfton7vczciq", "aut_htkvt7vyzn7whfebnqti44u4j34sk3gdrw4nsjela2man3fv7ouq", "idt_ada"
	tool := "1795275582824-" + ada
	req := "1795275583584-" + bob
	swap, project, poll := "1795275590000-"+ada, "1795275591000-"+ada, "1795275592000-"+ada
	for _, c := range []struct {
		app, key, value, signer string
		op                      Op
		want                    string
	}{
		{"chat", "chat/channel/garden-tools", `{"created":"2026-11-21T15:32:02.096Z"}`, bob, Put, ""},
		{"chat", "chat/topic/general", `{"topic":"Everything about the street"}`, bob, Put, ""},
		{"chat", "chat/msg/general/1795275122119-" + ada, `{"text":"Hello from Ada's kitchen"}`, ada, Put, ""},
		{"chat", "chat/msg/general/1795275122119-" + ada, `{"text":"Hello","edited":"2026-12-06T11:40:02.311Z"}`, ada, Put, ""},
		{"chat", "chat/msg/general/1795275122119-" + ada, `{"text":"I am Ada"}`, bob, Put, "names author"},
		{"chat", "chat/msg/general/1795275122119-" + ada, ``, bob, Del, "names author"},
		{"chat", "chat/msg/general/1795275122119-" + ada, `{"txt":"hi"}`, ada, Put, "does not fit"},
		{"chat", "chat/nick/" + ada, `{"nick":"Ada"}`, ada, Put, ""},
		{"chat", "chat/nick/" + ada, `{"nick":"Ada"}`, bob, Put, "names author"},
		{"chat", "chat/general/0001", `hi`, ada, Put, "matches none"},
		{"tools", "tools/item/" + tool, `{"name":"Cordless drill","description":"18 V, two batteries.","condition":"good","photo_type":"image/png"}`, ada, Put, ""},
		{"tools", "tools/item/" + tool, ``, ada, Del, ""},
		{"tools", "tools/item/" + tool, `{"name":"mine now"}`, bob, Put, "names author"},
		{"tools", "tools/photo/" + tool, ``, ada, PutBlob, ""},
		{"tools", "tools/req/" + tool + "/" + req, `{"note":"For the shelves, Saturday?"}`, bob, Put, ""},
		{"tools", "tools/req/" + tool + "/" + req, `{"note":"forged"}`, ada, Put, "names author"},
		{"tools", "tools/answer/" + tool + "/" + req, `{"answer":"accepted","note":""}`, ada, Put, ""},
		{"tools", "tools/answer/" + tool + "/" + req, `{"answer":"accepted"}`, bob, Put, "names author"},
		{"tools", "tools/answer/" + tool + "/" + req, `{"answer":"maybe"}`, ada, Put, "does not fit"},
		{"tools", "tools/returned/" + tool + "/" + req, `{"note":""}`, ada, Put, ""},
		{"tools", "tools/returned/" + tool + "/" + req, `{"note":""}`, bob, Put, "names author"},
		{"tools", "tools/drill", `cordless`, ada, Put, "matches none"},
		{"profile", "profile/" + idt + "/" + ada, `{"name":"Ana","avatar":""}`, ada, Put, ""},
		{"profile", "profile/" + idt + "/" + ada + "/avatar", ``, ada, PutBlob, ""},
		{"profile", "profile/idt_bob/" + ada, `{"name":"Ana"}`, ada, Put, "names person"},
		{"profile", "profile/" + idt + "/" + ada, `{"name":""}`, ada, Put, "does not fit"},
		{"board", "board/swap/" + swap, `{"kind":"offer","category":"repairs","title":"I can fix bikes","text":"Saturdays"}`, ada, Put, ""},
		{"board", "board/swap/" + swap, `{"kind":"offer","category":"repairs","title":"forged"}`, bob, Put, "names author"},
		{"board", "board/swap/" + swap, `{"kind":"gift","category":"repairs","title":"I can fix bikes"}`, ada, Put, "does not fit"},
		{"board", "board/help/" + swap + "/" + req, `{"text":"My wheel is bent"}`, bob, Put, ""},
		{"board", "board/help/" + swap + "/" + req, `{"text":"forged"}`, ada, Put, "names author"},
		{"board", "board/project/" + project, `{"title":"Benches for the square","text":"","status":"proposed"}`, ada, Put, ""},
		{"board", "board/project/" + project, `{"title":"Benches","status":"finished"}`, ada, Put, "does not fit"},
		{"board", "board/photo/" + project + "/" + req, ``, bob, PutBlob, ""},
		{"board", "board/comment/" + project + "/" + req, `{"text":"I have wood"}`, bob, Put, ""},
		{"board", "board/comment/" + project + "/" + req, `{"text":""}`, bob, Put, "does not fit"},
		{"board", "board/member/" + project + "/" + bob, `{}`, bob, Put, ""},
		{"board", "board/member/" + project + "/" + bob, ``, bob, Del, ""},
		{"board", "board/member/" + project + "/" + bob, `{}`, ada, Put, "names author"},
		{"board", "board/poll/" + poll, `{"question":"Paint the benches?","options":["green","blue"],"closes":"2026-12-20T18:00:00Z","ballot":"open"}`, ada, Put, ""},
		{"board", "board/poll/" + poll, `{"question":"One option?","options":["yes"],"closes":"2026-12-20T18:00:00Z"}`, ada, Put, "does not fit"},
		{"board", "board/vote/" + poll + "/" + idt, `{"option":1}`, ada, Put, ""},
		{"board", "board/vote/" + poll + "/idt_bob", `{"option":1}`, ada, Put, "names person"},
		{"board", "board/vote/" + poll + "/" + idt, `{"option":16}`, ada, Put, "does not fit"},
		{"board", "board/poll/" + poll + "/extra", `{}`, ada, Put, "matches none"},
		{"energy", "energy/post/" + tool, `{"kind":"offer","kwh":3.5,"text":"Sunny afternoon","until":"2026-12-07T16:00:00Z"}`, ada, Put, ""},
		{"energy", "energy/post/" + tool, `{"kind":"offer","kwh":0}`, ada, Put, "does not fit"},
		{"energy", "energy/transfer/" + idt + "/idt_bob/" + tool, `{"milli":3000,"note":"Tuesday's surplus"}`, ada, Put, ""},
		{"energy", "energy/transfer/idt_bob/" + idt + "/" + tool, `{"milli":3000}`, ada, Put, "names person"},
		{"energy", "energy/transfer/" + idt + "/idt_bob/" + tool, `{"milli":2.5}`, ada, Put, "does not fit"},
		{"energy", "energy/confirm/idt_bob/" + idt + "/" + req, `{"note":"thanks"}`, ada, Put, ""},
		{"energy", "energy/confirm/" + idt + "/idt_bob/" + req, `{}`, ada, Put, "names person"},
		{"energy", "energy/limit/" + idt, `{"milli":10000}`, ada, Put, "only an admin"},
	} {
		v := sets[c.app].Check([]byte(c.key), c.op, []byte(c.value), signer(c.signer, idt))
		switch {
		case c.want == "" && v != nil:
			t.Errorf("%s %s by %s: refused: %v", c.app, c.key, c.signer[:8], v)
		case c.want != "" && (v == nil || !strings.Contains(v.Error(), c.want)):
			t.Errorf("%s %s by %s: %v, want a violation with %q", c.app, c.key, c.signer[:8], v, c.want)
		}
	}
}

// TestAppsOnce: the entries others count on are written once (a poll, a
// transfer, a confirmation); the rest may be rewritten (a vote until the
// close, a post, a profile).
func TestAppsOnce(t *testing.T) {
	const ada = "aut_a6oixdyethdi5wljznyjvdvsy5se32gbdrhnqqhisfton7vczciq"
	once := map[string]bool{
		"board/poll/1-" + ada:                  true,
		"energy/transfer/idt_a/idt_b/1-" + ada: true,
		"energy/confirm/idt_b/idt_a/1-" + ada:  true,
		"board/vote/1-" + ada + "/idt_a":       false,
		"board/swap/1-" + ada:                  false,
		"board/project/1-" + ada:               false,
		"energy/post/1-" + ada:                 false,
		"energy/limit/idt_a":                   false,
		"chat/msg/general/1-" + ada:            false,
		"tools/answer/1-" + ada + "/1-" + ada:  false,
	}
	for key, want := range once {
		got := false
		for _, a := range Apps {
			s, err := Decode(a.Body)
			if err != nil {
				t.Fatal(err)
			}
			got = got || s.Once([]byte(key))
		}
		if got != want {
			t.Errorf("%s: write-once %v, want %v", key, got, want)
		}
	}
}

// TestAppsDocumented: docs/apps.md shows each shipped app's rules as
// declared, byte for byte.
func TestAppsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/apps.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Apps {
		if !strings.Contains(string(doc), string(a.Body)) {
			t.Errorf("docs/apps.md does not show the rules of %s as schema.Apps declares them:\n%s", a.Name, a.Body)
		}
	}
}

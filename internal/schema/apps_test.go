package schema

import (
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

package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// jsonString returns s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	h.ok("", "space", "create", "src")
	h.ok("", "space", "create", "dst")

	controls := make([]byte, 64<<10) // the largest value, each byte escaped to 6 in JSON
	for i := range controls {
		controls[i] = byte(i % 32)
	}
	longKey := strings.Repeat("k", 4<<10)
	var in strings.Builder
	for _, line := range []string{
		`{"key":"chat/0001","value":"hello, world"}`,
		`{"key":"chat/0002","value":"line\nbreak\ttab \"quoted\" <b>&amp;</b> \u2028 ünïcödé 🌱"}`,
		`{"key":"empty","value":""}`,
		fmt.Sprintf(`{"key_b64":%q,"value":"binary key"}`, b64([]byte{0xff, 0x00, 'k'})),
		fmt.Sprintf(`{"key":"binary","value_b64":%q}`, b64([]byte{0, 1, 2, 0xfe, 0xff})),
		`{"value":` + jsonString(string(controls)) + `,"key":"controls"}`,
		`{"key":"` + longKey + `","value":"long key"}`,
		``,
		`   {"key":"spaced","value":"blank lines and spaces are fine"}   `,
	} {
		in.WriteString(line + "\n")
	}
	r := h.run(in.String(), "import", "src", "--json")
	if r.code != 0 {
		t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
	if r.stderr != "imported 8 keys in 1 commit\n" || strings.TrimSpace(r.stdout) != `{"keys":8,"commits":1}` {
		t.Errorf("import summary: stderr %q, stdout %q", r.stderr, r.stdout)
	}
	if got := h.ok("", "get", "src", "controls"); got != string(controls) {
		t.Errorf("controls value changed on import")
	}

	exported := h.ok("", "export", "src")
	if n := strings.Count(exported, "\n"); n != 8 {
		t.Fatalf("export has %d lines, want 8:\n%s", n, exported)
	}
	if !strings.Contains(exported, `{"key":"binary","value_b64":"AAEC/v8="}`) ||
		!strings.Contains(exported, `{"key_b64":"/wBr","value":"binary key"}`) ||
		!strings.Contains(exported, `{"key":"empty","value":""}`) {
		t.Errorf("export:\n%.2000s", exported)
	}
	r = h.run(exported, "import", "dst", "--batch", "3")
	if r.code != 0 || r.stderr != "imported 8 keys in 3 commits\n" {
		t.Fatalf("import into dst: exit %d: %s", r.code, r.stderr)
	}
	if again := h.ok("", "export", "dst"); again != exported {
		t.Errorf("export of the copy differs from the original")
	}
	if got := h.ok("", "export", "dst", "--prefix", "chat/"); strings.Count(got, "\n") != 2 || !strings.HasPrefix(got, `{"key":"chat/0001"`) {
		t.Errorf("export --prefix chat/:\n%s", got)
	}
	h.ok("", "log", "verify", "dst")
}

func TestImportStopsAtTheFailingBatch(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	var in strings.Builder
	for i := 1; i <= 2500; i++ {
		if i == 1700 {
			in.WriteString(`{"key":"k01700","value":` + "\n")
			continue
		}
		fmt.Fprintf(&in, `{"key":"k%05d","value":"v%d"}`+"\n", i, i)
	}
	line := h.fail(1, in.String(), "import", "garden", "--batch", "1000")
	for _, want := range []string{"loam: import: line 1700: ", "nothing of lines 1001-1700 was imported", "(lines 1-1000 were)"} {
		if !strings.Contains(line, want) {
			t.Errorf("error %q lacks %q", line, want)
		}
	}
	var want strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&want, `{"key":"k%05d","value":"v%d"}`+"\n", i, i)
	}
	if got := h.ok("", "export", "garden"); got != want.String() {
		t.Errorf("export after the failed import has %d lines, want exactly the first 1000", strings.Count(got, "\n"))
	}
}

// TestImportSplitsLargeBatches checks that a batch of large values is split
// so each commit stays under the size peers accept.
func TestImportSplitsLargeBatches(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	value := strings.Repeat("v", 60<<10)
	var in strings.Builder
	for i := range 150 { // 9 MB: three commits of at most 4 MiB
		fmt.Fprintf(&in, `{"key":"k%03d","value":%q}`+"\n", i, value)
	}
	r := h.run(in.String(), "import", "garden")
	if r.code != 0 || r.stderr != "imported 150 keys in 3 commits\n" {
		t.Fatalf("import: exit %d: %q", r.code, r.stderr)
	}
	h.ok("", "log", "verify", "garden")
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "put", "garden", "tools/drill", "cordless, 18V")
	h.ok("", "put", "garden", "tools/saw", "hand saw")

	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 65<<10+1), 0o600)
	snapshot := func() string {
		return h.ok("", "export", "garden") + h.ok("", "space", "ls", "--json")
	}
	before := snapshot()

	good := `{"key":"new","value":"fine"}` + "\n"
	for _, c := range []struct {
		name  string
		code  int
		stdin string
		args  []string
		want  string // in the error line
	}{
		{"unknown space name", 1, "", []string{"get", "nope", "tools/drill"}, "loam space ls"},
		{"malformed space ID", 1, "", []string{"get", "spc_xyz", "tools/drill"}, "copy the whole ID"},
		{"missing key", 1, "", []string{"get", "garden", "tools/ladder"}, "loam ls garden"},
		{"del missing key", 1, "", []string{"del", "garden", "tools/ladder"}, "not found"},
		{"value argument too large", 1, "", []string{"put", "garden", "tools/big", strings.Repeat("x", 65<<10)}, "more than the limit of 65536"},
		{"missing file", 1, "", []string{"put", "garden", "tools/x", "-f", filepath.Join(dir, "nope")}, "no such file"},
		{"empty key", 1, "", []string{"put", "garden", "", "v"}, "non-empty KEY"},
		{"value and -f", 2, "", []string{"put", "garden", "tools/x", "v", "-f", big}, "one way only"},
		{"import invalid JSON", 1, good + `{"key": "a", "value": }` + "\n", []string{"import", "garden"}, "line 2: invalid JSON"},
		{"import value and value_b64", 1, `{"key":"a","value":"x","value_b64":"eA=="}` + "\n", []string{"import", "garden"}, "give exactly one"},
		{"import key and key_b64", 1, `{"key":"a","key_b64":"YQ==","value":"x"}` + "\n", []string{"import", "garden"}, "give exactly one"},
		{"import invalid base64", 1, good + good + `{"key":"a","value_b64":"not base64!"}` + "\n", []string{"import", "garden"}, "line 3: \"value_b64\" is not valid base64"},
		{"import empty key", 1, `{"key":"","value":"x"}` + "\n", []string{"import", "garden"}, "non-empty \"key\""},
		{"import unknown field", 1, `{"key":"a","value":"x","deleted":true}` + "\n", []string{"import", "garden"}, "unknown field \"deleted\""},
		{"import no value", 1, `{"key":"a"}` + "\n", []string{"import", "garden"}, "no \"value\""},
		{"import number value", 1, `{"key":"a","value":5}` + "\n", []string{"import", "garden"}, "must be a string"},
		{"import not an object", 1, `["a","b"]` + "\n", []string{"import", "garden"}, "not a JSON object"},
		{"import two objects", 1, `{"key":"a","value":"x"}{"key":"b","value":"y"}` + "\n", []string{"import", "garden"}, "one object per line"},
		{"import key too large", 1, fmt.Sprintf(`{"key":%q,"value":"x"}`, strings.Repeat("k", 4<<10+1)) + "\n", []string{"import", "garden"}, "shorter key"},
		{"import value too large", 1, fmt.Sprintf(`{"key":"a","value":%q}`, strings.Repeat("v", 64<<10+1)) + "\n", []string{"import", "garden"}, "store a smaller value"},
		{"import line too long", 1, good + `{"key":"a","value":"` + strings.Repeat("v", 1<<20) + "\"}\n", []string{"import", "garden"}, "line 2: the line is longer than"},
		{"import invalid UTF-8", 1, "{\"key\":\"a\",\"value\":\"\xff\"}\n", []string{"import", "garden"}, "not UTF-8"},
		{"import --batch 0", 2, good, []string{"import", "garden", "--batch", "0"}, "--batch"},
		{"bad space name", 1, "", []string{"space", "create", "bad name!"}, "use letters, digits"},
		{"taken space name", 1, "", []string{"space", "create", "garden"}, "choose another name"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			h := &home{t: t, dir: h.dir}
			line := h.fail(c.code, c.stdin, c.args...)
			if !strings.Contains(line, c.want) {
				t.Errorf("error %q lacks %q", line, c.want)
			}
			if after := snapshot(); after != before {
				t.Errorf("the store changed:\nbefore: %s\nafter:  %s", before, after)
			}
		})
	}

	// The import errors say what was imported before the bad line.
	line := h.fail(1, good+`{"key":""}`+"\n", "import", "garden", "--batch", "1")
	if !strings.Contains(line, "line 2:") || !strings.Contains(line, "nothing from line 2 on was imported (line 1 was)") {
		t.Errorf("import --batch 1 with a bad line 2: %q", line)
	}
	var got []struct{ Key string }
	if err := json.Unmarshal([]byte(h.ok("", "ls", "garden", "--json")), &got); err != nil || len(got) != 3 {
		t.Errorf("after importing line 1 only: %v %+v", err, got)
	}
}

package golden

import (
	"bytes"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	md := "# Doc\n\n```\n00 11 not a block\n```\n\n" +
		"```hex a.one\na3          # map(3)\n  01 01     # 1: 1\n\n  0203 # ignored: 04\n```\n\n" +
		"```hex a.two\n0000: 5820 # bytes(32)\n0002:   " + strings.Repeat("ab", 32) + "\n```\n"
	blocks, order, err := Parse([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != "a.one" || order[1] != "a.two" {
		t.Fatalf("order %q", order)
	}
	if got := blocks["a.one"]; !bytes.Equal(got, []byte{0xa3, 1, 1, 2, 3}) {
		t.Errorf("a.one = %x", got)
	}
	if got := blocks["a.two"]; len(got) != 34 || got[0] != 0x58 || got[33] != 0xab {
		t.Errorf("a.two = %x", got)
	}
}

func TestParseRejects(t *testing.T) {
	for name, md := range map[string]string{
		"abbreviated":  "```hex x.a\n5820 366f3e4e…9fd60d8b\n```\n",
		"odd digits":   "```hex x.a\na30\n```\n",
		"words":        "```hex x.a\na3 map(3)\n```\n",
		"wrong offset": "```hex x.a\n0000: a3 01\n0001: 01\n```\n",
		"bad offset":   "```hex x.a\nxyz: a3\n```\n",
		"twice":        "```hex x.a\na3\n```\n```hex x.a\na3\n```\n",
		"no ID":        "```hex \na3\n```\n",
		"two IDs":      "```hex x.a x.b\na3\n```\n",
		"empty":        "```hex x.a\n# nothing\n```\n",
		"not closed":   "```hex x.a\na3\n",
	} {
		if _, _, err := Parse([]byte(md)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestHex(t *testing.T) {
	if got := Hex("a3 # map\n 0102\n"); !bytes.Equal(got, []byte{0xa3, 1, 2}) {
		t.Errorf("Hex = %x", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Hex of a malformed literal did not panic")
		}
	}()
	Hex("a3 map")
}

func TestDump(t *testing.T) {
	// {1: 1, 2: h'00…' (32 bytes), 3: [h'a20101', "hi"], 4: true}
	b := Hex(`a4 01 01 02 5820` + strings.Repeat("00", 32) + `03 82 43 a20101 62 6869 04 f5`)
	want := `a4             # map(4)
  01 01        # 1: 1
  02 5820      # 2: bytes(32)
    0000000000000000000000000000000000000000000000000000000000000000
  03 82        # 3: array(2)
    43 a20101  # bytes(3)
    62 6869    # text(2) "hi"
  04 f5        # 4: true
`
	if got := Dump(b); got != want {
		t.Errorf("Dump:\n%s\nwant:\n%s", got, want)
	}
	// A byte string holding a map is annotated too, and offsets are
	// those of the outer bytes.
	inner := Hex(`a2 01 ` + `4c ` + strings.Repeat("11", 12) + ` 02 00`)
	outer := append([]byte{0x81, 0x58, byte(len(inner))}, inner...)
	got := DumpOffsets(outer)
	if !strings.Contains(got, "0003:     a2 ") || !strings.Contains(got, "0006:         1111") || !strings.Contains(got, "0012:       02 00 ") {
		t.Errorf("DumpOffsets:\n%s", got)
	}
	// Not CBOR: plain hex, 32 bytes a line.
	if got := Dump(bytes.Repeat([]byte{0xff}, 33)); got != strings.Repeat("ff", 32)+"\nff\n" {
		t.Errorf("Dump of non-CBOR:\n%s", got)
	}
}

// FuzzDump checks that a dump parses back to its bytes, whatever they are.
//
//	go test -run='^$' -fuzz=FuzzDump -fuzztime=20s ./internal/golden
func FuzzDump(f *testing.F) {
	f.Add([]byte{0xa1, 0x01, 0x41, 0x00})
	f.Add([]byte{0x82, 0x58, 0x03, 0xa1, 0x01, 0x01, 0x63, 0xe2, 0x82, 0xac})
	f.Add([]byte{0x5f, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range []string{Dump(b), DumpOffsets(b)} {
			md := "```hex f.x\n" + s + "```\n"
			blocks, _, err := Parse([]byte(md))
			if len(b) == 0 {
				if err == nil {
					t.Fatal("an empty block parsed")
				}
				continue
			}
			if err != nil {
				t.Fatalf("dump of %x does not parse: %v\n%s", b, err, s)
			}
			if !bytes.Equal(blocks["f.x"], b) {
				t.Fatalf("dump of %x parses to %x\n%s", b, blocks["f.x"], s)
			}
		}
	})
}

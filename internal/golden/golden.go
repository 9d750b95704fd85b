// Package golden holds the documents to the bytes the code produces.
//
// docs/protocol and docs/format show every message, record and digest as an
// annotated hex dump in a fenced block whose info string names it:
//
//	```hex reconcile.hello
//	a3                      # map(3)
//	  01 01                 # 1: type 1 (Hello)
//	```
//
// A golden test builds the value from fixed seeds, compares its encoding
// with a literal in the test, and with the block of the same ID (Doc.Check),
// so the documents cannot drift from the code. A block's lines are
//
//	[OFFSET:] HEX… [# comment]
//
// where HEX is pairs of hex digits, in groups of any even length separated
// by spaces, and OFFSET, if given, is the hex offset of the line's first
// byte in the block (checked). Everything else is an error: a block is
// complete, never abbreviated with "…".
//
// The package is for tests; it imports nothing of the project.
package golden

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// blockInfo is the first word of a golden block's info string.
const blockInfo = "hex"

// Parse returns the golden blocks of a Markdown document by ID, and their
// IDs in document order.
func Parse(md []byte) (map[string][]byte, []string, error) {
	blocks := map[string][]byte{}
	var order []string
	var id string // the block being read, "" outside one
	var buf []byte
	var start int
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		switch {
		case id == "" && fence:
			info := strings.Fields(strings.TrimSpace(line)[3:])
			if len(info) == 0 || info[0] != blockInfo {
				continue
			}
			if len(info) != 2 {
				return nil, nil, fmt.Errorf("line %d: a golden block is named by one ID: ```%s ID", n, blockInfo)
			}
			id = info[1]
			if _, dup := blocks[id]; dup {
				return nil, nil, fmt.Errorf("line %d: block %s appears twice", n, id)
			}
			buf, start = []byte{}, n
		case id != "" && fence:
			if len(buf) == 0 {
				return nil, nil, fmt.Errorf("line %d: block %s is empty", start, id)
			}
			blocks[id] = buf
			order = append(order, id)
			id = ""
		case id != "":
			var err error
			if buf, err = parseLine(buf, line); err != nil {
				return nil, nil, fmt.Errorf("line %d (block %s): %v", n, id, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if id != "" {
		return nil, nil, fmt.Errorf("line %d: block %s is not closed", start, id)
	}
	return blocks, order, nil
}

// parseLine appends the bytes of one line of a block to buf.
func parseLine(buf []byte, line string) ([]byte, error) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(fields) > 0 && strings.HasSuffix(fields[0], ":") {
		off, err := strconv.ParseUint(strings.TrimSuffix(fields[0], ":"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("offset %q is not hex", fields[0])
		}
		if int(off) != len(buf) {
			return nil, fmt.Errorf("offset %s, but the line starts at %04x", fields[0], len(buf))
		}
		fields = fields[1:]
	}
	for _, f := range fields {
		b, err := hex.DecodeString(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not pairs of hex digits (a comment starts with #)", f)
		}
		buf = append(buf, b...)
	}
	return buf, nil
}

// Hex decodes a literal in the syntax of a block's lines (comments, white
// space and offsets allowed). It panics on a malformed literal: literals
// are written by the test's author.
func Hex(s string) []byte {
	var buf []byte
	for i, line := range strings.Split(s, "\n") {
		var err error
		if buf, err = parseLine(buf, line); err != nil {
			panic(fmt.Sprintf("golden.Hex: line %d: %v", i+1, err))
		}
	}
	return buf
}

// Doc is one document's golden blocks, as a test checks them.
type Doc struct {
	path    string
	blocks  map[string][]byte
	order   []string
	checked map[string]bool
}

// Load reads the golden blocks of the Markdown document at path. When the
// test ends, every block whose ID starts with owner and a dot must have
// been checked (Check or Bytes): a block nobody checks could drift.
func Load(t testing.TB, path, owner string) *Doc {
	t.Helper()
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks, order, err := Parse(md)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	d := &Doc{path: path, blocks: blocks, order: order, checked: map[string]bool{}}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, id := range d.order {
			if strings.HasPrefix(id, owner+".") && !d.checked[id] {
				t.Errorf("%s: block %s is checked by no test", d.path, id)
			}
		}
	})
	return d
}

// Bytes returns the bytes of block id.
func (d *Doc) Bytes(t testing.TB, id string) []byte {
	t.Helper()
	b, ok := d.blocks[id]
	if !ok {
		t.Fatalf("%s has no block %s (a fenced block opened with ```hex %s)", d.path, id, id)
	}
	d.checked[id] = true
	return b
}

// Check reports an error if block id is not got.
func (d *Doc) Check(t testing.TB, id string, got []byte) {
	t.Helper()
	want := d.Bytes(t, id)
	if bytes.Equal(got, want) {
		return
	}
	at := 0
	for at < len(got) && at < len(want) && got[at] == want[at] {
		at++
	}
	t.Errorf("%s: block %s (%d bytes) differs from the code's %d bytes from offset %#04x on; the code's bytes:\n%s",
		d.path, id, len(want), len(got), at, Dump(got))
}

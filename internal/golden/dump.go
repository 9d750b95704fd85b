package golden

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Dump renders b as a block's lines: a canonical CBOR item annotated with
// its structure (the start of a document's block, to which its author adds
// what the fields mean), or, for anything else, plain hex, 32 bytes a line.
func Dump(b []byte) string { return dump(b, false) }

// DumpOffsets is Dump with each line's offset.
func DumpOffsets(b []byte) string { return dump(b, true) }

func dump(b []byte, offsets bool) string {
	d := &dumper{b: b}
	if err := d.item(0, "", "", 0); err != nil || d.off != len(b) {
		d.lines = nil
		for off := 0; off < len(b); off += 32 {
			d.lines = append(d.lines, dumpLine{off: off, hex: hex.EncodeToString(b[off:min(off+32, len(b))])})
		}
	}
	width := 0
	for _, l := range d.lines {
		if l.note != "" {
			width = max(width, 2*l.indent+len(l.hex))
		}
	}
	width = min(width+1, 48)
	var sb strings.Builder
	for _, l := range d.lines {
		if offsets {
			fmt.Fprintf(&sb, "%04x: ", l.off)
		}
		s := strings.Repeat("  ", l.indent) + l.hex
		if l.note != "" {
			s = fmt.Sprintf("%-*s # %s", width, s, l.note)
		}
		sb.WriteString(s)
		sb.WriteByte('\n')
	}
	return sb.String()
}

type dumpLine struct {
	off    int
	indent int
	hex    string
	note   string
}

type dumper struct {
	b     []byte
	off   int
	lines []dumpLine
}

var errNotCBOR = errors.New("not canonical CBOR")

// head reads a CBOR head: major type, argument, and the head's bytes.
func (d *dumper) head() (major byte, arg uint64, raw []byte, err error) {
	if d.off >= len(d.b) {
		return 0, 0, nil, errNotCBOR
	}
	start := d.off
	major, ai := d.b[d.off]>>5, d.b[d.off]&0x1f
	d.off++
	switch {
	case ai < 24:
		arg = uint64(ai)
	case ai <= 27:
		n := 1 << (ai - 24)
		if d.off+n > len(d.b) {
			return 0, 0, nil, errNotCBOR
		}
		for _, c := range d.b[d.off : d.off+n] {
			arg = arg<<8 | uint64(c)
		}
		d.off += n
	default:
		return 0, 0, nil, errNotCBOR // indefinite lengths and reserved values
	}
	return major, arg, d.b[start:d.off], nil
}

// item reads one item at indent; pre and note are a map key's bytes and
// annotation, written on the item's first line, which starts at offset
// start.
func (d *dumper) item(indent int, pre, note string, start int) error {
	major, arg, raw, err := d.head()
	if err != nil {
		return err
	}
	line := func(h, n string) {
		if note != "" {
			n = note + ": " + n
		}
		d.lines = append(d.lines, dumpLine{off: start, indent: indent, hex: pre + h, note: n})
	}
	h := hex.EncodeToString(raw)
	switch major {
	case 0:
		line(h, strconv.FormatUint(arg, 10))
	case 1:
		line(h, "-1-"+strconv.FormatUint(arg, 10))
	case 2, 3:
		if arg > uint64(len(d.b)-d.off) {
			return errNotCBOR
		}
		content := d.b[d.off : d.off+int(arg)]
		d.off += int(arg)
		what := fmt.Sprintf("bytes(%d)", arg)
		if major == 3 {
			what = fmt.Sprintf("text(%d) %q", arg, content)
			if !utf8.Valid(content) {
				return errNotCBOR
			}
		}
		if len(content) <= 8 {
			line(h+" "+hex.EncodeToString(content), what)
			return nil
		}
		line(h, what)
		if major == 2 && len(content) > 1 && content[0]>>5 == 5 {
			// A byte string holding a CBOR map (a commit, a header):
			// annotate it too.
			inner := &dumper{b: content}
			if inner.item(indent+1, "", "", 0) == nil && inner.off == len(content) {
				for _, l := range inner.lines {
					l.off += d.off - len(content)
					d.lines = append(d.lines, l)
				}
				return nil
			}
		}
		for i := 0; i < len(content); i += 32 {
			d.lines = append(d.lines, dumpLine{off: d.off - len(content) + i, indent: indent + 1, hex: hex.EncodeToString(content[i:min(i+32, len(content))])})
		}
	case 4:
		line(h, fmt.Sprintf("array(%d)", arg))
		for i := uint64(0); i < arg; i++ {
			if err := d.item(indent+1, "", "", d.off); err != nil {
				return err
			}
		}
	case 5:
		line(h, fmt.Sprintf("map(%d)", arg))
		for i := uint64(0); i < arg; i++ {
			kstart := d.off
			kmajor, karg, kraw, err := d.head()
			if err != nil || kmajor != 0 {
				return errNotCBOR // Loam's maps have unsigned keys
			}
			if err := d.item(indent+1, hex.EncodeToString(kraw)+" ", strconv.FormatUint(karg, 10), kstart); err != nil {
				return err
			}
		}
	case 7:
		names := map[uint64]string{20: "false", 21: "true", 22: "null", 23: "undefined"}
		n, ok := names[arg]
		if !ok || len(raw) != 1 {
			return errNotCBOR // floats and other simple values
		}
		line(h, n)
	default:
		return errNotCBOR // tags
	}
	return nil
}

package keys

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/golden"
)

// The golden tickets of docs/format/ticket.md: the bytes under the base32
// of a public-space invite with an address (that of TestTicketGolden) and
// of a private-space invite with two read keys, each payload ‖ check.
// Pinned by a literal here and by the document's ```hex blocks; a change
// is a new ticket version, never a fix: tickets live on paper.

const ticketDoc = "../../docs/format/ticket.md"

func goldenTickets() []struct {
	id   string
	tk   Ticket
	text string
	want string
} {
	var k0, k3 [32]byte
	for i := range k0 {
		k0[i], k3[i] = 0x05, 0x06
	}
	return []struct {
		id   string
		tk   Ticket
		text string
		want string
	}{
		{"ticket.public", Ticket{
			Space:  SpaceKeyFromSeed([32]byte{1}).Space(),
			Name:   "garden-club",
			Invite: DeviceKeyFromSeed([32]byte{2}),
			Addrs:  []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt"},
		}, "loam2uqavqigozqkqpxa53vzjlfi4feeir4evvw4qiti3opljnzw7azowqo6u7qbgwz3bojsgk3rnmnwhkyqdlaqaeaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaeqf4fal3joa2c6mjsg4xdalrqfyys65ddoaxtimbqgexxamtqf4yterbtjnxw6v2lpbmhsulkhfbg42knivjfcwsoor4uytbvozvdsrlqkfiuizjuhfdxu3kugyzfkvtxkvlxj5yeubja", `
a4 01 5820 cecc1507dc1ddd7295951c290888f095adb9044d1b73d696e6df065d683bd4fc
   02 6b 67617264656e2d636c7562
   03 5820 0200000000000000000000000000000000000000000000000000000000000000
   04 81 7850 2f6970342f3132372e302e302e312f7463702f343030312f7032702f31324433
              4b6f6f574b785879516a39426e694d4552515a4e74794c4c35766a3945705151
              44653439477a6d543632555677555774
f704a052`},
		{"ticket.private", Ticket{
			Space:    SpaceKeyFromSeed([32]byte{1}).Space(),
			Invite:   DeviceKeyFromSeed([32]byte{2}),
			ReadKeys: []EpochKey{{0, k0}, {3, k3}},
		}, "loam2umavqigozqkqpxa53vzjlfi4feeir4evvw4qiti3opljnzw7azowqo6u7qbvqiacaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaacvquaaaaaaaaaaaaaakbifaucqkbifaucqkbifaucqkbifaucqkbifaucqkbifaucqkbiaaaaaaaaaaabqmbqgaydambqgaydambqgaydambqgaydambqgaydambqgaydambxu7fi7k", `
a3 01 5820 cecc1507dc1ddd7295951c290888f095adb9044d1b73d696e6df065d683bd4fc
   03 5820 0200000000000000000000000000000000000000000000000000000000000000
   05 5850 0000000000000000 0505050505050505050505050505050505050505050505050505050505050505
           0000000000000003 0606060606060606060606060606060606060606060606060606060606060606
f4f951f5`},
	}
}

// TestGoldenTickets pins the bytes of both example tickets, their text
// forms, and that each parses back to what made it.
func TestGoldenTickets(t *testing.T) {
	doc := golden.Load(t, ticketDoc, "ticket")
	md, err := os.ReadFile(ticketDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenTickets() {
		p := c.tk.payload()
		got := binary.LittleEndian.AppendUint32(bytes.Clone(p), crc32.Checksum(p, ticketCRC))
		if !bytes.Equal(got, golden.Hex(c.want)) {
			t.Errorf("%s: encoding changed; now:\n%s", c.id, golden.Dump(got))
		}
		doc.Check(t, c.id, got)
		s := c.tk.String()
		if s != c.text {
			t.Errorf("%s: text form changed: %s", c.id, s)
		}
		if !bytes.Contains(md, []byte(s)) {
			t.Errorf("%s: %s does not show the text form %s", c.id, ticketDoc, s)
		}
		body, err := ticketB32.DecodeString(strings.ToUpper(strings.TrimPrefix(s, TicketPrefix+"2")))
		if err != nil || !bytes.Equal(body, got) {
			t.Errorf("%s: the text form's body is %x, %v", c.id, body, err)
		}
		back, err := ParseTicket(s)
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		if back.String() != s || back.Space != c.tk.Space || back.Invite.Author() != c.tk.Invite.Author() {
			t.Errorf("%s: parsed as %+v", c.id, back)
		}
	}
}

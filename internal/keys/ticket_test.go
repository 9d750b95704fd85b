package keys

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
)

func TestTicketRoundTrip(t *testing.T) {
	tk := Ticket{
		Space:  SpaceKeyFromSeed([32]byte{1}).Space(),
		Name:   "garden-club",
		Invite: DeviceKeyFromSeed([32]byte{2}),
		Addrs:  []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample"},
	}
	s := tk.String()
	if !strings.HasPrefix(s, TicketPrefix+"2") {
		t.Fatalf("ticket %q lacks the prefix", s)
	}
	got, err := ParseTicket(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Space != tk.Space || got.Name != tk.Name || got.Invite.Author() != tk.Invite.Author() || len(got.Addrs) != 1 || got.Addrs[0] != tk.Addrs[0] {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range []string{"", "loam2abc", s[:len(s)-3], strings.ToUpper(s), s + "a", "loam2" + strings.Repeat("a", 9000)} {
		if _, err := ParseTicket(bad); !errors.Is(err, ErrBadTicket) {
			t.Errorf("ParseTicket(%.20q…) = %v, want ErrBadTicket", bad, err)
		}
	}
}

// realTickets are tickets as 'loam invite' makes them: with addresses,
// with read keys, and the smallest.
func realTickets() []Ticket {
	return []Ticket{
		{
			Space: SpaceKeyFromSeed([32]byte{1}).Space(), Name: "garden-club", Invite: DeviceKeyFromSeed([32]byte{2}),
			Addrs: []string{
				"/ip4/127.0.0.1/tcp/40411/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt",
				"/ip4/192.168.1.20/udp/40411/quic-v1/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt",
			},
		},
		{
			Space: SpaceKeyFromSeed([32]byte{3}).Space(), Name: "club", Invite: DeviceKeyFromSeed([32]byte{4}),
			Addrs:    []string{"/ip6/::1/tcp/4001/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt"},
			ReadKeys: []EpochKey{{0, [32]byte{5}}, {1, [32]byte{6}}},
		},
		{Space: SpaceID{7}},
	}
}

// TestTicketTypos is issue 10 F: every single-character substitution of a
// real ticket, by any character a person could type, is refused at once as
// a typo ("the ticket is mistyped: copy it again"), never accepted and
// never reported with a decoder's raw message.
func TestTicketTypos(t *testing.T) {
	typed := ticketAlpha + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0189 -_.=/:+"
	for _, tk := range realTickets() {
		s := tk.String()
		tried := 0
		for i := range len(s) {
			for _, c := range []byte(typed) {
				if c == s[i] {
					continue
				}
				typo := s[:i] + string(c) + s[i+1:]
				_, err := ParseTicket(typo)
				tried++
				if strings.TrimSpace(typo) == s {
					continue // a space at either end is trimmed: still the ticket
				}
				if !errors.Is(err, ErrTicketMistyped) || !errors.Is(err, ErrBadTicket) {
					t.Fatalf("character %d changed from %q to %q: %v, want ErrTicketMistyped", i, s[i], c, err)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "the ticket is mistyped: copy it again") || strings.Contains(msg, "cbor") || strings.Contains(msg, "EOF") {
					t.Fatalf("character %d changed from %q to %q: message %q", i, s[i], c, msg)
				}
			}
		}
		t.Logf("%d characters, %d substitutions, all refused as typos", len(s), tried)
	}
}

// TestTicketVersion1 checks that tickets made before the checksum (version
// 1, "loam1…") are still read, and that their errors are sentences.
func TestTicketVersion1(t *testing.T) {
	for _, tk := range realTickets() {
		old := tk.legacyString()
		got, err := ParseTicket(old)
		if err != nil {
			t.Fatalf("version 1 ticket: %v", err)
		}
		if got.String() != tk.String() {
			t.Errorf("version 1 ticket read as %+v", got)
		}
		// A version 2 ticket with its version changed to 1 carries 4
		// bytes after the payload: refused as a typo.
		if _, err := ParseTicket(TicketPrefix + "1" + tk.String()[len(TicketPrefix)+1:]); !errors.Is(err, ErrTicketMistyped) {
			t.Errorf("version 2 body as version 1: %v", err)
		}
		if _, err := ParseTicket(old[:len(old)-2]); !errors.Is(err, ErrTicketMistyped) || strings.Contains(err.Error(), "cbor") || strings.Contains(err.Error(), "EOF") {
			t.Errorf("cut version 1 ticket: %v", err)
		}
	}
}

// TestTicketBadContents checks that a ticket whose checksum matches but
// whose contents are invalid is refused, not as a typo, with a sentence.
func TestTicketBadContents(t *testing.T) {
	for _, payload := range [][]byte{
		{0xa1, 0x01, 0x41, 0x00}, // a 1-byte space ID
		{0xa0},                   // no space ID
		{0x01},                   // not a map
		{0xa1, 0x01, 0x58, 0x20}, // cut short
		append(Ticket{Space: SpaceID{1}}.payload(), 0), // extraneous byte
	} {
		b := binary.LittleEndian.AppendUint32(slices.Clone(payload), crc32.Checksum(payload, ticketCRC))
		s := TicketPrefix + "2" + strings.ToLower(ticketB32.EncodeToString(b))
		_, err := ParseTicket(s)
		if !errors.Is(err, ErrBadTicket) || errors.Is(err, ErrTicketMistyped) {
			t.Errorf("payload %x: %v, want ErrBadTicket only", payload, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "cbor") || strings.Contains(msg, "EOF") || !strings.Contains(msg, "ask the inviter for a new ticket") {
			t.Errorf("payload %x: message %q", payload, msg)
		}
	}
}

// TestTicketGolden pins the text form of a ticket (docs/format/ticket.md).
func TestTicketGolden(t *testing.T) {
	tk := Ticket{
		Space:  SpaceKeyFromSeed([32]byte{1}).Space(),
		Name:   "garden-club",
		Invite: DeviceKeyFromSeed([32]byte{2}),
		Addrs:  []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKxXyQj9BniMERQZNtyLL5vj9EpQQDe49GzmT62UVwUWt"},
	}
	const want = "loam2uqavqigozqkqpxa53vzjlfi4feeir4evvw4qiti3opljnzw7azowqo6u7qbgwz3bojsgk3rnmnwhkyqdlaqaeaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaeqf4fal3joa2c6mjsg4xdalrqfyys65ddoaxtimbqgexxamtqf4yterbtjnxw6v2lpbmhsulkhfbg42knivjfcwsoor4uytbvozvdsrlqkfiuizjuhfdxu3kugyzfkvtxkvlxj5yeubja"
	if got := tk.String(); got != want {
		t.Errorf("ticket text form:\n got %s\nwant %s", got, want)
	}
}

// FuzzParseTicket checks that an accepted ticket re-encodes to the text
// it was read from, and that errors are sentences, not decoder messages.
//
//	go test -run='^$' -fuzz=FuzzParseTicket -fuzztime=20s ./internal/keys
func FuzzParseTicket(f *testing.F) {
	f.Add(Ticket{Space: SpaceID{1}, Name: "x", Addrs: []string{"/ip4/1.2.3.4/tcp/1"}}.String())
	f.Add(Ticket{Space: SpaceID{2}, Invite: DeviceKeyFromSeed([32]byte{3})}.String())
	f.Add("loam2aaaa")
	f.Add("loam1aaaa")
	f.Add(Ticket{Space: SpaceID{4}, ReadKeys: []EpochKey{{0, [32]byte{5}}, {3, [32]byte{6}}}}.String())
	f.Add(Ticket{Space: SpaceID{8}, Name: "old"}.legacyString())
	for _, tk := range realTickets() {
		f.Add(tk.String())
	}
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ParseTicket(s)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "cbor") || strings.Contains(msg, "EOF") || !errors.Is(err, ErrBadTicket) {
				t.Fatalf("ParseTicket(%q): %v", s, err)
			}
			return
		}
		s = strings.TrimSpace(s)
		again := tk.String()
		if strings.HasPrefix(s, TicketPrefix+"1") {
			again = tk.legacyString()
		}
		if again != s {
			t.Fatalf("accepted %q but it re-encodes as %q", s, again)
		}
	})
}

func TestTicketReadKeys(t *testing.T) {
	in := Ticket{Space: SpaceID{7}, Name: "club", Invite: DeviceKeyFromSeed([32]byte{8}),
		ReadKeys: []EpochKey{{0, [32]byte{1}}, {2, [32]byte{2}}}}
	out, err := ParseTicket(in.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ReadKeys) != 2 || out.ReadKeys[1] != in.ReadKeys[1] || out.ReadKeys[0] != in.ReadKeys[0] {
		t.Fatalf("read keys %v, want %v", out.ReadKeys, in.ReadKeys)
	}
	bad := []string{
		string(make([]byte, 39)), // not whole records
		string(EncodeEpochKeys([]EpochKey{{1, [32]byte{}}, {1, [32]byte{}}})), // not ascending
	}
	for _, b := range bad {
		if _, err := DecodeEpochKeys([]byte(b)); !errors.Is(err, ErrBadEpochKeys) {
			t.Errorf("DecodeEpochKeys(%x): %v, want ErrBadEpochKeys", b, err)
		}
	}
}

// FuzzDecodeEpochKeys checks that accepted read-key records re-encode to
// the same bytes.
//
//	go test -run='^$' -fuzz=FuzzDecodeEpochKeys -fuzztime=20s ./internal/keys
func FuzzDecodeEpochKeys(f *testing.F) {
	f.Add(EncodeEpochKeys([]EpochKey{{0, [32]byte{1}}, {9, [32]byte{2}}}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := DecodeEpochKeys(b)
		if err != nil {
			return
		}
		if got := EncodeEpochKeys(ks); string(got) != string(b) {
			t.Fatalf("accepted %x but it re-encodes as %x", b, got)
		}
	})
}

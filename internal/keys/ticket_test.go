package keys

import (
	"errors"
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
	if !strings.HasPrefix(s, TicketPrefix) {
		t.Fatalf("ticket %q lacks the prefix", s)
	}
	got, err := ParseTicket(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Space != tk.Space || got.Name != tk.Name || got.Invite.Author() != tk.Invite.Author() || len(got.Addrs) != 1 || got.Addrs[0] != tk.Addrs[0] {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range []string{"", "loam2abc", s[:len(s)-3], strings.ToUpper(s), s + "a", "loam1" + strings.Repeat("a", 9000)} {
		if _, err := ParseTicket(bad); !errors.Is(err, ErrBadTicket) {
			t.Errorf("ParseTicket(%.20q…) = %v, want ErrBadTicket", bad, err)
		}
	}
}

func FuzzParseTicket(f *testing.F) {
	f.Add(Ticket{Space: SpaceID{1}, Name: "x", Addrs: []string{"/ip4/1.2.3.4/tcp/1"}}.String())
	f.Add(Ticket{Space: SpaceID{2}, Invite: DeviceKeyFromSeed([32]byte{3})}.String())
	f.Add("loam1aaaa")
	f.Add(Ticket{Space: SpaceID{4}, ReadKeys: []EpochKey{{0, [32]byte{5}}, {3, [32]byte{6}}}}.String())
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ParseTicket(s)
		if err != nil {
			return
		}
		if tk.String() != strings.TrimSpace(s) {
			t.Fatalf("accepted %q but it re-encodes as %q", s, tk.String())
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

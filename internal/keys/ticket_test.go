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

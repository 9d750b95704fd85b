package keys

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
)

// TicketPrefix starts every ticket's text form.
const TicketPrefix = "loam1"

// Ticket lets someone join a space: the space, a suggested local name, an
// invite key that holds a grant in the space (so the joiner can grant itself
// that role), addresses of peers that hold the space, and for a private
// space the read keys of its epochs.
type Ticket struct {
	Space  SpaceID
	Name   string
	Invite DeviceKey // zero: the ticket gives no role, only the way in
	Addrs  []string  // multiaddrs with /p2p/
	// ReadKeys are the read keys of a private space's epochs, ascending;
	// empty for a public space and in a seed invite (a seeder reads nothing).
	ReadKeys []EpochKey
}

// Limits on tickets: they are pasted by people and parsed from anywhere.
const (
	maxTicketLen   = 8 << 10
	maxTicketAddrs = 32
	maxTicketAddr  = 512
)

// ErrBadTicket is wrapped by ParseTicket's errors.
var ErrBadTicket = errors.New("malformed ticket")

type wireTicket struct {
	Space  []byte   `cbor:"1,keyasint"`
	Name   string   `cbor:"2,keyasint,omitempty"`
	Invite []byte   `cbor:"3,keyasint,omitempty"`
	Addrs  []string `cbor:"4,keyasint,omitempty"`
	Keys   []byte   `cbor:"5,keyasint,omitempty"` // EncodeEpochKeys
}

var (
	ticketEnc = CanonicalCBOR
	ticketDec = StrictCBOR(CBORLimits{Nesting: 4, ArrayElems: maxTicketAddrs, MapPairs: 16, Closed: true})
	ticketB32 = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// String returns the ticket's text form: "loam1" and lowercase base32 of
// its canonical CBOR encoding.
func (t Ticket) String() string {
	w := wireTicket{Space: t.Space[:], Name: t.Name, Addrs: t.Addrs}
	if len(t.ReadKeys) > 0 {
		w.Keys = EncodeEpochKeys(t.ReadKeys)
	}
	if !t.Invite.IsZero() {
		w.Invite = t.Invite.s.priv.Seed()
	}
	b, err := ticketEnc.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("keys: encode ticket: %v", err))
	}
	return TicketPrefix + strings.ToLower(ticketB32.EncodeToString(b))
}

// ParseTicket parses a ticket's text form strictly.
func ParseTicket(s string) (Ticket, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxTicketLen {
		return Ticket{}, fmt.Errorf("%w: %d characters, the limit is %d", ErrBadTicket, len(s), maxTicketLen)
	}
	if !strings.HasPrefix(s, TicketPrefix) {
		return Ticket{}, fmt.Errorf("%w: it must start with %q (copy the whole ticket)", ErrBadTicket, TicketPrefix)
	}
	body := s[len(TicketPrefix):]
	if strings.ToLower(body) != body {
		return Ticket{}, fmt.Errorf("%w: it must be lowercase", ErrBadTicket)
	}
	b, err := ticketB32.DecodeString(strings.ToUpper(body))
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: not valid base32 (was it cut short?)", ErrBadTicket)
	}
	var w wireTicket
	if err := ticketDec.Unmarshal(b, &w); err != nil {
		return Ticket{}, fmt.Errorf("%w: %v", ErrBadTicket, err)
	}
	var t Ticket
	if len(w.Space) != Size {
		return Ticket{}, fmt.Errorf("%w: space ID is %d bytes", ErrBadTicket, len(w.Space))
	}
	copy(t.Space[:], w.Space)
	if len(w.Name) > 64 {
		return Ticket{}, fmt.Errorf("%w: name is too long", ErrBadTicket)
	}
	t.Name = w.Name
	if w.Invite != nil {
		if len(w.Invite) != 32 {
			return Ticket{}, fmt.Errorf("%w: invite key is %d bytes", ErrBadTicket, len(w.Invite))
		}
		t.Invite = DeviceKeyFromSeed([32]byte(w.Invite))
	}
	for _, a := range w.Addrs {
		if a == "" || len(a) > maxTicketAddr {
			return Ticket{}, fmt.Errorf("%w: an address is empty or too long", ErrBadTicket)
		}
	}
	t.Addrs = w.Addrs
	if w.Keys != nil {
		if t.ReadKeys, err = DecodeEpochKeys(w.Keys); err != nil || len(t.ReadKeys) == 0 {
			return Ticket{}, fmt.Errorf("%w: bad read keys: %v", ErrBadTicket, err)
		}
	}
	if t.String() != s {
		return Ticket{}, fmt.Errorf("%w: not in canonical form", ErrBadTicket)
	}
	return t, nil
}

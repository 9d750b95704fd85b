package keys

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// TicketPrefix starts the text form of every ticket, of any version: the
// version digit follows it ("loam2…"). docs/format/ticket.md specifies the
// format.
const TicketPrefix = "loam"

// Ticket text form versions. Version 1 carried no checksum: a mistyped
// character went unnoticed until the join timed out. Version 2 ends with a
// CRC-32C of the payload, which catches every single-character typo at
// once. String writes version 2; ParseTicket reads both.
const (
	ticketV1 = '1'
	ticketV2 = '2'
)

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
	ticketCheckLen = 4 // CRC-32C of the payload, little-endian
)

// Errors of ParseTicket. Every error it returns is ErrBadTicket;
// ErrTicketMistyped marks the ones a typo or a cut explains (a changed,
// missing or extra character), which copying the ticket again fixes.
var (
	ErrBadTicket      = errors.New("malformed ticket")
	ErrTicketMistyped = errors.New("the ticket is mistyped: copy it again")
)

// ticketError is an error of ParseTicket: msg says what to do.
type ticketError struct {
	msg      string
	mistyped bool
}

func (e *ticketError) Error() string { return e.msg }

func (e *ticketError) Is(target error) bool {
	return target == ErrBadTicket || e.mistyped && target == ErrTicketMistyped
}

// mistyped returns the error of a ticket a typo explains, with detail in
// parentheses.
func mistyped(format string, a ...any) error {
	return &ticketError{msg: ErrTicketMistyped.Error() + " (" + fmt.Sprintf(format, a...) + ")", mistyped: true}
}

// badContents returns the error of a ticket whose checksum matches but
// whose contents are invalid: no typo explains it, its maker erred.
func badContents(format string, a ...any) error {
	return &ticketError{msg: ErrBadTicket.Error() + ": " + fmt.Sprintf(format, a...) + "; ask the inviter for a new ticket ('loam invite')"}
}

type wireTicket struct {
	Space  []byte   `cbor:"1,keyasint"`
	Name   string   `cbor:"2,keyasint,omitempty"`
	Invite []byte   `cbor:"3,keyasint,omitempty"`
	Addrs  []string `cbor:"4,keyasint,omitempty"`
	Keys   []byte   `cbor:"5,keyasint,omitempty"` // EncodeEpochKeys
}

var (
	ticketEnc   = CanonicalCBOR
	ticketDec   = StrictCBOR(CBORLimits{Nesting: 4, ArrayElems: maxTicketAddrs, MapPairs: 16, Closed: true})
	ticketB32   = base32.StdEncoding.WithPadding(base32.NoPadding)
	ticketCRC   = crc32.MakeTable(crc32.Castagnoli)
	ticketAlpha = "abcdefghijklmnopqrstuvwxyz234567"
)

// payload returns the ticket's canonical CBOR encoding.
func (t Ticket) payload() []byte {
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
	return b
}

// String returns the ticket's text form, version 2: "loam2" and the
// lowercase unpadded base32 of its canonical CBOR encoding followed by the
// CRC-32C (Castagnoli) of that encoding, little-endian.
func (t Ticket) String() string {
	b := t.payload()
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, ticketCRC))
	return TicketPrefix + string(ticketV2) + strings.ToLower(ticketB32.EncodeToString(b))
}

// legacyString is the version 1 text form: no checksum.
func (t Ticket) legacyString() string {
	return TicketPrefix + string(ticketV1) + strings.ToLower(ticketB32.EncodeToString(t.payload()))
}

// ParseTicket parses a ticket's text form, version 2 or 1, strictly:
// surrounding white space aside, it accepts exactly what String (or, for
// version 1, the version that made it) writes. A version 2 ticket with
// one character changed is refused with ErrTicketMistyped, always (the
// checksum catches any change of up to 32 consecutive bits, and one
// character is 5).
func ParseTicket(s string) (Ticket, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Ticket{}, &ticketError{msg: ErrBadTicket.Error() + ": no ticket given: paste the whole ticket 'loam invite' printed (it starts with loam2)"}
	case len(s) > maxTicketLen:
		return Ticket{}, &ticketError{msg: fmt.Sprintf("%s: %d characters, more than a ticket can have (%d): copy only the ticket", ErrBadTicket, len(s), maxTicketLen)}
	case !strings.HasPrefix(s, TicketPrefix) || len(s) == len(TicketPrefix):
		return Ticket{}, mistyped("a ticket starts with %s2", TicketPrefix)
	}
	version, body := s[len(TicketPrefix)], s[len(TicketPrefix)+1:]
	if version != ticketV1 && version != ticketV2 {
		return Ticket{}, mistyped("it starts with %q, and this version of loam reads tickets starting with %s2 or %s1; if a newer Loam made it, upgrade loam", s[:len(TicketPrefix)+1], TicketPrefix, TicketPrefix)
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(ticketAlpha, body[i]) < 0 {
			return Ticket{}, mistyped("character %d, %q, cannot be in a ticket", len(TicketPrefix)+2+i, body[i])
		}
	}
	b, err := ticketB32.DecodeString(strings.ToUpper(body))
	if err != nil {
		return Ticket{}, mistyped("it is cut short or has a character too many")
	}
	if version == ticketV2 {
		if len(b) < ticketCheckLen {
			return Ticket{}, mistyped("it is cut short")
		}
		n := len(b) - ticketCheckLen
		if binary.LittleEndian.Uint32(b[n:]) != crc32.Checksum(b[:n], ticketCRC) {
			return Ticket{}, mistyped("its checksum does not match")
		}
		b = b[:n]
	}
	t, err := decodeTicket(b)
	if err != nil {
		if version == ticketV1 {
			// No checksum: a typo is the likely cause.
			return Ticket{}, mistyped("its contents cannot be read")
		}
		return Ticket{}, err
	}
	if string(t.payload()) != string(b) {
		if version == ticketV1 {
			return Ticket{}, mistyped("its contents cannot be read")
		}
		return Ticket{}, badContents("its contents are not in canonical form")
	}
	canonical := t.String()
	if version == ticketV1 {
		canonical = t.legacyString()
	}
	if canonical != s {
		// The same bytes: only the unused low bits of the last
		// character differ.
		return Ticket{}, mistyped("its last character is wrong")
	}
	return t, nil
}

// decodeTicket decodes and checks a ticket's payload.
func decodeTicket(b []byte) (Ticket, error) {
	var w wireTicket
	if err := ticketDec.Unmarshal(b, &w); err != nil {
		return Ticket{}, badContents("its contents are not a ticket")
	}
	var t Ticket
	if len(w.Space) != Size {
		return Ticket{}, badContents("its space ID is %d bytes instead of %d", len(w.Space), Size)
	}
	copy(t.Space[:], w.Space)
	if len(w.Name) > 64 {
		return Ticket{}, badContents("its space name is longer than 64 bytes")
	}
	t.Name = w.Name
	if w.Invite != nil {
		if len(w.Invite) != 32 {
			return Ticket{}, badContents("its invite key is %d bytes instead of 32", len(w.Invite))
		}
		t.Invite = DeviceKeyFromSeed([32]byte(w.Invite))
	}
	for _, a := range w.Addrs {
		if a == "" || len(a) > maxTicketAddr {
			return Ticket{}, badContents("one of its addresses is empty or longer than %d bytes", maxTicketAddr)
		}
	}
	t.Addrs = w.Addrs
	if w.Keys != nil {
		ks, err := DecodeEpochKeys(w.Keys)
		if err != nil || len(ks) == 0 {
			return Ticket{}, badContents("its read keys are not valid")
		}
		t.ReadKeys = ks
	}
	return t, nil
}

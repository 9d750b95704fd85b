package ledger

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The energy exchange's key layout (docs/apps.md, internal/schema):
//
//	energy/transfer/GIVER/TO/MS-AUTHOR  {"milli": n, "note": "…"}  by a device of GIVER
//	energy/confirm/GIVER/RECEIVER/ID    {"note": "…", "milli": n}  by a device of RECEIVER (milli: the amount confirmed)
//	energy/limit/MEMBER                 {"milli": n}               by an admin
//
// (ID is the transfer key's last segment.)
const (
	Prefix         = "energy/"
	transferPrefix = Prefix + "transfer/"
	confirmPrefix  = Prefix + "confirm/"
	limitPrefix    = Prefix + "limit/"
	postPrefix     = Prefix + "post/"
)

// MaxValue bounds the value of an entry Read decodes; a longer one is
// ignored (the app rules allow a note of 500 characters).
const MaxValue = 4 << 10

// Entry is one signed write under energy/ as a space holds it: the key,
// its value, who signed it and when. Read takes every version of a key
// held (concurrent writes to one key are all passed), so that two
// different transfers signed under one key are seen as equivocation.
type Entry struct {
	Key   string
	Value []byte
	// Device is the signing device (aut_…); Signer is the person it
	// speaks for (idt_…, the identity that certified it), or the device
	// itself when it has none. The ledger names members by Signer.
	Device  string
	Signer  string
	Wall    uint64 // the signed time (HLC)
	Logical uint32
}

// Read turns a space's entries under energy/ into the ledger's input,
// with admins the members (persons or devices, as Signer names them)
// whose limits count. Whether or not the space's app rules are in force
// (a private space has none), it ignores what they refuse: a transfer
// whose key names a giver other than its signer or a device other than
// its signing device, a confirmation whose key names a receiver other
// than its signer, a value that does not decode; Compute then ignores a
// confirmation by someone other than the transfer's receiver and a limit
// set by someone not an admin. It returns the input and the number of
// entries it ignored (posts, energy/post/…, are not the ledger's: it
// skips them without counting).
func Read(entries []Entry, admins map[string]bool, defaultLimit int64) (Input, int) {
	in := Input{Admins: admins, DefaultLimit: defaultLimit}
	ignored := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Key, postPrefix) {
			continue // a post: not the ledger's
		}
		if !readOne(&in, e) {
			ignored++
		}
	}
	return in, ignored
}

// readOne adds e to in, and reports whether it was one of the ledger's
// entries that keeps the rules.
func readOne(in *Input, e Entry) bool {
	if len(e.Value) > MaxValue || e.Signer == "" {
		return false
	}
	at := Time{Wall: e.Wall, Logical: e.Logical, By: e.Signer}
	switch {
	case strings.HasPrefix(e.Key, transferPrefix):
		parts := strings.Split(e.Key[len(transferPrefix):], "/")
		if len(parts) != 3 || parts[0] != e.Signer || !namedBy(parts[2], e.Device) || parts[1] == "" {
			return false
		}
		var v struct {
			Milli *int64 `json:"milli"`
			Note  string `json:"note"`
		}
		if !decode(e.Value, &v) || v.Milli == nil {
			return false
		}
		in.Transfers = append(in.Transfers, Transfer{Ref: Ref{From: parts[0], ID: parts[2]}, To: parts[1], Milli: *v.Milli, Note: v.Note, At: at})
	case strings.HasPrefix(e.Key, confirmPrefix):
		parts := strings.Split(e.Key[len(confirmPrefix):], "/")
		if len(parts) != 3 || parts[1] != e.Signer || parts[0] == "" || parts[2] == "" {
			return false
		}
		var v struct {
			Note  string `json:"note"`
			Milli int64  `json:"milli"` // the amount confirmed; 0: not said
		}
		if !decode(e.Value, &v) {
			return false
		}
		in.Confirms = append(in.Confirms, Confirm{Transfer: Ref{From: parts[0], ID: parts[2]}, At: at, Milli: v.Milli})
	case strings.HasPrefix(e.Key, limitPrefix):
		member := e.Key[len(limitPrefix):]
		if member == "" || strings.Contains(member, "/") {
			return false
		}
		var v struct {
			Milli *int64 `json:"milli"`
		}
		if !decode(e.Value, &v) || v.Milli == nil {
			return false
		}
		in.Limits = append(in.Limits, Limit{Member: member, Milli: *v.Milli, At: at})
	default:
		return false // a key of no layout
	}
	return true
}

// namedBy reports whether a key's last segment MS-AUTHOR names device.
func namedBy(seg, device string) bool {
	ms, author, ok := strings.Cut(seg, "-")
	return ok && ms != "" && author == device
}

// decode decodes a JSON object strictly enough: one value, an object.
// Unknown fields are allowed (the layouts may grow, as the app rules
// allow).
func decode(b []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return false
	}
	return len(bytes.TrimSpace(b[dec.InputOffset():])) == 0 // nothing after the value
}

// LimitNow returns the limit in force for member after every limit in
// in: the latest set by an admin, or the default.
func (in Input) LimitNow(member string) int64 {
	out, set := in.DefaultLimit, (*Limit)(nil)
	for i := range in.Limits {
		l := &in.Limits[i]
		if l.Member != member || !in.Admins[l.At.By] || l.Milli < 0 {
			continue
		}
		if set == nil || l.At.Compare(set.At) > 0 || l.At.Compare(set.At) == 0 && l.Milli > set.Milli {
			set = l
		}
	}
	if set != nil {
		out = set.Milli
	}
	return out
}

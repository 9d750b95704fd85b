package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/loamdb/loam/internal/blob"
)

// Record is a key and a value, each as text when it is valid UTF-8 and in
// base64 (standard alphabet, padded) otherwise. It is one line of the JSON
// Lines format of 'loam import' and 'loam export', and the body of the
// API's key objects.
//
// A key that holds a blob has "blob": {"id", "size", "type"} instead of a
// value.
type Record struct {
	Key      *string  `json:"key,omitempty"`
	KeyB64   *string  `json:"key_b64,omitempty"`
	Value    *string  `json:"value,omitempty"`
	ValueB64 *string  `json:"value_b64,omitempty"`
	Blob     *BlobRef `json:"blob,omitempty"`
}

// Ref returns the record's blob reference, checked: a blob ID, a size and
// an optional media type, with no value beside it.
func (r *Record) Ref() (blob.Ref, error) {
	if r.Value != nil || r.ValueB64 != nil {
		return blob.Ref{}, errors.New(`both "blob" and a value: give exactly one`)
	}
	id, err := blob.ParseBlobID(r.Blob.ID)
	if err != nil {
		return blob.Ref{}, fmt.Errorf(`"blob": %v`, err)
	}
	if r.Blob.Sealed {
		return blob.Ref{}, errors.New(`"blob" is sealed to a private space: write the file's bytes instead (loam get the key, then loam put -f)`)
	}
	ref := blob.Ref{ID: id, Size: r.Blob.Size, Type: r.Blob.Type}
	if err := ref.Validate(); err != nil {
		return blob.Ref{}, fmt.Errorf(`"blob": %v`, err)
	}
	return ref, nil
}

// textOrBase64 returns b as text when it is valid UTF-8, else as base64.
func textOrBase64(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// NewRecord returns the record of key and value.
func NewRecord(key, value []byte) Record {
	var r Record
	r.Key, r.KeyB64 = textOrBase64(key)
	r.Value, r.ValueB64 = textOrBase64(value)
	return r
}

// KeyBytes returns the record's key, checking that exactly one of "key"
// and "key_b64" is there.
func (r *Record) KeyBytes() ([]byte, error) { return oneOf(r.Key, r.KeyB64, "key") }

// ValueBytes returns the record's value, checking that exactly one of
// "value" and "value_b64" is there.
func (r *Record) ValueBytes() ([]byte, error) { return oneOf(r.Value, r.ValueB64, "value") }

// oneOf returns the bytes of a field given as text or as base64, checking
// that exactly one of the two is there.
func oneOf(text, b64 *string, name string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf("both %q and %q: give exactly one", name, name+"_b64")
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("%q is not valid base64 (%v): use the standard alphabet with '=' padding", name+"_b64", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("no %q (or %q): each record needs one", name, name+"_b64")
}

// Entry is a key with its value (unless deleted) and who wrote it when: an
// element of GET /v1/spaces/{space}/keys, the answer of GET on one key, and
// (with Op) one event of a watch. The CLI prints the same objects with
// --json.
type Entry struct {
	Op string `json:"op,omitempty"` // watch only: "put", "del" or "resync"
	Record
	Author string `json:"author,omitempty"`
	Time   string `json:"time,omitempty"`   // RFC 3339, UTC
	Erased bool   `json:"erased,omitempty"` // the value was erased: no value or blob
}

// NewEntry returns the entry of a key, its value, author and time.
func NewEntry(key, value []byte, author string, t time.Time) Entry {
	return Entry{Record: NewRecord(key, value), Author: author, Time: FormatTime(t)}
}

// Watch operations.
const (
	OpPut = "put"
	OpDel = "del"
	// OpResync is the event of a watch that fell behind: changes were
	// dropped, so the client should list the keys again; the events after
	// it are every change applied after the drop. It has no key.
	OpResync = "resync"
)

// NewChange returns the watch event of a change: a put of value, or a
// delete (with no value).
func NewChange(key, value []byte, deleted bool, author string, t time.Time) Entry {
	e := NewEntry(key, value, author, t)
	e.Op = OpPut
	if deleted {
		e.Op, e.Value, e.ValueB64 = OpDel, nil, nil
	}
	return e
}

// Bytes returns the entry's key and value.
func (e *Entry) Bytes() (key, value []byte, err error) {
	if key, err = e.KeyBytes(); err != nil {
		return nil, nil, err
	}
	if e.Op == OpDel || e.Erased || e.Blob != nil && e.Value == nil && e.ValueB64 == nil {
		return key, nil, nil // deleted, erased, or a blob reference instead of a value
	}
	value, err = e.ValueBytes()
	return key, value, err
}

// ParsedTime returns the entry's time (zero if it has none).
func (e *Entry) ParsedTime() (time.Time, error) { return ParseTime(e.Time) }

// FormatTime formats t as the API writes times: RFC 3339 with fractional
// seconds, in UTC; "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ParseTime parses a time written by FormatTime ("" is the zero time).
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// BatchOp is one element of the body of POST /v1/spaces/{space}/batch: a
// put of the record's value under its key, or, with Delete, a delete of the
// key (and no value).
type BatchOp struct {
	Record
	Delete bool `json:"delete,omitempty"`
}

// PutOp returns the batch op that puts value under key.
func PutOp(key, value []byte) BatchOp { return BatchOp{Record: NewRecord(key, value)} }

// DeleteOp returns the batch op that deletes key.
func DeleteOp(key []byte) BatchOp {
	op := BatchOp{Delete: true}
	op.Key, op.KeyB64 = textOrBase64(key)
	return op
}

// Bytes returns the op's key and, for a put, its value.
func (o *BatchOp) Bytes() (key, value []byte, err error) {
	if key, err = o.KeyBytes(); err != nil {
		return nil, nil, err
	}
	if o.Delete {
		if o.Value != nil || o.ValueB64 != nil || o.Blob != nil {
			return nil, nil, errors.New(`a delete has no "value" or "blob": give "delete": true or a value, not both`)
		}
		return key, nil, nil
	}
	if o.Blob != nil {
		return key, nil, nil // see Ref
	}
	value, err = o.ValueBytes()
	return key, value, err
}

// BatchResult answers POST /v1/spaces/{space}/batch.
type BatchResult struct {
	Ops    int    `json:"ops"`    // ops written
	Commit string `json:"commit"` // the commit that holds them ("" for an empty batch)
}

// SpaceInfo describes a space held by the node.
type SpaceInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Created string `json:"created"` // RFC 3339, UTC: when this node first stored it
	// Private: keys, values and blobs are sealed under a read key only
	// members hold.
	Private bool `json:"private,omitempty"`
}

// CreateSpaceRequest is the body of POST /v1/spaces.
type CreateSpaceRequest struct {
	Name    string `json:"name"`
	Private bool   `json:"private,omitempty"` // keys and values sealed; see docs/design.md
}

// Head is one author's latest commit in a space.
type Head struct {
	Author string `json:"author"`
	Seq    uint64 `json:"seq"`
	Commit string `json:"commit"`
	Time   string `json:"time"`
}

// VerifyReport answers GET /v1/spaces/{space}/verify for a good history.
type VerifyReport struct {
	Commits int `json:"commits"`
	Ops     int `json:"ops"`
	Authors int `json:"authors"`
	Forks   int `json:"forks"`
}

// InviteRequest is the body of POST /v1/spaces/{space}/invites. Expires is
// a Go duration ("24h", "90m"); "" or "0" means no expiry.
type InviteRequest struct {
	Role    string `json:"role"`
	Expires string `json:"expires,omitempty"`
	Uses    uint32 `json:"uses,omitempty"` // devices that may join (0: unlimited)
}

// Member is one element of GET /v1/spaces/{space}/members.
type Member struct {
	Author  string        `json:"author"`
	Invite  bool          `json:"invite,omitempty"` // an invite key, not a device
	Role    string        `json:"role"`             // in force now; "" when none
	Grants  []MemberGrant `json:"grants"`
	Joined  []string      `json:"joined,omitempty"` // for an invite: who joined through it
	Revoked *Revocation   `json:"revoked,omitempty"`
	// ForkedAt is the seq at which the member signed two different
	// commits: its commits from there on do not count (0: none).
	ForkedAt uint64 `json:"forked_at,omitempty"`
	// A person (#12) is one row: Author and Identity are its identity ID
	// (idt_…), Role the highest of its devices', Grants the grants to the
	// person, and Devices its certified devices, each a member with its
	// Identity, Name (from its certificate) and Since (certified at).
	Identity string     `json:"identity,omitempty"`
	Name     string     `json:"name,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Devices  []Member   `json:"devices,omitempty"`
	// Profiles (#12): a person's row has Name, the name of their profile
	// ("" without one), Avatar, its avatar's blob ID ("" without one), and
	// AvatarKey, the key in the space whose value is the avatar image
	// (GET /v1/spaces/{space}/keys/{key}?raw=true). A device row of a
	// person has Person, the person's profile name.
	Avatar    string `json:"avatar,omitempty"`
	AvatarKey string `json:"avatar_key,omitempty"`
	Person    string `json:"person,omitempty"`
}

// MemberGrant is one grant of a Member.
type MemberGrant struct {
	Role      string     `json:"role"`
	Prefix    string     `json:"prefix,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
	Uses      uint32     `json:"uses,omitempty"`
	GrantedBy string     `json:"granted_by"`
	Since     time.Time  `json:"since"`
	Via       string     `json:"via,omitempty"` // the invite key joined through
}

// Revocation is a Member's accepted revocation.
type Revocation struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	LastSeq uint64    `json:"last_seq"`
}

// RevokeRequest is the body of POST /v1/spaces/{space}/revoke: target is
// an author ID (aut_…), a person's identity ID (idt_…) or an invite's
// ticket (loam2…).
type RevokeRequest struct {
	Target string `json:"target"`
}

// RevokeResponse answers POST /v1/spaces/{space}/revoke.
type RevokeResponse struct {
	Author  string `json:"author"`
	Invite  bool   `json:"invite,omitempty"`
	LastSeq uint64 `json:"last_seq"`
	Epoch   uint64 `json:"epoch,omitempty"` // private space: the read-key epoch started
	// Person is set when a person was revoked (target idt_…): Author is
	// then empty, and Devices holds the cuts of the person's devices known
	// to the revoking device (every other device of the person is cut at 0).
	Person  string          `json:"person,omitempty"`
	Devices []RevokedDevice `json:"devices,omitempty"`
}

// RevokedDevice is one device's cut in a person's revocation.
type RevokedDevice struct {
	Author  string `json:"author"`
	LastSeq uint64 `json:"last_seq"`
}

// InviteResponse answers POST /v1/spaces/{space}/invites.
type InviteResponse struct {
	Ticket string `json:"ticket"`
}

// JoinRequest is the body of POST /v1/join.
type JoinRequest struct {
	Ticket string `json:"ticket"`
}

// ConnectRequest is the body of POST /v1/connect.
type ConnectRequest struct {
	Addr string `json:"addr"` // a multiaddr with /p2p/
}

// ConnectResponse answers POST /v1/connect.
type ConnectResponse struct {
	Peer string `json:"peer"` // the peer ID reached
}

// Peer is an element of GET /v1/peers.
type Peer struct {
	Peer      string   `json:"peer"`   // libp2p peer ID
	Author    string   `json:"author"` // its device's author ID
	Addrs     []string `json:"addrs"`
	Direct    bool     `json:"direct"` // false if relayed, or not connected
	Connected bool     `json:"connected"`
	// Relay is the relay's peer ID when connected only through a relay;
	// RelaySync is true when spaces sync through it (hole punching
	// failed: see GET /v1/doctor).
	Relay     string   `json:"relay,omitempty"`
	RelaySync bool     `json:"relay_sync"`
	Spaces    []string `json:"spaces"` // IDs of the spaces synced with it
	BytesIn   uint64   `json:"bytes_in"`
	BytesOut  uint64   `json:"bytes_out"`
	LastSeen  string   `json:"last_seen,omitempty"` // RFC 3339, UTC
}

// Status answers GET /v1/status.
type Status struct {
	Peer     string            `json:"peer"`
	Author   string            `json:"author"`
	Addrs    []string          `json:"addrs"`
	Spaces   []SpaceStatus     `json:"spaces"`
	Peers    int               `json:"peers"`    // connected peers
	Refusals map[string]uint64 `json:"refusals"` // peers disconnected for misbehaving, by kind
	Blobs    BlobStatus        `json:"blobs"`
	Disk     *DiskUsage        `json:"disk,omitempty"` // what the home takes on disk (disk.go)
}

// BlobStatus sums up blob transfers in Status.
type BlobStatus struct {
	BytesIn  uint64 `json:"bytes_in"`  // verified bytes fetched from peers
	BytesOut uint64 `json:"bytes_out"` // bytes served to peers
	Fetching int    `json:"fetching"`  // downloads in progress
	Queued   int    `json:"queued"`    // referenced blobs waiting to be fetched eagerly
}

// ForkedAuthor is an author that forked, in SpaceStatus.
type ForkedAuthor struct {
	Author string `json:"author"`
	Seq    uint64 `json:"seq"` // its commits from this seq on do not count
}

// SpaceStatus is one space in Status.
type SpaceStatus struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Commits uint64 `json:"commits"` // commits held: the sum of the heads' seqs
	Heads   []Head `json:"heads"`
	// Forked lists the authors that signed two different commits with
	// one seq: their commits from that seq on do not count.
	Forked   []ForkedAuthor `json:"forked,omitempty"`
	Keys     int64          `json:"keys"` // visible keys
	ViewHash string         `json:"view_hash"`
	Peers    int            `json:"peers"`   // connected peers sharing the space
	InSync   int            `json:"in_sync"` // of those, how many hold the same commits
	Bytes    SpaceBytes     `json:"bytes"`   // what it takes on disk (disk.go)
	// Warnings are problems of the space that need the user, in sentences.
	Warnings []string `json:"warnings,omitempty"`
}

// Hello answers GET /v1/: which node serves the API.
type Hello struct {
	API    string `json:"api"` // "v1"
	Peer   string `json:"peer"`
	Author string `json:"author"`
}

// LoginURL is the answer to POST /v1/logins: a one-time login URL for a
// browser, and when it expires if unused.
type LoginURL struct {
	URL     string `json:"url"`
	Expires string `json:"expires"`
	// UIListen and SPKI describe the --ui-listen listener, when the
	// daemon serves one: its URLs, and the base64 SHA-256 of its
	// certificate's public key (see UICert).
	UIListen []string `json:"ui_listen,omitempty"`
	SPKI     string   `json:"spki_sha256,omitempty"`
	// CA is the SHA-256 of the node's certificate authority for phones
	// (hex pairs and colons; see UICert.CAFingerprint).
	CA string `json:"ca_sha256,omitempty"`
}

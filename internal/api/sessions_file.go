package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unicode"
	"unicode/utf8"
)

// SessionsFile is the file in the Loam home that keeps the browser
// sessions across daemon restarts (mode 0600). It holds the SHA-256 of
// each session secret, never the secret: reading the file does not log a
// browser in.
const SessionsFile = "sessions.json"

// Bounds of the sessions file: it is read strictly, and what it holds is
// bounded in count and in bytes.
const (
	sessionsFileVersion = 1
	maxSessionsFile     = 1 << 20 // bytes
	maxSessions         = 1024    // live sessions
	maxGone             = 256     // revoked and expired sessions remembered
	maxSessionName      = 64      // bytes
	maxSessionAddr      = 64      // bytes
	// goneTTL is how long a revoked or expired session is remembered, to
	// tell its browser why it was logged out.
	goneTTL = 30 * 24 * time.Hour
)

// sessionsDoc is the sessions file.
type sessionsDoc struct {
	Version  int          `json:"version"`
	Sessions []sessionDoc `json:"sessions"`
	Gone     []goneDoc    `json:"gone"`
}

// sessionDoc is one live session: Hash is the hex SHA-256 of its secret.
type sessionDoc struct {
	Name     string    `json:"name"`
	Hash     string    `json:"hash"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	Addr     string    `json:"addr"`
	Via      string    `json:"via"`
}

// goneDoc is a session that ended: Why is "revoked" or "expired".
type goneDoc struct {
	Name string    `json:"name"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
	Why  string    `json:"why"`
}

// Where a session was made.
const (
	viaLoopback = "loopback" // a login link on this machine
	viaLAN      = "lan"      // pairing on the --ui-listen listener
)

var errSessionsFile = errors.New("the sessions file is not valid")

// checkSessionName returns an error unless name is a session name: 1 to
// 64 bytes of UTF-8, printable, without leading or trailing spaces.
func checkSessionName(name string) error {
	switch {
	case name == "":
		return badRequestf("the session name is empty: give a name such as \"Ana's phone\"")
	case len(name) > maxSessionName:
		return badRequestf("the session name is %d bytes, more than %d: give a shorter name", len(name), maxSessionName)
	case !utf8.ValidString(name):
		return badRequestf("the session name is not UTF-8 text")
	case name != trimSpace(name):
		return badRequestf("the session name %q starts or ends with a space", name)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) && r != ' ' {
			return badRequestf("the session name %q has a character that is not printable", name)
		}
	}
	return nil
}

func trimSpace(s string) string {
	return string(bytes.TrimSpace([]byte(s)))
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("%w: hash %q is not 64 hex digits", errSessionsFile, s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: hash %q is not hex", errSessionsFile, s)
	}
	return h, nil
}

// parseEntry checks the hash and the name of a live or ended session of
// the file, and returns the hash.
func parseEntry(hash, name string) ([32]byte, error) {
	h, err := parseHash(hash)
	if err != nil {
		return h, err
	}
	if err := checkSessionName(name); err != nil {
		return h, fmt.Errorf("%w: %v", errSessionsFile, err)
	}
	return h, nil
}

// decodeSessions parses a sessions file strictly: size, version, unknown
// fields, trailing data, counts, names, hashes (no duplicate) and
// addresses are checked.
func decodeSessions(b []byte) (*sessionsDoc, error) {
	if len(b) > maxSessionsFile {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", errSessionsFile, len(b), maxSessionsFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d sessionsDoc
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", errSessionsFile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", errSessionsFile)
	}
	if d.Version != sessionsFileVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", errSessionsFile, d.Version, sessionsFileVersion)
	}
	if len(d.Sessions) > maxSessions || len(d.Gone) > maxGone {
		return nil, fmt.Errorf("%w: %d sessions and %d ended ones, more than %d and %d", errSessionsFile, len(d.Sessions), len(d.Gone), maxSessions, maxGone)
	}
	hashes := map[[32]byte]bool{}
	names := map[string]bool{}
	for _, s := range d.Sessions {
		h, err := parseEntry(s.Hash, s.Name)
		if err != nil {
			return nil, err
		}
		if hashes[h] || names[s.Name] {
			return nil, fmt.Errorf("%w: session %q twice", errSessionsFile, s.Name)
		}
		hashes[h], names[s.Name] = true, true
		if len(s.Addr) > maxSessionAddr || !utf8.ValidString(s.Addr) {
			return nil, fmt.Errorf("%w: session %q: address too long", errSessionsFile, s.Name)
		}
		if s.Via != viaLoopback && s.Via != viaLAN {
			return nil, fmt.Errorf("%w: session %q: via %q", errSessionsFile, s.Name, s.Via)
		}
	}
	for _, g := range d.Gone {
		h, err := parseEntry(g.Hash, g.Name)
		if err != nil {
			return nil, err
		}
		if hashes[h] {
			return nil, fmt.Errorf("%w: session %q both live and ended", errSessionsFile, g.Name)
		}
		hashes[h] = true
		if g.Why != goneRevoked && g.Why != goneExpired {
			return nil, fmt.Errorf("%w: session %q ended %q", errSessionsFile, g.Name, g.Why)
		}
	}
	return &d, nil
}

// Why a session ended.
const (
	goneRevoked = "revoked"
	goneExpired = "expired"
)

// loadSessions reads home's sessions file; none is an empty document.
func loadSessions(home string) (*sessionsDoc, error) {
	path := filepath.Join(home, SessionsFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &sessionsDoc{Version: sessionsFileVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("api: read the sessions: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSessionsFile+1))
	if err != nil {
		return nil, fmt.Errorf("api: read the sessions: %w", err)
	}
	d, err := decodeSessions(b)
	if err != nil {
		return nil, fmt.Errorf("api: %s: %w (move it away to start with no browser sessions; browsers then log in or pair again)", path, err)
	}
	return d, nil
}

// encodeSessions returns d as the file's bytes.
func encodeSessions(d *sessionsDoc) []byte {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err) // plain strings and times always encode
	}
	return append(b, '\n')
}

package node

import "github.com/loamdb/loam/internal/keys"

// What a backup needs of the identity file (issue 12): the root package's
// Backup carries HOME/identity verbatim, and a restore checks it with the
// decoder Open uses before it writes it into the new home
// (docs/format/archive.md §6).

const (
	// IdentityFile names the identity file in a home.
	IdentityFile = identityFile
	// MaxIdentityFile bounds an identity file in bytes.
	MaxIdentityFile = maxIdentityFile
)

// DecodeIdentityFile parses an identity file as Open reads it: strictly,
// and with a certificate of device dev.
func DecodeIdentityFile(b []byte, dev keys.AuthorID) (Identity, error) {
	return decodeIdentity(b, dev)
}

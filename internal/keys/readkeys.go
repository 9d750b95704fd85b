package keys

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// EpochKey is the 32-byte read key of one key epoch of a private space.
// It is a secret: whoever holds it reads the epoch's ops and blobs.
type EpochKey struct {
	Epoch uint64
	Key   [32]byte
}

// MaxEpochKeys bounds the read keys carried in one ticket or key file.
const MaxEpochKeys = 1024

// epochKeySize is the size of one encoded EpochKey: epoch (8, big-endian)
// followed by the key (32).
const epochKeySize = 8 + 32

// ErrBadEpochKeys is wrapped by DecodeEpochKeys's errors.
var ErrBadEpochKeys = errors.New("malformed read keys")

// EncodeEpochKeys encodes ks, which must be sorted by (epoch, key) without
// duplicates, as concatenated records of epoch (8 bytes, big-endian) ‖ key.
// An epoch has two keys when two admins rotated to it concurrently.
func EncodeEpochKeys(ks []EpochKey) []byte {
	b := make([]byte, 0, len(ks)*epochKeySize)
	for _, k := range ks {
		b = binary.BigEndian.AppendUint64(b, k.Epoch)
		b = append(b, k.Key[:]...)
	}
	return b
}

// DecodeEpochKeys decodes EncodeEpochKeys's output strictly: whole records,
// at most MaxEpochKeys, sorted by (epoch, key) without duplicates.
func DecodeEpochKeys(b []byte) ([]EpochKey, error) {
	if len(b)%epochKeySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of %d-byte records", ErrBadEpochKeys, len(b), epochKeySize)
	}
	n := len(b) / epochKeySize
	if n > MaxEpochKeys {
		return nil, fmt.Errorf("%w: %d keys, the limit is %d", ErrBadEpochKeys, n, MaxEpochKeys)
	}
	ks := make([]EpochKey, n)
	for i := range ks {
		r := b[i*epochKeySize:]
		ks[i].Epoch = binary.BigEndian.Uint64(r)
		copy(ks[i].Key[:], r[8:epochKeySize])
		if i > 0 && CompareEpochKeys(ks[i-1], ks[i]) >= 0 {
			return nil, fmt.Errorf("%w: not sorted by epoch and key, or a duplicate", ErrBadEpochKeys)
		}
	}
	return ks, nil
}

// CompareEpochKeys orders read keys by epoch, then key bytes.
func CompareEpochKeys(a, b EpochKey) int {
	switch {
	case a.Epoch < b.Epoch:
		return -1
	case a.Epoch > b.Epoch:
		return 1
	}
	return bytes.Compare(a.Key[:], b.Key[:])
}

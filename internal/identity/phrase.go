package identity

import (
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The BIP-39 English word list, byte for byte the file bip-0039/english.txt
// of github.com/bitcoin/bips (SHA-256 2f5eed53…24dbda, checked by
// TestWordList).
//
//go:embed english.txt
var englishTxt string

// words is the list; index maps a word to its 11-bit value.
var words, index = func() ([]string, map[string]int) {
	ws := strings.Split(strings.TrimSuffix(englishTxt, "\n"), "\n")
	if len(ws) != 2048 {
		panic(fmt.Sprintf("identity: word list has %d words, want 2048", len(ws)))
	}
	m := make(map[string]int, len(ws))
	for i, w := range ws {
		m[w] = i
	}
	return ws, m
}()

// PhraseWords is the number of words of a recovery phrase: 256 bits of
// entropy and an 8-bit checksum, 11 bits a word.
const PhraseWords = 24

// maxPhraseText bounds the text ParsePhrase looks at (24 words of at most
// 8 letters and generous white space).
const maxPhraseText = 1024

// Errors of ParsePhrase, each wrapped with what to check.
var (
	ErrPhraseLength   = errors.New("recovery phrase has the wrong number of words")
	ErrPhraseWord     = errors.New("recovery phrase has a word that is not in the list")
	ErrPhraseChecksum = errors.New("recovery phrase does not check")
)

// Phrase is a recovery phrase: the 256 bits of entropy its 24 words encode.
// Everything of a person's identity is derived from it.
type Phrase struct{ entropy [32]byte }

// NewPhrase draws a new phrase from r (crypto/rand.Reader).
func NewPhrase(r io.Reader) (Phrase, error) {
	var p Phrase
	if _, err := io.ReadFull(r, p.entropy[:]); err != nil {
		return Phrase{}, fmt.Errorf("identity: new recovery phrase: %w", err)
	}
	return p, nil
}

// PhraseFromEntropy returns the phrase of the given entropy (tests, vectors).
func PhraseFromEntropy(e [32]byte) Phrase { return Phrase{e} }

// Entropy returns the phrase's entropy.
func (p Phrase) Entropy() [32]byte { return p.entropy }

// Words returns the 24 words: the entropy followed by the first byte of
// its SHA-256, cut into 11-bit indexes, most significant bit first.
func (p Phrase) Words() []string {
	sum := sha256.Sum256(p.entropy[:])
	var bits [33]byte
	copy(bits[:], p.entropy[:])
	bits[32] = sum[0]
	out := make([]string, PhraseWords)
	for i := range out {
		out[i] = words[bits11(bits[:], i*11)]
	}
	return out
}

// String returns the words separated by single spaces. Handle with care:
// it is the identity.
func (p Phrase) String() string { return strings.Join(p.Words(), " ") }

func bits11(b []byte, off int) int {
	v := 0
	for j := range 11 {
		bit := off + j
		v = v<<1 | int(b[bit/8]>>(7-bit%8)&1)
	}
	return v
}

// ParsePhrase reads a phrase as a person types it: words separated by any
// white space, in any case. It accepts exactly the 24 words of the list
// with a matching checksum, and says which word or what to check
// otherwise.
func ParsePhrase(s string) (Phrase, error) {
	if len(s) > maxPhraseText {
		return Phrase{}, fmt.Errorf("%w: the text is %d bytes, longer than any phrase; give only the %d words", ErrPhraseLength, len(s), PhraseWords)
	}
	ws := strings.Fields(strings.ToLower(s))
	if len(ws) != PhraseWords {
		return Phrase{}, fmt.Errorf("%w: %d words, want %d: check that you copied every word, one after another", ErrPhraseLength, len(ws), PhraseWords)
	}
	var bits [33]byte
	for i, w := range ws {
		v, ok := index[w]
		if !ok {
			hint := ""
			if m := suggest(w); m != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", m)
			}
			return Phrase{}, fmt.Errorf("%w: word %d, %q%s: check its spelling against what you wrote down", ErrPhraseWord, i+1, clip(w), hint)
		}
		for j := range 11 {
			if v>>(10-j)&1 == 1 {
				bit := i*11 + j
				bits[bit/8] |= 1 << (7 - bit%8)
			}
		}
	}
	var p Phrase
	copy(p.entropy[:], bits[:32])
	if sum := sha256.Sum256(p.entropy[:]); sum[0] != bits[32] {
		return Phrase{}, fmt.Errorf("%w: every word is in the list, but not in this combination: check the order of the words and for a word swapped for another one", ErrPhraseChecksum)
	}
	return p, nil
}

// suggest returns the word of the list sharing w's first four letters
// (unique in the English list), if any.
func suggest(w string) string {
	if len(w) < 4 {
		return ""
	}
	for _, c := range words {
		if len(c) >= 4 && c[:4] == w[:4] {
			return c
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// Seed returns the phrase's BIP-39 seed with the given passphrase:
// PBKDF2-HMAC-SHA512 of the words joined by single spaces, salt
// "mnemonic" ‖ passphrase, 2048 iterations, 64 bytes. Loam uses the empty
// passphrase (Key); BIP-39 normalizes both to NFKD, which this function
// does not do, so it refuses a passphrase that is not ASCII.
func (p Phrase) Seed(passphrase string) ([64]byte, error) {
	var seed [64]byte
	for i := range len(passphrase) {
		if passphrase[i] >= 0x80 {
			return seed, errors.New("identity: a BIP-39 passphrase must be ASCII here (it would need NFKD normalization)")
		}
	}
	b, err := pbkdf2.Key(sha512.New, p.String(), []byte("mnemonic"+passphrase), 2048, 64)
	if err != nil {
		return seed, fmt.Errorf("identity: seed: %w", err)
	}
	copy(seed[:], b)
	return seed, nil
}

// CtxIdentityKey is the HKDF info string that derives the identity key
// from the BIP-39 seed.
const CtxIdentityKey = "loam/identity-key/v1"

// Key returns the identity key of the phrase: the Ed25519 key whose seed
// is HKDF-SHA256(secret = the BIP-39 seed with the empty passphrase,
// salt = none, info = CtxIdentityKey), 32 bytes.
func (p Phrase) Key() Key {
	seed, err := p.Seed("")
	if err != nil {
		panic(err) // unreachable: the empty passphrase is ASCII
	}
	k, err := hkdf.Key(sha256.New, seed[:], nil, CtxIdentityKey, 32)
	if err != nil {
		panic(err) // unreachable: 32 bytes is within HKDF-SHA256's limit
	}
	return KeyFromSeed([32]byte(k))
}

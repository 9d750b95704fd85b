package keys_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

func fill(b byte) (s [32]byte) {
	for i := range s {
		s[i] = b
	}
	return s
}

func counting() (s [32]byte) {
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

// Pinned text forms. A change here breaks every stored identifier, config
// file and invite in the wild.
const (
	goldenZeroSpace   = "spc_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	goldenSpace01     = "spc_rkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5oa" // SpaceKeyFromSeed(0x01 × 32).Space()
	goldenAuthor02    = "aut_qe4xodvipulv6vvdkrtmgtd6ztfy3curwtxdpis56yhvxd6jwoka" // DeviceKeyFromSeed(0x02 × 32).Author()
	goldenSpaceAuthor = "aut_rkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5oa" // SpaceKeyFromSeed(0x01 × 32).Author()
	goldenCommitCount = "cmt_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq" // CommitID{0, 1, …, 31}
	goldenCommitFF    = "cmt_777777777777777777777777777777777777777777777777777q"
	goldenDevSecret02 = "devsec_aibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaiba" // DeviceKeyFromSeed(0x02 × 32)
	goldenSpcSecret01 = "spcsec_aeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaq" // SpaceKeyFromSeed(0x01 × 32)
)

func TestGoldenTextForms(t *testing.T) {
	sk := keys.SpaceKeyFromSeed(fill(0x01))
	dk := keys.DeviceKeyFromSeed(fill(0x02))
	cases := []struct{ got, want string }{
		{keys.SpaceID{}.String(), goldenZeroSpace},
		{sk.Space().String(), goldenSpace01},
		{dk.Author().String(), goldenAuthor02},
		{sk.Author().String(), goldenSpaceAuthor},
		{keys.CommitID(counting()).String(), goldenCommitCount},
		{keys.CommitID(fill(0xff)).String(), goldenCommitFF},
		{dk.String(), goldenDevSecret02},
		{sk.String(), goldenSpcSecret01},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("text form = %s, want %s", tc.got, tc.want)
		}
	}
	if got := dk.Author().Short(); got != goldenAuthor02[:len("aut_")+8] {
		t.Errorf("Short = %s", got)
	}
}

// Pinned context hashes: the keyed BLAKE3 of "loam" under each context.
func TestGoldenHashes(t *testing.T) {
	cases := []struct {
		h    *keys.Hasher
		want string
	}{
		{keys.CommitHeaderHash, "d4962a0c6d9caa5784b1c4888cc87b374eaa7e0dc0712e8468ba45cfff9c94c6"},
		{keys.OpHash, "18090e4b127defa384f7c04fe93b52c7f8a4b76c7e88c86dd1ecf551ae3a3aea"},
		{keys.OpsRootHash, "5c8e236668f2417b843fb3f417f8c10fcad98e764fd5cc4d42a5f036a2f541b8"},
		{keys.PayloadHash, "db349d042056ad8d95bf0bbe7df224d74ac6a21ae049b3fd018b0b142fd4001b"},
	}
	for i, tc := range cases {
		d := tc.h.Sum([]byte("lo"), []byte("am"))
		if got := hex.EncodeToString(d[:]); got != tc.want {
			t.Errorf("hasher %d: Sum(\"loam\") = %s, want %s", i, got, tc.want)
		}
		if tc.h.Sum([]byte("loam")) != d {
			t.Errorf("hasher %d: Sum of parts differs from Sum of their concatenation", i)
		}
	}
	if keys.NewHasher(keys.CtxCommitHeader).Sum([]byte("loam")) != keys.CommitHeaderHash.Sum([]byte("loam")) {
		t.Error("NewHasher is not deterministic")
	}
}

func TestSignVerify(t *testing.T) {
	dk := keys.DeviceKeyFromSeed(fill(0x02))
	d := keys.CommitHeaderHash.Sum([]byte("header"))
	sig := dk.Sign(keys.CtxCommitSig, d)
	if !keys.Verify([32]byte(dk.Author()), keys.CtxCommitSig, d, sig[:]) {
		t.Fatal("signature does not verify")
	}
	if keys.Verify([32]byte(dk.Author()), keys.CtxOp, d, sig[:]) {
		t.Error("signature verifies under another context")
	}
	other := d
	other[0] ^= 1
	if keys.Verify([32]byte(dk.Author()), keys.CtxCommitSig, other, sig[:]) {
		t.Error("signature verifies for another digest")
	}
	if keys.Verify([32]byte(dk.Author()), keys.CtxCommitSig, d, sig[:63]) {
		t.Error("short signature verifies")
	}
	if sig != dk.Sign(keys.CtxCommitSig, d) {
		t.Error("signing is not deterministic")
	}
}

// parsers lists every Parse function with a valid text form for it.
func parsers() []struct {
	name   string
	prefix string
	valid  string
	parse  func(string) (string, error)
} {
	return []struct {
		name   string
		prefix string
		valid  string
		parse  func(string) (string, error)
	}{
		{"space", keys.SpacePrefix, goldenSpace01, parseText(keys.ParseSpaceID)},
		{"author", keys.AuthorPrefix, goldenAuthor02, parseText(keys.ParseAuthorID)},
		{"commit", keys.CommitPrefix, goldenCommitCount, parseText(keys.ParseCommitID)},
		{"device key", keys.DeviceSecretPrefix, goldenDevSecret02, parseText(keys.ParseDeviceKey)},
		{"space key", keys.SpaceSecretPrefix, goldenSpcSecret01, parseText(keys.ParseSpaceKey)},
	}
}

// parseText makes parse answer the text form of what it parsed.
func parseText[T fmt.Stringer](parse func(string) (T, error)) func(string) (string, error) {
	return func(s string) (string, error) {
		v, err := parse(s)
		if err != nil {
			return "", err
		}
		return v.String(), nil
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, b := range [][32]byte{{}, fill(0xff), fill(0x5a), counting()} {
		if id, err := keys.ParseSpaceID(keys.SpaceID(b).String()); err != nil || id != keys.SpaceID(b) {
			t.Errorf("space %x: %v", b, err)
		}
		if id, err := keys.ParseAuthorID(keys.AuthorID(b).String()); err != nil || id != keys.AuthorID(b) {
			t.Errorf("author %x: %v", b, err)
		}
		if id, err := keys.ParseCommitID(keys.CommitID(b).String()); err != nil || id != keys.CommitID(b) {
			t.Errorf("commit %x: %v", b, err)
		}
		if id, err := keys.ParseIdentityID(keys.IdentityID(b).String()); err != nil || id != keys.IdentityID(b) {
			t.Errorf("identity %x: %v", b, err)
		}
		if _, err := keys.ParseIdentityID(keys.AuthorID(b).String()); err == nil {
			t.Errorf("an author ID %x parsed as an identity ID", b)
		}
		dk := keys.DeviceKeyFromSeed(b)
		if k, err := keys.ParseDeviceKey(dk.String()); err != nil || k.Author() != dk.Author() {
			t.Errorf("device key %x: %v", b, err)
		}
		sk := keys.SpaceKeyFromSeed(b)
		if k, err := keys.ParseSpaceKey(sk.String()); err != nil || k.Space() != sk.Space() {
			t.Errorf("space key %x: %v", b, err)
		}
	}
	for _, p := range parsers() {
		got, err := p.parse(p.valid)
		if err != nil || got != p.valid {
			t.Errorf("%s: Parse(%q) = %q, %v", p.name, p.valid, got, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, p := range parsers() {
		body := p.valid[len(p.prefix):]
		last := body[len(body)-1]
		// 32 bytes take 52 base32 digits; the last one carries 1 bit of data
		// and 4 zero bits, so flipping its lowest bit keeps the decoded bytes
		// but is not the canonical form.
		var nonCanonical byte
		switch last {
		case 'a':
			nonCanonical = 'b'
		case 'q':
			nonCanonical = 'r'
		default:
			t.Fatalf("%s: unexpected last digit %q", p.name, last)
		}
		wrongPrefix := "xyz_"
		for _, q := range parsers() {
			if q.prefix != p.prefix && len(q.prefix) == len(p.prefix) {
				wrongPrefix = q.prefix
			}
		}
		cases := map[string]string{
			"empty":              "",
			"prefix only":        p.prefix,
			"wrong prefix":       wrongPrefix + body,
			"uppercase prefix":   strings.ToUpper(p.prefix) + body,
			"no prefix":          body,
			"one digit short":    p.prefix + body[:len(body)-1],
			"one digit long":     p.prefix + body + "a",
			"padded":             p.prefix + body + "====",
			"uppercase":          p.prefix + strings.ToUpper(body),
			"one uppercase":      p.prefix + strings.ToUpper(body[:1]) + body[1:],
			"non-canonical tail": p.prefix + body[:len(body)-1] + string(nonCanonical),
			"digit 0":            p.prefix + "0" + body[1:],
			"digit 1":            p.prefix + "1" + body[1:],
			"digit 8":            p.prefix + body[:5] + "8" + body[6:],
			"newline inside":     p.prefix + body[:10] + "\n" + body[11:],
			"hex":                p.prefix + strings.Repeat("ab", 32),
		}
		for name, s := range cases {
			got, err := p.parse(s)
			if err == nil {
				t.Errorf("%s, %s: Parse(%q) accepted as %q", p.name, name, s, got)
				continue
			}
			if !errors.Is(err, keys.ErrMalformed) {
				t.Errorf("%s, %s: error %v is not ErrMalformed", p.name, name, err)
			}
			if name == "non-canonical tail" && !strings.Contains(err.Error(), "canonical") {
				t.Errorf("%s: non-canonical tail rejected for another reason: %v", p.name, err)
			}
		}
	}
	// Identifier parsers do not trim whitespace.
	for _, s := range []string{" " + goldenSpace01, goldenSpace01 + "\n"} {
		if _, err := keys.ParseSpaceID(s); err == nil {
			t.Errorf("ParseSpaceID(%q) accepted", s)
		}
	}
	// The error message is bounded for huge input.
	if _, err := keys.ParseCommitID("cmt_" + strings.Repeat("a", 10000)); err == nil {
		t.Error("huge input accepted")
	} else if len(err.Error()) > 300 {
		t.Errorf("huge input: error is %d bytes long", len(err.Error()))
	}
}

func TestParseSecretKeyTrimsSpace(t *testing.T) {
	// Secret keys are read from files ending in a newline.
	k, err := keys.ParseDeviceKey(goldenDevSecret02 + "\n")
	if err != nil || k.String() != goldenDevSecret02 {
		t.Fatalf("ParseDeviceKey with newline: %v", err)
	}
}

func TestLoadOrCreateDeviceKey(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	if _, err := keys.LoadDeviceKey(home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadDeviceKey of an empty home: %v, want ErrNotExist", err)
	}
	k1, err := keys.LoadOrCreateDeviceKey(home)
	if err != nil {
		t.Fatal(err)
	}
	if k1.IsZero() {
		t.Fatal("created a zero key")
	}
	path := filepath.Join(home, keys.DeviceKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %v, want 0600", perm)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(content) != k1.String()+"\n" {
		t.Errorf("key file holds %q, want the key's text form and a newline", content)
	}
	if tmps, _ := filepath.Glob(filepath.Join(home, ".tmp-key-*")); len(tmps) != 0 {
		t.Errorf("temp files left behind: %v", tmps)
	}

	// Second load: the same key, the file untouched.
	k2, err := keys.LoadOrCreateDeviceKey(home)
	if err != nil {
		t.Fatal(err)
	}
	if k2.String() != k1.String() || k2.Author() != k1.Author() {
		t.Error("second load returned another key")
	}
	k3, err := keys.LoadDeviceKey(home)
	if err != nil || k3.Author() != k1.Author() {
		t.Errorf("LoadDeviceKey: %v", err)
	}

	// A key file others can read is refused, and not replaced.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadOrCreateDeviceKey(home); err == nil {
		t.Error("a 0644 key file was accepted")
	}
	if _, err := keys.LoadDeviceKey(home); err == nil {
		t.Error("LoadDeviceKey accepted a 0644 key file")
	}
	if after, _ := os.ReadFile(path); string(after) != string(content) {
		t.Error("refusing a 0644 file changed it")
	}

	// A corrupt key file is an error, not a reason to make a new key.
	if err := os.WriteFile(path, []byte("devsec_nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.LoadOrCreateDeviceKey(home); !errors.Is(err, keys.ErrMalformed) {
		t.Errorf("corrupt key file: %v, want ErrMalformed", err)
	}
	if after, _ := os.ReadFile(path); string(after) != "devsec_nope\n" {
		t.Error("a corrupt key file was overwritten")
	}
}

func TestLoadOrCreateDeviceKeyDistinctHomes(t *testing.T) {
	a, err := keys.LoadOrCreateDeviceKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.LoadOrCreateDeviceKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a.Author() == b.Author() {
		t.Error("two homes got the same key")
	}
}

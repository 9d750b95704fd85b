package identity_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/identity"
)

// TestWordList checks the embedded list is the published BIP-39 English
// list byte for byte: SHA-256 as given by the BIP's implementations.
func TestWordList(t *testing.T) {
	b, err := os.ReadFile("english.txt")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got, want := hex.EncodeToString(sum[:]), "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"; got != want {
		t.Fatalf("english.txt SHA-256 %s, want %s", got, want)
	}
}

// bip39Vectors are the 24-word English vectors of the BIP-39 reference
// (trezor/python-mnemonic vectors.json), passphrase "TREZOR".
var bip39Vectors = []struct{ entropy, phrase, seed string }{
	{"0000000000000000000000000000000000000000000000000000000000000000", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art", "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"},
	{"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title", "bc09fca1804f7e69da93c2f2028eb238c227f2e9dda30cd63699232578480a4021b146ad717fbb7e451ce9eb835f43620bf5c514db0f8add49f5d121449d3e87"},
	{"8080808080808080808080808080808080808080808080808080808080808080", "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless", "c0c519bd0e91a2ed54357d9d1ebef6f5af218a153624cf4f2da911a0ed8f7a09e2ef61af0aca007096df430022f7a2b6fb91661a9589097069720d015e4e982f"},
	{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote", "dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5b694407be899ffd31ed3992c456cdf60f5d4564b8ba3f05a69890ad"},
	{"68a79eaca2324873eacc50cb9c6eca8cc68ea5d936f98787c60c7ebc74e6ce7c", "hamster diagram private dutch cause delay private meat slide toddler razor book happy fancy gospel tennis maple dilemma loan word shrug inflict delay length", "64c87cde7e12ecf6704ab95bb1408bef047c22db4cc7491c4271d170a1b213d20b385bc1588d9c7b38f1b39d415665b8a9030c9ec653d75e65f847d8fc1fc440"},
	{"9f6a2878b2520799a44ef18bc7df394e7061a224d2c33cd015b157d746869863", "panda eyebrow bullet gorilla call smoke muffin taste mesh discover soft ostrich alcohol speed nation flash devote level hobby quick inner drive ghost inside", "72be8e052fc4919d2adf28d5306b5474b0069df35b02303de8c1729c9538dbb6fc2d731d5f832193cd9fb6aeecbc469594a70e3dd50811b5067f3b88b28c3e8d"},
	{"066dca1a2bb7e8a1db2832148ce9933eea0f3ac9548d793112d9a95c9407efad", "all hour make first leader extend hole alien behind guard gospel lava path output census museum junior mass reopen famous sing advance salt reform", "26e975ec644423f4a4c4f4215ef09b4bd7ef924e85d1d17c4cf3f136c2863cf6df0a475045652c57eb5fb41513ca2a2d67722b77e954b4b3fc11f7590449191d"},
	{"f585c11aec520db57dd353c69554b21a89b20fb0650966fa0a9d6f74fd989d8f", "void come effort suffer camp survey warrior heavy shoot primary clutch crush open amazing screen patrol group space point ten exist slush involve unfold", "01f5bced59dec48e362f2c45b5de68b9fd6c92c6634f44d6d40aab69056506f0e35524a518034ddc1192e1dacd32c1ed3eaa3c3b131c88ed8e7e54c49a5d0998"},
}

func TestBIP39Vectors(t *testing.T) {
	for _, v := range bip39Vectors {
		e, err := hex.DecodeString(v.entropy)
		if err != nil {
			t.Fatal(err)
		}
		p := identity.PhraseFromEntropy([32]byte(e))
		if got := p.String(); got != v.phrase {
			t.Errorf("entropy %s: phrase\n%s\nwant\n%s", v.entropy, got, v.phrase)
		}
		back, err := identity.ParsePhrase(v.phrase)
		if err != nil || back != p {
			t.Errorf("ParsePhrase(%q) = %x, %v", v.phrase, back.Entropy(), err)
		}
		seed, err := p.Seed("TREZOR")
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(seed[:]); got != v.seed {
			t.Errorf("entropy %s: seed %s, want %s", v.entropy, got, v.seed)
		}
	}
}

// TestParsePhraseTolerant: case and white space as people type them.
func TestParsePhraseTolerant(t *testing.T) {
	v := bip39Vectors[4]
	messy := "  " + strings.ToUpper(v.phrase[:20]) + strings.ReplaceAll(v.phrase[20:], " ", " \t\n  ") + "\n"
	p, err := identity.ParsePhrase(messy)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != v.phrase {
		t.Fatalf("got %q", p)
	}
}

// TestParsePhraseRejects: each kind of mistake gets its own error, naming
// what to check.
func TestParsePhraseRejects(t *testing.T) {
	good := strings.Fields(bip39Vectors[6].phrase)
	with := func(f func(ws []string) []string) string {
		return strings.Join(f(append([]string(nil), good...)), " ")
	}
	for _, c := range []struct {
		name, in string
		want     error
		says     string
	}{
		{"empty", "", identity.ErrPhraseLength, "0 words, want 24"},
		{"23 words", with(func(ws []string) []string { return ws[:23] }), identity.ErrPhraseLength, "23 words"},
		{"25 words", with(func(ws []string) []string { return append(ws, "zoo") }), identity.ErrPhraseLength, "25 words"},
		{"12-word phrase", bip39Vectors[0].phrase[:strings.Index(bip39Vectors[0].phrase, " abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art")] + " about", identity.ErrPhraseLength, "want 24"},
		{"misspelt", with(func(ws []string) []string { ws[4] = "leadr"; return ws }), identity.ErrPhraseWord, `word 5, "leadr"`},
		{"misspelt with hint", with(func(ws []string) []string { ws[2] = "makee"; return ws }), identity.ErrPhraseWord, `did you mean "make"`},
		{"swapped", with(func(ws []string) []string { ws[0], ws[1] = ws[1], ws[0]; return ws }), identity.ErrPhraseChecksum, "order of the words"},
		{"another word", with(func(ws []string) []string { ws[23] = "zoo"; return ws }), identity.ErrPhraseChecksum, "does not check"},
		{"huge", strings.Repeat("abandon ", 200), identity.ErrPhraseLength, "longer than any phrase"},
	} {
		_, err := identity.ParsePhrase(c.in)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", c.name, err, c.want, c.says)
		}
	}
}

// TestPhraseKey pins the identity key derived from a phrase: a change
// would lose every identity whose phrase is written down.
func TestPhraseKey(t *testing.T) {
	p, err := identity.ParsePhrase(bip39Vectors[0].phrase)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Key().ID().String()
	if got != goldenPhraseIdentity {
		t.Fatalf("identity of %q: %s, want %s", bip39Vectors[0].phrase, got, goldenPhraseIdentity)
	}
	if p.Key().ID() == identity.PhraseFromEntropy([32]byte{1}).Key().ID() {
		t.Fatal("two phrases gave one identity")
	}
	if _, err := p.Seed("naïve"); err == nil {
		t.Fatal("a non-ASCII passphrase was accepted without NFKD")
	}
}

// BenchmarkPhraseKey: parsing a phrase and deriving its identity key
// (PBKDF2-HMAC-SHA512, 2048 rounds, then HKDF): once per recovery.
func BenchmarkPhraseKey(b *testing.B) {
	for range b.N {
		p, err := identity.ParsePhrase(bip39Vectors[5].phrase)
		if err != nil {
			b.Fatal(err)
		}
		_ = p.Key()
	}
}

// BenchmarkDecodeCert: decoding a certificate and verifying both its
// signatures, as a space does for each cert op.
func BenchmarkDecodeCert(b *testing.B) {
	enc := goldenCert(b).Encode()
	b.ReportAllocs()
	for range b.N {
		if _, err := identity.DecodeCert(enc); err != nil {
			b.Fatal(err)
		}
	}
}

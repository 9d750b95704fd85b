package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/keys"
)

// hasCert reports whether n holds, counting, the certificate of device
// dev by identity id in space sp.
func hasCert(n *Node, sp keys.SpaceID, dev keys.AuthorID, id keys.IdentityID) bool {
	acc, err := n.st.Access(context.Background(), sp)
	if err != nil {
		return false
	}
	for _, g := range acc.Certs(dev) {
		if g.Identity == id {
			return true
		}
	}
	return false
}

// certCount counts the cert ops n's device wrote in sp.
func certCount(t *testing.T, n *Node, sp keys.SpaceID) int {
	t.Helper()
	count := 0
	for _, c := range storedCommits(t, n, sp) {
		for _, o := range c.Ops {
			if o.Kind == commit.KindCert && c.Author == n.Author() {
				count++
			}
		}
	}
	return count
}

func TestCreateIdentity(t *testing.T) {
	home := t.TempDir()
	n := openWith(t, Options{Home: home, Offline: true, NoSync: true})
	ctx := ctxT(t)
	before := newSpace(t, n, "before")
	if _, err := n.Identity(ctx); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Identity before any: %v, want ErrNoIdentity", err)
	}
	id, phrase := newIdentity(t, n, "Ana", "Ana's laptop")
	if phrase.Key().ID() != id.ID || !id.HoldsKey() || id.Name != "Ana" || id.Cert.Name != "Ana's laptop" || id.Cert.Device != n.Author() {
		t.Fatalf("identity %+v does not match its phrase, name or device", id)
	}
	fi, err := os.Stat(filepath.Join(home, identityFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, %v; want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(filepath.Join(home, identityFile))
	if strings.Contains(string(b), phrase.Words()[0]+" "+phrase.Words()[1]) {
		t.Fatal("the identity file holds the phrase; it must hold only the key")
	}
	// Carried into the space held before, synchronously.
	if !hasCert(n, before.ID(), n.Author(), id.ID) {
		t.Fatal("the certificate was not carried into a space held before the identity")
	}
	// And into a space created after, by the carrier.
	after := newSpace(t, n, "after")
	waitFor(t, 10*time.Second, "the certificate in the new space", func() bool { return hasCert(n, after.ID(), n.Author(), id.ID) })

	if _, _, err := n.CreateIdentity(ctx, "Bob", IdentityOptions{}); !errors.Is(err, ErrIdentityExists) || !strings.Contains(err.Error(), id.ID.String()) {
		t.Fatalf("second identity: %v, want ErrIdentityExists naming %s", err, id.ID)
	}
	n.Close()

	// Reopened: the same identity; each space got its certificate once.
	n2 := openWith(t, Options{Home: home, Offline: true, NoSync: true})
	got, err := n2.Identity(ctx)
	if err != nil || got.ID != id.ID || got.Name != "Ana" || got.Cert.Encode() == nil || !got.HoldsKey() {
		t.Fatalf("reopened: %+v, %v", got, err)
	}
	if _, err := n2.Space(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	for _, sp := range []keys.SpaceID{before.ID(), after.ID()} {
		if c := certCount(t, n2, sp); c != 1 {
			t.Errorf("space %s holds %d certificates of this device, want 1", sp, c)
		}
	}
}

func TestCreateIdentityPhraseOnly(t *testing.T) {
	home := t.TempDir()
	n := openWith(t, Options{Home: home, Offline: true, NoSync: true})
	id, phrase, err := n.CreateIdentity(ctxT(t), "Ana", IdentityOptions{PhraseOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if id.HoldsKey() || phrase.Key().ID() != id.ID {
		t.Fatalf("phrase-only identity holds its key (%v) or is not the phrase's", id.HoldsKey())
	}
	b, _ := os.ReadFile(filepath.Join(home, identityFile))
	if strings.Contains(string(b), identity.SecretPrefix) {
		t.Fatalf("phrase-only identity file holds a key:\n%s", b)
	}
	if id.Cert.Name == "" {
		t.Fatal("no default device name")
	}
}

func TestCreateIdentityBadNames(t *testing.T) {
	home := t.TempDir()
	n := openWith(t, Options{Home: home, Offline: true, NoSync: true})
	for _, c := range []struct{ name, dev string }{
		{"", ""}, {" Ana", ""}, {"Ana\n", ""}, {strings.Repeat("a", MaxPersonName+1), ""},
		{"Ana", strings.Repeat("d", identity.MaxDeviceName+1)}, {"Ana", "a\tb"},
	} {
		if _, _, err := n.CreateIdentity(ctxT(t), c.name, IdentityOptions{Device: c.dev}); !errors.Is(err, ErrBadPersonName) {
			t.Errorf("CreateIdentity(%q, device %q) = %v, want ErrBadPersonName", c.name, c.dev, err)
		}
	}
	if _, err := os.Stat(filepath.Join(home, identityFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused identity left a file: %v", err)
	}
}

func testIdentity(t *testing.T) (Identity, keys.DeviceKey) {
	t.Helper()
	k := identity.PhraseFromEntropy([32]byte{1}).Key()
	dev := keys.DeviceKeyFromSeed([32]byte{2})
	c, err := identity.NewCert(k, dev, "laptop", 1_800_000_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{ID: k.ID(), Name: "Ana", Cert: c, key: k}, dev
}

func TestIdentityFile(t *testing.T) {
	id, dev := testIdentity(t)
	b := encodeIdentity(id)
	got, err := decodeIdentity(b, dev.Author())
	if err != nil || got.ID != id.ID || got.Name != id.Name || got.key.ID() != id.ID || got.Cert != id.Cert {
		t.Fatalf("decode(encode) = %+v, %v", got, err)
	}
	noKey := id
	noKey.key = identity.Key{}
	if got, err := decodeIdentity(encodeIdentity(noKey), dev.Author()); err != nil || got.HoldsKey() {
		t.Fatalf("without key: %+v, %v", got, err)
	}
	other := identity.PhraseFromEntropy([32]byte{3}).Key()
	lines := strings.Split(string(b), "\n")
	swap := func(i int, s string) string {
		l := append([]string(nil), lines...)
		l[i] = s
		return strings.Join(l, "\n")
	}
	for name, bad := range map[string]string{
		"empty":          "",
		"no version":     strings.Join(lines[1:], "\n"),
		"other version":  swap(0, "loam-identity 2"),
		"no final line":  strings.TrimSuffix(string(b), "\n"),
		"bad id":         swap(1, "identity idt_x"),
		"bad name":       swap(2, "name "),
		"other key":      swap(3, "key "+other.Secret()),
		"bad cert":       swap(4, "cert AAAA"),
		"padded cert":    swap(4, lines[4]+"="),
		"extra line":     string(b) + "x\n",
		"reordered":      strings.Join([]string{lines[0], lines[2], lines[1], lines[3], lines[4], ""}, "\n"),
		"twice the name": strings.Join([]string{lines[0], lines[1], lines[2], lines[2], lines[3], lines[4], ""}, "\n"),
		"too large":      string(b) + strings.Repeat("x", maxIdentityFile),
	} {
		if _, err := decodeIdentity([]byte(bad), dev.Author()); !errors.Is(err, ErrBadIdentityFile) {
			t.Errorf("%s: %v, want ErrBadIdentityFile", name, err)
		}
	}
	if _, err := decodeIdentity(b, keys.DeviceKeyFromSeed([32]byte{9}).Author()); !errors.Is(err, ErrBadIdentityFile) {
		t.Errorf("another device's file: %v, want ErrBadIdentityFile", err)
	}
}

func FuzzIdentityFile(f *testing.F) {
	k := identity.PhraseFromEntropy([32]byte{1}).Key()
	dev := keys.DeviceKeyFromSeed([32]byte{2})
	c, _ := identity.NewCert(k, dev, "laptop", 1_800_000_000_000_000)
	good := encodeIdentity(Identity{ID: k.ID(), Name: "Ana", Cert: c, key: k})
	f.Add(good)
	f.Add(encodeIdentity(Identity{ID: k.ID(), Name: "Ana", Cert: c}))
	f.Add([]byte("loam-identity 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := decodeIdentity(b, dev.Author())
		if err != nil {
			return
		}
		if string(encodeIdentity(id)) != string(b) {
			t.Fatalf("accepted a non-canonical file:\n%q", b)
		}
	})
}

// TestIdentityNotLogged: making an identity and carrying its certificate
// log neither the phrase nor the identity key, in any usual encoding.
func TestIdentityNotLogged(t *testing.T) {
	n, buf := openLogged(t, true)
	newSpace(t, n, "club")
	_, phrase := newIdentity(t, n, "Ana", "")
	e := phrase.Entropy()
	seed := phrase.Key().Secret()
	secrets := append(encodings(e[:]), phrase.String(), strings.Join(phrase.Words()[:3], " "), seed, strings.TrimPrefix(seed, identity.SecretPrefix))
	newSpace(t, n, "after")
	n.Close()
	log := buf.String()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Fatalf("the log holds a secret of the identity (%.12s…):\n%s", s, log)
		}
	}
}

// TestIdentityDocExample: the certificate of the identity file's example
// (docs/format/identity.md §5) is the golden certificate of §3.
func TestIdentityDocExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "format", "identity.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n    cert ")
	if !ok {
		t.Fatal("no cert line in the identity file's example")
	}
	line, _, _ := strings.Cut(rest, "\n")
	raw, err := certText.DecodeString(line)
	if err != nil {
		t.Fatal(err)
	}
	c, err := identity.DecodeCert(raw)
	if err != nil || c.Identity.String() != "idt_blrhtgovhcgn55p7zktmfuzzp5fepuafltc6qprxoswmigm6tqja" || c.Name != "Ana's laptop" {
		t.Fatalf("the example's certificate: %+v, %v", c, err)
	}
}

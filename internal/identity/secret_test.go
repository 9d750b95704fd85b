package identity

import (
	"errors"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/keys"
)

func TestKeySecret(t *testing.T) {
	k := PhraseFromEntropy([32]byte{}).Key()
	s := k.Secret()
	if !strings.HasPrefix(s, SecretPrefix) || len(s) != len(SecretPrefix)+52 {
		t.Fatalf("Secret() = %q", s)
	}
	back, err := ParseKey(s)
	if err != nil || back.ID() != k.ID() {
		t.Fatalf("ParseKey(Secret()) = %v, %v; want %s", back.ID(), err, k.ID())
	}
	for _, bad := range []string{"", s[1:], "devsec_" + s[len(SecretPrefix):], s + "a", s[:len(s)-1], " " + s, s + "\n", strings.ToUpper(s)} {
		if _, err := ParseKey(bad); !errors.Is(err, keys.ErrMalformed) {
			t.Errorf("ParseKey(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

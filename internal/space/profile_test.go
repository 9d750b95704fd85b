package space

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeProfile: the reader's decoder takes what Encode writes, and
// refuses what breaks the limits.
func TestDecodeProfile(t *testing.T) {
	for _, p := range []Profile{{Name: "Ana"}, {Name: "Ana Lima", Avatar: "blb_" + strings.Repeat("a", 52)}, {Name: strings.Repeat("é", 32)}} {
		got, err := DecodeProfile(p.Encode())
		if err != nil || got != (Stored{Profile: p}) {
			t.Errorf("DecodeProfile(Encode(%+v)) = %+v, %v", p, got, err)
		}
	}
	if got, err := DecodeProfile([]byte(`{"name":"Ana","later":1}`)); err != nil || got.Name != "Ana" || got.Default {
		t.Errorf("unknown fields: %+v, %v", got, err)
	}
	d := Stored{Profile: Profile{Name: "Ana"}, Default: true}
	if got, err := DecodeProfile(d.Encode()); err != nil || got != d || string(d.Encode()) != `{"name":"Ana","avatar":"","default":true}` {
		t.Errorf("a default %s: %+v, %v", d.Encode(), got, err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{}`, `{"name":""}`, `{"name":"Ana"} {}`, `{"name":"` + strings.Repeat("a", MaxProfileName+1) + `"}`,
		`{"name":"A\u0007na"}`, `{"name":" Ana"}`, `{"name":"Ana","avatar":"aut_x"}`, `{"name":1}`, `{"name":"Ana","default":"yes"}`,
		`{"name":"Ana","pad":"` + strings.Repeat("x", MaxProfileValue) + `"}`,
	} {
		if p, err := DecodeProfile([]byte(bad)); !errors.Is(err, ErrBadProfile) {
			t.Errorf("DecodeProfile(%.40q) = %+v, %v; want ErrBadProfile", bad, p, err)
		}
	}
}

// FuzzDecodeProfile: what decodes is valid and encodes to what decodes
// the same.
func FuzzDecodeProfile(f *testing.F) {
	f.Add([]byte(`{"name":"Ana","avatar":""}`))
	f.Add([]byte(`{"name":"Ana Lima","avatar":"blb_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`))
	f.Add([]byte(`{"name":"A\u0000"}`))
	f.Add([]byte(`{"name":"Ana","name":"Bob"}`))
	f.Add([]byte(`{"name":"Ana","avatar":"","default":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProfile(b)
		if err != nil {
			return
		}
		if err := p.Check(); err != nil {
			t.Fatalf("decoded an invalid profile %+v: %v", p, err)
		}
		q, err := DecodeProfile(p.Encode())
		if err != nil || q != p {
			t.Fatalf("round trip %+v: %+v, %v", p, q, err)
		}
	})
}

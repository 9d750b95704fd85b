package commit

import "testing"

// TestNames: every kind and role has its name, an unknown one its number,
// and ParseRole reads back each role's name and nothing else.
func TestNames(t *testing.T) {
	for k, want := range map[Kind]string{
		KindPut: "put", KindDel: "del", KindPutBlob: "putblob", KindGrant: "grant", KindRevoke: "revoke",
		KindRotate: "rotate", KindSchema: "schema", KindCert: "cert", KindDevRevoke: "devrevoke",
		KindRevokePerson: "revokeperson", KindErase: "erase", KindRetention: "retention",
		KindSealed: "sealed", KindBlob: "blob", 0: "kind(0)", 4: "kind(4)", 255: "kind(255)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
	for r, want := range map[Role]string{
		RoleRead: "read", RoleWrite: "write", RoleAdmin: "admin", RoleSeed: "seed",
		0: "role(0)", 5: "role(5)", 255: "role(255)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Role(%d).String() = %q, want %q", uint8(r), got, want)
		}
		p, err := ParseRole(want)
		if ok := r >= RoleRead && r <= RoleSeed; ok != (err == nil) || ok && p != r {
			t.Errorf("ParseRole(%q) = %v, %v", want, p, err)
		}
	}
}

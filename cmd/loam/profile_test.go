package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIDProfile: 'loam id profile' shows the profile (the identity's name
// until one is set), sets a name and an avatar, refuses what breaks the
// limits with one clear line, and 'loam members' names the person by it.
func TestIDProfile(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "id", "create", "--name", "Ana", "--device", "laptop")
	type profile struct {
		Name, Avatar string
		Written      *int
	}
	var p profile
	h.okJSON(&p, "id", "profile", "--json")
	if p.Name != "Ana" || p.Avatar != "" || p.Written != nil {
		t.Fatalf("id profile --json: %+v", p)
	}
	if out := h.ok("", "members", "garden"); !strings.Contains(out, "Ana idt_") || !strings.Contains(out, "(person, 1 devices)") {
		t.Errorf("members before a profile is set:\n%s", out)
	}

	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ana.png")
	if err := os.WriteFile(file, img.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var spaces []struct{ ID string }
	h.okJSON(&spaces, "space", "ls", "--json") // garden, and Ana's own space
	h.okJSON(&p, "id", "profile", "--name", "Ana Lima", "--avatar", file, "--json")
	if p.Name != "Ana Lima" || !strings.HasPrefix(p.Avatar, "blb_") || p.Written == nil || *p.Written != len(spaces) {
		t.Fatalf("id profile --name --avatar --json: %+v", p)
	}
	avatar := p.Avatar
	if out := h.ok("", "id", "profile", "--name", "Ana Lima"); !strings.Contains(out, "avatar  "+avatar) || !strings.Contains(out, "written into 0 spaces") {
		t.Errorf("the same profile again:\n%s", out)
	}
	var ms []struct {
		Author, Identity, Name, Avatar string
		Devices                        []struct{ Author, Name, Person string }
	}
	h.okJSON(&ms, "members", "garden", "--json")
	if len(ms) != 1 || ms[0].Name != "Ana Lima" || ms[0].Avatar != avatar || len(ms[0].Devices) != 1 || ms[0].Devices[0].Person != "Ana Lima" || ms[0].Devices[0].Name != "laptop" {
		t.Fatalf("members --json: %+v", ms)
	}
	if out := h.ok("", "members", "garden"); !strings.Contains(out, "Ana Lima idt_") || !strings.Contains(out, `"laptop"`) {
		t.Errorf("members:\n%s", out)
	}

	text := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(text, []byte("not an image"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", ""}, "the name is empty"},
		{[]string{"--name", strings.Repeat("a", 65)}, "a name is 1 to 64 bytes"},
		{[]string{"--name", "Ana\x07"}, "control character"},
		{[]string{"--avatar", text}, "not a PNG, JPEG or WebP image"},
		{[]string{"--avatar", filepath.Join(t.TempDir(), "missing.png")}, "no such file"},
	} {
		if line := h.fail(1, "", append([]string{"id", "profile"}, c.args...)...); !strings.Contains(line, c.want) {
			t.Errorf("id profile %q: %s, want %q", c.args, line, c.want)
		}
	}
	h.fail(2, "", "id", "profile", "--avatar", file, "--no-avatar")
	h.okJSON(&p, "id", "profile", "--json")
	if p.Name != "Ana Lima" || p.Avatar != avatar {
		t.Fatalf("after refusals: %+v", p)
	}
	h.okJSON(&p, "id", "profile", "--no-avatar", "--json")
	if p.Name != "Ana Lima" || p.Avatar != "" || *p.Written != len(spaces) {
		t.Fatalf("--no-avatar: %+v", p)
	}
}

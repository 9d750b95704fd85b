package ui

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// servedByNode are the local paths the pages refer to that the node
// serves itself, not from the embedded files: the CA a phone installs
// (api.CAPath).
var servedByNode = map[string]bool{"loam-ca.crt": true}

// TestSelfContained checks that the UI fetches nothing from elsewhere:
// no URL of another host in any file, and every local file that
// index.html, the CSS and the JavaScript modules refer to is embedded.
func TestSelfContained(t *testing.T) {
	files := Files()
	if _, err := fs.Stat(files, "index.html"); err != nil {
		t.Fatal(err)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?https?:`)
	ref := regexp.MustCompile(`(?:src|href)="(/[^"#?]*)"|from '(\./[^']+)'|import\('(\./[^']+)'\)`)
	n := 0
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another host: %q", p, m)
		}
		for _, m := range ref.FindAllStringSubmatch(text, -1) {
			target := strings.TrimPrefix(m[1], "/")
			if m[1] == "" {
				target = path.Join(path.Dir(p), m[2]+m[3])
			}
			if target == "" {
				target = "index.html"
			}
			if servedByNode[target] {
				continue
			}
			if _, err := fs.Stat(files, target); err != nil {
				t.Errorf("%s refers to %s, which is not embedded", p, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("only %d files embedded", n)
	}
}

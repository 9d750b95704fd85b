package netlab

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBuildAndCleanup: a lab's namespaces exist while its test runs and
// are gone when it ends.
func TestBuildAndCleanup(t *testing.T) {
	SkipIfMissing(t)
	var l *Lab
	t.Run("build", func(t *testing.T) {
		l = New(t, 2)
		list := namespaces(t)
		for _, ns := range []string{l.Inet, l.Homes[0].Router, l.Homes[0].Host, l.Homes[1].Router, l.Homes[1].Host} {
			if !strings.Contains(list, ns) {
				t.Errorf("namespace %s missing from %q", ns, list)
			}
		}
		out, err := l.Command(t.Context(), l.Homes[1].Host, "ip", "route", "get", InternetPrefix+"1").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "via 10.2.0.1") {
			t.Errorf("route from home 2 to the internet: %v %s", err, out)
		}
		l.Loss(1, 5)
	})
	if list := namespaces(t); strings.Contains(list, "lab"+l.id) {
		t.Errorf("namespaces left after the test: %q", list)
	}
}

func namespaces(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

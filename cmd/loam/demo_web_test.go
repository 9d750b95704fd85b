package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/testkit"
)

// demoRenewRE matches the demo's line saying how to get a new login link
// for a node: its name, then the home to pass to 'loam ui'.
var demoRenewRE = regexp.MustCompile(`(?m)^  (ana|bo|chen) +loam --home (\S+) ui$`)

var demoLoginRE = regexp.MustCompile(`(?m)^  (ana|bo|chen) +(http://127\.0\.0\.1:\d+/login\?t=[0-9a-f]{64})$`)

// TestDemoServe runs 'loam demo --serve': it prints three login URLs,
// each logs a browser in to a node that holds the community space's chat
// and tools, and Ctrl-C (SIGINT) ends it cleanly.
func TestDemoServe(t *testing.T) {
	t.Parallel()
	h := &home{t: t, dir: t.TempDir()}
	cmd := exec.Command(loamBin, "demo", "--serve")
	cmd.Env = env(h.dir)
	out := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var werr error // of Wait, once done is closed
	go func() {
		werr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	var urls [][]string
	for {
		if urls = demoLoginRE.FindAllStringSubmatch(out.String(), -1); len(urls) == 3 && strings.Contains(out.String(), "until Ctrl-C") {
			break
		}
		select {
		case <-done:
			t.Fatalf("demo --serve exited: %v\n%s", werr, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no three login URLs within 60 s:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond) // re-check interval
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// login logs in with a one-time URL, answering the session cookie or
	// nil when the URL is refused.
	login := func(url string) *http.Cookie {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() { // the login also hands the page its CSRF token, in a second cookie
			if strings.HasPrefix(c.Name, "loam_session_") && resp.StatusCode == http.StatusSeeOther {
				return c
			}
		}
		return nil
	}
	// The demo says how to get a new link for each node once its link is
	// used: 'loam --home HOME ui', HOME the node's home in the demo's.
	renew := demoRenewRE.FindAllStringSubmatch(out.String(), -1)
	if len(renew) != 3 {
		t.Errorf("the demo does not say how to get new login links (want 3 'loam --home … ui' lines):\n%s", out)
	}
	for i, u := range urls {
		session := login(u[2])
		if session == nil {
			t.Fatalf("%s's login URL did not log in", u[1])
		}
		if login(u[2]) != nil {
			t.Errorf("%s's login URL logged in twice", u[1])
		}
		if i < len(renew) {
			// The printed command, run as printed, makes a new link to the
			// same node, which logs in.
			fresh := strings.TrimSpace((&home{t: t, dir: h.dir}).ok("", "--home", renew[i][2], "ui"))
			if base := u[2][:strings.Index(u[2], "/login")]; renew[i][1] != u[1] || !strings.HasPrefix(fresh, base+"/login?t=") || fresh == u[2] {
				t.Errorf("%s: 'loam --home %s ui' printed %q, want a new link to %s", u[1], renew[i][2], fresh, base)
			} else if login(fresh) == nil {
				t.Errorf("%s: the renewed login URL did not log in", u[1])
			}
		}
		base := strings.TrimSuffix(u[2], u[2][strings.Index(u[2], "/login"):])
		req, _ := http.NewRequest("GET", base+"/v1/spaces/community/keys?prefix=tools/item/", nil)
		req.AddCookie(session)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var items []api.Entry
		err = json.NewDecoder(resp.Body).Decode(&items)
		resp.Body.Close()
		if err != nil || len(items) != 2 {
			t.Errorf("%s's tools: %d items, %v", u[1], len(items), err)
		}
		resp, err = client.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), `<script type="module" src="/js/app.js">`) {
			t.Errorf("%s's web UI: %s %.200s", u[1], resp.Status, page)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if werr != nil {
			t.Errorf("demo --serve after SIGINT: %v\n%s", werr, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("demo --serve did not stop within 30 s of SIGINT")
	}
}

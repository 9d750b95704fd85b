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
	for _, u := range urls {
		resp, err := client.Get(u[2])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var session *http.Cookie // the login also hands the page its CSRF token, in a second cookie
		for _, c := range resp.Cookies() {
			if strings.HasPrefix(c.Name, "loam_session_") {
				session = c
			}
		}
		if resp.StatusCode != http.StatusSeeOther || session == nil {
			t.Fatalf("%s's login: %s, cookies %v", u[1], resp.Status, resp.Cookies())
		}
		base := strings.TrimSuffix(u[2], u[2][strings.Index(u[2], "/login"):])
		req, _ := http.NewRequest("GET", base+"/v1/spaces/community/keys?prefix=tools/item/", nil)
		req.AddCookie(session)
		resp, err = client.Do(req)
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

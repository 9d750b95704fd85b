package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/testkit"
)

// pinnedHTTPS returns a client that trusts only the certificate whose
// public key has the SPKI fingerprint (base64 SHA-256), as a browser
// started with --ignore-certificate-errors-spki-list does.
func pinnedHTTPS(spki string) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // checked by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			h := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if got := base64.StdEncoding.EncodeToString(h[:]); got != spki {
				return fmt.Errorf("certificate key %s, want %s", got, spki)
			}
			return nil
		},
	}}}
}

// uiInfo is what 'loam ui --json' prints.
type uiInfo struct {
	URL      string   `json:"url"`
	UIListen []string `json:"ui_listen"`
	SPKI     string   `json:"spki_sha256"`
	CA       string   `json:"ca_sha256"`
}

// pairWith spends code on the listener at base as the pair page does and
// returns the browser's Cookie header.
func pairWith(t *testing.T, c *http.Client, base, code string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/pair", strings.NewReader(`{"code":"`+code+`"}`))
	req.Header.Set("Origin", base)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cs []string
	for _, ck := range resp.Cookies() {
		cs = append(cs, ck.Name+"="+ck.Value)
	}
	if resp.StatusCode != 200 {
		t.Logf("pair: %s %s", resp.Status, body)
	}
	return resp, strings.Join(cs, "; ")
}

// TestPairCLI: 'loam pair' needs --ui-listen and says so; with it, it
// prints pairing URLs (the code and fingerprint in the fragment), a QR
// code and the code, which pairs a browser over HTTPS once; 'loam ui
// --json' shows the certificate's fingerprint and the CA's, which 'loam
// pair' prints too.
func TestPairCLI(t *testing.T) {
	t.Parallel()
	plain, h := newHome(t), newHome(t)
	startDaemon(t, plain, loopbackDaemon...)
	if r := plain.run("", "pair"); r.code == 0 || !strings.Contains(r.stderr, "--ui-listen") {
		t.Errorf("pair without --ui-listen: exit %d %q", r.code, r.stderr)
	}
	if r := plain.run("", "daemon", "--ui-listen", "7443"); r.code != 2 || !strings.Contains(r.stderr, "--ui-listen 7443 is not a HOST:PORT") {
		t.Errorf("daemon --ui-listen 7443: exit %d %q", r.code, r.stderr)
	}
	d := startDaemon(t, h, append(loopbackDaemon, "--ui-listen", "127.0.0.1:0")...)
	// The daemon prints its addresses after it wrote daemon.json.
	if !testkit.Poll(10*time.Second, 20*time.Millisecond, func() bool { return strings.Contains(d.out.String(), "phones: https://127.0.0.1:") }) {
		t.Errorf("the daemon does not say where phones reach it:\n%s", d.out)
	}
	var ui uiInfo
	h.okJSON(&ui, "ui", "--json")
	if len(ui.UIListen) != 1 || len(ui.SPKI) != 44 || len(ui.CA) != 95 || !strings.HasPrefix(ui.URL, "http://127.0.0.1:") {
		t.Fatalf("ui --json: %+v", ui)
	}
	base := strings.TrimSuffix(ui.UIListen[0], "/")
	out := h.ok("", "pair", "--name", "Ana's phone")
	if !strings.Contains(out, base+"/pair.html#code=") || !strings.Contains(out, ui.SPKI) || !strings.Contains(out, ui.CA) || (!strings.Contains(out, "▀") && !strings.Contains(out, "█")) {
		t.Errorf("pair prints:\n%s", out)
	}
	var p struct {
		Name, Code string
		URLs       []string
	}
	h.okJSON(&p, "pair", "--name", "Ana's phone", "--json")
	u, err := url.Parse(p.URLs[0])
	if err != nil || p.Name != "Ana's phone" {
		t.Fatalf("pair --json: %+v %v", p, err)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	c := pinnedHTTPS(ui.SPKI)
	if resp, _ := pairWith(t, c, base, frag.Get("code")); resp.StatusCode != 200 {
		t.Fatalf("pairing with the URL's code: %s", resp.Status)
	}
	if resp, _ := pairWith(t, c, base, p.Code); resp.StatusCode != 403 {
		t.Errorf("the code again: %s", resp.Status)
	}
	if r := h.run("", "pair", "--name", "bad\tname"); r.code == 0 || !strings.Contains(r.stderr, "session name") {
		t.Errorf("pair with a bad name: exit %d %q", r.code, r.stderr)
	}
}

// TestSessionsCLI: 'loam sessions' lists the paired and logged-in
// browsers; 'loam sessions revoke' ends one, whose next request gets 401
// saying why and how to pair again.
func TestSessionsCLI(t *testing.T) {
	t.Parallel()
	h := newHome(t)
	startDaemon(t, h, append(loopbackDaemon, "--ui-listen", "127.0.0.1:0")...)
	if out := h.ok("", "sessions"); !strings.Contains(out, "No browser sessions") {
		t.Errorf("sessions with none:\n%s", out)
	}
	var ui uiInfo
	h.okJSON(&ui, "ui", "--json")
	base := strings.TrimSuffix(ui.UIListen[0], "/")
	c := pinnedHTTPS(ui.SPKI)
	var p struct{ Code string }
	h.okJSON(&p, "pair", "--name", "Ana's phone", "--json")
	_, cookie := pairWith(t, c, base, p.Code)
	get := func() (int, string) {
		req, _ := http.NewRequest("GET", base+"/v1/status", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(); st != 200 {
		t.Fatalf("the paired browser: %d %s", st, body)
	}
	out := h.ok("", "sessions")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "Ana's phone") || !strings.Contains(out, "127.0.0.1") || !strings.Contains(out, "lan") {
		t.Errorf("sessions:\n%s", out)
	}
	var ss []struct{ Name, Created, LastUsed, Addr, Via string }
	h.okJSON(&ss, "sessions", "--json")
	if len(ss) != 1 || ss[0].Name != "Ana's phone" || ss[0].Via != "lan" || ss[0].Created == "" {
		t.Errorf("sessions --json: %+v", ss)
	}
	if out := h.ok("", "sessions", "revoke", "Ana's phone"); !strings.Contains(out, "Revoked") {
		t.Errorf("revoke: %s", out)
	}
	st, body := get()
	var e struct{ Error, Code string }
	json.Unmarshal([]byte(body), &e)
	if st != 401 || e.Code != "session_revoked" || !strings.Contains(e.Error, "revoked") || !strings.Contains(e.Error, "loam pair") {
		t.Errorf("the revoked browser: %d %s", st, body)
	}
	if r := h.run("", "sessions", "revoke", "Ana's phone"); r.code == 0 || !strings.Contains(r.stderr, "no browser session is named") {
		t.Errorf("revoking it again: exit %d %q", r.code, r.stderr)
	}
	if out := h.ok("", "sessions"); strings.Contains(out, "Ana's phone") {
		t.Errorf("a revoked session is listed:\n%s", out)
	}
}

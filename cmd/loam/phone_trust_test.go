package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
)

// TestBrowserTrustsCA: a chromium that trusts the node's CA, as a phone
// that installed it from the pair page does (in its NSS database, with no
// certificate pin and no flag that ignores certificate errors), opens the
// --ui-listen listener without a warning, by chromium's own verifier
// (name constraints included); its pair page says it trusts the node,
// pairs, and the app is installable: the service worker is activated and
// chromium reports nothing that keeps the app from installing. A chromium
// without the CA gets a certificate error.
func TestBrowserTrustsCA(t *testing.T) {
	exe := chromiumPath(t)
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		t.Skip("no certutil to give chromium the node's CA: apt-get install -y libnss3-tools")
	}
	if testing.Short() {
		t.Skip("skipped with -short: runs a daemon and two browsers")
	}
	artifacts := artifactDir(t)
	h := newHome(t)
	startDaemon(t, h, append(loopbackDaemon, "--ui-listen", "127.0.0.1:0")...)
	var p phoneUI
	h.okJSON(&p, "pair", "--name", "trusting phone", "--json")
	base := p.URLs[0][:strings.Index(p.URLs[0], "/pair.html")]
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("pair --json: %+v", p)
	}

	// Without the CA: chromium refuses the certificate.
	plain := newBrowser(t, "untrusting", exe, artifacts)
	ctx, cancel := context.WithTimeout(plain.ctx, 30*time.Second)
	err = chromedp.Run(ctx, chromedp.Navigate(base+"/pair.html"))
	cancel()
	if err == nil || !strings.Contains(err.Error(), "ERR_CERT_AUTHORITY_INVALID") {
		t.Errorf("a chromium without the CA: %v, want ERR_CERT_AUTHORITY_INVALID", err)
	}

	// The CA, as the phone installs it: from /loam-ca.crt (the DER, which
	// certutil takes as well).
	fakeHome := t.TempDir()
	db := "sql:" + filepath.Join(fakeHome, ".pki", "nssdb")
	if err := os.MkdirAll(filepath.Join(fakeHome, ".pki", "nssdb"), 0o700); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(fakeHome, "loam-ca.crt")
	if err := os.WriteFile(caFile, fetchCA(t, base, p), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", db, "--empty-password"},
		{"-A", "-d", db, "-n", "Loam home node", "-t", "C,,", "-i", caFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	phone := newBrowser(t, "trusting", exe, artifacts, chromedp.Env("HOME="+fakeHome))
	phone.run("emulate a phone", chromedp.Emulate(device.IPhone12))
	phone.run("open the pairing link", chromedp.Navigate(p.URLs[0]), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	phone.until("paired, at the apps", `location.pathname === '/' && !location.href.includes('code=') && document.querySelector('#signed-out') === null`)
	phone.run("open the pair page again", chromedp.Navigate(base+"/pair.html"), chromedp.WaitVisible(`#code`, chromedp.ByQuery))
	phone.until("it says this browser trusts the node", fmt.Sprintf(`document.querySelector('#trust-state').textContent.includes('trusts this home node') &&
		document.querySelector('#ca-fp').textContent === %q && document.querySelector('#trust-ios').open`, p.CA))
	phoneShot(phone, "trust")
	phone.run("open the apps", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	phone.until("the service worker controls the page", `navigator.serviceWorker.controller !== null`)
	var swState string
	var installErrs []*page.InstallabilityError
	phone.run("read the service worker and installability",
		chromedp.Evaluate(`navigator.serviceWorker.ready.then(r => r.active.state)`, &swState, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
		chromedp.ActionFunc(func(ctx context.Context) (err error) {
			installErrs, err = page.GetInstallabilityErrors().Do(ctx)
			return err
		}))
	if swState != "activated" {
		t.Errorf("the service worker is %q", swState)
	}
	for _, e := range installErrs {
		t.Errorf("not installable: %s %v", e.ErrorID, e.ErrorArguments)
	}
}

// fetchCA downloads the node's CA from the listener at base, as the pair
// page's link does, and checks it is the one 'loam pair' names.
func fetchCA(t *testing.T, base string, p phoneUI) []byte {
	t.Helper()
	resp, err := pinnedHTTPS(p.SPKI).Get(base + "/loam-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-x509-ca-cert" {
		t.Fatalf("GET /loam-ca.crt: %s %q %v", resp.Status, resp.Header.Get("Content-Type"), err)
	}
	sum := sha256.Sum256(der)
	hex := strings.ToUpper(fmt.Sprintf("% x", sum[:]))
	if got := strings.ReplaceAll(hex, " ", ":"); got != p.CA {
		t.Fatalf("GET /loam-ca.crt: SHA-256 %s, loam pair says %s", got, p.CA)
	}
	return der
}

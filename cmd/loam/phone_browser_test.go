package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/netlab"
	"github.com/loamdb/loam/internal/testkit"
)

// connectProxy is an HTTP CONNECT proxy on the test's loopback whose
// connections leave from inside a lab namespace: chromium, which runs in
// the test's namespace (where chromedp reaches its DevTools), uses it to
// reach the home LAN as a phone on that LAN would.
type connectProxy struct {
	srv  *http.Server
	addr string
	wg   sync.WaitGroup // the tunnels
}

func startConnectProxy(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: ln.Addr().String()}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		up, err := dial(ctx, "tcp", r.Host)
		cancel()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			up.Close()
			return
		}
		down, buf, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		p.wg.Add(2)
		go func() { // ends when either side closes
			defer p.wg.Done()
			io.Copy(up, buf)
			up.Close()
		}()
		go func() {
			defer p.wg.Done()
			io.Copy(down, up)
			down.Close()
		}()
	})}
	go p.srv.Serve(ln) // ended by the cleanup
	t.Cleanup(func() {
		p.srv.Close() // hijacked connections are the tunnels' to close
		p.wg.Wait()   // they end when the browser or the daemon closes them
	})
	return p
}

// phoneUI is what 'loam pair --json' prints.
type phoneUI struct {
	Name, Code string
	URLs       []string
	SPKI       string `json:"spki_sha256"`
	CA         string `json:"ca_sha256"`
}

// TestBrowserPhone is issue 13's must-show: a daemon serves phones on its
// home LAN address (a netlab namespace, not loopback) with --ui-listen; a
// phone's chromium (390x844, touch, a mobile user agent) on that LAN,
// with the node's certificate pinned by its SPKI, pairs by typing the
// code, posts a chat message that a second node receives, and, after the
// daemon restarts, posts again from the same page with no new login.
// Revoked from the CLI, the page's next request gets 401 and the page
// says why and how to pair again. Screenshots of pairing, chat, tools and
// the revoked page go where TestBrowserApps saves its own.
func TestBrowserPhone(t *testing.T) {
	exe, artifacts := browserTest(t, "a network lab, two daemons and a browser")
	lab := netlab.New(t, 1) // skips, saying why, when not root
	phoneNS, _ := lab.AddHost(1)
	otherNS, _ := lab.AddHost(1)
	home := lab.Homes[0]
	a := newLabNode(t, lab, home.Host)
	b := newLabNode(t, lab, otherNS)
	listen := net.JoinHostPort(home.LAN, "7443")
	daemonArgs := []string{"--api", "127.0.0.1:0", "--dht", "off", "--mdns=false", "--listen", "/ip4/" + home.LAN + "/tcp/0", "--ui-listen", listen}
	startDaemons(daemonArgs, a)
	startDaemons([]string{"--api", "127.0.0.1:0", "--dht", "off", "--mdns=false", "--listen", "/ip4/0.0.0.0/tcp/0"}, b)
	a.cli(30*time.Second, "space", "create", "community")
	b.join(60*time.Second, strings.TrimSpace(a.cli(30*time.Second, "invite", "community")), "join community", a)

	var p phoneUI
	if err := a.jsonCLI(&p, "pair", "--name", "Ana's phone", "--json"); err != nil {
		t.Fatal(err)
	}
	base := "https://" + listen
	if len(p.URLs) != 1 || !strings.HasPrefix(p.URLs[0], base+"/pair.html#code=") {
		t.Fatalf("pair --json: %+v: want one URL on %s", p, base)
	}

	proxy := startConnectProxy(t, lab.DialContext(phoneNS))
	chromeOut := &testkit.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chromium's output:\n%s", chromeOut)
		}
	})
	phone := newBrowser(t, "phone", exe, artifacts, chromedp.CombinedOutput(chromeOut),
		chromedp.ProxyServer("http://"+proxy.addr),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.Flag("ignore-certificate-errors-spki-list", p.SPKI))
	phone.run("emulate a phone", chromedp.Emulate(device.IPhone12))
	// Pairing: the page shows the fingerprint to compare; the code is
	// typed.
	fp := base64.RawURLEncoding.EncodeToString(mustDecodeStd(t, p.SPKI))
	phone.run("open the pair page", chromedp.Navigate(base+"/pair.html#fp="+fp), chromedp.WaitVisible(`#code`, chromedp.ByQuery))
	var ua string
	phone.run("read the user agent", chromedp.Evaluate(`navigator.userAgent + ' ' + navigator.maxTouchPoints + ' ' + innerWidth + 'x' + innerHeight`, &ua))
	if !strings.Contains(ua, "iPhone") || !strings.HasSuffix(ua, " 390x844") || strings.HasSuffix(ua, " 0 390x844") {
		t.Fatalf("not a phone: %q", ua)
	}
	phone.until("the fingerprint", `document.querySelector('#fp').textContent.split(':').length === 32`)
	// The trust step shows the CA's fingerprint, as 'loam pair' printed
	// it, and that this browser (the pin counts as trust) trusts the node.
	phone.until("the CA's fingerprint and trust", fmt.Sprintf(`document.querySelector('#ca-fp').textContent === %q &&
		document.querySelector('#trust-state').textContent.includes('trusts this home node') && document.querySelector('#trust-ios').open`, p.CA))
	phone.run("type the code", chromedp.SendKeys(`#code`, strings.ToLower(p.Code), chromedp.ByQuery))
	phoneShot(phone, "pair")
	phone.run("pair", chromedp.Click(`#pair-form button[type=submit]`, chromedp.ByQuery), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	phone.until("the apps", `location.pathname === '/' && document.querySelector('#me')?.textContent !== ''`)
	phone.until("no code in the address", `!location.href.includes('code=')`)

	// The dashboard lists this browser's session among the others.
	phone.until("the sessions card", `[...document.querySelectorAll('#d-sessions ~ .table-wrap tbody tr')].some(r =>
		r.textContent.includes("Ana's phone") && r.textContent.includes('this browser') && r.textContent.includes('home network'))`)
	phoneShot(phone, "dashboard")

	// The dashboard revokes another session: a browser logged in on the
	// node's machine with a login link.
	local := &http.Client{
		Transport:     &http.Transport{DialContext: lab.DialContext(home.Host)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := local.Get(strings.TrimSpace(a.cli(20*time.Second, "ui")))
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a login link on the node: %v %v", resp, err)
	}
	resp.Body.Close()
	local.CloseIdleConnections()
	chromedp.ListenTarget(phone.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Run(phone.ctx, page.HandleJavaScriptDialog(true)) // accept "Revoke …?"; returns at once
		}
	})
	phone.run("reload the dashboard", chromedp.Reload(), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	phone.until("the login session listed", `document.querySelector('button[aria-label="Revoke browser"]') !== null`)
	phone.click("revoke it", `button[aria-label="Revoke browser"]`)
	phone.until("the login session gone", `document.querySelector('button[aria-label="Revoke browser"]') === null &&
		document.querySelector('button[aria-label="Revoke Ana\'s phone"]') !== null`)
	if out := a.cli(20*time.Second, "sessions"); regexp.MustCompile(`(?m)^browser `).MatchString(out) {
		t.Errorf("the session revoked from the dashboard is listed:\n%s", out)
	}

	// Chat: a message from the phone reaches the second node.
	phone.run("open the chat", goTo("/chat/general"))
	phone.until("the live stream", `document.querySelector('#live')?.textContent === 'live'`)
	phone.run("set the nickname", chromedp.SendKeys(`#nick`, "Ana\r", chromedp.ByQuery))
	phone.run("send", chromedp.SendKeys(`#message`, "Hello from the phone\r", chromedp.ByQuery))
	hasMessage := func(text string) func() bool {
		return func() bool {
			out, err := b.run(10*time.Second, "ls", "community", "--prefix", "chat/msg/general/")
			return err == nil && strings.Contains(out, text)
		}
	}
	b.waitFor(60*time.Second, "the phone's first message", hasMessage("Hello from the phone"))
	phoneShot(phone, "chat")

	// The daemon restarts; the page, untouched, posts again.
	phone.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	stopDaemon(t, a)
	phone.until("the page sees the node gone", `document.querySelector('#live')?.textContent !== 'live'`)
	a.startDaemon(daemonArgs...)
	phone.until("live again", `document.querySelector('#live')?.textContent === 'live'`)
	phone.run("send again", chromedp.SendKeys(`#message`, "Still here after the restart\r", chromedp.ByQuery))
	b.waitFor(60*time.Second, "the message after the restart", hasMessage("Still here after the restart"))
	phone.until("the same page, no login", `window.loamNoReload === true && document.querySelector('#signed-out') === null`)

	// Installable: the manifest parses with a name, icons and a start
	// URL, the service worker is activated and controls the page, and
	// chromium finds nothing that keeps the app from being installed.
	var manifest *page.WebAppManifest
	var manifestErrs []*page.AppManifestError
	var installErrs []*page.InstallabilityError
	phone.until("the service worker controls the page", `navigator.serviceWorker.controller !== null`)
	var swState string
	phone.run("read the manifest and the service worker",
		chromedp.ActionFunc(func(ctx context.Context) (err error) {
			_, manifestErrs, _, manifest, err = page.GetAppManifest().Do(ctx)
			return err
		}),
		chromedp.ActionFunc(func(ctx context.Context) (err error) {
			installErrs, err = page.GetInstallabilityErrors().Do(ctx)
			return err
		}),
		chromedp.Evaluate(`navigator.serviceWorker.ready.then(r => r.active.state)`, &swState, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}))
	if manifest == nil || len(manifestErrs) > 0 || manifest.Name == "" || len(manifest.Icons) < 2 || manifest.StartURL != base+"/#/" {
		t.Errorf("the manifest: %+v, errors %v", manifest, manifestErrs)
	}
	for _, e := range installErrs {
		t.Errorf("not installable: %s %v", e.ErrorID, e.ErrorArguments)
	}
	if swState != "activated" {
		t.Errorf("the service worker is %q", swState)
	}

	// Offline: with the daemon stopped, the app opened again shows the
	// last messages under the banner; the daemon back, new messages
	// arrive with no reload.
	phone.run("open the app again", chromedp.Reload())
	phone.until("the messages", `[...document.querySelectorAll('#messages .msg .text')].some(m => m.textContent === 'Still here after the restart') &&
		document.querySelector('#live')?.textContent === 'live'`)
	stopDaemon(t, a)
	phone.run("open the app with the node away", chromedp.Reload())
	phone.until("the last messages, offline", `[...document.querySelectorAll('#messages .msg .text')].some(m => m.textContent === 'Still here after the restart') &&
		!document.querySelector('#offline-banner').hidden && document.body.classList.contains('offline')`)
	phone.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	phoneShot(phone, "offline")
	a.startDaemon(daemonArgs...)
	phone.until("back online", `document.querySelector('#offline-banner').hidden && document.querySelector('#live')?.textContent === 'live'`)
	var bSt api.Status // the key names its author: the chat's rules, declared by the admin's visit, refuse another name
	if err := b.jsonCLI(&bSt, "status", "--json"); err != nil {
		t.Fatal(err)
	}
	b.cli(20*time.Second, "put", "community", fmt.Sprintf("chat/msg/general/%013d-%s", time.Now().UnixMilli(), bSt.Author), `{"text":"Welcome back, phone"}`)
	phone.until("a new message, no reload", `window.loamNoReload === true &&
		[...document.querySelectorAll('#messages .msg .text')].some(m => m.textContent === 'Welcome back, phone')`)

	phone.run("open the tools", goTo("/tools"), chromedp.WaitVisible(`#tool-form`, chromedp.ByQuery))
	phoneShot(phone, "tools")

	// Revoked from the CLI: the next request gets 401 and the page says
	// why.
	phone.run("back to the chat", goTo("/chat/general"))
	phone.until("the chat", `document.querySelector('#live')?.textContent === 'live'`)
	if out := a.cli(20*time.Second, "sessions"); !strings.Contains(out, "Ana's phone") || !strings.Contains(out, "lan") {
		t.Errorf("loam sessions:\n%s", out)
	}
	a.cli(20*time.Second, "sessions", "revoke", "Ana's phone")
	// The revocation ends the page's watch stream; its reconnection gets
	// 401, and the page asks why.
	phone.until("the page says why", `document.querySelector('#signed-out')?.dataset.code === 'session_revoked' &&
		document.querySelector('#signed-out-why').textContent.includes('revoked') &&
		document.querySelector('#signed-out').textContent.includes('loam pair')`)
	phoneShot(phone, "revoked")

	// Pairing again by the link (the QR code's): it pairs at once.
	var p2 phoneUI
	if err := a.jsonCLI(&p2, "pair", "--name", "Ana's phone", "--json"); err != nil {
		t.Fatal(err)
	}
	phone.run("open the pairing link", chromedp.Navigate(p2.URLs[0]), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	phone.until("paired again, no code in the address", `location.pathname === '/' && !location.href.includes('code=') &&
		document.querySelector('#signed-out') === null`)
	if out := a.cli(20*time.Second, "sessions"); !strings.Contains(out, "Ana's phone") {
		t.Errorf("loam sessions after pairing again:\n%s", out)
	}
	if errs := phone.jsErrors(); len(errs) > 0 {
		t.Logf("phone: JavaScript errors (the 401s and the restart may log some): %v", errs)
	}
}

// stopDaemon stops n's daemon with SIGTERM.
func stopDaemon(t *testing.T, n *labNode) {
	t.Helper()
	n.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30 s of SIGTERM")
	}
}

// phoneShot saves the page as the phone shows it, and checks that nothing
// scrolls sideways.
func phoneShot(b *browser, name string) {
	b.t.Helper()
	var png []byte
	var width int64
	b.run("screenshot "+name,
		chromedp.Poll(`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.CaptureScreenshot(&png),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &width))
	if width > 390 {
		b.t.Errorf("%s on the phone is %d px wide: it scrolls sideways", name, width)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "phone-"+name+"-390x844.png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func mustDecodeStd(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/loamdb/loam/internal/api"
	"golang.org/x/sys/unix"
)

// The browser tests drive Debian's chromium (apt-get install -y chromium)
// headless through chromedp, against real 'loam daemon' processes, one
// browser per daemon. They are skipped when there is no chromium;
// LOAM_CHROMIUM names another binary. Screenshots go to
// $LOAM_ARTIFACTS/browser when LOAM_ARTIFACTS is set, else to a temporary
// directory; the test logs which.

// chromiumPath returns the browser to drive, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LOAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium to drive: install Debian's (apt-get install -y chromium) or set LOAM_CHROMIUM")
	return ""
}

// browserTest starts a browser test: it returns the chromium to drive and
// where the screenshots go, or skips the test when there is no chromium or
// with -short (what it runs, heavy: "two daemons and a browser").
func browserTest(t *testing.T, heavy string) (exe, artifacts string) {
	t.Helper()
	exe = chromiumPath(t)
	if testing.Short() {
		t.Skip("skipped with -short: runs " + heavy)
	}
	return exe, artifactDir(t)
}

// communityPair returns two homes, each with its daemon on loopback, that
// share the space community: a created it, b joined with a's ticket.
func communityPair(t *testing.T) (a, b *home, da, db *daemonProc) {
	t.Helper()
	a, b = newHome(t), newHome(t)
	da = startDaemon(t, a, loopbackDaemon...)
	db = startDaemon(t, b, loopbackDaemon...)
	a.ok("", "space", "create", "community")
	ticket := strings.TrimSpace(a.ok("", "invite", "community"))
	b.ok("", "join", ticket)
	return a, b, da, db
}

// printedLoginURL returns the login URL d printed as it started.
func printedLoginURL(t *testing.T, d *daemonProc) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := loginURLRE.FindStringSubmatch(d.out.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("loam daemon printed no login URL:\n%s", d.out)
		}
		time.Sleep(20 * time.Millisecond) // re-check interval
	}
}

// artifactDir returns where the screenshots go.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("LOAM_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "browser")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser is one headless chromium with its own profile.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context
	dir  string // artifacts

	mu     sync.Mutex
	errors []string // uncaught exceptions and console errors; guarded by mu
}

func newBrowser(t *testing.T, name, exe, artifacts string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		// chromedp asks Linux to kill chromium when the thread that
		// started it ends (Pdeathsig), not when the test process does. Go
		// ends a thread whose goroutine returns while locked to it, as
		// netlab's namespace dials do; when that thread was the one that
		// started chromium, the browser died mid-test ("context canceled",
		// nothing in its output: TestBrowserPhone, about one run in six).
		// Chromium runs in its own process group instead, killed whole
		// when the allocator's context ends (at cleanup), so no renderer
		// writes into the profile while the test removes it.
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { // instead of chromedp's, which sets Pdeathsig
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		}),
	}
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelC()
		cancelA()
	})
	b := &browser{t: t, name: name, ctx: ctx, dir: artifacts}
	listen(b)
	if err := chromedp.Run(ctx); err != nil { // starts the browser, bound to b.ctx
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// run runs actions with a deadline, failing the test with what they were.
func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var html string
		chromedp.Run(b.ctx, chromedp.OuterHTML("main", &html, chromedp.ByQuery))
		b.t.Fatalf("%s: %s: %v\npage: %.3000s\njs errors: %v", b.name, what, err, html, b.jsErrors())
	}
}

// until waits until the JavaScript expression is true.
func (b *browser) until(what, expr string) {
	b.t.Helper()
	var ok bool
	b.run("wait until "+what, chromedp.Poll(expr, &ok, chromedp.WithPollingTimeout(40*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
}

// click clicks the first element matching sel once there is one, finding
// and clicking it in one JavaScript turn: a page that renders again as
// live data arrives replaces its nodes, and chromedp.Click, which finds a
// node and then clicks it in two calls, failed between them ("Could not
// find node with given id" in TestBrowserApps, about one run in three
// under load).
func (b *browser) click(what, sel string) {
	b.t.Helper()
	b.until(what, `(() => { const e = document.querySelector(`+js(sel)+`); if (!e) return false; e.click(); return true })()`)
}

func (b *browser) jsErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// screenshots saves the page at 1280x800 and at a phone's 390x844.
func (b *browser) screenshots(name string) {
	b.t.Helper()
	for _, s := range []struct {
		w, h   int64
		mobile bool
		suffix string
	}{{1280, 800, false, "desktop"}, {390, 844, true, "phone"}} {
		var png []byte
		emulate := chromedp.EmulateViewport(s.w, s.h)
		if s.mobile {
			emulate = chromedp.EmulateViewport(s.w, s.h, chromedp.EmulateMobile)
		}
		b.run("screenshot "+name, emulate,
			chromedp.Poll(`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, nil, chromedp.WithPollingTimeout(5*time.Second)),
			chromedp.CaptureScreenshot(&png))
		// Responsive: nothing makes the page scroll sideways.
		var width int64
		b.run("measure "+name, chromedp.Evaluate(`document.documentElement.scrollWidth`, &width))
		if width > s.w {
			b.t.Errorf("%s: %s at %dx%d is %d px wide: it scrolls sideways", b.name, name, s.w, s.h, width)
		}
		// Nor does a card's content overflow it, or a table scroll inside
		// its card (the members table's Revoke cut to "Rev" at 1280 px, the
		// dashboard's columns cut off on a phone).
		var over []string
		b.run("measure the cards of "+name, chromedp.Evaluate(overflowing, &over))
		if len(over) > 0 {
			b.t.Errorf("%s: %s at %dx%d: content wider than its box: %v", b.name, name, s.w, s.h, over)
		}
		path := filepath.Join(b.dir, fmt.Sprintf("%s-%s-%dx%d.png", name, s.suffix, s.w, s.h))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run("back to the desktop size", chromedp.EmulateViewport(1280, 800))
}

// overflowing lists the cards and table boxes whose content is wider than
// they are (hidden or scrolled), each as its heading or class.
const overflowing = `[...document.querySelectorAll('main .card, main .table-wrap')]
	.filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
	.map(e => ((e.closest('.card') || e).querySelector('h1, h2') || e).textContent.slice(0, 40) + ' (' + e.className + ': ' + e.scrollWidth + ' > ' + e.clientWidth + ')')`

// js quotes s as a JavaScript string.
func js(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// testPhoto writes a noisy PNG of about 200 KB, over the 64 KiB above which
// a value is stored as a blob.
func testPhoto(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	r := rand.New(rand.NewPCG(7, 7))
	for y := range 240 {
		for x := range 320 {
			n := uint8(r.IntN(60))
			img.Set(x, y, color.RGBA{uint8(120 + x/4 + int(n)/2), uint8(80 + y/4), uint8(40 + n), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= 64<<10 {
		t.Fatalf("the test photo is %d bytes, not over 64 KiB", buf.Len())
	}
	path := filepath.Join(t.TempDir(), "drill.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var loginURLRE = regexp.MustCompile(`web UI: (http://127\.0\.0\.1:\d+/login\?t=[0-9a-f]{64})`)

// TestBrowserApps runs two daemons, each with a browser on its web UI:
// a chat message sent on one appears on the other, live; a tool listed
// with a photo on one is requested on the other and accepted on the
// first; screenshots of each page at 1280x800 and 390x844.
func TestBrowserApps(t *testing.T) {
	exe, artifacts := browserTest(t, "two daemons and two browsers (about 20 s)")
	photo := testPhoto(t)
	a, b, da, db := communityPair(t)

	// A's login URL is the one its daemon printed; B's comes from 'loam ui'.
	loginA := printedLoginURL(t, da)
	loginB := strings.TrimSpace(b.ok("", "ui"))
	if !strings.HasPrefix(loginB, "http://"+db.info.API+"/login?t=") {
		t.Fatalf("loam ui printed %q", loginB)
	}

	ba := newBrowser(t, "A", exe, artifacts)
	bb := newBrowser(t, "B", exe, artifacts)
	for _, c := range []struct {
		b   *browser
		url string
	}{{ba, loginA}, {bb, loginB}} {
		c.b.run("log in", chromedp.Navigate(c.url), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
		c.b.until("the dashboard", `document.querySelector('#peer-count') !== null && document.querySelector('#peer-count').textContent === '1'`)
	}
	ba.screenshots("dashboard")
	// A second visit of the used login URL does not log in a new browser.
	{
		c := newBrowser(t, "C", exe, artifacts)
		c.run("reuse the login URL", chromedp.Navigate(loginA))
		c.until("the refusal", `document.body.innerText.includes('not valid')`)
	}

	// Chat: nicknames, a message live from A to B, an unread count.
	for _, c := range []struct {
		b    *browser
		nick string
	}{{ba, "Ada"}, {bb, "Bo"}} {
		c.b.run("open the chat", goTo("/chat/general"))
		c.b.until("the live stream", `document.querySelector('#live')?.textContent === 'live'`)
		c.b.run("set the nickname", chromedp.SendKeys(`#nick`, c.nick+"\r", chromedp.ByQuery))
	}
	bb.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	ba.run("set the topic",
		chromedp.Evaluate(`document.querySelector('.room-head details').open = true`, nil),
		chromedp.SendKeys(`#topic-input`, "Everything about the street\r", chromedp.ByQuery))
	ba.run("send a message", chromedp.SendKeys(`#message`, "Hello from Ada's kitchen\r", chromedp.ByQuery))
	bb.until("A's message on B", `[...document.querySelectorAll('#messages .msg')].some(m =>
		m.querySelector('.text').textContent === "Hello from Ada's kitchen" && m.querySelector('strong').textContent === 'Ada')`)
	bb.until("the topic on B", `document.querySelector('#topic').textContent.startsWith('Everything about the street')`)
	bb.run("reply", chromedp.SendKeys(`#message`, "Hi Ada! Bo here.\r", chromedp.ByQuery))
	ba.until("B's reply on A", `[...document.querySelectorAll('#messages .msg .text')].some(m => m.textContent === 'Hi Ada! Bo here.')`)
	ba.until("today's separator", `[...document.querySelectorAll('#messages .day')].map(d => d.textContent).join() === 'Today'`)
	// A's first visit to the chat, as the space's admin, declared the
	// chat's and profiles' rules: once B's node holds them, a message B's
	// browser writes under A's name is refused by B's own node (422
	// app_rule, naming the rule), and shows nowhere.
	var aSt api.Status
	a.okJSON(&aSt, "status", "--json")
	rulesInForce(t, a, "community", "chat", "profile")
	rulesInForce(t, b, "community", "chat", "profile")
	bb.run("forge a message under A's name", chromedp.Evaluate(`import('/js/api.js').then(({ api }) =>
		api.put('community', 'chat/msg/general/' + String(Date.now()).padStart(13, '0') + '-' + `+js(aSt.Author)+`, { text: 'I am Ada, honest' }))
		.then(() => { window.forged = 'written'; }, (e) => { window.forged = e.status + ' ' + e.code + ' ' + e.message; })`, nil))
	bb.until("the refusal", `typeof window.forged === 'string'`)
	var forged string
	bb.run("read the refusal", chromedp.Evaluate(`window.forged`, &forged))
	if !strings.HasPrefix(forged, "422 app_rule ") || !strings.Contains(forged, `rule "chat/msg/{channel}/{ms}-{author}"`) || !strings.Contains(forged, "use your own author ID") {
		t.Errorf("a message under A's name from B's browser: %q, want 422 app_rule naming the rule", forged)
	}
	for _, br := range []*browser{ba, bb} {
		var shown bool
		br.run("look for the forged message", chromedp.Evaluate(`[...document.querySelectorAll('#messages .msg .text')].some(m => m.textContent.includes('I am Ada, honest'))`, &shown))
		if shown {
			t.Errorf("%s shows the forged message", br.name)
		}
	}
	// A message in another channel shows as unread on B.
	ba.run("open #swap", goTo("/chat/swap"))
	ba.until("#swap", `document.querySelector('#live')?.textContent === 'live' && document.querySelector('#room-name').textContent === '#swap'`)
	ba.run("post in #swap", chromedp.SendKeys(`#message`, "Anyone have a ladder?\r", chromedp.ByQuery))
	bb.until("an unread count on #swap", `document.querySelector('[data-channel="swap"] .count')?.textContent === '1'`)
	bb.until("no reload on B", `window.loamNoReload === true`)
	// A channel named as people type it: "Garden Tools" is #garden-tools
	// (it was refused), shown with the name as typed; its messages of
	// yesterday and today under their days.
	ba.run("add a channel", chromedp.SetValue(`#new-channel`, "Garden Tools", chromedp.ByQuery), submit(`#new-channel`))
	ba.until("#garden-tools", `location.hash === '#/chat/garden-tools' && document.querySelector('#room-name')?.textContent === '#garden-tools' &&
		document.querySelector('#room-typed')?.textContent === 'Garden Tools' && document.querySelector('#live')?.textContent === 'live'`)
	ba.run("post yesterday's and today's", chromedp.Evaluate(`import('/js/api.js').then(async ({ api }) => {
		const me = sessionStorage.getItem('loam.author');
		await api.put('community', 'chat/msg/garden-tools/' + String(Date.now() - 86400000).padStart(13, '0') + '-' + me, { text: 'Seed swap tomorrow' });
		await api.put('community', 'chat/msg/garden-tools/' + String(Date.now()).padStart(13, '0') + '-' + me, { text: 'Seed swap today' });
	})`, nil))
	ba.until("the days", `[...document.querySelectorAll('#messages .day')].map(d => d.textContent).join() === 'Yesterday,Today' &&
		document.querySelectorAll('#messages .msg').length === 2`)
	ba.screenshots("chat-days")
	ba.run("back to #general", goTo("/chat/general"))
	ba.until("#general", `document.querySelectorAll('#messages .msg').length === 2`)
	ba.screenshots("chat")

	// Tool library: A lists a drill with a photo; B requests it; A
	// accepts; A marks it returned; B sees each step live.
	ba.run("open the tools", goTo("/tools"), chromedp.WaitVisible(`#tool-form`, chromedp.ByQuery))
	bb.run("open the tools", goTo("/tools"), chromedp.WaitVisible(`#tool-form`, chromedp.ByQuery))
	bb.until("the tools stream", `document.querySelector('#live')?.textContent === 'live'`)
	bb.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	ba.run("list a drill",
		chromedp.SetValue(`#tool-name`, "Cordless drill", chromedp.ByQuery),
		chromedp.SetValue(`#tool-description`, "18 V, two batteries, a box of bits.", chromedp.ByQuery),
		chromedp.SetValue(`#tool-condition`, "good", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#tool-photo`, []string{photo}, chromedp.ByQuery),
		chromedp.Click(`#tool-form button[type=submit]`, chromedp.ByQuery))
	photoShown := `(() => { const c = [...document.querySelectorAll('.tool-card')].find(c => c.querySelector('h3').textContent === 'Cordless drill');
		const img = c && c.querySelector('img.thumb'); return !!img && img.complete && img.naturalWidth === 320; })()`
	ba.until("the drill with its photo on A", photoShown)
	bb.until("the drill with its photo on B", photoShown)
	ba.run("list a ladder",
		chromedp.SetValue(`#tool-name`, "Ladder", chromedp.ByQuery),
		chromedp.SetValue(`#tool-description`, "Aluminium, 3 m.", chromedp.ByQuery),
		chromedp.Click(`#tool-form button[type=submit]`, chromedp.ByQuery))
	bb.until("the ladder on B", `[...document.querySelectorAll('.tool-card h3')].some(h => h.textContent === 'Ladder')`)
	bb.run("search", chromedp.SendKeys(`#tool-search`, "drill", chromedp.ByQuery))
	bb.until("the search result", `document.querySelectorAll('.tool-card').length === 1`)
	ba.screenshots("tools")
	bb.run("open the drill", chromedp.Click(`.tool-card a`, chromedp.ByQuery), chromedp.WaitVisible(`#request-form`, chromedp.ByQuery))
	bb.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	// Names, not IDs: the owner is Ada, her ID only the tooltip.
	bb.until("the owner's name", `document.querySelector('.tool-detail .facts').innerText.includes('Ada') && !document.querySelector('main').innerText.includes('aut_')`)
	ba.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	ba.until("no badge yet", `document.querySelector('[data-nav="tools"] .badge').hidden`)
	bb.run("request it",
		chromedp.SetValue(`#request-note`, "For the shelves, Saturday?", chromedp.ByQuery),
		submit(`#request-note`))
	bb.until("the pending request", `document.querySelector('#request-state')?.textContent.includes('waiting for the owner')`)
	// The owner's page counts it, live: the Tools badge and the tool's card.
	ba.until("the Tools badge on A", `(() => { const b = document.querySelector('[data-nav="tools"] .badge'); return !b.hidden && b.textContent === '1'; })() &&
		[...document.querySelectorAll('.tool-card')].some(c => c.querySelector('h3').textContent === 'Cordless drill' && c.querySelector('.asking')?.textContent === '1 request')`)
	ba.until("no reload on A", `window.loamNoReload === true`)
	ba.screenshots("tools-badge")

	ba.run("open the drill", goTo("/tools"))
	ba.until("the list", `[...document.querySelectorAll('.tool-card h3')].some(h => h.textContent === 'Cordless drill')`)
	ba.run("open the drill", chromedp.Evaluate(`[...document.querySelectorAll('.tool-card')].find(c => c.querySelector('h3').textContent === 'Cordless drill').querySelector('a').click()`, nil))
	ba.until("B's request on A", `[...document.querySelectorAll('#owner-actions .requests li')].some(l => l.textContent.includes('Bo') && l.textContent.includes('For the shelves')) &&
		document.querySelector('#tool-actions .asking')?.textContent === '1 request'`)
	ba.screenshots("tool-request")
	ba.click("accept", `#owner-actions button.accept`)
	ba.until("lent on A", `document.querySelector('#mark-returned') !== null`)
	ba.until("the badge gone", `document.querySelector('[data-nav="tools"] .badge').hidden`)
	bb.until("accepted on B", `document.querySelector('.tool-detail .badge')?.textContent === 'lent to Bo' &&
		document.querySelector('#history').textContent.includes('accepted') && document.querySelector('#request-state').textContent.includes('You have it')`)
	bb.screenshots("tool-borrowed")
	ba.click("mark returned", `#mark-returned`)
	bb.until("returned on B", `document.querySelector('#history').textContent.includes('returned by Bo') &&
		document.querySelector('.tool-detail .badge').textContent === 'available'`)
	bb.until("no reload on B", `window.loamNoReload === true`)
	bb.click("verify the history", `#tool-history ~ button`)
	bb.until("verified", `document.querySelector('.tool-detail .ok-text')?.textContent.includes('verify')`)
	bb.screenshots("tool-history")

	// The space browser: keys, heads with authors, verification, invites.
	ba.run("open the space", goTo("/spaces"))
	ba.until("the space list", `[...document.querySelectorAll('main a')].some(a => a.textContent === 'community')`)
	ba.run("open community", chromedp.Evaluate(`[...document.querySelectorAll('main a')].find(a => a.textContent === 'community').click()`, nil))
	ba.until("keys", `document.querySelectorAll('table.keys tbody tr').length > 5`)
	// The heads: A's, B's and the space's genesis author's.
	ba.until("heads", `document.querySelectorAll('#v-heads ~ .table-wrap tbody tr').length >= 2 &&
		document.querySelector('#v-heads ~ .table-wrap tbody').textContent.includes('(you)')`)
	ba.run("verify", chromedp.Evaluate(`[...document.querySelectorAll('button')].find(b => b.textContent.startsWith('Verify')).click()`, nil))
	ba.until("verified", `document.querySelector('.ok-text')?.textContent.includes('Verified')`)
	ba.until("the members by name", `['Ada', 'Bo'].every(n => document.querySelector('#members').innerText.includes(n)) && !document.querySelector('#members').innerText.includes('aut_')`)
	ba.run("make an invite", chromedp.Click(`#invite-card form button`, chromedp.ByQuery))
	ba.until("a ticket", `document.querySelector('textarea[aria-label="Invite ticket"]')?.value.startsWith('loam2')`)
	ba.screenshots("space")

	// A private space, made from the form.
	ba.run("open the spaces", goTo("/spaces"))
	ba.until("the form", `document.querySelector('#new-private') !== null`)
	// The Private checkbox sits on its label's line, before it (it sat
	// above it).
	var beside bool
	ba.run("the Private checkbox", chromedp.Evaluate(`(() => { const c = document.querySelector('#new-private').getBoundingClientRect(), l = document.querySelector('label[for="new-private"]').getBoundingClientRect();
		return c.right <= l.left && Math.abs((c.top + c.bottom) / 2 - (l.top + l.bottom) / 2) < 8; })()`, &beside))
	if !beside {
		t.Errorf("the Private checkbox is not beside its label")
	}
	ba.screenshots("spaces")
	ba.run("create a private space",
		chromedp.SetValue(`input[name="name"]`, "family", chromedp.ByQuery),
		chromedp.Click(`#new-private`, chromedp.ByQuery),
		submit(`input[name="name"]`))
	ba.until("the private space", `document.querySelector('h1')?.textContent.startsWith('family') && document.querySelector('#private-badge') !== null`)

	for _, br := range []*browser{ba, bb} {
		if errs := br.jsErrors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", br.name, errs)
		}
	}
}

// goTo shows a page of the UI by its hash route, as a click on a link
// does: the document stays, no reload.
func goTo(route string) chromedp.Action {
	return chromedp.Evaluate("location.hash = "+js("#"+route), nil)
}

// submit submits the form of the element as a person does (requestSubmit
// fires the submit event; chromedp.Submit's form.submit() would not).
func submit(sel string) chromedp.Action {
	return chromedp.Evaluate("document.querySelector("+js(sel)+").form.requestSubmit()", nil)
}

// listen gathers the page's JavaScript exceptions and console errors into
// b.errors.
func listen(b *browser) {
	chromedp.ListenTarget(b.ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				for _, a := range ev.Args {
					msg += " " + string(a.Value) + a.Description
				}
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	})
}

// TestBrowserOutlivesItsThread starts chromium from a goroutine locked to
// its thread that then returns, so Go ends the thread, as netlab's
// namespace dials do: the browser must go on answering. It failed before
// newBrowser stopped chromedp from setting Pdeathsig (chromium was killed
// with the thread; TestBrowserPhone's "context canceled").
func TestBrowserOutlivesItsThread(t *testing.T) {
	exe := chromiumPath(t)
	// A goroutine that returns locked to the process's main thread does
	// not end it (Go parks that thread instead): take another.
	var (
		tid int
		b   *browser
	)
	for b == nil {
		started := make(chan *browser)
		go func() {
			goruntime.LockOSThread() // never unlocked: the thread ends with this goroutine
			if tid = unix.Gettid(); tid == unix.Getpid() {
				goruntime.UnlockOSThread()
				started <- nil
				return
			}
			started <- newBrowser(t, "thread", exe, t.TempDir())
		}()
		b = <-started
	}
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); errors.Is(err, fs.ErrNotExist) {
			break // the thread that started chromium has ended
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d did not end", tid)
		}
	}
	var two int
	b.run("evaluate after the starting thread ended", chromedp.Evaluate(`1 + 1`, &two))
	if two != 2 {
		t.Fatalf("1 + 1 = %d", two)
	}
}

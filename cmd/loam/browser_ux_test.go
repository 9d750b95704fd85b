package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/loamdb/loam/internal/api"
)

// TestBrowserReadOnly: a member who joined with a read ticket sees, in
// chat, the tool library and the space browser, no compose box, no form
// to add a channel, set a topic, lend or borrow a tool, no invite form and
// no Revoke link, and one plain sentence saying why; once revoked, the
// sentence says so. Screenshots of each page at 1280x800 and 390x844.
func TestBrowserReadOnly(t *testing.T) {
	exe, artifacts := browserTest(t, "two daemons and a browser (about 15 s)")
	a, c := newHome(t), newHome(t)
	startDaemon(t, a, loopbackDaemon...)
	dc := startDaemon(t, c, loopbackDaemon...)
	a.ok("", "space", "create", "community")
	var aSt api.Status
	a.okJSON(&aSt, "status", "--json")
	ms := fmt.Sprintf("%013d-%s", time.Now().UnixMilli(), aSt.Author)
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	a.ok("", "put", "community", "chat/nick/"+aSt.Author, js(map[string]string{"nick": "Ada"}))
	a.ok("", "put", "community", "chat/msg/general/"+ms, js(map[string]string{"text": "Welcome, readers"}))
	a.ok("", "put", "community", "tools/item/"+ms, js(map[string]string{"name": "Wheelbarrow", "description": "Green.", "condition": "good"}))
	ticket := strings.TrimSpace(a.ok("", "invite", "community", "--role", "read"))
	c.ok("", "join", ticket)

	bc := newBrowser(t, "C", exe, artifacts)
	bc.run("log in", chromedp.Navigate(printedLoginURL(t, dc)), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	bc.until("the dashboard", `document.querySelector('#peer-count')?.textContent === '1'`)
	bc.screenshots("readonly-dashboard")

	readOnly := `(document.querySelector('.may-not')?.textContent || '').includes('may only read this space')`
	bc.run("open the chat", goTo("/chat/general"))
	bc.until("A's message, and why no compose box", `document.querySelector('#live')?.textContent === 'live' &&
		[...document.querySelectorAll('#messages .msg .text')].some(m => m.textContent === 'Welcome, readers') && `+readOnly+` &&
		document.querySelector('#compose').hidden && document.querySelector('#new-channel-form').hidden && document.querySelector('#topic-edit').hidden`)
	bc.screenshots("readonly-chat")

	bc.run("open the tools", goTo("/tools"))
	bc.until("the wheelbarrow, and why no lend form", `[...document.querySelectorAll('.tool-card h3')].some(h => h.textContent === 'Wheelbarrow') &&
		document.querySelector('#tool-form') === null && `+readOnly)
	bc.screenshots("readonly-tools")
	bc.click("open the wheelbarrow", `.tool-card a`)
	bc.until("why no request form", `document.querySelector('#tool-title')?.textContent === 'Wheelbarrow' && document.querySelector('#request-form') === null && `+readOnly+` &&
		document.querySelector('.tool-detail .facts').innerText.includes('Ada')`)
	bc.screenshots("readonly-tool")

	bc.run("open the space", goTo("/spaces"))
	bc.until("the space list", `[...document.querySelectorAll('main a')].some(a => a.textContent === 'community')`)
	bc.run("open community", chromedp.Evaluate(`[...document.querySelectorAll('main a')].find(a => a.textContent === 'community').click()`, nil))
	bc.until("the members, and why no invite form", `document.querySelectorAll('#members tbody tr').length >= 2 &&
		(document.querySelector('#invite-card .may-not')?.textContent || '').includes('Only the space') && document.querySelector('#invite-card form') === null &&
		![...document.querySelectorAll('#members button')].some(b => b.textContent === 'Revoke')`)
	bc.screenshots("readonly-space")

	// Revoked: the sentence says so.
	var cSt api.Status
	c.okJSON(&cSt, "status", "--json")
	a.ok("", "revoke", "community", cSt.Author)
	bc.run("open the chat", goTo("/chat/general"))
	bc.until("why, revoked", `document.querySelector('#live')?.textContent === 'live' && (document.querySelector('.may-not')?.textContent || '').includes('was revoked') && document.querySelector('#compose').hidden`)
	bc.screenshots("revoked-chat")

	if errs := bc.jsErrors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %v", errs)
	}
}

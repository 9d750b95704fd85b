package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/loamdb/loam/internal/testkit"
)

// TestBrowserEnergy: Ana's node (A, the space's admin) and Bob's (B), each
// a person with a daemon, share the space community. In A's browser Ana
// records a 3 kWh transfer to Bob, by name; B's browser shows it waiting
// for Bob's confirmation, without a reload, and Bob confirms it; both
// browsers then show Ana at −3 and Bob at +3. Ana's statement downloads as
// CSV with the transfer's row. A third node's device, which may only read,
// sees the balances, no write controls, and a sentence saying why.
// Screenshots of the page on every node.
func TestBrowserEnergy(t *testing.T) {
	exe, artifacts := browserTest(t, "two daemons and two browsers")
	a, b, c := newHome(t), newHome(t), newHome(t)
	var ana, bob struct {
		ID string `json:"id"`
	}
	a.okJSON(&ana, "id", "create", "--name", "Ana", "--json")
	b.okJSON(&bob, "id", "create", "--name", "Bob", "--json")
	startDaemon(t, a, loopbackDaemon...)
	startDaemon(t, b, loopbackDaemon...)
	a.ok("", "space", "create", "community")
	b.ok("", "join", strings.TrimSpace(a.ok("", "invite", "community")))
	startDaemon(t, c, loopbackDaemon...)
	c.ok("", "join", strings.TrimSpace(a.ok("", "invite", "community", "--role", "read")))

	var n int
	ba := newBrowser(t, "A", exe, artifacts)
	bb := newBrowser(t, "B", exe, artifacts)
	for _, c := range []struct {
		b    *browser
		h    *home
		name string
	}{{ba, a, "Ana"}, {bb, b, "Bob"}} {
		c.b.run("log in", chromedp.Navigate(strings.TrimSpace(c.h.ok("", "ui"))), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
		c.b.until("the person's name in the header", `document.querySelector('#me').textContent === `+js(c.name))
		c.b.run("open the energy exchange", goTo("/energy"))
		c.b.until("the live stream", `document.querySelector('#live')?.textContent === 'live'`)
	}

	// Ana records 3 kWh to Bob, chosen by name.
	ba.until("Bob among the people to give to", `[...document.querySelectorAll('#transfer-to option')].some(o => o.value === `+js(bob.ID)+` && o.textContent === 'Bob')`)
	ba.run("record the transfer",
		chromedp.SetValue(`#transfer-to`, bob.ID, chromedp.ByQuery),
		chromedp.SendKeys(`#transfer-kwh`, "3", chromedp.ByQuery),
		chromedp.SendKeys(`#transfer-note`, "solar, Sunday", chromedp.ByQuery),
		submit(`#transfer-kwh`))
	ba.until("the transfer waiting for Bob", `[...document.querySelectorAll('#transfers li.status-waiting')].some(l => l.textContent.includes('Ana → Bob: 3 kWh') && l.textContent.includes('waiting for Bob to confirm'))`)

	// Bob sees it waiting for him, without a reload, and confirms it.
	bb.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	bb.until("the transfer to confirm", `document.querySelector('#to-confirm')?.textContent.includes('Ana says they gave you 3 kWh') === true`)
	bb.screenshots("energy-to-confirm")
	bb.click("Confirm", `#to-confirm button.confirm-transfer`)

	balances := `(() => {
		const row = (id) => document.querySelector('#balances tr[data-member="' + id + '"] td.balance')?.textContent;
		return row(` + js(ana.ID) + `) === '−3' && row(` + js(bob.ID) + `) === '+3'; })()`
	for _, c := range []struct {
		b    *browser
		mine string
	}{{ba, "−3"}, {bb, "+3"}} {
		c.b.until("both balances changed", balances)
		c.b.until("this person's balance", `document.querySelector('#my-balance')?.textContent === `+js(c.mine+" kWh"))
		c.b.until("the transfer confirmed", `[...document.querySelectorAll('#transfers li.status-confirmed')].some(l => l.textContent.includes('Ana → Bob: 3 kWh'))`)
	}
	bb.until("the page was not reloaded", `window.loamNoReload === true`)
	bb.screenshots("energy-confirmed")
	ba.screenshots("energy")

	// Ana, the admin, sets Bob's limit; Bob, no admin, sees no limit form.
	// Bob posts an offer; Ana sees it by his name.
	limit := `document.querySelector('#balances tr[data-member=` + js(bob.ID) + `] td:nth-of-type(2)')`
	ba.until("the limit form", limit+`?.nextElementSibling?.querySelector('input') != null`)
	ba.run("set Bob's limit",
		chromedp.SendKeys(`#balances tr[data-member="`+bob.ID+`"] .limit-form input`, "2.5", chromedp.ByQuery),
		submit(`#balances tr[data-member="`+bob.ID+`"] .limit-form input`))
	bb.run("post an offer",
		chromedp.SendKeys(`#post-kwh`, "4", chromedp.ByQuery),
		chromedp.SendKeys(`#post-text`, "Saturday noon, EV welcome", chromedp.ByQuery),
		submit(`#post-kwh`))
	for _, c := range []*browser{ba, bb} {
		c.until("Bob's limit", limit+`?.textContent === '−2.5'`)
		c.until("Bob's offer", `[...document.querySelectorAll('#posts li')].some(l => l.textContent.includes('offer 4 kWh Saturday noon, EV welcome') && l.textContent.includes('Bob'))`)
	}
	if bb.run("look for limit forms", chromedp.Evaluate(`document.querySelectorAll('.limit-form').length`, &n)); n != 0 {
		t.Errorf("Bob, no admin, sees %d limit forms", n)
	}
	ba.run("show the balances", chromedp.Evaluate(`document.querySelector('#balances').scrollIntoView()`, nil))
	ba.screenshots("energy-balances")

	// Ana's first visit, as the space's admin, declared the exchange's
	// rules; B holds them.
	var rules string
	if !testkit.Poll(30*time.Second, 50*time.Millisecond, func() bool {
		rules = b.ok("", "space", "rules", "community", "--json")
		return strings.Contains(rules, `"app":"energy"`)
	}) {
		t.Errorf("the rules B holds:\n%s", rules)
	}

	// Ana's statement, as the link downloads it.
	var csv string
	ba.run("read the statement", chromedp.Evaluate(`(async () => { const r = await fetch(document.querySelector('#statement').href); return r.headers.get('Content-Type') + '\n' + await r.text(); })()`, &csv,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "text/csv") || lines[1] != "date,counterparty,kwh_in,kwh_out,balance_kwh,note,status" ||
		!strings.HasSuffix(lines[2], `,Bob,,3,-3,"solar, Sunday",confirmed`) {
		t.Errorf("Ana's statement:\n%s", csv)
	}

	// A reader (C) sees the ledger, no write controls, and why.
	bc := newBrowser(t, "C", exe, artifacts)
	bc.run("log in", chromedp.Navigate(strings.TrimSpace(c.ok("", "ui"))), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	bc.run("open the energy exchange", goTo("/energy"))
	bc.until("the balances and why it cannot write", balances+` && document.querySelector('#why')?.textContent.includes('may only read this space') === true`)
	if bc.run("look for write controls", chromedp.Evaluate(`document.querySelectorAll('main form, main button.confirm-transfer').length`, &n)); n != 0 {
		t.Errorf("a reader sees %d write controls", n)
	}
	bc.screenshots("energy-reader")
	for _, c := range []*browser{ba, bb, bc} {
		if errs := c.jsErrors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", c.name, errs)
		}
	}
}

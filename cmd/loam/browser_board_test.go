package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserBoard runs two daemons, each with a browser on its web UI's
// community board, both people with an identity: a skill offer posted on
// A is answered on B, and the answer shows on A live; a project proposed
// on A with a photo is joined on B, and A sees B's name among its
// members; a poll A starts closing a few seconds ahead is voted on both
// and, once closed, shows the same verified tally on both browsers (and
// in 'loam poll' on both nodes); a read-only member's browser shows no
// write controls and says why. Screenshots at 1280x800 and 390x844.
func TestBrowserBoard(t *testing.T) {
	exe, artifacts := browserTest(t, "three daemons and three browsers (about 60 s)")
	photo := testPhoto(t)
	a, b, da, _ := communityPair(t)
	a.ok("", "id", "create", "--name", "Ada")
	b.ok("", "id", "create", "--name", "Bo")
	c := newHome(t)
	startDaemon(t, c, loopbackDaemon...)
	c.ok("", "join", strings.TrimSpace(a.ok("", "invite", "community", "--role", "read")))

	ba := newBrowser(t, "A", exe, artifacts)
	bb := newBrowser(t, "B", exe, artifacts)
	for _, x := range []struct {
		b   *browser
		url string
	}{{ba, printedLoginURL(t, da)}, {bb, strings.TrimSpace(b.ok("", "ui"))}} {
		x.b.run("log in", chromedp.Navigate(x.url), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
		x.b.run("open the board", goTo("/board"))
		x.b.until("the board, live, with its forms", `document.querySelector('#live')?.textContent === 'live' && document.querySelector('#swap-form') !== null && document.querySelector('#poll-form') !== null`)
	}
	// A's first visit, as the space's admin, declared the board's rules:
	// what follows is written under them on both nodes.
	rulesInForce(t, a, "community", "board")
	rulesInForce(t, b, "community", "board")

	// Skill swap: A offers, B answers "I can help", A sees it live.
	ba.run("open the swap form", chromedp.Evaluate(`document.querySelector('#swap-form').closest('details').open = true`, nil))
	ba.run("offer a skill",
		chromedp.SetValue(`#swap-kind`, "offer", chromedp.ByQuery),
		chromedp.SetValue(`#swap-category`, "Bikes", chromedp.ByQuery),
		chromedp.SetValue(`#swap-title`, "I can fix bikes", chromedp.ByQuery),
		chromedp.SetValue(`#swap-text`, "Punctures, brakes, gears.", chromedp.ByQuery),
		submit(`#swap-title`))
	bb.until("A's offer on B", `[...document.querySelectorAll('#swap-list li')].some(l => l.textContent.includes('I can fix bikes') && l.textContent.includes('Ada') && l.textContent.includes('bikes'))`)
	bb.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	ba.run("mark the page", chromedp.Evaluate(`window.loamNoReload = true`, nil))
	bb.run("answer it", chromedp.Evaluate(`(() => { const f = document.querySelector('#swap-list form'); f.text.value = 'My bike squeaks'; f.requestSubmit(); })()`, nil))
	bb.until("answered on B", `document.querySelector('#swap-list').textContent.includes('You said you can help')`)
	ba.until("B's answer on A, live", `[...document.querySelectorAll('#swap-list .helps li')].some(l => l.textContent.includes('Bo') && l.textContent.includes('My bike squeaks'))`)

	// Projects: A proposes one with a photo; B joins; A sees B's name.
	ba.run("open the project form", chromedp.Evaluate(`document.querySelector('#project-form').closest('details').open = true`, nil))
	ba.run("propose a project",
		chromedp.SetValue(`#project-title`, "A bench by the bus stop", chromedp.ByQuery),
		chromedp.SetValue(`#project-text`, "Oak, made by us, for the people waiting.", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#project-photo`, []string{photo}, chromedp.ByQuery),
		submit(`#project-title`))
	photoShown := `(() => { const img = document.querySelector('#project-list .board-photo'); return !!img && img.complete && img.naturalWidth === 320; })()`
	ba.until("the project with its photo on A", photoShown)
	bb.until("the project with its photo on B", photoShown)
	bb.click("join", `#project-list button[id^="join-"]`)
	bb.until("joined on B", `document.querySelector('#project-list button[id^="join-"]')?.textContent === 'Leave'`)
	ba.until("B among the members on A", `document.querySelector('#project-list .members')?.textContent === 'Joined: Bo'`)
	bb.click("leave", `#project-list button[id^="join-"]`)
	ba.until("B gone from the members on A", `document.querySelector('#project-list .members')?.textContent === 'Nobody has joined yet.'`)
	bb.until("left on B", `document.querySelector('#project-list button[id^="join-"]')?.textContent === 'Join'`)
	bb.click("join again", `#project-list button[id^="join-"]`)
	ba.until("B among the members on A again", `document.querySelector('#project-list .members')?.textContent === 'Joined: Bo'`)
	ba.run("comment", chromedp.Evaluate(`(() => { const f = document.querySelector('#project-list form'); f.text.value = 'Welcome, Bo!'; f.requestSubmit(); })()`, nil))
	bb.until("A's comment on B", `document.querySelector('#project-list .comments')?.textContent.includes('Ada: Welcome, Bo!')`)
	ba.run("make it active", chromedp.Evaluate(`(() => { const s = document.querySelector('#project-list select'); s.value = 'active'; s.dispatchEvent(new Event('change')); })()`, nil))
	bb.until("active on B", `document.querySelector('#project-list .status')?.textContent === 'active'`)

	// Polls: A starts one closing 25 s ahead; both vote before the close.
	ba.run("open the poll form", chromedp.Evaluate(`document.querySelector('#poll-form').closest('details').open = true`, nil))
	ba.run("start a poll",
		chromedp.SetValue(`#poll-question`, "What colour for the bench?", chromedp.ByQuery),
		chromedp.SetValue(`#poll-options`, "green\nblue\nnatural oak", chromedp.ByQuery),
		chromedp.SetValue(`#poll-ballot`, "open", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#poll-closes').value = new Date(Date.now() + 25000 - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19)`, nil),
		submit(`#poll-question`))
	// The nav badge's count: an open poll closing within a day that B has
	// not voted in waits on B; none waits on A once A voted.
	waiting := `import('/js/board.js').then(m => m.waiting('community', sessionStorage.getItem('loam.author'))).then(n => { window.waitingN = n; })`
	bb.until("the poll on B", `document.querySelector('#poll-list .vote-btn') !== null`)
	bb.run("count what waits", chromedp.Evaluate(`window.waitingN = undefined; `+waiting, nil))
	bb.until("one poll waiting on B", `window.waitingN === 1`)
	// A starts typing the next poll's question while the votes arrive.
	ba.run("type the next question", chromedp.Evaluate(`(() => { const q = document.querySelector('#poll-question'); q.closest('details').open = true; q.value = 'Where should it stand?'; q.focus(); })()`, nil))
	for _, x := range []struct {
		b       *browser
		option  string
		counted string
	}{{bb, "0", "1 signed vote: 1 counted"}, {bb, "2", "1 signed vote: 1 counted"}, {ba, "2", "2 signed votes: 2 counted"}} {
		// B votes green, then changes its vote to natural oak; A votes
		// natural oak.
		x.b.until("the poll with its vote button", `document.querySelector('#poll-list .vote-btn') !== null`)
		x.b.run("vote", chromedp.Evaluate(`(() => { document.querySelector('#poll-list input[type=radio][value="`+x.option+`"]').checked = true; document.querySelector('#poll-list .vote-btn').click(); })()`, nil))
		x.b.until("the vote counted", `document.querySelector('#poll-list .verified')?.textContent.includes(`+js(x.counted)+`) &&
			document.querySelectorAll('#poll-list .opt-count')[`+x.option+`].textContent !== '0' && document.querySelector('#poll-list .vote-btn')?.textContent === 'Change my vote'`)
	}
	var typed string
	ba.run("read the question typed", chromedp.Evaluate(`document.querySelector('#poll-question').value`, &typed))
	if typed != "Where should it stand?" {
		t.Errorf("the question typed on A while votes arrived: %q", typed)
	}
	ba.run("count what waits", chromedp.Evaluate(`window.waitingN = undefined; `+waiting, nil))
	ba.until("nothing waiting on A", `window.waitingN === 0`)
	ba.screenshots("board")
	const tally = `(() => { const p = document.querySelector('#poll-list .poll'); return p && p.querySelector('.closed') && p.querySelector('.vote-btn') === null
		? [...p.querySelectorAll('.option')].map(o => o.textContent).join(' | ') + ' || ' + p.querySelector('.verified').textContent : ''; })()`
	var tallies [2]string
	for i, x := range []*browser{ba, bb} {
		x.until("the poll closed with both votes", tally+`.includes('2 signed votes: 2 counted')`)
		x.run("read the tally", chromedp.Evaluate(tally, &tallies[i]))
	}
	if tallies[0] != tallies[1] || !strings.Contains(tallies[0], "natural oak2") || !strings.Contains(tallies[0], "Ada") || !strings.Contains(tallies[0], "Bo") {
		t.Errorf("the closed poll's tally:\n A: %q\n B: %q\nwant the same, natural oak with Ada's and Bo's votes", tallies[0], tallies[1])
	}
	bb.screenshots("board-poll-closed")
	var polls [2][]struct {
		Counts []int `json:"counts"`
		Signed int   `json:"signed"`
		Closed bool  `json:"closed"`
	}
	for i, h := range []*home{a, b} {
		if err := json.Unmarshal([]byte(h.ok("", "poll", "community", "--json")), &polls[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(polls[0], polls[1]) || len(polls[0]) != 1 || !reflect.DeepEqual(polls[0][0].Counts, []int{0, 0, 2}) {
		t.Errorf("loam poll on A %+v, on B %+v: want the same closed tally [0 0 2]", polls[0], polls[1])
	}
	for _, x := range []*browser{ba, bb} {
		x.until("no reload", `window.loamNoReload === true`)
	}

	// A read-only member sees the board and no write controls, and why.
	bc := newBrowser(t, "C", exe, artifacts)
	bc.run("log in", chromedp.Navigate(strings.TrimSpace(c.ok("", "ui"))), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	bc.run("open the board", goTo("/board"))
	bc.until("the board synced, read-only", `document.querySelector('#live')?.textContent === 'live' &&
		document.querySelector('#poll-list .verified') !== null && document.querySelector('#project-list .members') !== null &&
		!document.querySelector('#board-readonly').hidden && document.querySelector('#board-readonly').textContent.includes('may only read')`)
	var writable []string
	bc.run("look for write controls", chromedp.Evaluate(`[...document.querySelectorAll('main form, main button[id^="join-"], main .vote-btn, main input[type=radio], main #project-list select')].map(e => e.id || e.className || e.tagName)`, &writable))
	if len(writable) > 0 {
		t.Errorf("a read-only member sees write controls: %v", writable)
	}
	bc.screenshots("board-read-only")

	for _, br := range []*browser{ba, bb, bc} {
		if errs := br.jsErrors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", br.name, errs)
		}
	}
}

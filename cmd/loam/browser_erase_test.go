package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserErase is issue 14's browser must-show, with two daemons and
// a browser on each: in the chat, A deletes one of its messages and edits
// another, and deletes B's as the space's admin, each seen live on B
// ("message deleted", "edited"), the old texts readable through neither
// node's API nor left in A's offline cache; in the tool library, A edits
// a tool (name, description, a new photo: the old photo's blob is freed
// on both nodes) and delists it (gone from both lists, its photo's key
// erased, its lending history kept). Every destructive action asks first,
// in the page, and is driven by the keyboard; screenshots at 1280x800 and
// 390x844. Last, with A's daemon stopped, A's page opened again offline
// shows what was deleted as deleted and nothing erased.
func TestBrowserErase(t *testing.T) {
	exe, artifacts := browserTest(t, "two daemons and two browsers (about 30 s)")
	photo := testPhoto(t)
	newPhoto := smallPhoto(t)
	a, b, da, _ := communityPair(t)
	loginA := printedLoginURL(t, da)
	loginB := strings.TrimSpace(b.ok("", "ui"))

	ba := newBrowser(t, "A", exe, artifacts)
	bb := newBrowser(t, "B", exe, artifacts)
	for _, c := range []struct {
		b    *browser
		url  string
		nick string
	}{{ba, loginA, "Ada"}, {bb, loginB, "Bo"}} {
		c.b.run("log in", chromedp.Navigate(c.url), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
		c.b.until("a peer", `document.querySelector('#peer-count')?.textContent === '1'`)
		c.b.run("open the chat", goTo("/chat/general"))
		c.b.until("the live stream", `document.querySelector('#live')?.textContent === 'live'`)
		c.b.run("set the nickname", chromedp.SendKeys(`#nick`, c.nick+"\r", chromedp.ByQuery))
	}

	// Chat.
	const (
		oak  = "Meet at the old oak at noon"
		oak2 = "Meet at the old oak at one"
		door = "The door code is 4417"
		cake = "Bo will bring cake"
	)
	ba.run("send", chromedp.SendKeys(`#message`, oak+"\r", chromedp.ByQuery))
	ba.run("send", chromedp.SendKeys(`#message`, door+"\r", chromedp.ByQuery))
	bb.until("A's messages on B", msgJS(door)+` !== undefined && `+msgJS(oak)+` !== undefined`)
	bb.run("send", chromedp.SendKeys(`#message`, cake+"\r", chromedp.ByQuery))
	ba.until("B's message on A", msgJS(cake)+` !== undefined`)
	// Edit and Delete show on one's own messages only; an admin (A made
	// the space) may delete B's, not edit it.
	bb.until("controls on B's own message only", `(() => { const own = `+msgJS(cake)+`, other = `+msgJS(oak)+`;
		return !!own.querySelector('button[data-focus^="edit:"]') && !!own.querySelector('button[data-focus^="delete:"]') && other.querySelector('.msg-actions') === null })()`)
	ba.until("the admin's Delete on B's message", `(() => { const m = `+msgJS(cake)+`;
		return !!m.querySelector('button[data-focus^="delete:"]') && !m.querySelector('button[data-focus^="edit:"]') })()`)

	// The page, opened again, reads everything through the service
	// worker, so its offline cache holds the messages before anything is
	// erased.
	ba.until("the service worker controls the page", `navigator.serviceWorker.controller !== null`)
	ba.run("open the app again", chromedp.Reload())
	ba.until("the chat", `document.querySelectorAll('#messages .msg').length === 3 && document.querySelector('#live')?.textContent === 'live'`)
	ba.until("the messages in the offline cache", `(async () => (await `+cachedText(door)+`) && (await `+cachedText(oak)+`))()`)

	var doorKey, oakKey, cakeKey string
	ba.run("read the keys", chromedp.Evaluate(msgJS(door)+`.dataset.key`, &doorKey), chromedp.Evaluate(msgJS(oak)+`.dataset.key`, &oakKey),
		chromedp.Evaluate(msgJS(cake)+`.dataset.key`, &cakeKey))

	// Delete, by keyboard: Enter on Delete asks (Cancel focused), Escape
	// takes it back (Delete focused again), Enter asks again, Enter on the
	// question's Delete erases.
	ba.run("focus Delete", focus(msgJS(door)+`.querySelector('button[data-focus^="delete:"]')`))
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	ba.until("the question, Cancel focused", `document.activeElement?.textContent === 'Cancel' && document.activeElement.closest('.confirm') !== null`)
	ba.screenshots("chat-delete-question")
	ba.run("press Escape", chromedp.KeyEvent(kb.Escape))
	ba.until("no question, Delete focused", `document.querySelector('.confirm') === null && document.activeElement?.dataset.focus === 'delete:' + `+msgJS(door)+`.dataset.key`)
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	ba.until("the question again", `document.activeElement?.textContent === 'Cancel' && document.activeElement.closest('.confirm') !== null`)
	ba.run("focus the question's Delete", focus(`document.querySelector('.confirm button.danger')`))
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	deleted := func(key string) string {
		return `(() => { const m = document.querySelector('#messages .msg[data-key="` + key + `"]');
			return !!m && m.classList.contains('deleted') && m.querySelector('.text').textContent === 'message deleted' })()`
	}
	ba.until("deleted on A", deleted(doorKey)+` && !document.querySelector('#messages').textContent.includes('4417')`)
	bb.until("deleted on B, live", deleted(doorKey)+` && !document.querySelector('#messages').textContent.includes('4417')`)

	// Edit, by keyboard: Enter on Edit opens the text, Escape closes it,
	// Enter again, the new text, Enter saves.
	ba.run("focus Edit", focus(msgJS(oak)+`.querySelector('button[data-focus^="edit:"]')`))
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	ba.until("the text to edit, focused", `document.activeElement?.matches('.edit-form input') && document.activeElement.value === `+js(oak))
	ba.run("press Escape", chromedp.KeyEvent(kb.Escape))
	ba.until("the edit closed, Edit focused", `document.querySelector('.edit-form') === null && document.activeElement?.dataset.focus === 'edit:' + `+js(oakKey))
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	ba.until("the text to edit again", `document.activeElement?.matches('.edit-form input')`)
	ba.run("type the new text", chromedp.SetValue(`.edit-form input`, oak2, chromedp.ByQuery))
	ba.screenshots("chat-edit")
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	edited := msgJS(oak2) + `?.querySelector('.edited')?.textContent === 'edited' && !document.querySelector('#messages').textContent.includes('at noon')`
	ba.until("edited on A", edited)
	bb.until("edited on B, live", edited)

	// The admin deletes B's message, with the mouse this time.
	ba.click("Delete on B's message", `#messages .msg[data-key="`+cakeKey+`"] button[data-focus^="delete:"]`)
	ba.click("confirm", `.confirm button.danger`)
	bb.until("B's message deleted on B", deleted(cakeKey))
	ba.until("B's message deleted on A", deleted(cakeKey))
	bb.screenshots("chat-erased")

	// Neither node's API gives the old texts.
	for _, h := range []*home{a, b} {
		waitErased(t, h, "community", doorKey)
		waitErased(t, h, "community", cakeKey)
		if out := h.ok("", "get", "community", oakKey); !strings.Contains(out, oak2) {
			t.Errorf("get %s: %q, want the edited text", oakKey, out)
		}
		out := h.ok("", "ls", "community", "--prefix", "chat/msg/general/", "--json")
		for _, old := range []string{door, oak, cake} {
			if strings.Contains(out, old) {
				t.Errorf("ls: %q is still there:\n%s", old, out)
			}
		}
	}
	// A's offline cache forgot them too, without listing again: the
	// cached listing holds the edit and the deletions.
	ba.until("the old texts gone from the offline cache", `(async () => !(await `+cachedText(door)+`) && !(await `+cachedText(oak)+
		`) && !(await `+cachedText(cake)+`) && (await `+cachedText(oak2)+`))()`)

	// A copy cached before the erase that no page forgot (a browser that
	// was closed): a key read that answers 410 drops it, and so does a
	// listing that shows the key erased.
	var spaceID string
	ba.run("read the space's ID", chromedp.Evaluate(`document.querySelector('.picker select').value`, &spaceID))
	stale := func(key string) string {
		return `caches.open('loam-data-v1').then(c => c.put('/v1/spaces/` + spaceID + `/keys/` + key + `?raw=true', new Response(` + js(door) + `))).then(() => true)`
	}
	ba.until("a stale copy of the deleted message", stale(doorKey))
	ba.until("a stale copy of B's deleted message", stale(cakeKey))
	ba.until("in the cache", cachedText(door))
	ba.until("a read of one answers 410", `fetch('/v1/spaces/`+spaceID+`/keys/`+cakeKey+`?raw=true').then(r => r.status === 410)`)
	ba.until("the 410 dropped its copy", `(async () => !(await `+cachedURL(cakeKey)+`) && (await `+cachedURL(doorKey)+`))()`)
	ba.run("open the app again", chromedp.Reload())
	ba.until("the chat listed again", `document.querySelectorAll('#messages .msg.deleted').length === 2 && document.querySelector('#live')?.textContent === 'live'`)
	ba.until("the listing dropped the other", `(async () => !(await `+cachedURL(doorKey)+`) && !(await `+cachedText(door)+`))()`)

	// Tool library: A lists a drill with a photo; B asks to borrow it.
	ba.run("open the tools", goTo("/tools"), chromedp.WaitVisible(`#tool-form`, chromedp.ByQuery))
	bb.run("open the tools", goTo("/tools"), chromedp.WaitVisible(`#tool-form`, chromedp.ByQuery))
	bb.until("the tools stream", `document.querySelector('#live')?.textContent === 'live'`)
	ba.run("list a drill",
		chromedp.SetValue(`#tool-name`, "Cordless drill", chromedp.ByQuery),
		chromedp.SetValue(`#tool-description`, "Two batteries and a box of bits.", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#tool-photo`, []string{photo}, chromedp.ByQuery),
		chromedp.Click(`#tool-form button[type=submit]`, chromedp.ByQuery))
	shown := func(name string, width int) string {
		return `(() => { const c = [...document.querySelectorAll('.tool-card')].find(c => c.querySelector('h3').textContent === ` + js(name) + `);
			const img = c && c.querySelector('img.thumb'); return !!img && img.complete && img.naturalWidth === ` + strconv.Itoa(width) + ` })()`
	}
	ba.until("the drill on A", shown("Cordless drill", 320))
	bb.until("the drill on B", shown("Cordless drill", 320))
	var tool string
	ba.run("read its ID", chromedp.Evaluate(`document.querySelector('.tool-card').dataset.tool`, &tool))
	bb.run("open the drill", goTo("/tools/"+tool), chromedp.WaitVisible(`#request-form`, chromedp.ByQuery))
	bb.run("ask for it", chromedp.SetValue(`#request-note`, "For the shelves, Saturday?", chromedp.ByQuery), submit(`#request-note`))
	bb.until("the request", `document.querySelector('#request-state')?.textContent.includes('waiting for the owner')`)
	oldBlob := blobOf(t, a, "community", "tools/photo/"+tool)
	waitHeld(t, b, oldBlob, true)
	ba.until("the photo in the offline cache", cachedURL("tools/photo/"+tool))

	// A edits it: a new name, description and photo. B sees them; the
	// old photo's blob leaves both nodes.
	ba.run("open the drill", goTo("/tools/"+tool))
	ba.until("the owner's controls", `document.querySelector('#tool-edit') !== null && document.querySelector('#owner-actions')?.textContent.includes('For the shelves')`)
	ba.run("focus Edit", focus(`document.querySelector('#tool-edit')`))
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	ba.until("the edit form, the name focused", `document.activeElement?.id === 'edit-name'`)
	ba.run("edit",
		chromedp.SetValue(`#edit-name`, "Cordless drill, 18 V", chromedp.ByQuery),
		chromedp.SetValue(`#edit-description`, "Two batteries, a box of bits and a case.", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#edit-photo`, []string{newPhoto}, chromedp.ByQuery))
	ba.run("show the whole form", chromedp.Evaluate(`document.querySelector('#tool-edit-form .buttons').scrollIntoView({block: 'end'})`, nil))
	ba.screenshots("tool-edit")
	ba.click("save", `#tool-edit-form button[type=submit]`)
	ba.until("edited on A", `document.querySelector('#tool-title')?.textContent === 'Cordless drill, 18 V' && document.querySelector('#tool-edit-form') === null &&
		document.querySelector('.tool-detail img.photo')?.naturalWidth === 64`)
	bb.until("edited on B, live", `document.querySelector('#tool-title')?.textContent === 'Cordless drill, 18 V' &&
		document.querySelector('.tool-detail').textContent.includes('and a case') && document.querySelector('.tool-detail img.photo')?.naturalWidth === 64`)
	for _, h := range []*home{a, b} {
		waitHeld(t, h, oldBlob, false)
	}

	// A delists it, by keyboard, after a question.
	ba.run("focus Delist", focus(`document.querySelector('#tool-delist')`))
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	ba.until("the question, Cancel focused", `document.activeElement?.textContent === 'Cancel' && document.activeElement.closest('.confirm')?.textContent.includes('lending history stays')`)
	ba.screenshots("tool-delist-question")
	ba.run("focus the question's Delist", focus(`document.querySelector('.confirm button.danger')`))
	ba.run("press Enter", chromedp.KeyEvent(kb.Enter))
	ba.until("back on the list, no drill", `location.hash === '#/tools' && document.querySelector('#tool-list') !== null &&
		![...document.querySelectorAll('.tool-card')].some(c => c.dataset.tool === `+js(tool)+`)`)
	bb.until("delisted on B, its history kept", `document.querySelector('#tool-gone')?.textContent.includes('delisted') &&
		document.querySelector('#history')?.textContent.includes('For the shelves')`)
	bb.screenshots("tool-delisted")
	bb.run("open the list", goTo("/tools"))
	bb.until("no drill on B", `document.querySelector('#tool-list') !== null && document.querySelector('#live')?.textContent === 'live' &&
		![...document.querySelectorAll('.tool-card')].some(c => c.dataset.tool === `+js(tool)+`)`)
	for _, h := range []*home{a, b} {
		waitErased(t, h, "community", "tools/photo/"+tool)
		if r := h.run("", "get", "community", "tools/item/"+tool); r.code == 0 {
			t.Errorf("get tools/item/%s after delisting: %q", tool, r.stdout)
		}
		if out := h.ok("", "ls", "community", "--prefix", "tools/req/"+tool+"/"); !strings.Contains(out, "For the shelves") {
			t.Errorf("the request is gone: %q", out)
		}
	}
	ba.until("the photo and the texts gone from the offline cache", `(async () => !(await `+cachedURL("tools/photo/"+tool)+`) && !(await `+
		cachedText("Two batteries")+`))()`)

	// The space browser marks an erased key.
	ba.run("open the spaces", goTo("/spaces"))
	ba.until("the space list", `[...document.querySelectorAll('main a')].some(a => a.textContent === 'community')`)
	ba.run("open community", chromedp.Evaluate(`[...document.querySelectorAll('main a')].find(a => a.textContent === 'community').click()`, nil))
	ba.until("the erased key marked", `[...document.querySelectorAll('table.keys tbody tr')].some(r =>
		r.querySelector('th').textContent === `+js(doorKey)+` && r.querySelector('td.value').textContent === 'erased')`)

	for _, br := range []*browser{ba, bb} {
		if errs := br.jsErrors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %v", br.name, errs)
		}
	}

	// Offline: A's node stopped, the app opened again shows the deletions
	// and the edit, and no erased text.
	da.stop(t)
	ba.run("open the chat offline", goTo("/chat/general"), chromedp.Reload())
	ba.until("the chat, offline", `!document.querySelector('#offline-banner').hidden && document.querySelectorAll('#messages .msg.deleted').length === 2 &&
		`+msgJS(oak2)+` !== undefined && !/4417|at noon|bring cake/.test(document.querySelector('#messages').textContent)`)
	ba.screenshots("chat-offline")
	ba.run("open the tools offline", goTo("/tools"))
	ba.until("the list, offline, no drill", `document.querySelector('#tool-list') !== null &&
		![...document.querySelectorAll('.tool-card')].some(c => c.dataset.tool === `+js(tool)+`)`)
}

// msgJS is a JavaScript expression: the chat message showing text, or
// undefined.
func msgJS(text string) string {
	return `[...document.querySelectorAll('#messages .msg')].find(m => m.querySelector('.text')?.textContent === ` + js(text) + `)`
}

// focus gives the element of the JavaScript expression the focus, as
// Tab would, once it is there.
func focus(el string) chromedp.Action {
	return chromedp.Poll(`(() => { const e = `+el+`; if (!e) return false; e.focus(); return document.activeElement === e })()`, nil,
		chromedp.WithPollingTimeout(40*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))
}

// cachedText is a JavaScript promise: whether a response in the service
// worker's data cache holds text.
func cachedText(text string) string {
	return `(async () => { const c = await caches.open('loam-data-v1');
		for (const r of await c.keys()) { const x = await c.match(r); if (x && (await x.text()).includes(` + js(text) + `)) return true; }
		return false })()`
}

// cachedURL is a JavaScript promise: whether the service worker's data
// cache holds a response for a URL that includes s (decoded).
func cachedURL(s string) string {
	return `(async () => (await (await caches.open('loam-data-v1')).keys()).some(r => decodeURIComponent(r.url).includes(` + js(s) + `)))()`
}

// waitErased waits until a get of key in h says it was erased.
func waitErased(t *testing.T, h *home, space, key string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) { // re-check interval
		r := h.run("", "get", space, key)
		if r.code != 0 && strings.Contains(r.stderr, "was erased by") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("get %s: not erased within 60 s: exit %d, %q %q", key, r.code, r.stdout, r.stderr)
		}
	}
}

// blobOf returns the ID of the blob key's value references.
func blobOf(t *testing.T, h *home, space, key string) string {
	t.Helper()
	var e struct {
		Blob *struct {
			ID string `json:"id"`
		} `json:"blob"`
	}
	h.okJSON(&e, "get", space, key, "--json")
	if e.Blob == nil || e.Blob.ID == "" {
		t.Fatalf("get %s: no blob", key)
	}
	return e.Blob.ID
}

// waitHeld waits until h holds the blob id (held) or no longer does.
func waitHeld(t *testing.T, h *home, id string, held bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) { // re-check interval
		var blobs []struct {
			ID string `json:"id"`
		}
		h.okJSON(&blobs, "blob", "ls", "--json")
		has := false
		for _, bl := range blobs {
			has = has || bl.ID == id
		}
		if has == held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("blob %s: held is %v after 60 s, want %v", id, has, held)
		}
	}
}

// smallPhoto writes a 64x48 PNG, under the 64 KiB above which a value is
// a blob.
func smallPhoto(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(40 + x), uint8(90 + y), 60, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "drill-case.png")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/testkit"
)

// TestBrowserProfiles: Ana's laptop and home server, each with a daemon,
// linked to one identity, and Bob's daemon, in one space. In the browser
// on the laptop the chat shows "Ana" (with her avatar) for the messages of
// either device, a tool the server lists is Ana's, and the members page
// shows Ana as one person with her two devices beneath; Bob's person
// row's Revoke asks to revoke him and all his devices and sends his
// identity ID; renamed in the chat, both devices' messages show the new
// name.
func TestBrowserProfiles(t *testing.T) {
	exe, artifacts := browserTest(t, "three daemons and a browser")
	laptop, server, bob := newHome(t), newHome(t), newHome(t)
	var created struct {
		ID     string `json:"id"`
		Phrase string `json:"phrase"`
	}
	laptop.okJSON(&created, "id", "create", "--name", "Ana", "--device", "laptop", "--json")
	// The server becomes Ana's second device with her phrase (as 'loam id
	// recover' will), before its daemon starts.
	{
		ctx := context.Background()
		n, err := node.Open(ctx, node.Options{Home: server.dir, Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		p, err := identity.ParsePhrase(created.Phrase)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.RecoverIdentity(ctx, p, "Ana", node.IdentityOptions{Device: "home server"}); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var bobID struct {
		ID string `json:"id"`
	}
	bob.okJSON(&bobID, "id", "create", "--name", "Bob", "--json")
	dl := startDaemon(t, laptop, loopbackDaemon...)
	startDaemon(t, server, loopbackDaemon...)
	startDaemon(t, bob, loopbackDaemon...)
	laptop.ok("", "space", "create", "community")
	server.ok("", "join", strings.TrimSpace(laptop.ok("", "invite", "community")))
	bob.ok("", "join", strings.TrimSpace(laptop.ok("", "invite", "community")))

	// Ana's avatar, set on the laptop.
	var img bytes.Buffer
	face := image.NewRGBA(image.Rect(0, 0, 24, 24))
	for i := range 24 {
		face.Set(i, i, color.RGBA{200, 80, 40, 255})
	}
	if err := png.Encode(&img, face); err != nil {
		t.Fatal(err)
	}
	avatar := filepath.Join(t.TempDir(), "ana.png")
	if err := os.WriteFile(avatar, img.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	laptop.ok("", "id", "profile", "--avatar", avatar)

	// The server writes a message; the laptop's browser writes another.
	var st struct{ Author string }
	server.okJSON(&st, "status", "--json")
	server.ok("", "put", "community", fmt.Sprintf("chat/msg/general/%013d-%s", time.Now().UnixMilli(), st.Author), `{"text":"Hello from the home server"}`)
	var bobSt struct{ Author string }
	bob.okJSON(&bobSt, "status", "--json")
	bob.ok("", "put", "community", fmt.Sprintf("chat/msg/general/%013d-%s", time.Now().UnixMilli(), bobSt.Author), `{"text":"Hi, Bob here"}`)

	login := strings.TrimSpace(laptop.ok("", "ui"))
	if !strings.HasPrefix(login, "http://"+dl.info.API+"/login?t=") {
		t.Fatalf("loam ui printed %q", login)
	}
	b := newBrowser(t, "laptop", exe, artifacts)
	b.run("log in", chromedp.Navigate(login), chromedp.WaitVisible(`#me`, chromedp.ByQuery))
	b.until("the person's name in the header", `document.querySelector('#me').textContent === 'Ana'`)
	b.until("the dashboard names this device's person", `document.querySelector('#me-author')?.textContent === 'Ana' && document.querySelector('#me-author code').title.startsWith('aut_')`)
	b.run("open the chat", goTo("/chat/general"))
	b.until("the live stream", `document.querySelector('#live')?.textContent === 'live'`)
	b.until("the name field", `document.querySelector('#nick')?.value === 'Ana'`)
	b.run("send a message", chromedp.SendKeys(`#message`, "Hello from the laptop\r", chromedp.ByQuery))
	byAna := `(text) => [...document.querySelectorAll('#messages .msg')].some(m =>
		m.querySelector('.text').textContent === text && m.querySelector('strong.who').textContent === 'Ana' &&
		m.querySelector('img.avatar')?.naturalWidth === 24)`
	b.until("the laptop's message by Ana", "("+byAna+")('Hello from the laptop')")
	b.until("the server's message by Ana", "("+byAna+")('Hello from the home server')")
	b.until("Bob's message by Bob", `[...document.querySelectorAll('#messages .msg')].some(m =>
		m.querySelector('.text').textContent === 'Hi, Bob here' && m.querySelector('strong.who').textContent === 'Bob' && !m.querySelector('img.avatar'))`)
	b.screenshots("profile-chat")

	// The tool library: a tool the server lists shows Ana as its owner.
	server.ok("", "put", "community", fmt.Sprintf("tools/item/%013d-%s", time.Now().UnixMilli(), st.Author), `{"name":"Ladder","description":"3 m","condition":"good"}`)
	b.run("open the tools", goTo("/tools"))
	b.until("the ladder by Ana", `[...document.querySelectorAll('.tool-card')].some(c => c.querySelector('h3').textContent === 'Ladder' && c.textContent.includes('good · Ana'))`)

	// The members page: Ana, one person with her two devices beneath.
	var id struct{ ID string }
	if err := json.Unmarshal([]byte(server.ok("", "id", "show", "--json")), &id); err != nil || id.ID != created.ID {
		t.Fatalf("the server's identity: %+v, %v", id, err)
	}
	var spaces []struct{ ID, Name string }
	laptop.okJSON(&spaces, "space", "ls", "--json")
	b.run("open the space", goTo("/spaces/"+spaces[0].ID))
	b.until("Ana's person row", `(() => { const r = document.querySelector('#members tr.person[data-member="`+created.ID+`"]');
		if (!r || !r.querySelector('.person-name') || r.querySelector('.person-name').textContent !== 'Ana' || !r.textContent.includes('2 devices') || !r.textContent.includes('(you)')) return false;
		const devs = []; for (let d = r.nextElementSibling; d && d.classList.contains('device'); d = d.nextElementSibling) devs.push(d.textContent);
		return devs.length === 2 && devs.some(d => d.includes('laptop')) && devs.some(d => d.includes('home server')) &&
			r.querySelector('img.avatar')?.naturalWidth === 24; })()`)
	b.run("show the members", chromedp.Evaluate(`document.querySelector('#v-members').scrollIntoView()`, nil))
	b.screenshots("profile-members")
	b.run("revoke Bob",
		chromedp.Evaluate(`window.asked = []; window.revokes = [];
			window.confirm = (q) => { window.asked.push(q); return true; };
			const f = window.fetch; window.fetch = (url, o) => { if (String(url).endsWith('/revoke')) window.revokes.push(o.body); return f(url, o); };
			document.querySelector('#members tr.person[data-member="`+bobID.ID+`"] button').click()`, nil))
	b.until("the question and the request", `window.asked.length === 1 && window.asked[0].startsWith('Revoke Bob (all their devices)?') &&
		window.revokes.length === 1 && JSON.parse(window.revokes[0]).target === `+js(bobID.ID))

	// The chat's name is the profile's: renamed there, every message of
	// either device shows the new name.
	b.run("back to the chat", goTo("/chat/general"))
	b.until("the live stream", `document.querySelector('#live')?.textContent === 'live' && document.querySelector('#nick')?.value === 'Ana'`)
	b.run("rename", chromedp.SetValue(`#nick`, "Ana Lima", chromedp.ByQuery), submit(`#nick`))
	b.until("both devices' messages by Ana Lima", `[...document.querySelectorAll('#messages .msg')].filter(m => m.querySelector('strong.who').textContent === 'Ana Lima').length === 2`)
	var p struct{ Name string }
	if !testkit.Poll(30*time.Second, 50*time.Millisecond, func() bool {
		server.okJSON(&p, "id", "profile", "--json")
		return p.Name == "Ana Lima"
	}) {
		t.Errorf("the server's profile after the rename on the laptop: %+v", p)
	}
	if errs := b.jsErrors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %v", errs)
	}
}

package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/loamdb/loam/internal/node"
)

// lanNode is a node of a home served with a --ui-listen listener on
// loopback, over real TLS.
type lanNode struct {
	t    *testing.T
	home string
	n    *node.Node
	d    *Daemon
	logs *syncBuffer
	hc   *http.Client // TLS 1.3, the node's certificate pinned by SPKI
	base string       // https://127.0.0.1:PORT
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serveLAN opens the node of home and serves it with a --ui-listen
// listener on lanAddr (and the loopback API on a free port, or on
// apiAddr[0]); the test's end closes both.
func serveLAN(t *testing.T, home, lanAddr string, apiAddr ...string) *lanNode {
	t.Helper()
	n, err := node.Open(context.Background(), node.Options{Home: home, Offline: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	addr := "127.0.0.1:0"
	if len(apiAddr) > 0 {
		addr = apiAddr[0]
	}
	d, err := Serve(ctxT(t), n, ServeOptions{Addr: addr, UIListen: lanAddr,
		UI:     fstest.MapFS{"index.html": {Data: []byte("<title>Loam</title>")}, "pair.html": {Data: []byte("<title>Pair</title>")}},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	l := &lanNode{t: t, home: home, n: n, d: d, logs: logs, base: "https://" + d.UIListenAddr()}
	l.hc = pinnedClient(d.UICert().SPKI, tls.VersionTLS13)
	t.Cleanup(l.close)
	return l
}

func (l *lanNode) close() {
	l.d.Close()
	l.n.Close()
	l.hc.CloseIdleConnections()
}

// pinnedClient trusts only the certificate whose public key has the SPKI
// fingerprint, as chromium's --ignore-certificate-errors-spki-list does,
// and speaks TLS maxVersion at most.
func pinnedClient(spki string, maxVersion uint16) *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // verified below, by the pin
			MaxVersion:         maxVersion,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if got := spkiFingerprint(cs.PeerCertificates[0]); got != spki {
					return fmt.Errorf("certificate %s, want %s", got, spki)
				}
				return nil
			},
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request to the listener; hdr "Host" sets the Host header.
func (l *lanNode) do(method, path, body string, hdr map[string]string) (*http.Response, string) {
	l.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, l.base+path, r)
	if err != nil {
		l.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// pairBrowser is a paired browser: its cookies and its page's headers.
type pairBrowser struct {
	cookie string // the Cookie header
	csrf   string
	name   string
}

// pair asks for a code through the loopback API and spends it on the
// listener, as the pair page does.
func (l *lanNode) pair(name string) pairBrowser {
	l.t.Helper()
	p, err := l.d.Client().Pair(ctxT(l.t), name)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.redeem(p.Code)
}

func (l *lanNode) redeem(code string) pairBrowser {
	l.t.Helper()
	resp, body := l.do("POST", "/v1/pair", `{"code":"`+code+`"}`, map[string]string{"Origin": l.base, "Content-Type": "application/json"})
	if resp.StatusCode != 200 {
		l.t.Fatalf("pair with %s: %s %s", code, resp.Status, body)
	}
	var b pairBrowser
	var out Paired
	json.Unmarshal([]byte(body), &out)
	b.name = out.Name
	var cs []string
	for _, c := range resp.Cookies() {
		cs = append(cs, c.Name+"="+c.Value)
		if strings.HasPrefix(c.Name, "__Host-"+csrfCookiePrefix) {
			b.csrf = c.Value
		}
	}
	b.cookie = strings.Join(cs, "; ")
	return b
}

// hdr returns the headers of the paired page's write.
func (b pairBrowser) hdr(l *lanNode) map[string]string {
	return map[string]string{"Cookie": b.cookie, "Origin": l.base, CSRFHeader: b.csrf, "Content-Type": "application/json"}
}

// TestUIListenTLS: the listener speaks TLS 1.3 only, with an ECDSA P-256
// certificate kept in the home (key 0600) whose SPKI fingerprint the API
// reports, and kept over a restart (tlsca_test.go tests when it is made
// again).
func TestUIListenTLS(t *testing.T) {
	home := t.TempDir()
	l := serveLAN(t, home, "127.0.0.1:0")
	resp, _ := l.do("GET", "/", "", nil)
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("GET /: %s %+v", resp.Status, resp.TLS)
	}
	pub, ok := resp.TLS.PeerCertificates[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("certificate key %T, want ECDSA P-256", resp.TLS.PeerCertificates[0].PublicKey)
	}
	assertMode(t, home, UIKeyFile)
	old := pinnedClient(l.d.UICert().SPKI, tls.VersionTLS12)
	if _, err := old.Get(l.base + "/"); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("a TLS 1.2 client: %v, want a protocol version error", err)
	}
	u, err := l.d.Client().LoginURL(ctxT(t))
	if err != nil || u.SPKI != l.d.UICert().SPKI || len(u.UIListen) == 0 || !strings.HasPrefix(u.UIListen[0], "https://127.0.0.1:") {
		t.Errorf("POST /v1/logins: %+v %v", u, err)
	}
	// Restarted, the node keeps its certificate.
	spki := l.d.UICert().SPKI
	l.close()
	l = serveLAN(t, home, "127.0.0.1:0")
	if l.d.UICert().SPKI != spki {
		t.Error("the certificate changed with a restart")
	}
	// The loopback API says so when there is no listener.
	plain := serve(t, false)
	if _, err := plain.c.Pair(ctxT(t), "x"); !errors.Is(err, ErrNoUIListen) || !strings.Contains(err.Error(), "--ui-listen") {
		t.Errorf("pairing without a listener: %v", err)
	}
}

// TestPairing: a code pairs once; a used or expired code is refused; the
// session cookie is Secure, HttpOnly, SameSite=Strict and host-only.
func TestPairing(t *testing.T) {
	l := serveLAN(t, t.TempDir(), "127.0.0.1:0")
	ctx := ctxT(t)
	p, err := l.d.Client().Pair(ctx, "Ana's phone")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Code) != 9 || p.Code[4] != '-' || p.SPKI != l.d.UICert().SPKI || len(p.URLs) == 0 {
		t.Fatalf("pairing %+v", p)
	}
	u, err := url.Parse(p.URLs[0])
	if err != nil || u.Scheme != "https" || u.Path != "/pair.html" || u.RawQuery != "" || !strings.Contains(u.Fragment, "code="+normalCode(p.Code)) || !strings.Contains(u.Fragment, "fp=") {
		t.Fatalf("pairing URL %q: the code and fingerprint go in the fragment", p.URLs[0])
	}
	// Typed by hand: lower case, without the dash.
	resp, body := l.do("POST", "/v1/pair", `{"code":"`+strings.ToLower(strings.ReplaceAll(p.Code, "-", " "))+`"}`, map[string]string{"Origin": l.base})
	if resp.StatusCode != 200 || !strings.Contains(body, `"name":"Ana's phone"`) {
		t.Fatalf("pair: %s %s", resp.Status, body)
	}
	var session string
	for _, set := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(set, "__Host-"+sessionCookiePrefix) {
			session = set
		}
	}
	for _, want := range []string{"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(session, "Domain=") {
		t.Errorf("session cookie %q has a Domain", session)
	}
	// Used: refused, with what to do.
	resp, body = l.do("POST", "/v1/pair", `{"code":"`+p.Code+`"}`, map[string]string{"Origin": l.base})
	if resp.StatusCode != 403 || !strings.Contains(body, "bad_pair_code") || !strings.Contains(body, "already used") {
		t.Errorf("a used code: %s %s", resp.Status, body)
	}
	// Expired: refused.
	now := time.Now()
	l.d.s.phone.pair.now = func() time.Time { return now }
	p2, err := l.d.Client().Pair(ctx, "tablet")
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(PairTTL)
	resp, body = l.do("POST", "/v1/pair", `{"code":"`+p2.Code+`"}`, map[string]string{"Origin": l.base})
	if resp.StatusCode != 403 || !strings.Contains(body, "expired") {
		t.Errorf("an expired code: %s %s", resp.Status, body)
	}
	// Without the own Origin (another site's form, or no browser): refused.
	p3, _ := l.d.Client().Pair(ctx, "tablet")
	for _, o := range []string{"", "https://evil.example", "null"} {
		resp, body = l.do("POST", "/v1/pair", `{"code":"`+p3.Code+`"}`, map[string]string{"Origin": o})
		if resp.StatusCode != 403 || len(resp.Cookies()) != 0 {
			t.Errorf("pairing from origin %q: %s %s", o, resp.Status, body)
		}
	}
	if b := l.redeem(p3.Code); b.name != "tablet" {
		t.Errorf("the code after refused tries: %+v", b)
	}
}

// TestPairLock: five wrong codes lock pairing for a minute, right codes
// included, and the daemon logs it once.
func TestPairLock(t *testing.T) {
	l := serveLAN(t, t.TempDir(), "127.0.0.1:0")
	now := time.Now()
	l.d.s.phone.pair.now = func() time.Time { return now }
	p, err := l.d.Client().Pair(ctxT(t), "phone")
	if err != nil {
		t.Fatal(err)
	}
	try := func(code string) (int, string) {
		resp, body := l.do("POST", "/v1/pair", `{"code":"`+code+`"}`, map[string]string{"Origin": l.base})
		return resp.StatusCode, body
	}
	for i := range PairTries {
		if st, body := try(fmt.Sprintf("WRONG%03d", i)); st != 403 || !strings.Contains(body, "wrong") {
			t.Fatalf("wrong code %d: %d %s", i, st, body)
		}
	}
	if st, body := try(p.Code); st != 429 || !strings.Contains(body, "pairing_locked") {
		t.Errorf("the right code while locked: %d %s", st, body)
	}
	if n := strings.Count(l.logs.String(), "pairing locked"); n != 1 {
		t.Errorf("%d log lines of the lock, want 1:\n%s", n, l.logs.String())
	}
	now = now.Add(PairLock)
	if st, body := try(p.Code); st != 200 {
		t.Errorf("the right code after the lock: %d %s", st, body)
	}
}

// TestUIListenSecurity: on the listener, a foreign Host or Origin is
// refused (DNS rebinding), the API token is not accepted, every write
// needs the own Origin and the session's CSRF token, and login links and
// pairing codes are the loopback API's only.
func TestUIListenSecurity(t *testing.T) {
	l := serveLAN(t, t.TempDir(), "127.0.0.1:0")
	b := l.pair("phone")
	port := l.base[strings.LastIndex(l.base, ":")+1:]
	ck := map[string]string{"Cookie": b.cookie}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	w := b.hdr(l)
	for _, c := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		want                     int
	}{
		{"GET with the session", "GET", "/v1/spaces", "", ck, 200},
		{"localhost Host", "GET", "/v1/spaces", "", with(ck, "Host", "localhost:"+port), 200},
		{"no session", "GET", "/v1/spaces", "", nil, 401},
		{"the page without a session", "GET", "/", "", nil, 200},
		{"foreign Host", "GET", "/v1/spaces", "", with(ck, "Host", "evil.example:"+port), 403},
		{"rebinding Host, the page", "GET", "/", "", map[string]string{"Host": "attacker.example:" + port}, 403},
		{"own address, another port", "GET", "/v1/spaces", "", with(ck, "Host", "127.0.0.1:1"), 403},
		{"foreign Origin on a GET", "GET", "/v1/spaces", "", with(ck, "Origin", "https://evil.example"), 403},
		{"http Origin", "GET", "/v1/spaces", "", with(ck, "Origin", "http://"+l.d.UIListenAddr()), 403},
		{"the API token", "GET", "/v1/spaces", "", map[string]string{"Authorization": "Bearer " + l.d.Token()}, 403},
		{"write with Origin and token", "POST", "/v1/spaces", `{"name":"a"}`, w, 201},
		{"write without the CSRF token", "POST", "/v1/spaces", `{"name":"b"}`, with(w, CSRFHeader, ""), 403},
		{"write with another CSRF token", "POST", "/v1/spaces", `{"name":"b"}`, with(w, CSRFHeader, "1"), 403},
		{"write without Origin", "POST", "/v1/spaces", `{"name":"b"}`, with(w, "Origin", ""), 403},
		{"cross-site write", "POST", "/v1/spaces", `{"name":"b"}`, with(w, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 403},
		{"DELETE without the CSRF token", "DELETE", "/v1/spaces/a/keys/k", "", with(w, CSRFHeader, ""), 403},
		{"a login link", "GET", "/login?t=" + l.d.s.NewLogin(), "", nil, 403},
		{"pairing codes", "POST", "/v1/pairings", `{"name":"x"}`, w, 403},
		{"login links", "POST", "/v1/logins", "", w, 403},
		{"a new identity (its phrase)", "POST", "/v1/identity", `{"name":"Eve"}`, w, 403},
		{"a link ticket", "POST", "/v1/identity/link", `{}`, w, 403},
		{"revoking a device", "POST", "/v1/identity/devices/revoke", `{"device":"laptop"}`, w, 403},
		{"recovering an identity", "POST", "/v1/identity/recover", `{"phrase":"x"}`, w, 403},
		{"what leaving a space loses", "GET", "/v1/spaces/a/leave", "", ck, 200},
		{"leaving a space", "POST", "/v1/spaces/a/leave", "", w, 403},
		{"token in the URL", "GET", "/v1/spaces?token=" + l.d.Token(), "", ck, 401},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			resp, body := l.do(c.method, c.path, c.body, c.hdr)
			if resp.StatusCode != c.want {
				t.Errorf("%s %s: %s %s, want %d", c.method, c.path, resp.Status, body, c.want)
			}
			for k := range resp.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("CORS header %s", k)
				}
			}
		})
	}
	// The request body limit (through the handler: over a connection,
	// the server lingers on it after the refusal), lowered to 1 MiB.
	l.d.s.phone.maxBody = 1 << 20
	req := httptest.NewRequest("PUT", l.base+"/v1/spaces/a/keys/big", io.LimitReader(zeros{}, 1<<20+1))
	for k, v := range w {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	rec := httptest.NewRecorder()
	lanHandler{l.d.s}.ServeHTTP(rec, req)
	if rec.Code < 400 {
		t.Errorf("a body over LANMaxBody: %d %s", rec.Code, rec.Body)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSessionsDurable: a paired session and a login session survive a
// restart of the daemon with the same home; the sessions file holds no
// secret; a revoked session's next request gets 401 session_revoked,
// saying why and how to pair again, also after a restart.
func TestSessionsDurable(t *testing.T) {
	home := t.TempDir()
	l := serveLAN(t, home, "127.0.0.1:0")
	ctx := ctxT(t)
	b := l.pair("Ana's phone")
	b2 := l.pair("Ana's phone")
	if b2.name != "Ana's phone (2)" {
		t.Errorf("a second session of the same name is named %q", b2.name)
	}
	if resp, body := l.do("GET", "/v1/sessions", "", map[string]string{"Cookie": b.cookie}); resp.StatusCode != 200 || !strings.Contains(body, `"current":true`) {
		t.Errorf("GET /v1/sessions from the phone: %s %s", resp.Status, body)
	}
	// A browser on the node's machine, logged in by a login link.
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nr.Get(l.d.LoginURL())
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	var local []string
	for _, c := range resp.Cookies() {
		local = append(local, c.Name+"="+c.Value)
	}
	spki, addr, api := l.d.UICert().SPKI, l.d.UIListenAddr(), l.d.Addr()
	l.close()

	l = serveLAN(t, home, addr, api) // the same ports: cookies are per port
	req, _ := http.NewRequest("GET", "http://"+api+"/v1/spaces", nil)
	req.Header.Set("Cookie", strings.Join(local, "; "))
	if resp, err := nr.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("the login link's session after the restart: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	raw, err := os.ReadFile(filepath.Join(home, SessionsFile))
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, home, SessionsFile)
	for _, part := range strings.Split(b.cookie, "; ") {
		_, v, _ := strings.Cut(part, "=")
		if strings.Contains(string(raw), v) {
			t.Errorf("the sessions file holds a cookie's value")
		}
	}
	l.hc = pinnedClient(spki, tls.VersionTLS13) // the same pin still works
	if resp, body := l.do("POST", "/v1/spaces", `{"name":"after"}`, b.hdr(l)); resp.StatusCode != 201 {
		t.Fatalf("a write after the restart: %s %s", resp.Status, body)
	}
	ss, err := l.d.Client().Sessions(ctx)
	if err != nil || len(ss) != 3 || ss[0].Via != viaLAN || ss[0].Addr != "127.0.0.1" {
		t.Fatalf("sessions %+v %v", ss, err)
	}
	// A watch stream of the phone, open when it is revoked, ends.
	req, _ = http.NewRequest("GET", l.base+"/v1/spaces/after/watch", nil)
	req.Header.Set("Cookie", b.cookie)
	stream, err := l.hc.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("watch: %v %v", stream, err)
	}
	ended := make(chan struct{})
	go func() { // ends when the stream does
		io.Copy(io.Discard, stream.Body)
		stream.Body.Close()
		close(ended)
	}()
	if err := l.d.Client().RevokeSession(ctx, "Ana's phone"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the revoked phone's watch stream still runs")
	}
	if err := l.d.Client().RevokeSession(ctx, "Ana's phone"); !errors.Is(err, ErrNoSession) {
		t.Errorf("revoking it again: %v", err)
	}
	check := func() {
		t.Helper()
		resp, body := l.do("GET", "/v1/status", "", map[string]string{"Cookie": b.cookie})
		var e ErrorBody
		json.Unmarshal([]byte(body), &e)
		if resp.StatusCode != 401 || e.Code != "session_revoked" || !strings.Contains(e.Error, "revoked") || !strings.Contains(e.Error, "loam pair") {
			t.Errorf("a revoked session: %s %s", resp.Status, body)
		}
	}
	check()
	if resp, _ := l.do("GET", "/v1/status", "", map[string]string{"Cookie": b2.cookie}); resp.StatusCode != 200 {
		t.Errorf("the other session after the revocation: %s", resp.Status)
	}
	l.close()
	l = serveLAN(t, home, addr, api)
	check()
}

// TestLimitListener: the listener holds at most n connections; the next
// is accepted once one closes; Close ends a waiting Accept.
func TestLimitListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(ln, 2)
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	if len(l.sem) != cap(l.sem) {
		t.Fatalf("%d tokens taken by 2 connections of 2", len(l.sem))
	}
	third := make(chan error, 1)
	go func() { // ends with the third Accept
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		third <- err
	}()
	a.Close()
	a.Close() // twice: the token is given back once
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not accepted when one closed")
	}
	waiting := make(chan error, 1)
	go func() { // ends when Close ends it: the limit is reached again
		l.sem <- struct{}{}
		_, err := l.Accept()
		waiting <- err
	}()
	l.Close()
	if err := <-waiting; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}

package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// noRedirect returns f's client that stops at redirects.
func noRedirect(f *fixture) *http.Client {
	c := *f.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// login spends a login URL of f's server and returns the session cookie.
func login(t *testing.T, f *fixture) *http.Cookie {
	t.Helper()
	u := f.server.LoginURL(strings.TrimPrefix(f.srv.URL, "http://"))
	resp, err := noRedirect(f).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s %s", resp.Status, body)
	}
	cs := resp.Cookies()
	if len(cs) != 2 || !strings.HasPrefix(cs[0].Name, sessionCookiePrefix) || !strings.HasPrefix(cs[1].Name, csrfCookiePrefix) {
		t.Fatalf("login set cookies %v: want the session's and the CSRF token's", cs)
	}
	return cs[0]
}

func TestLoginURL(t *testing.T) {
	f := serve(t, false)
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	u := f.server.LoginURL(addr)
	if !strings.HasPrefix(u, "http://"+addr+"/login?t=") || len(u) != len("http://"+addr+"/login?t=")+64 {
		t.Fatalf("login URL %q", u)
	}
	c := noRedirect(f)
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s", resp.Status)
	}
	set := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"loam_session_" + port + "=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Error("the login answer lets the secret leak in Referer")
	}
	// Single use.
	resp, err = c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "loam ui") {
		t.Errorf("second use: %s %s", resp.Status, body)
	}
	// A guessed secret, none, and a foreign Host.
	for _, q := range []string{"/login?t=" + strings.Repeat("0", 64), "/login", "/login?t="} {
		resp := request(t, f, "GET", q, "", nil)
		if readBody(t, resp); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("GET %s: %s", q, resp.Status)
		}
	}
	u2, _ := url.Parse(f.server.LoginURL(addr))
	resp = request(t, f, "GET", u2.RequestURI(), "", map[string]string{"Host": "evil.example:" + port})
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("login with a foreign Host: %s", resp.Status)
	}
	for _, m := range []string{"POST", "HEAD"} {
		resp = request(t, f, m, u2.RequestURI(), "", nil)
		if readBody(t, resp); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /login: %s", m, resp.Status)
		}
	}
	// Neither spent the secret.
	resp, err = c.Get(u2.String())
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the login URL after a POST and a HEAD: %s", resp.Status)
	}

	// Expiry: a login URL older than LoginTTL is refused, and so is a
	// session older than SessionTTL.
	now := time.Now()
	f.server.sess.now = func() time.Time { return now }
	old := f.server.LoginURL(addr)
	cookie := login(t, f)
	now = now.Add(LoginTTL + time.Second)
	resp, err = c.Get(old)
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired login URL: %s", resp.Status)
	}
	now = now.Add(SessionTTL)
	resp = request(t, f, "GET", "/v1/spaces", "", map[string]string{"Cookie": cookie.Name + "=" + cookie.Value})
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Errorf("expired session: %s %s", resp.Status, body)
	}

	// POST /v1/logins makes a fresh URL for the Host asked.
	lu, err := f.c.LoginURL(ctxT(t))
	if err != nil || !strings.HasPrefix(lu.URL, "http://"+addr+"/login?t=") || lu.Expires == "" {
		t.Errorf("POST /v1/logins: %+v %v", lu, err)
	}
}

func TestSessionSecurity(t *testing.T) {
	f := serve(t, false)
	cookie := login(t, f)
	port := f.srv.URL[strings.LastIndex(f.srv.URL, ":")+1:]
	own := "http://127.0.0.1:" + port
	ck := cookie.Name + "=" + cookie.Value
	checkRequests(t, f, []requestCase{
		{"GET with the cookie", "GET", "/v1/spaces", "", map[string]string{"Cookie": ck}, 200},
		{"same-origin fetch", "GET", "/v1/spaces", "", map[string]string{"Cookie": ck, "Sec-Fetch-Site": "same-origin"}, 200},
		{"typed URL", "GET", "/v1/status", "", map[string]string{"Cookie": ck, "Sec-Fetch-Site": "none"}, 200},
		{"metrics with the cookie", "GET", "/metrics", "", map[string]string{"Cookie": ck}, 200},
		{"wrong cookie", "GET", "/v1/spaces", "", map[string]string{"Cookie": cookie.Name + "=" + strings.Repeat("a", 64)}, 401},
		{"another port's cookie", "GET", "/v1/spaces", "", map[string]string{"Cookie": "loam_session_1=" + cookie.Value}, 401},
		{"cookie and a wrong token", "GET", "/v1/spaces", "", map[string]string{"Cookie": ck, "Authorization": "Bearer " + strings.Repeat("0", 64)}, 403},
		{"cookie and a foreign Host", "GET", "/v1/spaces", "", map[string]string{"Cookie": ck, "Host": "evil.example:" + port}, 403},
		{"cookie and a token in the query string", "GET", "/v1/spaces?token=" + f.token, "", map[string]string{"Cookie": ck}, 401},
		{"cross-site GET", "GET", "/v1/spaces", "", map[string]string{"Cookie": ck, "Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site GET (another port)", "GET", "/v1/spaces", "", map[string]string{"Cookie": ck, "Sec-Fetch-Site": "same-site"}, 403},
		{"POST without Origin or header", "POST", "/v1/spaces", `{"name":"a"}`, map[string]string{"Cookie": ck}, 403},
		{"cross-origin POST with the header", "POST", "/v1/spaces", `{"name":"a"}`, map[string]string{"Cookie": ck, CSRFHeader: "1", "Origin": "http://evil.example"}, 403},
		{"other-port POST", "POST", "/v1/spaces", `{"name":"a"}`, map[string]string{"Cookie": ck, "Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"}, 403},
		{"form POST from another site", "POST", "/v1/spaces", `name=a`, map[string]string{"Cookie": ck, "Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"}, 403},
		{"DELETE without the header", "DELETE", "/v1/spaces/x/keys/k", "", map[string]string{"Cookie": ck}, 403},
		{"same-origin POST", "POST", "/v1/spaces", `{"name":"a"}`, map[string]string{"Cookie": ck, "Origin": own, "Sec-Fetch-Site": "same-origin"}, 201},
		{"POST with the header", "POST", "/v1/spaces", `{"name":"b"}`, map[string]string{"Cookie": ck, CSRFHeader: "1"}, 201},
	}, nil)
}

func TestServeUI(t *testing.T) {
	f := serve(t, false)
	f.server.ServeUI(fstest.MapFS{
		"index.html": {Data: []byte("<!doctype html><title>Loam</title>")},
		"js/app.js":  {Data: []byte("export {};")},
	})
	port := f.srv.URL[strings.LastIndex(f.srv.URL, ":")+1:]
	for _, c := range []struct {
		name, method, path string
		hdr                map[string]string
		want               int
		body               string
	}{
		{"index without a session", "GET", "/", nil, 200, "<title>Loam</title>"},
		{"a module", "GET", "/js/app.js", nil, 200, "export"},
		{"a missing file", "GET", "/nope.js", nil, 404, ""},
		{"a foreign Host", "GET", "/", map[string]string{"Host": "evil.example:" + port}, 403, ""},
		{"POST to a file", "POST", "/", nil, 405, ""},
		{"the API still needs a token", "GET", "/v1/spaces", nil, 401, ""},
		{"and so do the metrics", "GET", "/metrics", nil, 401, ""},
		{"/v1 itself is the API's", "GET", "/v1", nil, 401, ""},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			resp := request(t, f, c.method, c.path, "", c.hdr)
			body := readBody(t, resp)
			if resp.StatusCode != c.want || !strings.Contains(body, c.body) {
				t.Errorf("%s %s: %s %q", c.method, c.path, resp.Status, body)
			}
			if resp.StatusCode == 200 {
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("Content-Security-Policy %q", csp)
				}
				if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
					t.Errorf("headers %v", resp.Header)
				}
			}
		})
	}
}

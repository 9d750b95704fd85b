package api

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// request sends a request to f's API with the headers given; "Host" sets
// the Host header.
func request(t *testing.T, f *fixture, method, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// withToken adds f's token to hdr.
func withToken(f *fixture, hdr map[string]string) map[string]string {
	out := map[string]string{"Authorization": "Bearer " + f.token}
	for k, v := range hdr {
		out[k] = v
	}
	return out
}

func get(t *testing.T, f *fixture, path string, hdr map[string]string) *http.Response {
	t.Helper()
	return request(t, f, "GET", path, "", withToken(f, hdr))
}

func post(t *testing.T, f *fixture, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	return request(t, f, "POST", path, body, withToken(f, hdr))
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertMode(t *testing.T, dir, name string) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestSecurity(t *testing.T) {
	f := serve(t, false)
	port := f.srv.URL[strings.LastIndex(f.srv.URL, ":")+1:]
	own := "http://127.0.0.1:" + port
	bearer := "Bearer " + f.token
	checkRequests(t, f, []requestCase{
		{"no token", "GET", "/v1/spaces", "", nil, 401},
		{"not bearer", "GET", "/v1/spaces", "", map[string]string{"Authorization": "Basic " + f.token}, 401},
		{"wrong token", "GET", "/v1/spaces", "", map[string]string{"Authorization": "Bearer " + strings.Repeat("0", 64)}, 403},
		{"short token", "GET", "/v1/spaces", "", map[string]string{"Authorization": "Bearer x"}, 403},
		{"foreign Host with the token", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer, "Host": "evil.example"}, 403},
		{"rebinding Host with the token", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer, "Host": "attacker.example:" + port}, 403},
		{"0.0.0.0 Host", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer, "Host": "0.0.0.0:" + port}, 403},
		{"token in the query string", "GET", "/v1/spaces?token=" + f.token, "", nil, 401},
		{"access_token in the query string", "GET", "/v1/spaces?access_token=" + f.token, "", nil, 401},
		{"token in the query string and header", "GET", "/v1/spaces?token=" + f.token, "", map[string]string{"Authorization": bearer}, 401},
		{"cross-origin POST", "POST", "/v1/spaces", `{"name":"x"}`, map[string]string{"Authorization": bearer, "Origin": "http://evil.example"}, 403},
		{"null-origin POST", "POST", "/v1/spaces", `{"name":"x"}`, map[string]string{"Authorization": bearer, "Origin": "null"}, 403},
		{"cross-origin PUT", "PUT", "/v1/spaces/garden/keys/k", "v", map[string]string{"Authorization": bearer, "Origin": "http://localhost:1"}, 403},
		{"cross-origin DELETE", "DELETE", "/v1/spaces/garden/keys/k", "", map[string]string{"Authorization": bearer, "Origin": "https://evil.example"}, 403},
		{"GET with the token", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer}, 200},
		{"lowercase bearer", "GET", "/v1/spaces", "", map[string]string{"Authorization": "bearer " + f.token}, 200},
		{"localhost Host", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer, "Host": "localhost:" + port}, 200},
		{"IPv6 loopback Host", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer, "Host": "[::1]:" + port}, 200},
		{"Host without port", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer, "Host": "localhost"}, 200},
		{"cross-origin GET (unreadable without CORS)", "GET", "/v1/spaces", "", map[string]string{"Authorization": bearer, "Origin": "http://evil.example"}, 200},
		{"same-origin POST", "POST", "/v1/spaces", `{"name":"garden"}`, map[string]string{"Authorization": bearer, "Origin": own}, 201},
		{"no-origin POST", "POST", "/v1/spaces", `{"name":"chat"}`, map[string]string{"Authorization": bearer}, 201},
		{"preflight", "OPTIONS", "/v1/spaces", "", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 401},
	}, func(t *testing.T, resp *http.Response, body string) {
		if resp.StatusCode >= 400 && !strings.HasPrefix(body, `{"error":"`) {
			t.Errorf("error body %q", body)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	})
}

// requestCase is one request of a table-driven API security test.
type requestCase struct {
	name         string
	method, path string
	body         string
	hdr          map[string]string
	want         int // the status
}

// checkRequests sends each case as a subtest and checks its status, that
// no CORS header is ever sent, and what more, if set, checks.
func checkRequests(t *testing.T, f *fixture, cases []requestCase, more func(*testing.T, *http.Response, string)) {
	t.Helper()
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			resp := request(t, f, c.method, c.path, c.body, c.hdr)
			body := readBody(t, resp)
			if resp.StatusCode != c.want {
				t.Errorf("%s %s: %s %s, want %d", c.method, c.path, resp.Status, body, c.want)
			}
			for k := range resp.Header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("CORS header %s: %s", k, resp.Header.Get(k))
				}
			}
			if more != nil {
				more(t, resp, body)
			}
		})
	}
}

func TestLoopbackHost(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST:1": true, "127.0.0.1": true, "127.0.0.1:7777": true, "[::1]": true, "[::1]:7777": true,
		"::1": true, "127.0.0.2:7777": false, "0.0.0.0:7777": false, "example.com": false, "localhost.example.com:80": false,
		"": false, "[::]:7777": false, "192.168.1.2:7777": false,
	} {
		if got := LoopbackHost(h); got != want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", h, got, want)
		}
	}
}

package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"sync"
	"time"
)

// Browser sessions. A browser cannot be given the API token safely (it
// would sit in a page's JavaScript), so the daemon prints a one-time login
// URL instead, as Jupyter does; visiting it sets a session cookie. See the
// package doc, "Browsers".
const (
	// LoginTTL is how long a login URL stays valid if unused.
	LoginTTL = 15 * time.Minute
	// SessionTTL is how long a browser session lasts. Sessions live in the
	// daemon's memory: a restart ends them all.
	SessionTTL = 7 * 24 * time.Hour
	// CSRFHeader is the header a browser write authenticated by the session
	// cookie must carry (any value), unless its Origin is the API's own. A
	// page of another origin cannot send it: a custom header needs a CORS
	// preflight, which the API never grants.
	CSRFHeader = "X-Loam-Request"
	// sessionCookiePrefix starts the cookie's name; the API's port ends it,
	// since browsers share cookies between the ports of a host.
	sessionCookiePrefix = "loam_session_"
	// maxPending bounds the unused login URLs and the sessions held, so a
	// client that asks for logins in a loop cannot grow memory forever.
	maxPending = 1024
)

// sessions holds one-time login secrets and browser sessions, both by the
// SHA-256 of their secret (so lookups compare no secret byte by byte).
type sessions struct {
	mu       sync.Mutex
	logins   map[[32]byte]time.Time // unused login secrets → expiry; guarded by mu
	sessions map[[32]byte]time.Time // session cookies → expiry; guarded by mu
	now      func() time.Time       // time.Now but in tests
}

func newSessions() *sessions {
	return &sessions{logins: map[[32]byte]time.Time{}, sessions: map[[32]byte]time.Time{}, now: time.Now}
}

func secret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// add stores the hash of a new secret in m with expiry ttl from now, first
// dropping expired entries, and the oldest if m is full.
func (ss *sessions) add(m map[[32]byte]time.Time, ttl time.Duration) string {
	sec := secret()
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var oldest [32]byte
	var oldestExp time.Time
	for k, exp := range m {
		if !now.Before(exp) {
			delete(m, k)
		} else if oldestExp.IsZero() || exp.Before(oldestExp) {
			oldest, oldestExp = k, exp
		}
	}
	if len(m) >= maxPending {
		delete(m, oldest)
	}
	m[sha256.Sum256([]byte(sec))] = now.Add(ttl)
	return sec
}

// take reports whether sec is an unexpired entry of m, and removes it if
// once.
func (ss *sessions) take(m map[[32]byte]time.Time, sec string, once bool) bool {
	h := sha256.Sum256([]byte(sec))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := m[h]
	if !ok {
		return false
	}
	valid := now.Before(exp)
	if once || !valid {
		delete(m, h)
	}
	return valid
}

// NewLogin returns a new one-time login secret, valid for LoginTTL.
func (s *Server) NewLogin() string { return s.sess.add(s.sess.logins, LoginTTL) }

// LoginURL returns a new one-time login URL for the API served at addr
// (host:port), as 'loam daemon' prints it.
func (s *Server) LoginURL(addr string) string {
	return "http://" + addr + "/login?t=" + s.NewLogin()
}

// cookieName is the session cookie's name for a request to host (a Host
// header).
func cookieName(host string) string {
	_, port, err := net.SplitHostPort(host)
	if err != nil || port == "" {
		port = "80"
	}
	return sessionCookiePrefix + port
}

// sessionOf reports whether r carries a valid session cookie.
func (s *Server) sessionOf(r *http.Request) (present, valid bool) {
	c, err := r.Cookie(cookieName(r.Host))
	if err != nil || c.Value == "" {
		return false, false
	}
	return true, s.sess.take(s.sess.sessions, c.Value, false)
}

// login serves GET /login?t=SECRET: a valid, unused, unexpired secret is
// spent, a session starts, and the browser goes to the UI with the cookie.
// The Host was checked by ServeHTTP.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	// Only GET spends the secret: not HEAD, which link checkers send.
	if r.Method != http.MethodGet {
		h.Set("Allow", "GET")
		writeErrorStatus(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET /login?t=SECRET, the URL 'loam daemon' printed")
		return
	}
	if !s.sess.take(s.sess.logins, r.URL.Query().Get("t"), true) {
		if _, valid := s.sessionOf(r); valid {
			// Already logged in, e.g. the link opened twice.
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, loginFailedPage, html.EscapeString(r.Host))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(r.Host),
		Value:    s.sess.add(s.sess.sessions, SessionTTL),
		Path:     "/",
		MaxAge:   int(SessionTTL / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

const loginFailedPage = `<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Loam: login link not valid</title>
<body style="font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5">
<h1>This login link is not valid</h1>
<p>A login link works once, for 15 minutes. Get a new one for %s with
<code>loam ui</code> on this device, or restart <code>loam daemon</code>, which prints one.</p>
</body></html>
`

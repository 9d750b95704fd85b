package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Browser sessions. A browser cannot be given the API token safely (it
// would sit in a page's JavaScript), so the daemon prints a one-time login
// URL instead, as Jupyter does, and 'loam pair' a one-time pairing code for
// the --ui-listen listener; spending either starts a session: a cookie
// holding a random secret. Sessions are durable, named and revocable: they
// are kept in the home's SessionsFile (the hash of each secret only),
// survive daemon restarts, and last until revoked or unused for
// SessionTTL. See the package doc, "Browsers".
const (
	// LoginTTL is how long a login URL stays valid if unused.
	LoginTTL = 15 * time.Minute
	// SessionTTL is how long a browser session lasts unused; each use
	// starts it again.
	SessionTTL = 90 * 24 * time.Hour
	// cookieMaxAge is the session cookie's lifetime in the browser, the
	// longest browsers keep one (400 days): the daemon ends the session
	// itself when it is unused for SessionTTL.
	cookieMaxAge = 400 * 24 * time.Hour
	// CSRFHeader is the header a browser write authenticated by the session
	// cookie must carry: on the loopback listener any value, unless its
	// Origin is the API's own; on the --ui-listen listener the session's
	// CSRF token (its cookie csrfCookiePrefix…), and the own Origin too. A
	// page of another origin cannot send it: a custom header needs a CORS
	// preflight, which the API never grants.
	CSRFHeader = "X-Loam-Request"
	// sessionCookiePrefix starts the cookie's name; the API's port ends it,
	// since browsers share cookies between the ports of a host. On the
	// --ui-listen listener the name also starts with "__Host-", which
	// browsers accept only from HTTPS, for the host alone.
	sessionCookiePrefix = "loam_session_"
	// csrfCookiePrefix starts the name of the cookie that hands the page
	// its CSRF token (readable by the page's script, unlike the session).
	csrfCookiePrefix = "loam_csrf_"
	hostCookiePrefix = "__Host-"
	// maxPending bounds the unused login URLs held, so a client that asks
	// for logins in a loop cannot grow memory forever.
	maxPending = 1024
	// touchEvery is how stale a session's last use may be on disk: a use
	// is written to the sessions file when the one written is older.
	touchEvery = time.Hour
)

// session is one live browser session.
type session struct {
	name     string
	created  time.Time
	lastUsed time.Time
	saved    time.Time // lastUsed as last written to the file
	addr     string    // the browser's IP address at its last use
	via      string    // viaLoopback or viaLAN
}

// gone is a session that ended, remembered for goneTTL to tell its
// browser why.
type gone struct {
	name string
	at   time.Time
	why  string // goneRevoked or goneExpired
}

// sessions holds one-time login secrets and browser sessions, both by the
// SHA-256 of their secret (so lookups compare no secret byte by byte).
type sessions struct {
	home string // where SessionsFile is kept; "" keeps sessions in memory only

	// fileMu serializes writes of the file; taken before mu, never after.
	fileMu sync.Mutex

	mu     sync.Mutex
	logins map[[32]byte]time.Time // unused login secrets → expiry; guarded by mu
	live   map[[32]byte]*session  // live sessions; guarded by mu
	ended  map[[32]byte]gone      // revoked and expired sessions; guarded by mu
	now    func() time.Time       // time.Now but in tests
	dirty  bool                   // a change not yet written; guarded by mu
	// bound are the requests in flight per session, ended when it is
	// revoked; guarded by mu.
	bound  map[[32]byte]map[uint64]context.CancelFunc
	nextID uint64 // guarded by mu
}

func newSessions() *sessions {
	return &sessions{logins: map[[32]byte]time.Time{}, live: map[[32]byte]*session{}, ended: map[[32]byte]gone{},
		bound: map[[32]byte]map[uint64]context.CancelFunc{}, now: time.Now}
}

// openSessions returns the sessions kept in home (see SessionsFile).
func openSessions(home string) (*sessions, error) {
	ss := newSessions()
	ss.home = home
	d, err := loadSessions(home)
	if err != nil {
		return nil, err
	}
	for _, s := range d.Sessions {
		h, _ := parseHash(s.Hash) // checked by decodeSessions
		ss.live[h] = &session{name: s.Name, created: s.Created, lastUsed: s.LastUsed, saved: s.LastUsed, addr: s.Addr, via: s.Via}
	}
	for _, g := range d.Gone {
		h, _ := parseHash(g.Hash)
		ss.ended[h] = gone{name: g.Name, at: g.At, why: g.Why}
	}
	return ss, nil
}

func secret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashOf(sec string) [32]byte { return sha256.Sum256([]byte(sec)) }

// csrfToken returns the CSRF token of the session whose secret is sec: a
// hash of it, so the daemon keeps nothing more, and a page that cannot
// read the session cookie cannot compute it.
func csrfToken(sec string) string {
	h := sha256.Sum256([]byte("loam csrf token\x00" + sec))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// NewLogin returns a new one-time login secret, valid for LoginTTL.
func (s *Server) NewLogin() string { return s.sess.newLogin() }

func (ss *sessions) newLogin() string {
	sec := secret()
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	maps.DeleteFunc(ss.logins, func(_ [32]byte, exp time.Time) bool { return !now.Before(exp) })
	if len(ss.logins) >= maxPending {
		delete(ss.logins, oldest(ss.logins, func(exp time.Time) time.Time { return exp }))
	}
	ss.logins[hashOf(sec)] = now.Add(LoginTTL)
	return sec
}

// takeLogin reports whether sec is an unexpired login secret, and spends
// it.
func (ss *sessions) takeLogin(sec string) bool {
	h := hashOf(sec)
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.logins[h]
	if !ok {
		return false
	}
	delete(ss.logins, h)
	return now.Before(exp)
}

// expireLocked moves the sessions unused for SessionTTL to ended, and
// forgets ended ones older than goneTTL. It reports whether it changed
// anything. ss.mu must be held.
func (ss *sessions) expireLocked(now time.Time) (changed bool) {
	defer func() { ss.dirty = ss.dirty || changed }()
	for h, s := range ss.live {
		if now.Sub(s.lastUsed) >= SessionTTL {
			delete(ss.live, h)
			ss.ended[h] = gone{name: s.name, at: s.lastUsed.Add(SessionTTL), why: goneExpired}
			changed = true
		}
	}
	for h, g := range ss.ended {
		if now.Sub(g.at) >= goneTTL {
			delete(ss.ended, h)
			changed = true
		}
	}
	return changed
}

// nameFree returns name, or name with " (2)", " (3)"… after it if a live
// session has it. ss.mu must be held.
func (ss *sessions) nameFree(name string) string {
	taken := map[string]bool{}
	for _, s := range ss.live {
		taken[s.name] = true
	}
	if !taken[name] {
		return name
	}
	for i := 2; ; i++ {
		suffix := " (" + strconv.Itoa(i) + ")"
		base := name
		for len(base)+len(suffix) > maxSessionName {
			_, size := lastRune(base)
			base = base[:len(base)-size]
		}
		if n := trimSpace(base) + suffix; !taken[n] {
			return n
		}
	}
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, len(s)
}

// start starts a session named name (made unique, or "browser" when
// empty) for a browser at addr, and returns its secret and its name.
// When the sessions are full, the one unused longest ends.
func (ss *sessions) start(name, addr, via string) (sec, named string, err error) {
	if name == "" {
		name = "browser"
	}
	sec = secret()
	ss.fileMu.Lock()
	defer ss.fileMu.Unlock()
	ss.mu.Lock()
	now := ss.now().UTC().Truncate(time.Second)
	ss.expireLocked(now)
	if len(ss.live) >= maxSessions {
		h := oldest(ss.live, func(s *session) time.Time { return s.lastUsed })
		ss.ended[h] = gone{name: ss.live[h].name, at: now, why: goneExpired}
		delete(ss.live, h)
	}
	named = ss.nameFree(name)
	ss.live[hashOf(sec)] = &session{name: named, created: now, lastUsed: now, saved: now, addr: addr, via: via}
	d := ss.docLocked()
	ss.mu.Unlock()
	if err := ss.write(d); err != nil {
		ss.mu.Lock()
		delete(ss.live, hashOf(sec))
		ss.mu.Unlock()
		return "", "", err
	}
	return sec, named, nil
}

// sessionState is what a cookie's secret names.
type sessionState int

const (
	sessionUnknown sessionState = iota
	sessionLive
	sessionRevoked
	sessionExpired
)

// use looks up the session of secret sec, used now from addr: it returns
// its state and name (and, for an ended one, when it ended). A live
// session's last use is recorded, and written to the file when the one
// written is older than touchEvery.
func (ss *sessions) use(sec, addr string) (sessionState, string, time.Time) {
	h := hashOf(sec)
	ss.mu.Lock()
	now := ss.now().UTC().Truncate(time.Second)
	if ss.expireLocked(now) {
		defer ss.save()
	}
	defer ss.mu.Unlock()
	if s, ok := ss.live[h]; ok {
		if s.lastUsed != now || s.addr != addr {
			s.lastUsed, s.addr = now, addr
			ss.dirty = true
		}
		if now.Sub(s.saved) >= touchEvery {
			s.saved = now
			ss.mu.Unlock()
			ss.save()
			ss.mu.Lock()
		}
		return sessionLive, s.name, time.Time{}
	}
	if g, ok := ss.ended[h]; ok {
		if g.why == goneRevoked {
			return sessionRevoked, g.name, g.at
		}
		return sessionExpired, g.name, g.at
	}
	return sessionUnknown, "", time.Time{}
}

// bind returns a context of ctx that revoking the session of secret sec
// ends, and the function that releases it (call it when the request
// ends).
func (ss *sessions) bind(ctx context.Context, sec string) (context.Context, func()) {
	h := hashOf(sec)
	ctx, cancel := context.WithCancel(ctx)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.nextID++
	id := ss.nextID
	if ss.bound[h] == nil {
		ss.bound[h] = map[uint64]context.CancelFunc{}
	}
	ss.bound[h][id] = cancel
	return ctx, func() {
		cancel()
		ss.mu.Lock()
		defer ss.mu.Unlock()
		delete(ss.bound[h], id)
		if len(ss.bound[h]) == 0 {
			delete(ss.bound, h)
		}
	}
}

// revoke ends the live session named name, and the requests in flight
// with it (watch streams); it reports whether there was one.
func (ss *sessions) revoke(name string) (bool, error) {
	ss.fileMu.Lock()
	defer ss.fileMu.Unlock()
	ss.mu.Lock()
	now := ss.now().UTC().Truncate(time.Second)
	found := false
	var cancels []context.CancelFunc
	for h, s := range ss.live {
		if s.name == name {
			delete(ss.live, h)
			ss.ended[h] = gone{name: s.name, at: now, why: goneRevoked}
			found = true
			for _, c := range ss.bound[h] {
				cancels = append(cancels, c)
			}
		}
	}
	ss.trimEndedLocked()
	d := ss.docLocked()
	ss.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	if !found {
		return false, nil
	}
	return true, ss.write(d)
}

// trimEndedLocked keeps the maxGone most recent ended sessions.
func (ss *sessions) trimEndedLocked() {
	for len(ss.ended) > maxGone {
		delete(ss.ended, oldest(ss.ended, func(g gone) time.Time { return g.at }))
	}
}

// oldest returns the key of the entry of m whose time at is the earliest
// (the zero key for an empty m). The pending sets evict it when full.
func oldest[V any](m map[[32]byte]V, at func(V) time.Time) [32]byte {
	var key [32]byte
	var first time.Time
	for k, v := range m {
		if t := at(v); first.IsZero() || t.Before(first) {
			key, first = k, t
		}
	}
	return key
}

// SessionInfo describes a browser session, as GET /v1/sessions lists it.
type SessionInfo struct {
	Name     string `json:"name"`
	Created  string `json:"created"`
	LastUsed string `json:"last_used"`
	Addr     string `json:"addr"`              // the browser's IP address at its last use
	Via      string `json:"via"`               // "loopback" (a login link) or "lan" (paired)
	Current  bool   `json:"current,omitempty"` // the session of the request that listed them
}

// list returns the live sessions, the most recently used first; current
// is the secret of the asking request's session, if any.
func (ss *sessions) list(current string) []SessionInfo {
	cur := hashOf(current)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]SessionInfo, 0, len(ss.live))
	for h, s := range ss.live {
		out = append(out, SessionInfo{Name: s.name, Created: FormatTime(s.created), LastUsed: FormatTime(s.lastUsed),
			Addr: s.addr, Via: s.via, Current: current != "" && h == cur})
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if a.LastUsed != b.LastUsed {
			if a.LastUsed > b.LastUsed {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out
}

// docLocked returns the sessions as the file holds them. ss.mu must be
// held.
func (ss *sessions) docLocked() *sessionsDoc {
	ss.dirty = false
	d := &sessionsDoc{Version: sessionsFileVersion, Sessions: []sessionDoc{}, Gone: []goneDoc{}}
	for h, s := range ss.live {
		d.Sessions = append(d.Sessions, sessionDoc{Name: s.name, Hash: hex.EncodeToString(h[:]), Created: s.created, LastUsed: s.lastUsed, Addr: s.addr, Via: s.via})
	}
	for h, g := range ss.ended {
		d.Gone = append(d.Gone, goneDoc{Name: g.name, Hash: hex.EncodeToString(h[:]), At: g.at, Why: g.why})
	}
	slices.SortFunc(d.Sessions, func(a, b sessionDoc) int { return cmp.Compare(a.Hash, b.Hash) })
	slices.SortFunc(d.Gone, func(a, b goneDoc) int { return cmp.Compare(a.Hash, b.Hash) })
	return d
}

// save writes the sessions as they are now if they changed since the
// last write; an error is dropped (the sessions still work; the next
// write tries again). ss.mu must not be held.
func (ss *sessions) save() {
	ss.fileMu.Lock()
	defer ss.fileMu.Unlock()
	ss.mu.Lock()
	if !ss.dirty {
		ss.mu.Unlock()
		return
	}
	d := ss.docLocked()
	ss.mu.Unlock()
	ss.write(d)
}

// write writes d to the file. ss.fileMu must be held, not ss.mu.
func (ss *sessions) write(d *sessionsDoc) error {
	if ss.home == "" {
		return nil
	}
	if err := writeFileAtomic(ss.home, SessionsFile, encodeSessions(d)); err != nil {
		return fmt.Errorf("api: keep the browser sessions in %s: %w", ss.home, err)
	}
	return nil
}

// LoginURL returns a new one-time login URL for the API served at addr
// (host:port), as 'loam daemon' prints it.
func (s *Server) LoginURL(addr string) string {
	return "http://" + addr + "/login?t=" + s.NewLogin()
}

// cookieName is the session cookie's name for a request to host (a Host
// header), on the --ui-listen listener if lan.
func cookieName(host string, lan bool) string {
	return cookiePrefix(lan) + sessionCookiePrefix + portOf(host)
}

func csrfCookieName(host string, lan bool) string {
	return cookiePrefix(lan) + csrfCookiePrefix + portOf(host)
}

func cookiePrefix(lan bool) string {
	if lan {
		return hostCookiePrefix
	}
	return ""
}

func portOf(host string) string {
	_, port, err := net.SplitHostPort(host)
	if err != nil || port == "" {
		port = "80"
	}
	return port
}

// remoteIP returns the IP address of r's client.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	if len(host) > maxSessionAddr {
		host = host[:maxSessionAddr]
	}
	return host
}

// sessionCookie returns the secret of r's session cookie, or "".
func sessionCookie(r *http.Request, lan bool) string {
	c, err := r.Cookie(cookieName(r.Host, lan))
	if err != nil {
		return ""
	}
	return c.Value
}

// setSessionCookies gives the browser its session: the secret, HttpOnly,
// and the CSRF token its script sends back in CSRFHeader.
func setSessionCookies(w http.ResponseWriter, r *http.Request, sec string, lan bool) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r.Host, lan), Value: sec, Path: "/",
		MaxAge: int(cookieMaxAge / time.Second), HttpOnly: true, Secure: lan, SameSite: http.SameSiteStrictMode,
	})
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookieName(r.Host, lan), Value: csrfToken(sec), Path: "/",
		MaxAge: int(cookieMaxAge / time.Second), Secure: lan, SameSite: http.SameSiteStrictMode,
	})
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
	if !s.sess.takeLogin(r.URL.Query().Get("t")) {
		if sec := sessionCookie(r, false); sec != "" {
			if st, _, _ := s.sess.use(sec, remoteIP(r)); st == sessionLive {
				// Already logged in, e.g. the link opened twice.
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, loginFailedPage, html.EscapeString(r.Host))
		return
	}
	sec, _, err := s.sess.start("browser", remoteIP(r), viaLoopback)
	if err != nil {
		writeError(w, err)
		return
	}
	setSessionCookies(w, r, sec, false)
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

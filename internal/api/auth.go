package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the file in the Loam home that holds the API token.
const TokenFile = "api.token"

// tokenBytes is the size of a token before hex encoding.
const tokenBytes = 32

// check enforces the API's access rules, in this order: the Host header
// names a loopback host (DNS rebinding protection), no token rides in the
// query string, the request carries the token in the Authorization header
// or a browser session cookie, and a request that is not a GET or HEAD
// comes from no browser origin but the API's own. A request with the
// cookie must moreover not come from another site or origin
// (Sec-Fetch-Site), and a write with it must carry CSRFHeader or the API's
// own Origin. On the --ui-listen listener (lan), the Host must be one of
// the node's own LAN names (checkLANHost), only the session cookie is
// accepted (never the token), and a write needs both the own Origin and
// the session's CSRF token in CSRFHeader.
//
// It returns the session secret when the session cookie authenticated the
// request.
func (s *Server) check(r *http.Request, lan bool) (session string, err error) {
	if lan {
		if err := s.checkLANHost(r); err != nil {
			return "", err
		}
	} else if err := checkHost(r); err != nil {
		return "", err
	}
	q := r.URL.Query()
	for _, name := range []string{"token", "access_token", "api_token", "auth"} {
		if q.Has(name) {
			return "", &kindError{kind: ErrUnauthorized,
				msg: "a token in the URL is never accepted: send it in the header 'Authorization: Bearer TOKEN'"}
		}
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	own := "http://" + r.Host
	if lan {
		own = "https://" + r.Host
	}
	origin := r.Header.Get("Origin")
	auth := r.Header.Get("Authorization")
	if lan && auth != "" {
		return "", &kindError{kind: ErrForbidden,
			msg: "the API token is not accepted on the --ui-listen listener: use the loopback API (daemon.json names it), or pair this browser with 'loam pair'"}
	}
	if auth == "" {
		sec := sessionCookie(r, lan)
		if err := s.checkSession(r, sec, lan); err != nil {
			return "", err
		}
		session = sec
		switch site := r.Header.Get("Sec-Fetch-Site"); site {
		case "", "same-origin", "none":
		default:
			return "", &kindError{kind: ErrForbidden,
				msg: fmt.Sprintf("a %s request with the session cookie refused: the API serves the cookie only to its own pages", site)}
		}
		if lan && write {
			if origin != own {
				return "", &kindError{kind: ErrForbidden,
					msg: fmt.Sprintf("a %s from origin %q refused: writes on this listener come only from the node's own pages (%s)", r.Method, origin, own)}
			}
			if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(csrfToken(sec))) != 1 {
				return "", &kindError{kind: ErrForbidden,
					msg: fmt.Sprintf("a %s without the session's CSRF token in %s refused: reload the page", r.Method, CSRFHeader)}
			}
		}
		if write && origin != own && r.Header.Get(CSRFHeader) == "" {
			return "", &kindError{kind: ErrForbidden,
				msg: fmt.Sprintf("a %s with the session cookie needs the header %s or the API's own Origin", r.Method, CSRFHeader)}
		}
	} else {
		scheme, tok, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", &kindError{kind: ErrUnauthorized,
				msg: "the request has no API token: send the header 'Authorization: Bearer TOKEN' with the token from the api.token file of the Loam home"}
		}
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.token)) != 1 {
			return "", &kindError{kind: ErrForbidden,
				msg: "the API token is wrong: use the one in the api.token file of the daemon's Loam home"}
		}
	}
	if write && origin != "" && origin != own {
		return "", &kindError{kind: ErrForbidden,
			msg: fmt.Sprintf("cross-origin %s from %q refused: the API takes writes only from its own origin", r.Method, origin)}
	}
	return session, nil
}

// checkSession returns nil if sec is a live session's secret, else an
// error that says why there is none (no cookie, revoked, expired,
// unknown) and how to log in or pair again.
func (s *Server) checkSession(r *http.Request, sec string, lan bool) error {
	again := "open a new login URL ('loam ui' prints one)"
	if lan {
		again = "pair it again: run 'loam pair' on the home node and open the link it prints (or type its code on the pair page, /pair.html)"
	}
	if sec == "" {
		msg := "the request has no API token: send the header 'Authorization: Bearer TOKEN' with the token from the api.token file of the Loam home (browsers: open the login URL 'loam ui' prints)"
		if lan {
			msg = "this browser is not paired with the node: " + again
		}
		return &kindError{kind: ErrUnauthorized, msg: msg}
	}
	st, name, at := s.sess.use(sec, remoteIP(r))
	switch st {
	case sessionLive:
		return nil
	case sessionRevoked:
		return &kindError{kind: ErrSessionRevoked,
			msg: fmt.Sprintf("this browser's session %q was revoked on %s (with 'loam sessions revoke' or from the dashboard): to use it again, %s", name, at.UTC().Format("2006-01-02 15:04 UTC"), again)}
	case sessionExpired:
		return &kindError{kind: ErrUnauthorized,
			msg: fmt.Sprintf("this browser's session %q expired: it was unused for %d days; %s", name, int(SessionTTL.Hours()/24), again)}
	}
	return &kindError{kind: ErrUnauthorized,
		msg: "the browser session has expired or is unknown to this node: " + again}
}

// checkHost refuses a request whose Host header is not a loopback name.
func checkHost(r *http.Request) error {
	if !LoopbackHost(r.Host) {
		return &kindError{kind: ErrForbidden,
			msg: fmt.Sprintf("the Host header %q is not a loopback name: the API answers only to localhost, 127.0.0.1 and [::1]", r.Host)}
	}
	return nil
}

// LoopbackHost reports whether hostport (a Host header or a listen
// address, with or without a port) names a loopback host: localhost,
// 127.0.0.1 or ::1.
func LoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// LoadOrCreateToken returns the API token of the Loam home, creating it on
// first use: 32 random bytes in hex, in home/api.token with mode 0600 (an
// existing file readable by others is made 0600). The file is created
// atomically and never replaced, so concurrent callers get the same token.
func LoadOrCreateToken(home string) (string, error) {
	tok, err := LoadToken(home)
	if err == nil {
		// Tighten a file made readable by others since.
		path := filepath.Join(home, TokenFile)
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("api: make the token private: %w", err)
			}
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b := make([]byte, tokenBytes)
	rand.Read(b)
	tok = hex.EncodeToString(b)
	path := filepath.Join(home, TokenFile)
	tmp, err := writeTemp(home, TokenFile, []byte(tok+"\n"))
	if err != nil {
		return "", fmt.Errorf("api: create the token: %w", err)
	}
	defer os.Remove(tmp)
	// Link, unlike Rename, fails if the file exists: a token another
	// process created first wins.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadToken(home)
		}
		return "", fmt.Errorf("api: create the token: %w", err)
	}
	if err := syncDir(home); err != nil {
		return "", fmt.Errorf("api: create the token: %w", err)
	}
	return tok, nil
}

// LoadToken reads the API token of the Loam home. The error wraps
// fs.ErrNotExist when there is none.
func LoadToken(home string) (string, error) {
	path := filepath.Join(home, TokenFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api: read the token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) != 2*tokenBytes {
		return "", fmt.Errorf("api: the token in %s is not %d hex digits: delete the file and restart 'loam daemon' to make a new one", path, 2*tokenBytes)
	}
	if _, err := hex.DecodeString(tok); err != nil {
		return "", fmt.Errorf("api: the token in %s is not hex: delete the file and restart 'loam daemon' to make a new one", path)
	}
	return tok, nil
}

// writeTemp writes data to a new file of mode 0600 in dir, synced, and
// returns its path.
func writeTemp(dir, name string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// writeFileAtomic replaces dir/name with data (mode 0600): readers see the
// old file or the new one, never a part.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp, err := writeTemp(dir, name, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

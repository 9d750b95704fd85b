package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Errors of browser sessions and pairing.
var (
	// ErrSessionRevoked is returned for a request whose browser session
	// was revoked; it is also ErrUnauthorized.
	ErrSessionRevoked = fmt.Errorf("session revoked: %w", ErrUnauthorized)
	// ErrNoSession is returned when revoking a session name no live
	// session has.
	ErrNoSession = errors.New("no such session")
	// ErrPairLocked is returned for a pairing code tried while pairing is
	// locked after too many wrong codes.
	ErrPairLocked = errors.New("pairing locked")
	// ErrBadPairCode is returned for a pairing code that is wrong, used
	// or expired.
	ErrBadPairCode = errors.New("pairing code not valid")
	// ErrNoUIListen is returned when asking for a pairing code of a
	// daemon that serves no --ui-listen listener.
	ErrNoUIListen = errors.New("no --ui-listen listener")
)

// sessionRoutes adds the endpoints of sessions and pairing to s.mux.
func (s *Server) sessionRoutes() {
	s.mux.HandleFunc("GET /v1/sessions", s.listSessions)
	s.mux.HandleFunc("DELETE /v1/sessions/{name}", s.revokeSession)
	s.mux.HandleFunc("POST /v1/pairings", s.newPairing)
}

// currentSecret returns the session secret of r's cookie, on whichever
// listener r came (the --ui-listen one is the TLS one).
func currentSecret(r *http.Request) string { return sessionCookie(r, r.TLS != nil) }

// listSessions serves GET /v1/sessions: the live browser sessions.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.sess.list(currentSecret(r)))
}

// revokeSession serves DELETE /v1/sessions/{name}: the session ends at
// once; its browser's next request gets 401 session_revoked.
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	found, err := s.sess.revoke(name)
	if err != nil {
		writeError(w, err)
		return
	}
	if !found {
		writeError(w, &kindError{kind: ErrNoSession,
			msg: fmt.Sprintf("no browser session is named %q: 'loam sessions' lists them", name)})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Sessions lists the daemon's browser sessions.
func (c *Client) Sessions(ctx context.Context) ([]SessionInfo, error) {
	return callFor[[]SessionInfo](ctx, c, http.MethodGet, "/"+Version+"/sessions", nil)
}

// RevokeSession ends the browser session named name.
func (c *Client) RevokeSession(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/"+Version+"/sessions/"+url.PathEscape(name), nil, nil)
}

// PairRequest is the body of POST /v1/pairings.
type PairRequest struct {
	Name string `json:"name"` // the session's name, e.g. "Ana's phone"
}

// Pairing is the answer to POST /v1/pairings: a one-time pairing code for
// the --ui-listen listener, and a URL per LAN address that carries it.
type Pairing struct {
	Name    string   `json:"name"`    // the session it will start (made unique when redeemed)
	Code    string   `json:"code"`    // e.g. "K7QX-M3PA"; case, spaces and dashes do not matter
	Expires string   `json:"expires"` // RFC 3339
	URLs    []string `json:"urls"`    // https://HOST:PORT/pair.html#code=…&fp=…&ca=…
	SPKI    string   `json:"spki_sha256"`
	CA      string   `json:"ca_sha256"` // the node's CA for phones (see UICert.CAFingerprint)
}

// Pair asks the daemon for a pairing code for a browser session named
// name (see Pairing).
func (c *Client) Pair(ctx context.Context, name string) (Pairing, error) {
	return callFor[Pairing](ctx, c, http.MethodPost, "/"+Version+"/pairings", PairRequest{Name: name})
}

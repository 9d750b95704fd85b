package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/space"
	"github.com/loamdb/loam/internal/store"
)

// Version is the API version, the first segment of every path.
const Version = "v1"

// Limits on request bodies.
const (
	maxJSONBody = 64 << 10 // small JSON requests
	// maxBatchBody bounds a batch: a commit's worth of keys and values,
	// with room for JSON escaping and base64.
	maxBatchBody = 8 * commit.MaxCommitSize
	// batchBudget bounds the keys and values of one batch, so its commit
	// stays under MaxCommitSize with room for the header and signature.
	batchBudget = commit.MaxCommitSize - commit.MaxHeaderSize - 4096
	// opOverhead is an upper bound on the encoding of one op besides its
	// key and value.
	opOverhead = 32
)

// Server serves the API of one node. Create it with NewServer.
type Server struct {
	n     *node.Node
	token string
	mux   *http.ServeMux

	sess    *sessions
	sessErr error        // why the home's sessions could not be read; Serve returns it
	phone   *phoneState  // pairing and the --ui-listen listener; see pair.go
	ui      http.Handler // the web UI's files, or nil; see ServeUI

	// streams is cancelled by CloseStreams, ending every watch stream.
	streams     context.Context
	closeStream context.CancelFunc
	// watchTimeout bounds each write of a watch stream; 0 means
	// watchWriteTimeout (tests shorten it).
	watchTimeout time.Duration
}

// NewServer returns the API of n, guarded by token (see LoadOrCreateToken).
// The node stays the caller's to close.
func NewServer(n *node.Node, token string) *Server {
	s := &Server{n: n, token: token, mux: http.NewServeMux(), phone: newPhoneState()}
	if s.sess, s.sessErr = openSessions(n.Home()); s.sessErr != nil {
		s.sess = newSessions()
	}
	s.streams, s.closeStream = context.WithCancel(context.Background())
	for pattern, h := range map[string]http.HandlerFunc{
		"GET /v1/{$}":                               s.hello,
		"GET /v1/spaces":                            answer(http.StatusOK, s.listSpaces),
		"POST /v1/spaces":                           answerBody(http.StatusCreated, s.createSpace),
		"GET /v1/spaces/{space}":                    answerSpace(http.StatusOK, s, s.getSpace),
		"GET /v1/spaces/{space}/keys":               s.listKeys,
		"GET /v1/spaces/{space}/keys/{key...}":      s.getKey,
		"PUT /v1/spaces/{space}/keys/{key...}":      s.putKey,
		"DELETE /v1/spaces/{space}/keys/{key...}":   s.deleteKey,
		"POST /v1/spaces/{space}/batch":             answerSpace(http.StatusOK, s, s.batch),
		"GET /v1/spaces/{space}/watch":              s.watch,
		"GET /v1/spaces/{space}/verify":             answerSpace(http.StatusOK, s, s.verify),
		"GET /v1/spaces/{space}/heads":              answerSpace(http.StatusOK, s, s.heads),
		"POST /v1/spaces/{space}/invites":           answerBody(http.StatusOK, s.invite),
		"GET /v1/spaces/{space}/members":            answerSpace(http.StatusOK, s, s.members),
		"POST /v1/spaces/{space}/revoke":            answerBody(http.StatusOK, s.revoke),
		"POST /v1/spaces/{space}/grants":            s.grant,
		"POST /v1/spaces/{space}/erase":             answerBody(http.StatusOK, s.erase),
		"GET /v1/spaces/{space}/retention":          answerSpace(http.StatusOK, s, s.retention),
		"PUT /v1/spaces/{space}/retention":          answerBody(http.StatusOK, s.setRetention),
		"POST /v1/spaces/{space}/checkpoint":        answer(http.StatusOK, s.checkpoint),    // checkpoint.go
		"GET /v1/spaces/{space}/history":            answer(http.StatusOK, s.history),       // checkpoint.go
		"POST /v1/spaces/{space}/history":           answer(http.StatusOK, s.fetchHistory),  // checkpoint.go
		"GET /v1/spaces/{space}/schemas":            answerSpace(http.StatusOK, s, s.rules), // rules.go
		"POST /v1/spaces/{space}/schemas":           answer(http.StatusOK, s.declareRules),  // rules.go
		"GET /v1/spaces/{space}/polls":              answerSpace(http.StatusOK, s, s.polls), // polls.go
		"GET /v1/spaces/{space}/polls/{poll}":       answerSpace(http.StatusOK, s, s.poll),  // polls.go
		"GET /v1/spaces/{space}/ledger":             answerSpace(http.StatusOK, s, s.ledger),
		"GET /v1/spaces/{space}/ledger/statement":   s.statement,
		"GET /v1/identity":                          answer(http.StatusOK, s.identity),
		"POST /v1/identity":                         answerBody(http.StatusCreated, s.createIdentity),
		"GET /v1/identity/profile":                  answer(http.StatusOK, s.profile),
		"PUT /v1/identity/profile":                  answerBody(http.StatusOK, s.setProfile),
		"GET /v1/identity/devices":                  answer(http.StatusOK, s.devices),
		"POST /v1/identity/devices/revoke":          answerBody(http.StatusOK, s.revokeDevice),
		"POST /v1/identity/recover":                 answerBody(http.StatusCreated, s.recoverIdentity),
		"POST /v1/identity/link":                    answerBody(http.StatusCreated, s.linkDevice),
		"POST /v1/identity/link/wait":               s.waitLinked,
		"POST /v1/identity/add":                     answer(http.StatusCreated, s.addDevice),
		"PUT /v1/spaces/{space}/blobs/{key...}":     s.putBlobKey,
		"GET /v1/spaces/{space}/conflicts/{key...}": answer(http.StatusOK, s.conflicts),
		"GET /v1/spaces/{space}/state":              answerSpace(http.StatusOK, s, s.state),
		"POST /v1/spaces/{space}/synced":            s.synced,
		"GET /v1/spaces/{space}/leave":              answer(http.StatusOK, s.planLeave),
		leavePattern:                                answer(http.StatusOK, s.leave),
		"POST /v1/join":                             s.join,
		"GET /v1/spaces/{space}/archive":            s.archiveSpace,
		"POST /v1/restore":                          s.restoreSpace,
		"GET /v1/peers":                             s.peers,
		"POST /v1/connect":                          answerBody(http.StatusOK, s.connect),
		"GET /v1/status":                            s.status,
		"GET /v1/disk":                              answer(http.StatusOK, s.diskUsage), // disk.go
		"POST /v1/compact":                          s.compact,
		"POST /v1/blobs":                            s.addBlob,
		"GET /v1/blobs":                             answer(http.StatusOK, s.listBlobs),
		"GET /v1/blobs/{blob}":                      s.getBlob,
		"POST /v1/blobs/{blob}/fetch":               s.fetchBlob,
		"PUT /v1/blobs/{blob}/pin":                  s.pinBlob,
		"DELETE /v1/blobs/{blob}/pin":               s.unpinBlob,
		"POST /v1/blobs/gc":                         answer(http.StatusOK, s.gcBlobs),
		"GET /v1/doctor":                            s.doctor,
		"POST /v1/logins":                           s.newLoginURL,
		"GET /metrics":                              s.metrics,
	} {
		s.mux.HandleFunc(pattern, h)
	}
	s.sessionRoutes()
	return s
}

// CloseStreams ends every open watch stream, so that http.Server.Shutdown,
// which waits for requests to finish, returns. Register it with
// http.Server.RegisterOnShutdown. Streams opened later end at once.
func (s *Server) CloseStreams() { s.closeStream() }

// ServeUI makes the server answer paths outside /v1/, /metrics and
// /login with files (the web UI; see package ui): GET / serves
// index.html. Call it before serving.
func (s *Server) ServeUI(files fs.FS) {
	s.ui = http.FileServerFS(files)
}

// uiCSP is the Content-Security-Policy of the web UI: its own scripts,
// styles and API only; images also from blob: URLs (previews of photos
// before upload).
const uiCSP = "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP checks the request's Host, token or session and Origin (see
// the package doc), then serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) }

// serve serves r on the loopback listener, or on the --ui-listen listener
// if lan (see uilisten.go).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, lan bool) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	if lan {
		if err := s.checkLANHost(r); err != nil {
			writeError(w, err)
			return
		}
		if s.lanOnly(w, r) {
			return
		}
	} else if err := checkHost(r); err != nil {
		writeError(w, err)
		return
	}
	switch p := r.URL.Path; {
	case p == "/login" && !lan:
		s.login(w, r)
		return
	case s.ui != nil && p != "/metrics" && p != "/"+Version && !strings.HasPrefix(p, "/"+Version+"/"):
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeErrorStatus(w, http.StatusMethodNotAllowed, "method_not_allowed", "the web UI's files are read with GET")
			return
		}
		h.Set("Content-Security-Policy", uiCSP)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		s.ui.ServeHTTP(w, r)
		return
	}
	session, err := s.check(r, lan)
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			h.Set("WWW-Authenticate", `Bearer realm="loam"`)
		}
		writeError(w, err)
		return
	}
	if session != "" {
		// Revoking the session ends the request (a watch stream too).
		ctx, done := s.sess.bind(r.Context(), session)
		defer done()
		r = r.WithContext(ctx)
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		noRoute(w, r, s.mux)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// noRoute answers a request no pattern matches: 404, or 405 for a path
// that exists with another method, in the API's JSON form.
func noRoute(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	rec := &statusRecorder{header: http.Header{}}
	h, _ := mux.Handler(r)
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	msg := fmt.Sprintf("no endpoint %s %s: the API's paths start with /%s/ (see the documentation of package api)", r.Method, r.URL.Path, Version)
	if rec.status == http.StatusMethodNotAllowed {
		writeErrorStatus(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s %s is not allowed: use %s", r.Method, r.URL.Path, rec.header.Get("Allow")))
		return
	}
	if loc := rec.header.Get("Location"); loc != "" && rec.status/100 == 3 {
		msg = fmt.Sprintf("no endpoint %s %s: the path is not in canonical form (escape '/' and '.' in keys as %%2F and %%2E)", r.Method, r.URL.Path)
	}
	writeError(w, &kindError{msg: msg, kind: ErrNoRoute})
}

// statusRecorder records a handler's status and headers and drops its body.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// answer makes a handler of do for a request without a body: it answers
// with what do returns, as JSON with status, or with do's error (what do
// returns with an error is dropped).
func answer[T any](status int, do func(r *http.Request) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := do(r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, out)
	}
}

// answerSpace is answer for a request on the {space} of the path, which
// do is given.
func answerSpace[T any](status int, s *Server, do func(r *http.Request, sp *space.Space) (T, error)) http.HandlerFunc {
	return answer(status, func(r *http.Request) (T, error) {
		sp, err := s.space(r)
		if err != nil {
			var zero T
			return zero, err
		}
		return do(r, sp)
	})
}

// answerBody is answer for a request whose JSON body decodes (see
// decodeJSON) into a Req, which do is given.
func answerBody[Req, T any](status int, do func(r *http.Request, req Req) (T, error)) http.HandlerFunc {
	return answer(status, func(r *http.Request) (T, error) {
		var req Req
		if err := decodeJSON(r, &req); err != nil {
			var zero T
			return zero, err
		}
		return do(r, req)
	})
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(w, fmt.Errorf("api: encode the answer: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// writeError answers with err's status and {"error", "code"}.
func writeError(w http.ResponseWriter, err error) {
	status, code := kindOf(err)
	writeErrorStatus(w, status, code, sentence(err))
}

func writeErrorStatus(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(ErrorBody{Error: msg, Code: code})
	w.Write(append(b, '\n'))
}

// sentence returns err's text on one line.
func sentence(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// decodeJSON decodes a small JSON request body into v, strictly: unknown
// fields and trailing data are errors.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequestf("the request has no JSON body")
		}
		return badRequestf("the request body is not the JSON expected: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequestf("the request body has data after its JSON object")
	}
	return nil
}

// pathKey returns the {key...} of the path, checked against the limits.
func pathKey(r *http.Request) ([]byte, error) {
	key := []byte(r.PathValue("key"))
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return badRequestf("the key is empty: give a non-empty key")
	case len(key) > commit.MaxKeySize:
		return badRequestf("the key is %d bytes, more than the limit of %d: use a shorter key", len(key), commit.MaxKeySize)
	}
	return nil
}

func checkValue(n int) error {
	if n > commit.MaxValueSize {
		return badRequestf("the value is more than %d bytes (64 KiB), the limit: store a smaller value, or PUT it alone to the key to store it as a blob", commit.MaxValueSize)
	}
	return nil
}

// space returns the write path of the {space} of the path.
func (s *Server) space(r *http.Request) (*space.Space, error) {
	return s.n.Space(r.Context(), r.PathValue("space"))
}

func (s *Server) hello(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Hello{API: Version, Peer: s.n.PeerID(), Author: s.n.Author().String()})
}

// spaceInfo describes a held space; whether it is private is read from its
// genesis (an error there leaves it false: the rest still describes it).
func (s *Server) spaceInfo(ctx context.Context, in store.SpaceInfo) SpaceInfo {
	private, _ := s.n.IsPrivate(ctx, in.ID)
	return SpaceInfo{ID: in.ID.String(), Name: in.Name, Created: FormatTime(in.Created), Private: private}
}

func (s *Server) listSpaces(r *http.Request) ([]SpaceInfo, error) {
	infos, err := s.n.Spaces(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]SpaceInfo, len(infos))
	for i, in := range infos {
		out[i] = s.spaceInfo(r.Context(), in)
	}
	return out, nil
}

func (s *Server) createSpace(r *http.Request, req CreateSpaceRequest) (SpaceInfo, error) {
	sp, err := s.n.NewSpace(r.Context(), req.Name, node.SpaceOptions{Private: req.Private})
	if err != nil {
		return SpaceInfo{}, err
	}
	return s.spaceInfo(r.Context(), sp.Info()), nil
}

func (s *Server) getSpace(r *http.Request, sp *space.Space) (SpaceInfo, error) {
	return s.spaceInfo(r.Context(), sp.Info()), nil
}

func (s *Server) verify(r *http.Request, sp *space.Space) (VerifyReport, error) {
	rep, err := space.VerifyLog(r.Context(), s.n.Store(), sp.ID())
	return VerifyReport(rep), err
}

func heads(hs []store.Head) []Head {
	out := make([]Head, len(hs))
	for i, h := range hs {
		out[i] = Head{Author: h.Author.String(), Seq: h.Seq, Commit: h.ID.String(), Time: FormatTime(h.Time.Time())}
	}
	return out
}

func (s *Server) heads(r *http.Request, sp *space.Space) ([]Head, error) {
	hs, err := s.n.Store().Heads(r.Context(), sp.ID())
	if err != nil {
		return nil, err
	}
	return heads(hs), nil
}

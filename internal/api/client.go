package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/store"
)

// Client calls the API of a daemon. Its methods are safe for concurrent
// use. Errors the API answers are *Error: their text is the server's one
// sentence, and errors.Is matches the kind their code names.
type Client struct {
	BaseURL string       // e.g. "http://127.0.0.1:7777"
	Token   string       // the API token
	HTTP    *http.Client // nil: a client that never uses a proxy
}

// defaultHTTP talks to the loopback API directly, whatever HTTP_PROXY says.
var defaultHTTP = NewHTTPClient()

// NewHTTPClient returns an HTTP client for Client.HTTP that talks to the
// loopback API directly, whatever HTTP_PROXY says, with its own
// connections (close them with CloseIdleConnections).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// NewClient returns a client of the API at addr (host:port).
func NewClient(addr, token string) *Client {
	return &Client{BaseURL: "http://" + addr, Token: token}
}

// ClientForHome returns a client of the daemon that daemon.json in home
// names, with the token of home. The error wraps fs.ErrNotExist when no
// daemon.json is there. It does not check that the daemon answers (see
// Hello).
func ClientForHome(home string) (*Client, DaemonInfo, error) {
	info, err := ReadDaemonInfo(home)
	if err != nil {
		return nil, info, err
	}
	tok, err := LoadToken(home)
	if err != nil {
		return nil, info, err
	}
	return NewClient(info.API, tok), info, nil
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// queryValues is q as the parameters of GET …/keys, which the server
// reads back into a store.Query (keys.go, query).
func queryValues(q store.Query) url.Values {
	v := url.Values{}
	if q.Prefix != nil {
		v.Set("prefix", string(q.Prefix))
	}
	if q.Start != nil {
		v.Set("start", string(q.Start))
	}
	if q.End != nil {
		v.Set("end", string(q.End))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Reverse {
		v.Set("reverse", "true")
	}
	return v
}

// escapeSegment escapes s as one path segment: every byte but letters,
// digits, '-', '_', '~' and '.' as %XX, and '.' too when s is "." or "..",
// which the server's path cleaning would otherwise remove.
func escapeSegment(s string) string { return escapePath(s, false) }

// escapeKey escapes a key as the tail of a path. '/' stays as is, unless
// the key has an empty, "." or ".." segment: then every '/' and '.' is
// escaped, since the server would clean the path.
func escapeKey(key []byte) string { return escapePath(string(key), true) }

func escapePath(s string, slashes bool) string {
	keepSlash, keepDot := slashes, true
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			keepSlash, keepDot = false, false
		}
	}
	if !slashes && (s == "." || s == "..") {
		keepDot = false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '-', ch == '_', ch == '~',
			ch == '.' && keepDot, ch == '/' && keepSlash:
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

func spacePath(sp string, rest string) string {
	return "/" + Version + "/spaces/" + escapeSegment(sp) + rest
}

// do sends a request and returns the response of a success; an error
// status becomes an *Error. The caller closes the body.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) (*http.Response, error) {
	var h http.Header
	if contentType != "" {
		h = http.Header{"Content-Type": {contentType}}
	}
	return c.doHeader(ctx, method, path, query, body, h)
}

// doHeader is do with the request headers h (besides Authorization).
func (c *Client) doHeader(ctx context.Context, method, path string, query url.Values, body io.Reader, h http.Header) (*http.Response, error) {
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.http().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, store.ErrClosed) { // the caller closed its side (see loam.Connect)
			return nil, unwrapURL(err)
		}
		return nil, fmt.Errorf("the daemon's API at %s does not answer: %w", c.BaseURL, unwrapURL(err))
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

// unwrapURL drops the *url.Error around err, whose text repeats the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readError turns an error response into an *Error.
func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body ErrorBody
	if json.Unmarshal(b, &body) != nil || body.Error == "" {
		msg := strings.Join(strings.Fields(string(b)), " ")
		if msg == "" {
			msg = resp.Status
		}
		return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("the API answered %s: %s", resp.Status, msg)}
	}
	return &Error{Status: resp.StatusCode, Code: body.Code, Message: body.Error}
}

// callFor is call for an answer of type T.
func callFor[T any](ctx context.Context, c *Client, method, path string, in any) (T, error) {
	var out T
	err := c.call(ctx, method, path, in, &out)
	return out, err
}

// call sends in (if not nil) as JSON and decodes the answer into out (if
// not nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	return c.callQuery(ctx, method, path, nil, in, out)
}

// callQuery is call with the query parameters query.
func (c *Client) callQuery(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, path, query, body, ct)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: read the answer: %w", method, path, err)
	}
	return nil
}

// Hello asks which node serves the API: GET /v1/.
func (c *Client) Hello(ctx context.Context) (Hello, error) {
	return callFor[Hello](ctx, c, http.MethodGet, "/"+Version+"/", nil)
}

// Spaces lists the spaces held: GET /v1/spaces.
func (c *Client) Spaces(ctx context.Context) ([]SpaceInfo, error) {
	return callFor[[]SpaceInfo](ctx, c, http.MethodGet, "/"+Version+"/spaces", nil)
}

// CreateSpace creates a space: POST /v1/spaces.
func (c *Client) CreateSpace(ctx context.Context, name string) (SpaceInfo, error) {
	return c.NewSpace(ctx, CreateSpaceRequest{Name: name})
}

// NewSpace creates a space as req describes (a private one with
// req.Private): POST /v1/spaces.
func (c *Client) NewSpace(ctx context.Context, req CreateSpaceRequest) (SpaceInfo, error) {
	return callFor[SpaceInfo](ctx, c, http.MethodPost, "/"+Version+"/spaces", req)
}

// Space describes one space, by ID or local name: GET /v1/spaces/{space}.
func (c *Client) Space(ctx context.Context, sp string) (SpaceInfo, error) {
	return callFor[SpaceInfo](ctx, c, http.MethodGet, spacePath(sp, ""), nil)
}

// Range yields the keys of sp that q selects, in order, as the server
// streams them: GET /v1/spaces/{space}/keys.
func (c *Client) Range(ctx context.Context, sp string, q store.Query) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		resp, err := c.do(ctx, http.MethodGet, spacePath(sp, "/keys"), queryValues(q), nil, "")
		if err != nil {
			yield(Entry{}, err)
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
		broken := func(err error) {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			yield(Entry{}, fmt.Errorf("the daemon's list of keys broke off: %w", err))
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			broken(fmt.Errorf("not a JSON array (%v)", err))
			return
		}
		for dec.More() {
			var e Entry
			if err := dec.Decode(&e); err != nil {
				broken(err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if _, err := dec.Token(); err != nil {
			broken(err)
		}
	}
}

// Get returns key's entry: GET /v1/spaces/{space}/keys/{key}.
func (c *Client) Get(ctx context.Context, sp string, key []byte) (Entry, error) {
	return callFor[Entry](ctx, c, http.MethodGet, spacePath(sp, "/keys/"+escapeKey(key)), nil)
}

// Put writes value under key: PUT /v1/spaces/{space}/keys/{key}.
func (c *Client) Put(ctx context.Context, sp string, key, value []byte) error {
	resp, err := c.do(ctx, http.MethodPut, spacePath(sp, "/keys/"+escapeKey(key)), nil, bytes.NewReader(value), "application/octet-stream")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Delete deletes key, which must be there: DELETE
// /v1/spaces/{space}/keys/{key}.
func (c *Client) Delete(ctx context.Context, sp string, key []byte) error {
	return c.call(ctx, http.MethodDelete, spacePath(sp, "/keys/"+escapeKey(key)), nil, nil)
}

// Batch writes ops as one commit, all or nothing: POST
// /v1/spaces/{space}/batch.
func (c *Client) Batch(ctx context.Context, sp string, ops []BatchOp) (BatchResult, error) {
	var out BatchResult
	if ops == nil {
		ops = []BatchOp{}
	}
	err := c.call(ctx, http.MethodPost, spacePath(sp, "/batch"), ops, &out)
	return out, err
}

// Verify re-verifies the space's history: GET /v1/spaces/{space}/verify.
// For a bad history the error names the first bad commit.
func (c *Client) Verify(ctx context.Context, sp string) (VerifyReport, error) {
	return callFor[VerifyReport](ctx, c, http.MethodGet, spacePath(sp, "/verify"), nil)
}

// Heads returns every author's latest commit: GET /v1/spaces/{space}/heads.
func (c *Client) Heads(ctx context.Context, sp string) ([]Head, error) {
	return callFor[[]Head](ctx, c, http.MethodGet, spacePath(sp, "/heads"), nil)
}

// Invite returns a ticket to join sp with role, valid for expires (0: no
// expiry): POST /v1/spaces/{space}/invites.
func (c *Client) Invite(ctx context.Context, sp, role string, expires time.Duration) (string, error) {
	return c.InviteUses(ctx, sp, role, expires, 0)
}

// InviteUses is Invite for at most uses devices (0: unlimited).
func (c *Client) InviteUses(ctx context.Context, sp, role string, expires time.Duration, uses uint32) (string, error) {
	req := InviteRequest{Role: role, Uses: uses}
	if expires > 0 {
		req.Expires = expires.String()
	}
	var out InviteResponse
	err := c.call(ctx, http.MethodPost, spacePath(sp, "/invites"), req, &out)
	return out.Ticket, err
}

// Members lists a space's members: GET /v1/spaces/{space}/members.
func (c *Client) Members(ctx context.Context, sp string) ([]Member, error) {
	return callFor[[]Member](ctx, c, http.MethodGet, spacePath(sp, "/members"), nil)
}

// Revoke revokes a member (aut_…) or an invite (its ticket):
// POST /v1/spaces/{space}/revoke.
func (c *Client) Revoke(ctx context.Context, sp, target string) (RevokeResponse, error) {
	return callFor[RevokeResponse](ctx, c, http.MethodPost, spacePath(sp, "/revoke"), RevokeRequest{Target: target})
}

// joinGrace is how long past ctx's deadline Client.Join waits for the
// daemon's answer: the daemon gives up at the deadline, then removes what
// the join added (node.forgetTimeout at most) before it answers.
const joinGrace = 35 * time.Second

// Join joins the space of a ticket; it may take a while, and gives up
// when ctx ends: POST /v1/join?timeout=. With a deadline on ctx the
// daemon gives up at it and Join returns once the daemon has removed what
// the join added (a context.DeadlineExceeded kind): a 'loam space ls'
// just after a join that gave up does not show the space.
func (c *Client) Join(ctx context.Context, ticket string) (SpaceInfo, error) {
	var out SpaceInfo
	dl, ok := ctx.Deadline()
	if !ok {
		err := c.call(ctx, http.MethodPost, "/"+Version+"/join", JoinRequest{Ticket: ticket}, &out)
		return out, err
	}
	d := time.Until(dl)
	if d <= 0 {
		return out, context.DeadlineExceeded
	}
	// The call outlives ctx's deadline by joinGrace, and ends with ctx
	// when ctx is cancelled rather than timed out.
	callCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), dl.Add(joinGrace))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	defer stop()
	q := url.Values{"timeout": {d.String()}}
	err := c.callQuery(callCtx, http.MethodPost, "/"+Version+"/join", q, JoinRequest{Ticket: ticket}, &out)
	return out, err
}

// Peers lists the peers the node knows: GET /v1/peers.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	return callFor[[]Peer](ctx, c, http.MethodGet, "/"+Version+"/peers", nil)
}

// Connect dials a peer by multiaddr and returns its peer ID: POST
// /v1/connect.
func (c *Client) Connect(ctx context.Context, addr string) (string, error) {
	var out ConnectResponse
	err := c.call(ctx, http.MethodPost, "/"+Version+"/connect", ConnectRequest{Addr: addr}, &out)
	return out.Peer, err
}

// Status returns the node's status: GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return callFor[Status](ctx, c, http.MethodGet, "/"+Version+"/status", nil)
}

// Doctor returns how the node reaches peers and what each space misses:
// GET /v1/doctor.
func (c *Client) Doctor(ctx context.Context) (Doctor, error) {
	return callFor[Doctor](ctx, c, http.MethodGet, "/"+Version+"/doctor", nil)
}

// Watch subscribes to the changes to sp's keys under prefix: GET
// /v1/spaces/{space}/watch. It returns once the daemon has registered the
// watch: every change applied after that arrives. The stream ends when ctx
// ends or Close is called.
func (c *Client) Watch(ctx context.Context, sp string, prefix []byte) (*Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	q := url.Values{}
	if len(prefix) > 0 {
		q.Set("prefix", string(prefix))
	}
	resp, err := c.do(ctx, http.MethodGet, spacePath(sp, "/watch"), q, nil, "")
	if err != nil {
		cancel()
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("api: watch answered %q, not an event stream", ct)
	}
	return &Watcher{ctx: ctx, cancel: cancel, body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10)}, nil
}

// Watcher reads a watch's server-sent events. It is not safe for
// concurrent use, except Close.
type Watcher struct {
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	r      *bufio.Reader
}

// Next returns the next change: an entry with Op "put" or "del", or
// OpResync when the watch fell behind and changes were dropped (list the
// keys again; the changes after it are all delivered). When the stream
// ends it returns the context's error if the context ended, else an error
// saying the daemon ended the stream.
func (w *Watcher) Next() (Entry, error) {
	var data []byte
	event := ""
	for {
		line, err := w.r.ReadBytes('\n')
		if err != nil {
			if w.ctx.Err() != nil {
				return Entry{}, w.ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return Entry{}, errors.New("the daemon ended the watch (did it stop?)")
			}
			return Entry{}, fmt.Errorf("the watch broke off: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			switch {
			case event == OpResync:
				return Entry{Op: OpResync}, nil
			case data == nil, event != "" && event != "message":
				data, event = nil, "" // nothing, or an event this client does not know
				continue
			}
			var e Entry
			if err := json.Unmarshal(data, &e); err != nil {
				return Entry{}, fmt.Errorf("api: a watch event is not the JSON expected: %w", err)
			}
			return e, nil
		case line[0] == ':':
			// a comment
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, value...)
			case "event":
				event = string(value)
			}
		}
	}
}

// Close ends the watch. It is idempotent.
func (w *Watcher) Close() error {
	w.cancel()
	return w.body.Close()
}

// LoginURL asks the daemon for a new one-time login URL for a browser.
func (c *Client) LoginURL(ctx context.Context) (LoginURL, error) {
	return callFor[LoginURL](ctx, c, http.MethodPost, "/"+Version+"/logins", nil)
}

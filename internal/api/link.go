package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

// Linking a device and recovering an identity (issue 12). The phrase of
// POST /v1/identity/recover is in its body only: the API is the local
// user's (token, loopback), and nothing logs bodies.

// RecoverRequest is the body of POST /v1/identity/recover.
type RecoverRequest struct {
	Phrase     string   `json:"phrase"`
	Name       string   `json:"name,omitempty"`   // "": learned from the person's own space
	Device     string   `json:"device,omitempty"` // "": the host name
	PhraseOnly bool     `json:"phrase_only,omitempty"`
	Peers      []string `json:"peers,omitempty"` // multiaddrs with /p2p/ of peers holding the person's space
}

// LinkRequest is the body of POST /v1/identity/link.
type LinkRequest struct {
	WithIdentity bool `json:"with_identity,omitempty"`
}

// LinkTicket answers POST /v1/identity/link.
type LinkTicket struct {
	Ticket  string    `json:"ticket"`
	Expires time.Time `json:"expires"`
}

// WaitLinkedRequest is the body of POST /v1/identity/link/wait.
type WaitLinkedRequest struct {
	Ticket string `json:"ticket"`
}

// WaitLinkedResponse answers POST /v1/identity/link/wait: Linked is false
// when the server's wait (waitLinkedSlice) ended first: ask again.
type WaitLinkedResponse struct {
	Linked bool       `json:"linked"`
	Device DeviceCert `json:"device,omitzero"`
}

// AddDeviceRequest is the body of POST /v1/identity/add.
type AddDeviceRequest struct {
	Ticket string `json:"ticket"`
	Device string `json:"device,omitempty"` // "": the host name
}

// waitLinkedSlice bounds one POST /v1/identity/link/wait, so that no
// request outlives a shutdown by long; the client asks again.
const waitLinkedSlice = 30 * time.Second

func (s *Server) recoverIdentity(r *http.Request, req RecoverRequest) (Identity, error) {
	id, err := s.n.Recover(r.Context(), req.Phrase, req.Name, node.IdentityOptions{Device: req.Device, PhraseOnly: req.PhraseOnly, Peers: req.Peers})
	return IdentityOf(id), err
}

func (s *Server) linkDevice(r *http.Request, req LinkRequest) (LinkTicket, error) {
	t, err := s.n.LinkDevice(r.Context(), node.LinkOptions{WithIdentity: req.WithIdentity})
	if err != nil {
		return LinkTicket{}, err
	}
	return LinkTicketOf(t), nil
}

// LinkTicketOf is the API's form of a link ticket the node just made,
// with when it expires (node.LinkValidity from now): the one the server
// and the root package's embedded path share.
func LinkTicketOf(t keys.Ticket) LinkTicket {
	return LinkTicket{Ticket: t.String(), Expires: time.Now().Add(node.LinkValidity).UTC().Truncate(time.Second)}
}

func (s *Server) waitLinked(w http.ResponseWriter, r *http.Request) {
	var req WaitLinkedRequest
	t, err := decodeTicketBody(r, &req, &req.Ticket)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), waitLinkedSlice)
	defer cancel()
	c, err := s.n.WaitLinked(ctx, t)
	switch {
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		writeJSON(w, http.StatusOK, WaitLinkedResponse{})
	case err != nil:
		writeError(w, err)
	default:
		writeJSON(w, http.StatusOK, WaitLinkedResponse{Linked: true, Device: DeviceCertOf(c)})
	}
}

func (s *Server) addDevice(r *http.Request) (Identity, error) {
	var req AddDeviceRequest
	t, err := decodeTicketBody(r, &req, &req.Ticket)
	if err != nil {
		return Identity{}, err
	}
	id, err := s.n.AddDevice(r.Context(), t, req.Device)
	return IdentityOf(id), err
}

// decodeTicketBody decodes the JSON body into req and parses the ticket
// its field ticket holds.
func decodeTicketBody(r *http.Request, req any, ticket *string) (keys.Ticket, error) {
	if err := decodeJSON(r, req); err != nil {
		return keys.Ticket{}, err
	}
	return keys.ParseTicket(*ticket)
}

// RecoverIdentity makes the daemon's device one of the devices of the
// identity of a recovery phrase: POST /v1/identity/recover.
func (c *Client) RecoverIdentity(ctx context.Context, req RecoverRequest) (Identity, error) {
	return callFor[Identity](ctx, c, http.MethodPost, "/"+Version+"/identity/recover", req)
}

// LinkDevice makes a link ticket for a new device: POST /v1/identity/link.
func (c *Client) LinkDevice(ctx context.Context, req LinkRequest) (LinkTicket, error) {
	return callFor[LinkTicket](ctx, c, http.MethodPost, "/"+Version+"/identity/link", req)
}

// WaitLinked waits until the device that used a link ticket is certified
// (POST /v1/identity/link/wait, asked again until it answers or ctx ends).
func (c *Client) WaitLinked(ctx context.Context, ticket string) (DeviceCert, error) {
	for {
		var out WaitLinkedResponse
		if err := c.call(ctx, http.MethodPost, "/"+Version+"/identity/link/wait", WaitLinkedRequest{Ticket: ticket}, &out); err != nil {
			return DeviceCert{}, err
		}
		if out.Linked {
			return out.Device, nil
		}
	}
}

// AddDevice makes the daemon's device a device of the person whose link
// ticket it is: POST /v1/identity/add.
func (c *Client) AddDevice(ctx context.Context, req AddDeviceRequest) (Identity, error) {
	return callFor[Identity](ctx, c, http.MethodPost, "/"+Version+"/identity/add", req)
}

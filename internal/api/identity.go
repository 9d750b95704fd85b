package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/identity"
	"github.com/loamdb/loam/internal/node"
)

// A person's identity on the daemon's device (issue 12), and grants that
// name a person. The recovery phrase of a new identity is in the answer
// of POST /v1/identity only: the API is the local user's (token, loopback),
// and nothing logs bodies.

// Identity is the answer of GET /v1/identity: the identity this device
// holds.
type Identity struct {
	ID       string     `json:"id"`        // idt_…
	Name     string     `json:"name"`      // the person's name
	HoldsKey bool       `json:"holds_key"` // the identity key is on this device
	Device   DeviceCert `json:"device"`    // this device's certificate
}

// DeviceCert is a device's certificate: which device, under what name,
// since when.
type DeviceCert struct {
	Author string    `json:"author"` // aut_…
	Name   string    `json:"name"`
	Since  time.Time `json:"since"`
}

// CreateIdentityRequest is the body of POST /v1/identity.
type CreateIdentityRequest struct {
	Name       string `json:"name"`
	Device     string `json:"device,omitempty"`      // "": the host name
	PhraseOnly bool   `json:"phrase_only,omitempty"` // keep the key only in the phrase
}

// CreateIdentityResponse answers POST /v1/identity: the identity, and its
// recovery phrase, shown this once.
type CreateIdentityResponse struct {
	Identity
	Phrase string `json:"phrase"`
}

// GrantRequest is the body of POST /v1/spaces/{space}/grants: subject is
// a person (idt_…) or a device (aut_…).
type GrantRequest struct {
	Subject string `json:"subject"`
	Role    string `json:"role"`
}

// IdentityOf converts a node's identity to the API's form.
func IdentityOf(id node.Identity) Identity {
	return Identity{
		ID: id.ID.String(), Name: id.Name, HoldsKey: id.HoldsKey(),
		Device: DeviceCertOf(id.Cert),
	}
}

// DeviceCertOf is the API's form of a device certificate.
func DeviceCertOf(c identity.Cert) DeviceCert {
	return DeviceCert{Author: c.Device.String(), Name: c.Name, Since: time.UnixMicro(int64(c.Time)).UTC()}
}

func (s *Server) identity(r *http.Request) (Identity, error) {
	id, err := s.n.Identity(r.Context())
	return IdentityOf(id), err
}

func (s *Server) createIdentity(r *http.Request, req CreateIdentityRequest) (CreateIdentityResponse, error) {
	id, phrase, err := s.n.CreateIdentity(r.Context(), req.Name, node.IdentityOptions{Device: req.Device, PhraseOnly: req.PhraseOnly})
	return CreateIdentityResponse{Identity: IdentityOf(id), Phrase: phrase.String()}, err
}

func (s *Server) grant(w http.ResponseWriter, r *http.Request) {
	var req GrantRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	role, err := commit.ParseRole(req.Role)
	if err != nil {
		writeError(w, badRequestf("%v", err))
		return
	}
	if strings.TrimSpace(req.Subject) == "" {
		writeError(w, badRequestf("subject must name a person (idt_…) or a device (aut_…)"))
		return
	}
	sp, err := s.space(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.n.Grant(r.Context(), sp.ID().String(), req.Subject, role); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Identity returns the identity the daemon's device holds: GET /v1/identity.
func (c *Client) Identity(ctx context.Context) (Identity, error) {
	return callFor[Identity](ctx, c, http.MethodGet, "/"+Version+"/identity", nil)
}

// CreateIdentity makes a new identity on the daemon's device:
// POST /v1/identity. The answer holds the recovery phrase.
func (c *Client) CreateIdentity(ctx context.Context, req CreateIdentityRequest) (CreateIdentityResponse, error) {
	return callFor[CreateIdentityResponse](ctx, c, http.MethodPost, "/"+Version+"/identity", req)
}

// Grant grants role in a space to a person (idt_…) or a device (aut_…):
// POST /v1/spaces/{space}/grants.
func (c *Client) Grant(ctx context.Context, sp, subject, role string) error {
	return c.call(ctx, http.MethodPost, spacePath(sp, "/grants"), GrantRequest{Subject: subject, Role: role}, nil)
}

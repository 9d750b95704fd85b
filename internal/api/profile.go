package api

import (
	"context"
	"net/http"

	"github.com/loamdb/loam/internal/space"
)

// Profiles (#12): the display name and avatar of the daemon's person,
// which the daemon writes into the spaces it holds (docs/apps.md,
// "Profiles").

// Profile is a person's profile: the body of PUT /v1/identity/profile and
// the answer of GET /v1/identity/profile.
type Profile struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar"` // the avatar image's blob ID (blb_…, POST /v1/blobs), or ""
}

// SetProfileResponse answers PUT /v1/identity/profile.
type SetProfileResponse struct {
	Profile
	Written int `json:"written"` // spaces the profile was written into
}

func (s *Server) profile(r *http.Request) (Profile, error) {
	p, err := s.n.Profile(r.Context())
	return Profile(p), err
}

func (s *Server) setProfile(r *http.Request, req Profile) (SetProfileResponse, error) {
	n, err := s.n.SetProfile(r.Context(), space.Profile(req))
	return SetProfileResponse{Profile: req, Written: n}, err
}

// Profile returns the profile of the daemon's person: GET
// /v1/identity/profile.
func (c *Client) Profile(ctx context.Context) (Profile, error) {
	return callFor[Profile](ctx, c, http.MethodGet, "/"+Version+"/identity/profile", nil)
}

// SetProfile sets the profile of the daemon's person: PUT
// /v1/identity/profile.
func (c *Client) SetProfile(ctx context.Context, p Profile) (SetProfileResponse, error) {
	return callFor[SetProfileResponse](ctx, c, http.MethodPut, "/"+Version+"/identity/profile", p)
}

package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/node"
)

// The person's devices (issue 12): GET /v1/identity/devices lists them,
// POST /v1/identity/devices/revoke revokes one with the identity key held
// on the daemon's device.

// Device is one of the person's devices (node.Device).
type Device struct {
	Author   string         `json:"author"` // aut_…
	Name     string         `json:"name"`
	Since    time.Time      `json:"since"`               // its certificate's time
	LastSeen *time.Time     `json:"last_seen,omitempty"` // latest commit or sync; absent: never
	This     bool           `json:"this,omitempty"`      // the daemon's device
	Spaces   int            `json:"spaces"`              // held spaces its certificate is in
	Revoked  *DeviceRevoked `json:"revoked,omitempty"`
}

// DeviceRevoked says how a device is revoked.
type DeviceRevoked struct {
	At      *time.Time `json:"at,omitempty"`      // the identity's revocation; absent: cut by an admin
	Spaces  int        `json:"spaces"`            // held spaces where it is cut
	Pending int        `json:"pending,omitempty"` // held spaces where it is not cut yet
}

// RevokeDeviceRequest is the body of POST /v1/identity/devices/revoke:
// the device's name or author ID.
type RevokeDeviceRequest struct {
	Device string `json:"device"`
}

// RevokeDeviceResponse answers POST /v1/identity/devices/revoke.
type RevokeDeviceResponse struct {
	Author  string `json:"author"`
	Name    string `json:"name"`
	Written int    `json:"written"`           // spaces the revocation was written into
	Pending int    `json:"pending,omitempty"` // spaces where it waits for a role
}

// DevicesOf converts the node's devices to the API's form.
func DevicesOf(ds []node.Device) []Device {
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		a := Device{Author: d.Author.String(), Name: d.Name, Since: d.Since, This: d.This, Spaces: d.Spaces}
		if !d.LastSeen.IsZero() {
			t := d.LastSeen.UTC()
			a.LastSeen = &t
		}
		if r := d.Revoked; r != nil {
			a.Revoked = &DeviceRevoked{Spaces: r.Spaces, Pending: r.Pending}
			if !r.At.IsZero() {
				t := r.At.UTC()
				a.Revoked.At = &t
			}
		}
		out = append(out, a)
	}
	return out
}

// RevokedDeviceOf converts what node.RevokeDevice did to the API's form.
func RevokedDeviceOf(r node.RevokedDevice) RevokeDeviceResponse {
	return RevokeDeviceResponse{Author: r.Device.String(), Name: r.Name, Written: r.Written, Pending: r.Pending}
}

func (s *Server) devices(r *http.Request) ([]Device, error) {
	ds, err := s.n.Devices(r.Context())
	if err != nil {
		return nil, err
	}
	return DevicesOf(ds), nil
}

func (s *Server) revokeDevice(r *http.Request, req RevokeDeviceRequest) (RevokeDeviceResponse, error) {
	if strings.TrimSpace(req.Device) == "" {
		return RevokeDeviceResponse{}, badRequestf("device must name one of the person's devices, by name or author ID (aut_…)")
	}
	rv, err := s.n.RevokeDevice(r.Context(), req.Device)
	return RevokedDeviceOf(rv), err
}

// Devices lists the person's devices: GET /v1/identity/devices.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	return callFor[[]Device](ctx, c, http.MethodGet, "/"+Version+"/identity/devices", nil)
}

// RevokeDevice revokes one of the person's devices, by name or author ID:
// POST /v1/identity/devices/revoke.
func (c *Client) RevokeDevice(ctx context.Context, device string) (RevokeDeviceResponse, error) {
	return callFor[RevokeDeviceResponse](ctx, c, http.MethodPost, "/"+Version+"/identity/devices/revoke", RevokeDeviceRequest{Device: device})
}

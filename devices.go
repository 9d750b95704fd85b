package loam

import (
	"context"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
)

// A person's devices (issue 12): the devices their identity certified,
// as the spaces held here show them, and revoking one of them.

// Errors of devices.
var (
	// ErrUnknownDevice: no device of the person has that name or author
	// ID here, or the name is ambiguous.
	ErrUnknownDevice = node.ErrUnknownDevice
	// ErrRevokeThisDevice: a device cannot revoke itself.
	ErrRevokeThisDevice = node.ErrRevokeThisDevice
)

// Device is one of the person's devices.
type Device struct {
	Author string    `json:"author"` // aut_…
	Name   string    `json:"name"`
	Since  time.Time `json:"since"` // when the identity certified it
	// LastSeen is its latest commit in a space held here, or the last
	// sync with it, whichever is newer (nil: never).
	LastSeen *time.Time `json:"last_seen,omitempty"`
	This     bool       `json:"this,omitempty"` // this device
	Spaces   int        `json:"spaces"`         // spaces held here its certificate is in
	// Revoked is set for a revoked device.
	Revoked *DeviceRevoked `json:"revoked,omitempty"`
}

// DeviceRevoked says how a device is revoked.
type DeviceRevoked struct {
	// At is the time of the identity's revocation (nil: cut by an admin).
	At *time.Time `json:"at,omitempty"`
	// Spaces counts the spaces held here where it is cut; Pending those
	// where it is not cut yet (the revocation is written there as soon as
	// one of the person's devices may).
	Spaces  int `json:"spaces"`
	Pending int `json:"pending,omitempty"`
}

// RevokedDevice is what RevokeDevice did.
type RevokedDevice struct {
	Author  string `json:"author"`
	Name    string `json:"name"`
	Written int    `json:"written"` // spaces the revocation was written into
	// Pending counts the spaces where the device is certified but this
	// device may not write the revocation yet; it is written once it may.
	Pending int `json:"pending,omitempty"`
}

// deviceNode is what a Node implementation does for a person's devices.
type deviceNode interface {
	devices(ctx context.Context) ([]Device, error)
	revokeDevice(ctx context.Context, device string) (RevokedDevice, error)
}

// Devices lists the person's devices: this device first, then by time of
// certification, each with its name, when it was certified and last seen,
// and whether it is revoked. ErrNoIdentity without an identity.
func (n *Node) Devices(ctx context.Context) ([]Device, error) { return n.impl.devices(ctx) }

// RevokeDevice revokes one of the person's devices, named by its name or
// its author ID (aut_…). The identity signs the revocation once; it is
// written into every space held here where the device is certified, cut
// after the device's latest commit held here, and the person's other
// devices carry it into the spaces they hold: there, the device's later
// commits stop counting on every replica, and a private space's read key
// is rotated without it. This device must hold the identity key
// (ErrNoIdentityKey) and cannot revoke itself (ErrRevokeThisDevice).
func (n *Node) RevokeDevice(ctx context.Context, device string) (RevokedDevice, error) {
	return n.impl.revokeDevice(ctx, device)
}

// One road for devices, embedded or through a daemon: node's form becomes
// the API's, which becomes this package's here.
func devicesOf(ds []api.Device) []Device {
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		x := Device{Author: d.Author, Name: d.Name, Since: d.Since, LastSeen: d.LastSeen, This: d.This, Spaces: d.Spaces}
		if d.Revoked != nil {
			r := DeviceRevoked(*d.Revoked)
			x.Revoked = &r
		}
		out = append(out, x)
	}
	return out
}

func revokedDeviceOf(r api.RevokeDeviceResponse) RevokedDevice {
	return RevokedDevice(r)
}

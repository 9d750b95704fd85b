package loam

import (
	"context"

	"github.com/loamdb/loam/internal/api"
)

func (l localNode) devices(ctx context.Context) ([]Device, error) {
	ds, err := l.n.Devices(ctx)
	if err != nil {
		return nil, err
	}
	return devicesOf(api.DevicesOf(ds)), nil
}

func (l localNode) revokeDevice(ctx context.Context, device string) (RevokedDevice, error) {
	r, err := l.n.RevokeDevice(ctx, device)
	if err != nil {
		return RevokedDevice{}, err
	}
	return revokedDeviceOf(api.RevokedDeviceOf(r)), nil
}

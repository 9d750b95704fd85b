package loam

import "context"

func (r *remoteNode) devices(ctx context.Context) ([]Device, error) {
	ds, err := r.c.Devices(ctx)
	if err != nil {
		return nil, err
	}
	return devicesOf(ds), nil
}

func (r *remoteNode) revokeDevice(ctx context.Context, device string) (RevokedDevice, error) {
	out, err := r.c.RevokeDevice(ctx, device)
	if err != nil {
		return RevokedDevice{}, err
	}
	return revokedDeviceOf(out), nil
}

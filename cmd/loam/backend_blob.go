package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

func (d directBackend) PutBlob(ctx context.Context, ref string, key []byte, r io.Reader, mediaType string) (loam.BlobRef, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return loam.BlobRef{}, err
	}
	return sp.PutBlob(ctx, key, r, mediaType)
}

func (d directBackend) AddBlob(ctx context.Context, r io.Reader) (loam.BlobInfo, error) {
	return d.n.AddBlob(ctx, r)
}

func (d directBackend) Blobs(ctx context.Context) ([]loam.BlobInfo, error) { return d.n.Blobs(ctx) }

func (d directBackend) FetchBlob(ctx context.Context, id string, progress func(loam.BlobProgress)) (loam.FetchStats, error) {
	st, err := d.n.FetchBlob(ctx, id, progress)
	if errors.Is(err, loam.ErrOffline) {
		err = errors.New("fetching a blob needs the network: start 'loam daemon' for this home, then run this again")
	}
	return st, err
}

func (d directBackend) OpenBlob(ctx context.Context, id string) (io.ReadCloser, int64, error) {
	r, err := d.n.OpenBlob(ctx, id)
	if err != nil {
		if errors.Is(err, loam.ErrOffline) {
			err = fmt.Errorf("blob %s is not all here; start 'loam daemon' for this home to fetch it from peers", id)
		}
		return nil, 0, err
	}
	return r, r.Size(), nil
}

func (d directBackend) OpenKeyBlob(ctx context.Context, ref string, key []byte) (io.ReadCloser, int64, error) {
	sp, err := d.n.Space(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	r, err := sp.OpenBlob(ctx, key)
	if err != nil {
		if errors.Is(err, loam.ErrOffline) {
			err = fmt.Errorf("the blob of %q is not all here; start 'loam daemon' for this home to fetch it from peers", key)
		}
		return nil, 0, err
	}
	return r, r.Size(), nil
}

func (d directBackend) SetPin(ctx context.Context, id string, on bool) error {
	if on {
		return d.n.PinBlob(ctx, id)
	}
	return d.n.UnpinBlob(ctx, id)
}

func (d directBackend) GCBlobs(ctx context.Context) (int64, error) { return d.n.GCBlobs(ctx) }

func (d daemonBackend) PutBlob(ctx context.Context, ref string, key []byte, r io.Reader, mediaType string) (loam.BlobRef, error) {
	// The daemon stores a value over the threshold as a blob; r is over it.
	br, err := d.c.PutStream(ctx, ref, key, r, mediaType)
	if err != nil {
		return loam.BlobRef{}, err
	}
	if br == nil {
		return loam.BlobRef{}, errors.New("the daemon stored the value as a plain value, not a blob")
	}
	return loam.BlobRef{ID: br.ID, Size: br.Size, Type: br.Type}, nil
}

func blobInfoOf(b api.BlobInfo) loam.BlobInfo {
	return loam.BlobInfo{ID: b.ID, Size: b.Size, Chunks: b.Chunks, Held: b.Held, Pinned: b.Pinned}
}

func (d daemonBackend) AddBlob(ctx context.Context, r io.Reader) (loam.BlobInfo, error) {
	b, err := d.c.AddBlob(ctx, r)
	return blobInfoOf(b), err
}

func (d daemonBackend) Blobs(ctx context.Context) ([]loam.BlobInfo, error) {
	bs, err := d.c.Blobs(ctx)
	out := make([]loam.BlobInfo, len(bs))
	for i, b := range bs {
		out[i] = blobInfoOf(b)
	}
	return out, err
}

func (d daemonBackend) FetchBlob(ctx context.Context, id string, progress func(loam.BlobProgress)) (loam.FetchStats, error) {
	var pf func(api.FetchEvent)
	if progress != nil {
		pf = func(ev api.FetchEvent) { progress(loam.BlobProgress{Done: ev.Done, Total: ev.Total, Peers: ev.Peers}) }
	}
	st, err := d.c.FetchBlob(ctx, id, pf)
	if err != nil {
		return loam.FetchStats{}, err
	}
	return loam.FetchStats{Fetched: st.Fetched, Peers: st.Peers, Corrupt: st.Corrupt}, nil
}

func (d daemonBackend) OpenBlob(ctx context.Context, id string) (io.ReadCloser, int64, error) {
	return d.c.OpenBlob(ctx, id)
}

func (d daemonBackend) OpenKeyBlob(ctx context.Context, ref string, key []byte) (io.ReadCloser, int64, error) {
	return d.c.GetRaw(ctx, ref, key)
}

func (d daemonBackend) SetPin(ctx context.Context, id string, on bool) error {
	if on {
		return d.c.PinBlob(ctx, id)
	}
	return d.c.UnpinBlob(ctx, id)
}

func (d daemonBackend) GCBlobs(ctx context.Context) (int64, error) { return d.c.GCBlobs(ctx) }

package loam

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// rangeOpener opens bytes of a blob through the API, from off on (at
// most n if n > 0), and says how many it sends.
type rangeOpener func(ctx context.Context, off, n int64) (io.ReadCloser, int64, error)

// remoteBlob reads a blob through the API: one stream while reads follow
// each other, a new ranged request after a Seek, one per ReadAt. Its
// requests use the context it was opened with.
type remoteBlob struct {
	ctx  context.Context
	open rangeOpener
	size int64
	off  int64
	body io.ReadCloser // streams from off; nil after a Seek
}

// openRemote opens a blob of size bytes (-1: as the daemon says) and
// starts reading it, so that errors (not found, unavailable) come now.
func openRemote(ctx context.Context, size int64, open rangeOpener) (*remoteBlob, error) {
	body, n, err := open(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	if size < 0 {
		if n < 0 {
			body.Close()
			return nil, errors.New("loam: the daemon sent a blob without its size")
		}
		size = n
	}
	return &remoteBlob{ctx: ctx, open: open, size: size, body: body}, nil
}

func (b *remoteBlob) Size() int64 { return b.size }

func (b *remoteBlob) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.body == nil {
		body, _, err := b.open(b.ctx, b.off, 0)
		if err != nil {
			return 0, err
		}
		b.body = body
	}
	if rest := b.size - b.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.body.Read(p)
	b.off += int64(n)
	if errors.Is(err, io.EOF) {
		if b.off < b.size {
			return n, fmt.Errorf("loam: the daemon's blob stream ended at byte %d of %d: %w", b.off, b.size, io.ErrUnexpectedEOF)
		}
		err = nil
	}
	return n, err
}

func (b *remoteBlob) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += b.off
	case io.SeekEnd:
		off += b.size
	}
	if off < 0 {
		return b.off, errors.New("loam: seek before the start of the blob")
	}
	if off != b.off && b.body != nil {
		b.body.Close()
		b.body = nil
	}
	b.off = off
	return off, nil
}

func (b *remoteBlob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("loam: read the blob at a negative offset")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), b.size-off)
	body, _, err := b.open(b.ctx, off, want)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		return n, fmt.Errorf("loam: read the blob through the daemon: %w", err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (b *remoteBlob) Close() error {
	if b.body != nil {
		err := b.body.Close()
		b.body = nil
		return err
	}
	return nil
}

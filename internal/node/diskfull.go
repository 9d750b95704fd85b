package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/store"
)

// addLeased stores a blob as blob.Store.AddLeased does, on a disk with
// room: not once the store's reserve is reached (store.Room), and a write
// that finds the disk full fails with an error wrapping store.ErrDiskFull
// (the blob store leaves nothing of it behind).
func (n *Node) addLeased(ctx context.Context, r io.Reader) (blob.BlobID, blob.Manifest, func(), error) {
	if err := n.st.Room(); err != nil {
		return blob.BlobID{}, blob.Manifest{}, nil, fmt.Errorf("node: store a blob: %w", err)
	}
	id, m, release, err := n.blobs.AddLeased(ctx, r)
	if errors.Is(err, syscall.ENOSPC) {
		err = fmt.Errorf("node: store a blob: %w: %v (free space on the disk holding %s, then try again)", store.ErrDiskFull, err, n.home)
	}
	return id, m, release, err
}

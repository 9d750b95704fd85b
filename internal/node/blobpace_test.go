package node

import (
	"bytes"
	crand "crypto/rand"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
)

// TestThrottledSeederServesToTheEnd: a seeder throttled to 1 MiB/s serves
// a 4 MiB blob whole to a downloader whose request timeout (1.5 s here,
// a minute in a daemon) is shorter than the time its requests wait for
// their turn under the seeder's rate: waiting in the pacer is not a
// peer that stopped answering. (The seeder's answers that wait get some
// bytes every 250 ms here, every 10 s in a daemon.)
func TestThrottledSeederServesToTheEnd(t *testing.T) {
	ctx := ctxT(t)
	seeder, err := Open(ctx, Options{Home: t.TempDir(), Listen: loopback, NoSync: true, UploadRate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seeder.Close() })
	seeder.upload = blob.NewPacer(1<<20, 250*time.Millisecond)
	data := make([]byte, 4<<20)
	crand.Read(data)
	id, _, err := seeder.AddBlob(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	d := openNode(t, t.TempDir())
	d.blobTimeouts.request = 1500 * time.Millisecond
	if _, err := d.Connect(ctx, seeder.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st, err := d.FetchBlob(ctx, id, nil, blob.FetchOptions{})
	t.Logf("%v: %+v", time.Since(start), st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBlob(t, d, id), data) {
		t.Fatal("the copy differs")
	}
	if len(st.Failed) > 0 || st.Retries > 0 {
		t.Errorf("%d requests timed out, sources dropped: %v", st.Retries, st.Failed)
	}
}

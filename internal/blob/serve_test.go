package blob_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/frame"
)

// tcpStream is a blob.Stream over a loopback TCP connection: the server
// needs no p2p host.
type tcpStream struct{ *net.TCPConn }

func (s tcpStream) Reset() error {
	s.SetLinger(0)
	return s.Close()
}

// serveTCP serves srv on a loopback listener until the test ends, and
// returns a dial function and a channel of what each Serve returned.
func serveTCP(t *testing.T, srv *blob.Server) (func(context.Context) (blob.Stream, error), <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		cancel()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				err := srv.Serve(ctx, tcpStream{c.(*net.TCPConn)})
				select {
				case served <- err:
				default:
				}
			})
		}
	})
	dial := func(ctx context.Context) (blob.Stream, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		return tcpStream{c.(*net.TCPConn)}, nil
	}
	return dial, served
}

// TestServerClient: a blob fetched through Client from a Server over
// plain TCP arrives whole; a chunk the server does not hold is
// ErrNotFound; Sent counts the data served.
func TestServerClient(t *testing.T) {
	data := make([]byte, 2*blob.ChunkSize+100)
	crand.Read(data)
	src, id := seed(t, data)
	var mu sync.Mutex
	sent := 0
	dial, served := serveTCP(t, &blob.Server{
		Holder: src, Pacer: blob.NewPacer(8<<20, blob.PacerKeep), Timeouts: blob.DefaultServeTimeouts,
		Sent: func(n int) { mu.Lock(); sent += n; mu.Unlock() },
	})
	c, opened := countingClient(dial)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fetchWhole(t, ctx, c, id, data)
	if _, err := c.Get(ctx, blob.BlobID{9}, 0); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("get of a blob not held: %v, want ErrNotFound", err)
	}
	c.Close() // the streams kept between requests: each ends cleanly
	if n := opened.Load(); n < 1 || n > 1+blob.DefaultPerSource {
		t.Errorf("opened %d streams for a Want and 4 Gets, at most %d in flight at once", n, blob.DefaultPerSource)
	}
	for range opened.Load() {
		if err := <-served; err != nil {
			t.Errorf("a stream that ended cleanly: Serve returned %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if sent != len(data) {
		t.Errorf("Sent counted %d bytes, want %d", sent, len(data))
	}
}

// TestServerRefusesMalformed: a request frame over the limit, or a
// message that is not a request, ends the stream with the peer's fault
// named; a peer that sends nothing is dropped with ErrTimeout.
func TestServerRefusesMalformed(t *testing.T) {
	src, id := seed(t, []byte("held"))
	dial, served := serveTCP(t, &blob.Server{
		Holder: src, Timeouts: frame.Timeouts{Idle: 300 * time.Millisecond, Grace: 300 * time.Millisecond},
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		send []byte
		want error
	}{
		{"a huge frame", binary.AppendUvarint(nil, blob.MaxBlobFrame), frame.ErrMalformed},
		{"an answer as a request", framed(&blob.BlobMsg{Type: blob.BlobMsgChunk, Blob: id, Data: []byte("x")}), blob.ErrBadBlobMsg},
		{"nothing", nil, frame.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := dial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Write(tc.send)
			select {
			case err := <-served:
				if !errors.Is(err, tc.want) {
					t.Errorf("Serve returned %v, want %v", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve still running after 10 s")
			}
			if n, _ := s.Read(make([]byte, 1)); n != 0 {
				t.Errorf("read %d bytes of an answer", n)
			}
		})
	}
}

// TestClientDropsSilentPeer: a peer that takes the request and never
// answers fails the request with frame.ErrTimeout after the client's
// Timeout, not the caller's context.
func TestClientDropsSilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{})
	defer close(done)
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		<-done // silence until the test ends
	})
	c := &blob.Client{Name: "silent", Timeout: 300 * time.Millisecond, Open: func(ctx context.Context) (blob.Stream, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return nil, err
		}
		return tcpStream{conn.(*net.TCPConn)}, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	_, err = c.Get(ctx, blob.BlobID{1}, 0)
	if !errors.Is(err, frame.ErrTimeout) || ctx.Err() != nil {
		t.Fatalf("a silent peer: %v after %v, want frame.ErrTimeout", err, time.Since(start))
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("gave up after %v, with a 300 ms timeout", d)
	}
}

// countingClient is a Client that opens its streams by dial and counts
// them in opened.
func countingClient(dial func(context.Context) (blob.Stream, error)) (c *blob.Client, opened *atomic.Int32) {
	opened = new(atomic.Int32)
	c = &blob.Client{Name: "tcp", Timeout: 10 * time.Second, Open: func(ctx context.Context) (blob.Stream, error) {
		opened.Add(1)
		return dial(ctx)
	}}
	return c, opened
}

// TestClientReusesStreams: requests made one after another go over one
// stream, kept between them (a new stream starts with a small flow-control
// window); Close ends it cleanly.
func TestClientReusesStreams(t *testing.T) {
	data := make([]byte, blob.ChunkSize+1)
	crand.Read(data)
	src, id := seed(t, data)
	dial, served := serveTCP(t, &blob.Server{Holder: src, Timeouts: blob.DefaultServeTimeouts})
	c, opened := countingClient(dial)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := c.Have(ctx, id); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		got, err := c.Get(ctx, id, i%2)
		if err != nil {
			t.Fatal(err)
		}
		if want := data[i%2*blob.ChunkSize:][:len(got)]; !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: wrong bytes", i%2)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("opened %d streams for 5 requests one after another, want 1", n)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve of the kept stream returned %v, want nil after Close", err)
	}
}

// TestClientReplacesDeadStream: a kept stream that died meanwhile (here
// closed under the client, as when its connection drops) costs the next
// request nothing: it is asked again on a new stream.
func TestClientReplacesDeadStream(t *testing.T) {
	src, id := seed(t, []byte("held"))
	dial, _ := serveTCP(t, &blob.Server{Holder: src, Timeouts: blob.DefaultServeTimeouts})
	var mu sync.Mutex
	var streams []blob.Stream
	c := &blob.Client{Name: "tcp", Timeout: 10 * time.Second, Open: func(ctx context.Context) (blob.Stream, error) {
		s, err := dial(ctx)
		if err == nil {
			mu.Lock()
			streams = append(streams, s)
			mu.Unlock()
		}
		return s, err
	}}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Get(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	streams[0].Close() // dies while kept
	mu.Unlock()
	got, err := c.Get(ctx, id, 0)
	if err != nil {
		t.Fatalf("a request after the kept stream died: %v", err)
	}
	if string(got) != "held" {
		t.Fatalf("got %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(streams) != 2 {
		t.Errorf("opened %d streams, want 2 (the first, then its replacement)", len(streams))
	}
}

package api

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/loamdb/loam/internal/node"
)

// openNode opens an offline node in a new home, closed when the test ends.
func openNode(t *testing.T) *node.Node {
	t.Helper()
	n, err := node.Open(context.Background(), node.Options{Home: t.TempDir(), Offline: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestServe runs the daemon's wiring: the API and the web UI on a loopback
// port, daemon.json written once it serves and removed first on Close,
// watch streams ended by Close, and the node left open.
func TestServe(t *testing.T) {
	ctx := ctxT(t)
	n := openNode(t)
	ui := fstest.MapFS{"index.html": {Data: []byte("<h1>loam</h1>")}}
	d, err := Serve(ctx, n, ServeOptions{Addr: "127.0.0.1:0", UI: ui})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	info, err := ReadDaemonInfo(n.Home())
	if err != nil {
		t.Fatal(err)
	}
	if info.API != d.Addr() || info.Peer != n.PeerID() || info.PID != os.Getpid() || !LoopbackHost(info.API) {
		t.Errorf("daemon.json %+v: want API %s, peer %s, pid %d", info, d.Addr(), n.PeerID(), os.Getpid())
	}
	tok, err := LoadOrCreateToken(n.Home())
	if err != nil || tok != d.Token() {
		t.Fatalf("token %q, the home's %q (%v)", d.Token(), tok, err)
	}

	c := d.Client()
	if _, err := c.CreateSpace(ctx, "garden"); err != nil {
		t.Fatal(err)
	}
	wrong := "0" + tok[1:] // a token that starts with 0 would be the right one
	if tok[0] == '0' {
		wrong = "1" + tok[1:]
	}
	if _, err := NewClient(d.Addr(), wrong).Spaces(ctx); !errors.Is(err, ErrForbidden) {
		t.Errorf("a wrong token: %v, want ErrForbidden", err)
	}
	resp, err := http.Get("http://" + d.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(page) != "<h1>loam</h1>" {
		t.Errorf("GET /: %s %q", resp.Status, page)
	}
	if u := d.LoginURL(); !strings.HasPrefix(u, "http://"+d.Addr()+"/login?t=") {
		t.Errorf("login URL %q", u)
	}

	w, err := c.Watch(ctx, "garden", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	select {
	case <-d.Done():
		t.Fatalf("Done before Close: %v", d.Err())
	default:
	}

	start := time.Now()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= ShutdownTimeout {
		t.Errorf("Close took %v with a watch open: the watch stream was not ended", took)
	}
	if _, err := os.Stat(filepath.Join(n.Home(), DaemonFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("daemon.json after Close: %v", err)
	}
	select {
	case <-d.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := d.Err(); err != nil {
		t.Errorf("Err after Close: %v", err)
	}
	if conn, err := net.Dial("tcp", d.Addr()); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Close", d.Addr())
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := n.Space(ctx, "garden"); err != nil {
		t.Errorf("the node after Close: %v (Close must leave it open)", err)
	}
}

// TestServeNoUI serves the API alone: paths outside /v1/ are not found.
func TestServeNoUI(t *testing.T) {
	d, err := Serve(ctxT(t), openNode(t), ServeOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	resp, err := http.Get("http://" + d.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("GET / without a UI: %s", resp.Status)
	}
}

// TestServeRefuses checks that Serve leaves nothing behind when it cannot
// serve: a host that is not loopback, and a port in use.
func TestServeRefuses(t *testing.T) {
	ctx := ctxT(t)
	n := openNode(t)
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:7777", "example.com:80", "127.0.0.1"} {
		if d, err := Serve(ctx, n, ServeOptions{Addr: addr}); !errors.Is(err, ErrNotLoopback) {
			if d != nil {
				d.Close()
			}
			t.Errorf("Serve on %s: %v, want ErrNotLoopback", addr, err)
		}
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d, err := Serve(ctx, n, ServeOptions{Addr: busy.Addr().String()})
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "listen" {
		if d != nil {
			d.Close()
		}
		t.Errorf("Serve on a port in use: %v, want a listen *net.OpError", err)
	}
	if _, err := os.Stat(filepath.Join(n.Home(), DaemonFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("daemon.json after a refused Serve: %v", err)
	}
}

// TestServeCancelled checks that a cancelled ctx stops Serve before it
// listens.
func TestServeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := Serve(ctx, openNode(t), ServeOptions{Addr: "127.0.0.1:0"}); !errors.Is(err, context.Canceled) {
		if d != nil {
			d.Close()
		}
		t.Errorf("Serve with a cancelled ctx: %v", err)
	}
}

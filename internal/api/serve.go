package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/loamdb/loam/internal/node"
)

// DefaultAddr is where a daemon serves its API unless told otherwise.
const DefaultAddr = "127.0.0.1:7777"

// ShutdownTimeout bounds the wait for API requests in flight when a Daemon
// closes; requests still running then are cut off.
const ShutdownTimeout = 5 * time.Second

// HTTP server timeouts of a Daemon.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// ServeOptions configure Serve.
type ServeOptions struct {
	// Addr is the loopback HOST:PORT to listen on (port 0: a free one);
	// "" means DefaultAddr. Any other host is refused: the API has the
	// node's full authority.
	Addr string
	// UI is the web UI's files (ui.Files), served outside /v1/; nil
	// serves none.
	UI fs.FS
	// UIListen, if set, is a HOST:PORT (e.g. 0.0.0.0:7443) where the web
	// UI and the API are also served over HTTPS to paired browsers on the
	// home network (see uilisten.go and 'loam pair'); "" serves none.
	UIListen string
	// Logger receives the HTTP server's own errors (a client that sent
	// garbage, a connection that broke) at debug level, and the start
	// and stop of serving at info level; nil discards them.
	Logger *slog.Logger
}

// Daemon is a node's API served on a loopback listener and announced in
// the node's home by DaemonFile, as 'loam daemon' runs it. Create it with
// Serve and end it with Close; the node stays the caller's, to close
// after the Daemon.
type Daemon struct {
	n     *node.Node
	s     *Server
	srv   *http.Server
	token string
	info  DaemonInfo
	log   *slog.Logger
	done  chan struct{} // closed when srv.Serve has returned

	lan     *http.Server  // the --ui-listen listener's, or nil
	lanAddr string        // where it listens
	lanDone chan struct{} // closed when lan.Serve has returned

	closeOnce sync.Once
	closeErr  error
	err       error // srv.Serve's result; set before done is closed
}

// ErrNotLoopback is returned by Serve for an address that is not a
// loopback HOST:PORT.
var ErrNotLoopback = errors.New("not a loopback HOST:PORT: the API listens only on 127.0.0.1, [::1] or localhost")

// Serve serves n's API (and the web UI, with o.UI) on o.Addr, guarded by
// the token of n's home (LoadOrCreateToken), and then writes DaemonFile in
// that home: once Serve returns, other processes find the API. Every
// error leaves nothing behind (no listener, no DaemonFile). ctx bounds
// only the start; the Daemon serves until Close.
func Serve(ctx context.Context, n *node.Node, o ServeOptions) (*Daemon, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	addr := o.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(addr); err != nil || !LoopbackHost(addr) {
		return nil, fmt.Errorf("api: serve on %s: %w", addr, ErrNotLoopback)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	home := n.Home()
	token, err := LoadOrCreateToken(home)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: serve: %w", err)
	}
	s := NewServer(n, token)
	if s.sessErr != nil {
		ln.Close()
		return nil, s.sessErr
	}
	s.phone.log.Store(logger)
	if o.UI != nil {
		s.ServeUI(o.UI)
	}
	d := &Daemon{
		n: n, s: s, token: token, log: logger,
		info: DaemonInfo{API: ln.Addr().String(), Peer: n.PeerID(), Addrs: n.Addrs(), PID: os.Getpid()},
		done: make(chan struct{}),
		srv: &http.Server{
			Handler:           s,
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
	}
	d.srv.RegisterOnShutdown(s.CloseStreams)
	if o.UIListen != "" {
		if err := d.listenLAN(ctx, o.UIListen); err != nil {
			ln.Close()
			return nil, err
		}
	}
	go d.serve(ln) // ended by Close
	if err := WriteDaemonInfo(home, d.info); err != nil {
		d.shutdown()
		return nil, err
	}
	logger.Info("api serving", "addr", d.info.API, "ui", o.UI != nil)
	if d.lan != nil {
		logger.Info("ui listener serving", "addr", d.lanAddr)
	}
	return d, nil
}

// listenLAN starts the --ui-listen listener on addr (see uilisten.go),
// with the home's certificate (made on first start).
func (d *Daemon) listenLAN(ctx context.Context, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("api: --ui-listen %q is not a HOST:PORT (e.g. 0.0.0.0:7443): %w", addr, err)
	}
	cert, err := LoadOrCreateUICert(d.n.Home(), d.log)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		// %v, not %w: the caller's advice for a busy --api port is not for this one.
		return fmt.Errorf("api: serve the web UI for phones (--ui-listen): %v (if the port is taken or the address is not this machine's, choose another --ui-listen HOST:PORT)", err)
	}
	d.s.phone.setListener(ln.Addr(), cert)
	d.s.phone.setReload(func() (*UICert, error) { return LoadOrCreateUICert(d.n.Home(), d.log) })
	d.lanAddr = ln.Addr().String()
	d.lan = &http.Server{
		Handler:           lanHandler{d.s},
		TLSConfig:         d.s.phone.lanTLSConfig(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	d.lan.RegisterOnShutdown(d.s.CloseStreams)
	d.lanDone = make(chan struct{})
	tln := tls.NewListener(newLimitListener(ln, lanMaxConns), d.lan.TLSConfig)
	go func() { // ended by shutdown
		defer close(d.lanDone)
		d.lan.Serve(tln)
	}()
	return nil
}

// UIListenAddr returns the HOST:PORT of the --ui-listen listener, or "".
func (d *Daemon) UIListenAddr() string { return d.lanAddr }

// UICert returns the --ui-listen listener's certificate, or nil.
func (d *Daemon) UICert() *UICert {
	_, c := d.s.phone.listening()
	return c
}

// serve runs the HTTP server until Close shuts it down (or it fails), then
// records its result and closes done.
func (d *Daemon) serve(ln net.Listener) {
	err := d.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	d.err = err
	close(d.done)
}

// Addr returns the HOST:PORT the API listens on.
func (d *Daemon) Addr() string { return d.info.API }

// Info returns what Serve wrote in DaemonFile.
func (d *Daemon) Info() DaemonInfo { return d.info }

// Token returns the API token that guards the server.
func (d *Daemon) Token() string { return d.token }

// Client returns a client of the API.
func (d *Daemon) Client() *Client { return NewClient(d.info.API, d.token) }

// LoginURL returns a new one-time login URL for a browser (see
// Server.LoginURL).
func (d *Daemon) LoginURL() string { return d.s.LoginURL(d.info.API) }

// Done is closed when the server has stopped: after Close, or on its own
// when it failed (see Err).
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Err returns why the server stopped on its own, once Done is closed; nil
// while it serves, and when Close stopped it.
func (d *Daemon) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Close stops serving: it removes DaemonFile first, so that no command
// finds a daemon that is stopping, then ends the watch streams, waits up
// to ShutdownTimeout for requests in flight and cuts off the rest. It
// does not close the node. Close is idempotent; it returns the error of
// removing DaemonFile.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		d.closeErr = RemoveDaemonInfo(d.n.Home())
		d.shutdown()
		d.log.Info("api stopped", "addr", d.info.API)
	})
	return d.closeErr
}

// shutdown ends the HTTP servers, waits for their Serve goroutines, and
// writes the browser sessions' last uses.
func (d *Daemon) shutdown() {
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if d.lan != nil {
		go func() { // returns when both servers have stopped
			if err := d.lan.Shutdown(sctx); err != nil {
				d.lan.Close()
			}
		}()
	}
	if err := d.srv.Shutdown(sctx); err != nil {
		d.srv.Close()
	}
	<-d.done
	if d.lan != nil {
		<-d.lanDone
	}
	d.s.sess.save()
}

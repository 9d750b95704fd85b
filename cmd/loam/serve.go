package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/loamdb/loam/internal/api"
	"github.com/loamdb/loam/internal/node"
	"github.com/loamdb/loam/internal/ui"
)

// shutdownTimeout bounds the wait for API requests in flight on exit.
const shutdownTimeout = 5 * time.Second

// apiServer is a node's HTTP API and web UI served on a listener, with
// the home's daemon.json naming it, as 'loam daemon' (and the web demo's
// nodes) serve them: the one place that wires them.
type apiServer struct {
	s      *api.Server
	srv    *http.Server
	served chan struct{} // closed when srv.Serve has returned
	err    error         // srv.Serve's result, once served is closed
	home   string
	info   api.DaemonInfo
}

// serveAPI serves n's API and web UI on ln, with the token of n's home,
// and writes the home's daemon.json. stop undoes it.
func serveAPI(n *node.Node, ln net.Listener) (*apiServer, error) {
	token, err := api.LoadOrCreateToken(n.Home())
	if err != nil {
		return nil, err
	}
	s := api.NewServer(n, token)
	s.ServeUI(ui.Files())
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	srv.RegisterOnShutdown(s.CloseStreams)
	a := &apiServer{s: s, srv: srv, served: make(chan struct{}), home: n.Home(),
		info: api.DaemonInfo{API: ln.Addr().String(), Peer: n.PeerID(), Addrs: n.Addrs(), PID: os.Getpid()}}
	go func() { // ended by stop
		defer close(a.served)
		a.err = srv.Serve(ln)
	}()
	if err := api.WriteDaemonInfo(a.home, a.info); err != nil {
		a.shutdown()
		return nil, err
	}
	return a, nil
}

// loginURL returns a one-time login link to the web UI.
func (a *apiServer) loginURL() string { return a.s.LoginURL(a.info.API) }

// stopped is closed when the server stops serving, by stop or by itself
// (then stoppedErr says why).
func (a *apiServer) stopped() <-chan struct{} { return a.served }

// stoppedErr says why the server stopped, once stopped is closed.
func (a *apiServer) stoppedErr() error { return fmt.Errorf("the API server stopped: %w", a.err) }

// stop removes daemon.json first, so that no command finds a server that
// is stopping, then shuts the server down and waits for it.
func (a *apiServer) stop() error {
	err := api.RemoveDaemonInfo(a.home)
	a.shutdown()
	return err
}

func (a *apiServer) shutdown() {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := a.srv.Shutdown(sctx); err != nil {
		a.srv.Close()
	}
	<-a.served
}

package api

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// metrics serves GET /metrics in the Prometheus text exposition format
// (version 0.0.4), written by hand: the format is a few lines per metric
// and needs no dependency. Counters only grow for the life of the daemon.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	c := s.n.Counters()
	sync := s.n.SyncTotals()
	var direct, relayed int
	for _, p := range s.n.Peers() {
		switch {
		case !p.Connected:
		case p.Direct:
			direct++
		default:
			relayed++
		}
	}
	infos, err := s.n.Spaces(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}

	var b bytes.Buffer
	m := metricWriter{&b}
	m.counter("loam_sync_commits_applied_total", "Commits received from peers, verified and applied.", sample{v: sync.CommitsIn})
	m.counter("loam_sync_commits_sent_total", "Commits sent to peers.", sample{v: sync.CommitsOut})
	m.counter("loam_commits_rejected_total", "Commits from peers refused, by reason; the sync session with that peer ends at the first.",
		sample{l: `reason="invalid_commit"`, v: c.Misbehaving["invalid_commit"]},
		sample{l: `reason="unauthorized_commit"`, v: c.Misbehaving["unauthorized_commit"]})
	var mis []sample
	for _, k := range slices.Sorted(maps.Keys(c.Misbehaving)) {
		mis = append(mis, sample{l: "kind=" + strconv.Quote(k), v: c.Misbehaving[k]})
	}
	m.counter("loam_peer_misbehaviour_total", "Peers disconnected and blocked for misbehaving, by kind.", mis...)
	m.counter("loam_sync_bytes_total", "Bytes of sync protocol frames, by direction.",
		sample{l: `direction="in"`, v: sync.BytesIn}, sample{l: `direction="out"`, v: sync.BytesOut})
	m.counter("loam_sync_sessions_total", "Sync sessions started.", sample{v: c.Sessions})
	m.gauge("loam_sync_sessions", "Sync sessions running.", sample{v: uint64(sync.Sessions)})
	m.gauge("loam_peers", "Connected peers, by connection type.",
		sample{l: `type="direct"`, v: uint64(direct)}, sample{l: `type="relayed"`, v: uint64(relayed)})
	m.gauge("loam_spaces", "Spaces held.", sample{v: uint64(len(infos))})
	m.counter("loam_blob_bytes_total", "Blob bytes transferred: verified bytes fetched from peers (in), bytes served to peers (out).",
		sample{l: `direction="in"`, v: c.BlobBytesIn}, sample{l: `direction="out"`, v: c.BlobBytesOut})
	m.counter("loam_blob_fetches_started_total", "Blob downloads started.", sample{v: c.BlobsStarted})
	m.gauge("loam_blob_fetches", "Blob downloads in progress.", sample{v: uint64(max(c.BlobFetches, 0))})
	m.gauge("loam_blob_fetches_queued", "Referenced blobs waiting to be fetched eagerly.", sample{v: uint64(s.n.BlobsQueued())})
	hub := s.n.Hub().Stats()
	m.gauge("loam_watches", "Watches open (API streams and Go API watchers).", sample{v: uint64(hub.Watchers)})
	m.gauge("loam_watch_queued_bytes", "Bytes of changes queued for watchers that have not read them yet (bounded: a watcher that falls behind resyncs).", sample{v: uint64(max(hub.Queued, 0))})
	m.counter("loam_watch_resyncs_total", "Resync events: a watcher fell behind and its queued changes were dropped.", sample{v: hub.Resyncs})
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}

// sample is one line of a metric: its labels (without braces) and value.
type sample struct {
	l string
	v uint64
}

type metricWriter struct{ b *bytes.Buffer }

func (m metricWriter) counter(name, help string, ss ...sample) { m.write(name, "counter", help, ss) }
func (m metricWriter) gauge(name, help string, ss ...sample)   { m.write(name, "gauge", help, ss) }

func (m metricWriter) write(name, typ, help string, ss []sample) {
	fmt.Fprintf(m.b, "# HELP %s %s\n# TYPE %s %s\n", name, strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help), name, typ)
	for _, s := range ss {
		if s.l != "" {
			fmt.Fprintf(m.b, "%s{%s} %d\n", name, s.l, s.v)
		} else {
			fmt.Fprintf(m.b, "%s %d\n", name, s.v)
		}
	}
}

// newLoginURL serves POST /v1/logins: a new one-time login URL for a
// browser, on the Host the request was sent to.
func (s *Server) newLoginURL(w http.ResponseWriter, r *http.Request) {
	u := LoginURL{URL: s.LoginURL(r.Host), Expires: FormatTime(time.Now().Add(LoginTTL))}
	s.phone.describe(&u)
	writeJSON(w, http.StatusCreated, u)
}

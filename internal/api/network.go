package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

// invite makes a ticket for the space; this device must be its admin.
func (s *Server) invite(r *http.Request, req InviteRequest) (InviteResponse, error) {
	if req.Role == "" {
		req.Role = commit.RoleWrite.String()
	}
	role, err := commit.ParseRole(req.Role)
	if err != nil {
		return InviteResponse{}, badRequestf("%v", err)
	}
	var expires time.Duration
	if req.Expires != "" && req.Expires != "0" {
		if expires, err = time.ParseDuration(req.Expires); err != nil || expires < 0 {
			return InviteResponse{}, badRequestf("expires must be a duration such as 24h or 90m (or 0 for none), not %q", req.Expires)
		}
	}
	sp, err := s.space(r)
	if err != nil {
		return InviteResponse{}, err
	}
	t, err := s.n.NewInvite(r.Context(), sp.ID().String(), node.InviteOptions{Role: role, Expires: expires, Uses: req.Uses})
	if err != nil {
		return InviteResponse{}, err
	}
	return InviteResponse{Ticket: t.String()}, nil
}

// join joins the space of a ticket. It returns when the space is joined,
// or fails when the client gives up (the request's context ends).
func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	t, err := keys.ParseTicket(strings.TrimSpace(req.Ticket))
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	if v := r.URL.Query().Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, badRequestf("timeout must be a positive Go duration (30s, 5m), not %q", v))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	sp, err := s.n.Join(ctx, t)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.spaceInfo(r.Context(), sp.Info()))
}

func (s *Server) peers(w http.ResponseWriter, r *http.Request) {
	ps := s.n.Peers()
	out := make([]Peer, 0, len(ps))
	for _, p := range ps {
		out = append(out, peerOf(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func peerOf(p node.Peer) Peer {
	out := Peer{
		Peer: p.PeerID, Author: p.ID.String(), Addrs: p.Addrs, Direct: p.Direct, Connected: p.Connected,
		Relay: p.Relay, RelaySync: p.RelaySync,
		Spaces: make([]string, 0, len(p.Spaces)), BytesIn: p.BytesIn, BytesOut: p.BytesOut, LastSeen: FormatTime(p.LastSeen),
	}
	if out.Addrs == nil {
		out.Addrs = []string{}
	}
	for _, sp := range p.Spaces {
		out.Spaces = append(out.Spaces, sp.String())
	}
	return out
}

func (s *Server) connect(r *http.Request, req ConnectRequest) (ConnectResponse, error) {
	if req.Addr == "" {
		return ConnectResponse{}, badRequestf(`no "addr": give a multiaddr with /p2p/, as 'loam status' prints them`)
	}
	id, err := s.n.Connect(r.Context(), req.Addr)
	if err != nil {
		if !errors.Is(err, node.ErrOffline) {
			err = &kindError{msg: fmt.Sprintf("connect to %s: %v", req.Addr, err), kind: node.ErrUnreachable}
		}
		return ConnectResponse{}, err
	}
	res := ConnectResponse{Peer: id.String()}
	for _, p := range s.n.Peers() {
		if p.ID == id {
			res.Peer = p.PeerID
		}
	}
	return res, nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c := s.n.Counters()
	st := Status{
		Peer: s.n.PeerID(), Author: s.n.Author().String(), Addrs: s.n.Addrs(),
		Spaces: []SpaceStatus{}, Refusals: c.Misbehaving,
		Blobs: BlobStatus{BytesIn: c.BlobBytesIn, BytesOut: c.BlobBytesOut, Fetching: c.BlobFetches, Queued: s.n.BlobsQueued()},
	}
	if st.Addrs == nil {
		st.Addrs = []string{}
	}
	infos, err := s.n.Spaces(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	for _, in := range infos {
		hs, err := s.n.Store().Heads(ctx, in.ID)
		if err != nil {
			writeError(w, err)
			return
		}
		v, err := s.n.Store().View(ctx, in.ID)
		if err != nil {
			writeError(w, err)
			return
		}
		ss := SpaceStatus{Name: in.Name, ID: in.ID.String(), Heads: heads(hs), Keys: v.Visible, ViewHash: v.Hash.String()}
		if ss.Forked, err = s.forked(ctx, in.ID); err != nil {
			writeError(w, err)
			return
		}
		for _, h := range hs {
			ss.Commits += h.Seq
		}
		if ss.Bytes, err = spaceBytes(ctx, s.n, "", in.ID); err != nil {
			writeError(w, err)
			return
		}
		if ss.Peers, ss.InSync, err = s.n.SpaceSync(ctx, in.ID); err != nil {
			writeError(w, err)
			return
		}
		if err := s.n.ReadKeysUnsaved(in.ID); err != nil {
			ss.Warnings = append(ss.Warnings, fmt.Sprintf("A read key learnt for this private space could not be saved to its key file (%v): it is used until the daemon stops, which tries again. Free disk space or fix the permissions of %s/spaces.", err, s.n.Home()))
		}
		st.Spaces = append(st.Spaces, ss)
	}
	for _, p := range s.n.Peers() {
		if p.Connected {
			st.Peers++
		}
	}
	u, err := DiskUsageOf(ctx, s.n)
	if err != nil {
		writeError(w, err)
		return
	}
	st.Disk = &u
	writeJSON(w, http.StatusOK, st)
}

// forked lists the authors of space sp that forked, each at its first
// fork's seq, in author order.
func (s *Server) forked(ctx context.Context, sp keys.SpaceID) ([]ForkedAuthor, error) {
	forks, err := s.n.Store().Forks(ctx, sp)
	if err != nil {
		return nil, err
	}
	at := map[keys.AuthorID]uint64{}
	for _, f := range forks {
		if cur, ok := at[f.A.Author]; !ok || f.A.Seq < cur {
			at[f.A.Author] = f.A.Seq
		}
	}
	var out []ForkedAuthor
	for a, seq := range at {
		out = append(out, ForkedAuthor{Author: a.String(), Seq: seq})
	}
	slices.SortFunc(out, func(x, y ForkedAuthor) int { return strings.Compare(x.Author, y.Author) })
	return out, nil
}

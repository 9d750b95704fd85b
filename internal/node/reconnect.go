package node

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/p2p"
	"github.com/loamdb/loam/internal/reconcile"
)

// Reconnecting without discovery. Within bookEvery of a sync session's
// progress (reconcile.Config.Progress: a space becomes shared or in sync
// with a peer), every bookIdle in any case, and as it closes (before its
// sessions end), the node records in its peer book (peerbook.go) the peers
// it syncs each held space with (a write only when that changes the
// book). An idle node, whose sessions make no progress, wakes for the book
// once every bookIdle, not every second. At
// start, and then with backoff from reconnectMin to reconnectMax while a
// held space has no peer syncing it, it dials the book's peers of that
// space (through goReach, as discovery does). Once every held space has a
// peer it checks again every reconnectIdle.
const (
	bookEvery     = time.Second
	bookIdle      = time.Minute
	reconnectMin  = time.Second
	reconnectMax  = 5 * time.Minute
	reconnectIdle = time.Minute
)

// reconnect is the node's memory of its peers and of the joins under way.
// It exists while the node has a network.
type reconnect struct {
	book *peerBook
	// records counts recordSynced's runs by the loop (tests: an idle
	// node does not look at its sessions every second).
	records atomic.Int64

	mu sync.Mutex
	// joining holds the join running per space (lockJoin). Guarded by mu.
	joining map[keys.SpaceID]*joinTurn
}

// startReconnect loads the peer book, resumes the joins a previous run did
// not finish and starts the reconnect loop, on goroutines counted in the
// node's wait group that stop with its context. It runs once the host is
// up.
func (n *Node) startReconnect() {
	book, _ := loadPeerBook(n.home) // a book that cannot be read starts empty, and is rebuilt
	book.keep(n.syncSpaces())
	n.rc = &reconnect{book: book, joining: map[keys.SpaceID]*joinTurn{}}
	n.resumeJoins()
	n.wg.Go(func() {
		n.reconnectLoop()
	})
}

func (n *Node) reconnectLoop() {
	// record fires bookEvery after the first progress since the last
	// record (soon), or bookIdle after the last record (the safety net
	// for a change no progress announced: a peer's new addresses).
	record := time.NewTimer(bookIdle)
	defer record.Stop()
	soon := false // record is armed for bookEvery
	news := n.sync.news.next()
	redial := time.NewTimer(0) // at once: the peers of the last run
	defer redial.Stop()
	pause := reconnectMin
	for {
		select {
		case <-news:
			news = n.sync.news.next()
			if !soon {
				record.Reset(bookEvery)
				soon = true
			}
		case <-record.C:
			n.rc.records.Add(1)
			n.recordSynced()
			record.Reset(bookIdle)
			soon = false
		case <-redial.C:
			if n.redialBook() {
				redial.Reset(pause)
				pause = min(2*pause, reconnectMax)
			} else {
				pause = reconnectMin
				redial.Reset(reconnectIdle)
			}
		case <-n.ctx.Done():
			return
		}
	}
}

// recordSynced records in the book the peers each held space is synced
// with now, and saves the book if that changed it.
func (n *Node) recordSynced() {
	n.mu.Lock()
	sessions := make([]*reconcile.Session, 0, len(n.sessions))
	for _, s := range n.sessions {
		sessions = append(sessions, s)
	}
	n.mu.Unlock()
	held := n.syncSpaces()
	now := time.Now()
	for _, s := range sessions {
		var addrs []string
		for _, sp := range s.Shared() {
			if !slices.Contains(held, sp) {
				continue
			}
			if addrs == nil {
				addrs = n.host.PeerAddrs(s.Peer())
			}
			n.rc.book.record(sp, s.Peer(), addrs, now)
		}
	}
	n.rc.saveBook()
}

// redialBook dials the book's peers of every held space that no peer
// syncs, and reports whether there was such a space with peers to dial.
func (n *Node) redialBook() (lonely bool) {
	for _, sp := range n.syncSpaces() {
		peers, _, err := n.SpaceSync(n.ctx, sp)
		if err != nil || peers > 0 {
			continue
		}
		for _, e := range n.rc.book.peers(sp) {
			lonely = true
			if e.ID == n.dev.Author() || n.connected(e.ID) && !n.host.Relayed(e.ID) {
				continue
			}
			n.goReach(p2p.PeerInfo{ID: e.ID, Addrs: e.Addrs}, true)
		}
	}
	return lonely
}

// closeReconnect records the peers synced with a last time; Close calls it
// before it stops anything.
func (n *Node) closeReconnect() {
	if n.rc != nil {
		n.recordSynced()
	}
}

// saveBook writes the peer book if it changed. A failure is retried at the
// next save: the book only helps to reconnect sooner.
func (rc *reconnect) saveBook() { _ = rc.book.save() }

// BookPeers returns the peers the peer book holds for space id, most
// recently synced first (nil when offline).
func (n *Node) BookPeers(id keys.SpaceID) []keys.AuthorID {
	if n.rc == nil {
		return nil
	}
	var out []keys.AuthorID
	for _, e := range n.rc.book.peers(id) {
		out = append(out, e.ID)
	}
	return out
}

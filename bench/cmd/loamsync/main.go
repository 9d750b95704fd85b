// Command loamsync is Loam's side of the sync benchmark: two processes, a
// writer that fills a space and a reader that joins it over loopback TCP
// and measures how long the whole history takes to arrive, verified and
// durably stored.
//
//	loamsync write --blocks N --size S --batch B --home DIR
//	    writes N values of S bytes in commits of B ops, prints
//	    {"ticket", "append_seconds"} and serves until stdin closes
//	loamsync read --ticket T --blocks N --home DIR
//	    joins, waits until all N keys are stored, prints the result
//	loamsync write --blob --blocks N --size S --home DIR
//	    adds one blob of N×S random bytes, prints {"addr", "blob"} and
//	    serves until stdin closes
//	loamsync read --blob ID --addr A --home DIR
//	    connects to A, fetches the blob (durable when done), prints the
//	    result
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"time"

	"github.com/loamdb/loam/internal/blob"
	"github.com/loamdb/loam/internal/commit"
	"github.com/loamdb/loam/internal/keys"
	"github.com/loamdb/loam/internal/node"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loamsync write|read [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	blocks := fs.Int("blocks", 100_000, "values to write or expect")
	size := fs.Int("size", 100, "value size in bytes")
	batch := fs.Int("batch", 1000, "ops per commit")
	home := fs.String("home", "", "data directory")
	ticket := fs.String("ticket", "", "ticket to join (read)")
	latency := fs.Int("latency", 0, "after the sync: single writes to time from write to visible")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	asBlob := fs.Bool("blob", false, "write: add one blob of blocks×size bytes instead of filling a space")
	blobID := fs.String("blob-id", "", "read: the blob to fetch")
	addr := fs.String("addr", "", "read: the writer's address, for --blob-id")
	fs.Parse(os.Args[2:])
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	var err error
	switch os.Args[1] {
	case "write":
		if *asBlob {
			err = writeBlob(*home, *blocks, *size)
		} else {
			err = write(*home, *blocks, *size, *batch, *latency)
		}
	case "read":
		if *blobID != "" {
			err = readBlob(*home, *addr, *blobID)
		} else {
			err = read(*home, *ticket, *blocks, *latency)
		}
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "loamsync:", err)
		os.Exit(1)
	}
}

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

func write(home string, blocks, size, batch, latency int) error {
	ctx := context.Background()
	// Filling the space is set-up, not measured: skip fsync here. The
	// reader, which is measured, syncs every batch it stores.
	n, err := node.Open(ctx, node.Options{Home: home, Listen: loopback, NoSync: true})
	if err != nil {
		return err
	}
	defer n.Close()
	sp, err := n.CreateSpace(ctx, "bench")
	if err != nil {
		return err
	}
	start := time.Now()
	val := make([]byte, size)
	for i := 0; i < blocks; i += batch {
		ops := make([]commit.Op, 0, batch)
		for j := i; j < i+batch && j < blocks; j++ {
			v := make([]byte, size)
			rand.Read(val)
			copy(v, val)
			ops = append(ops, commit.Put(fmt.Appendf(nil, "k/%08d", j), v))
		}
		if _, err := sp.Commit(ctx, ops); err != nil {
			return err
		}
	}
	appendSecs := time.Since(start).Seconds()
	t, err := n.Invite(ctx, "bench", commit.RoleWrite, 0)
	if err != nil {
		return err
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"ticket": t.String(), "append_seconds": appendSecs})
	in := bufio.NewReader(os.Stdin)
	if latency > 0 {
		// On "go", write single durable puts whose value is the time of the
		// write; the reader (same machine, same clock) times their arrival.
		if _, err := in.ReadString('\n'); err != nil {
			return nil
		}
		for i := range latency {
			v := strconv.AppendInt(nil, time.Now().UnixNano(), 10)
			if _, err := sp.Commit(ctx, []commit.Op{commit.Put(fmt.Appendf(nil, "lat/%06d", i), v)}); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond) // spacing between writes, as a person's
		}
	}
	io.Copy(io.Discard, in) // serve until the harness closes stdin
	return nil
}

// openReader opens the reading node of a run at home, and the context
// that bounds the run (15 minutes); done closes both.
func openReader(home string) (ctx context.Context, n *node.Node, done func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	n, err = node.Open(ctx, node.Options{Home: home, Listen: loopback})
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, n, func() { n.Close(); cancel() }, nil
}

func read(home, ticket string, blocks, latency int) error {
	t, err := keys.ParseTicket(ticket)
	if err != nil {
		return err
	}
	ctx, n, done, err := openReader(home)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	sp, err := n.Join(ctx, t) // connects; returns once the invite's grant (the last commit) is stored
	if err != nil {
		return err
	}
	for {
		v, err := sp.View(ctx)
		if err != nil {
			return err
		}
		if v.Visible >= int64(blocks) {
			break
		}
		select { // sampling interval of the measurement, 1 ms
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("timed out with %d of %d keys", v.Visible, blocks)
		}
	}
	secs := time.Since(start).Seconds()
	st := n.SyncStats()
	res := map[string]any{"blocks": blocks, "seconds": secs, "commits_in": st.CommitsIn, "bytes_in": st.BytesIn, "frames_in": st.FramesIn}
	if latency > 0 {
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		changes := n.Hub().Watch(wctx, sp.ID(), []byte("lat/"))
		fmt.Fprintln(os.Stderr, "ready") // the harness tells the writer to go
		var lat []float64
		for len(lat) < latency {
			select {
			case ev := <-changes:
				if ev.Resync {
					continue // fell behind: the dropped writes are not measured
				}
				sent, err := strconv.ParseInt(string(ev.Change.Entry.Value), 10, 64)
				if err != nil {
					return err
				}
				lat = append(lat, float64(time.Now().UnixNano()-sent)/1e6)
			case <-ctx.Done():
				return fmt.Errorf("timed out after %d of %d latency writes", len(lat), latency)
			}
		}
		sort.Float64s(lat)
		res["latency_ms_p50"] = lat[len(lat)/2]
		res["latency_ms_p99"] = lat[len(lat)*99/100]
		res["latency_ms_max"] = lat[len(lat)-1]
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// writeBlob adds one blob of blocks×size random bytes (not measured),
// prints the node's address and the blob's ID, and serves until stdin
// closes.
func writeBlob(home string, blocks, size int) error {
	ctx := context.Background()
	n, err := node.Open(ctx, node.Options{Home: home, Listen: loopback, NoSync: true})
	if err != nil {
		return err
	}
	defer n.Close()
	start := time.Now()
	id, _, err := n.AddBlob(ctx, io.LimitReader(rand.Reader, int64(blocks)*int64(size)))
	if err != nil {
		return err
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"addr": n.Addrs()[0], "blob": id.String(), "append_seconds": time.Since(start).Seconds()})
	io.Copy(io.Discard, os.Stdin) // serve until the harness closes stdin
	return nil
}

// readBlob connects to addr and fetches blob id; the time runs from the
// connect until the fetch returns, every chunk verified and durable.
func readBlob(home, addr, id string) error {
	bid, err := blob.ParseBlobID(id)
	if err != nil {
		return err
	}
	ctx, n, done, err := openReader(home)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	peer, err := n.Connect(ctx, addr)
	if err != nil {
		return err
	}
	st, err := n.FetchBlob(ctx, bid, []keys.AuthorID{peer}, blob.FetchOptions{})
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"seconds": secs, "bytes_in": st.Fetched(), "chunks": st.Chunks})
}

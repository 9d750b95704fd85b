package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loamdb/loam/internal/api"
)

// writeRandomFile writes size pseudo-random bytes (seeded) to a new file
// in dir and returns its path and SHA-256.
func writeRandomFile(t *testing.T, dir string, seed uint64, size int64) (string, [32]byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "random.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		b := buf[:min(int64(len(buf)), left)]
		rng.Read(b)
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return f.Name(), sum
}

// getBlobHash runs 'loam blob get ID' in h and returns the SHA-256 and
// length of what it writes to stdout.
func getBlobHash(t *testing.T, h *home, id string) ([32]byte, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, loamBin, "blob", "get", id)
	cmd.Env = env(h.dir)
	sum := sha256.New()
	var stderr bytes.Buffer
	cw := &countWriter{w: sum}
	cmd.Stdout, cmd.Stderr = cw, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("loam blob get: %v\n%s", err, stderr.String())
	}
	var out [32]byte
	copy(out[:], sum.Sum(nil))
	return out, cw.n
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

func connect(t *testing.T, from, to *daemonProc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := from.client.Connect(ctx, to.info.Addrs[0]); err != nil {
		t.Fatal(err)
	}
}

// TestBlobGigabyte: a 1 GiB random file added on one daemon is fetched by
// another over loopback and is byte-identical.
func TestBlobGigabyte(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: moves 1 GiB between two daemons")
	}
	const size = 1 << 30
	a, b := newHome(t), newHome(t)
	a.timeout, b.timeout = 5*time.Minute, 5*time.Minute
	da := startDaemon(t, a, loopbackDaemon...)
	db := startDaemon(t, b, loopbackDaemon...)
	file, want := writeRandomFile(t, t.TempDir(), 1, size)

	started := time.Now()
	id := strings.TrimSpace(a.ok("", "blob", "add", file))
	t.Logf("add of 1 GiB on A: %s", time.Since(started).Round(time.Millisecond))
	os.Remove(file) // the disk space; A's store holds it now

	connect(t, db, da)
	started = time.Now()
	out := b.ok("", "blob", "get", id, "--json", "-o", filepath.Join(b.dir, "copy.bin"))
	took := time.Since(started)
	var st api.FetchStats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	t.Logf("fetch of 1 GiB by B: %s (%.0f MiB/s)", took.Round(time.Millisecond), float64(size)/(1<<20)/took.Seconds())
	if st.Fetched != size || len(st.Peers) != 1 {
		t.Fatalf("stats %+v", st)
	}
	os.Remove(filepath.Join(b.dir, "copy.bin"))
	var sa, sb api.Status
	if json.Unmarshal([]byte(a.ok("", "status", "--json")), &sa) != nil || json.Unmarshal([]byte(b.ok("", "status", "--json")), &sb) != nil {
		t.Fatal("status --json does not parse")
	}
	if sa.Blobs.BytesOut < size || sb.Blobs.BytesIn != size || sb.Blobs.Fetching != 0 {
		t.Fatalf("blob counters: A %+v, B %+v", sa.Blobs, sb.Blobs)
	}
	got, n := getBlobHash(t, b, id)
	if n != size || got != want {
		t.Fatalf("B's copy: %d bytes, sha256 %x; want %d bytes, %x", n, got, size, want)
	}
	var list []api.BlobInfo
	b.okJSON(&list, "blob", "ls", "--json")
	if len(list) != 1 || list[0].ID != id || list[0].Held != 1024 || !list[0].Pinned {
		t.Fatalf("B's blobs: %+v", list)
	}
	db.stop(t)
	da.stop(t)
}

// chunkFiles counts the chunk files in a home's blob store.
func chunkFiles(home string) int {
	n := 0
	filepath.WalkDir(filepath.Join(home, "blobs", "chunks"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestBlobResumeAfterKill: the downloading daemon killed with SIGKILL
// half-way through resumes after a restart and fetches less than 60% of
// the blob again.
func TestBlobResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: a throttled 64 MiB download, killed and resumed")
	}
	const size = 64 << 20
	a, b := newHome(t), newHome(t)
	// A serves at 16 MiB/s, so the download takes about 4 s and the kill
	// lands in the middle of it.
	da := startDaemon(t, a, append([]string{"--upload-rate", "16MiB"}, loopbackDaemon...)...)
	db := startDaemon(t, b, loopbackDaemon...)
	file, want := writeRandomFile(t, t.TempDir(), 2, size)
	id := strings.TrimSpace(a.ok("", "blob", "add", file))
	connect(t, db, da)

	get := exec.Command(loamBin, "blob", "get", id, "-o", filepath.Join(t.TempDir(), "first.bin"))
	get.Env = env(b.dir)
	var getOut bytes.Buffer
	get.Stdout, get.Stderr = &getOut, &getOut
	if err := get.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for chunkFiles(b.dir) < 34 { // past half-way
		if time.Now().After(deadline) {
			t.Fatalf("B held %d chunks after 60 s:\n%s", chunkFiles(b.dir), db.out)
		}
		time.Sleep(10 * time.Millisecond) // re-check interval
	}
	db.cmd.Process.Kill()
	<-db.done
	get.Wait() // fails: its daemon is gone
	held := chunkFiles(b.dir)
	t.Logf("B held %d of 64 chunks when killed", held)
	if held >= 64 {
		t.Fatalf("the download finished before the kill (%d chunks): nothing to resume", held)
	}

	db = startDaemon(t, b, loopbackDaemon...)
	connect(t, db, da)
	var st api.FetchStats
	out := b.ok("", "blob", "get", id, "--json", "-o", filepath.Join(b.dir, "copy.bin"))
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	t.Logf("after the restart B fetched %d of %d bytes (%.0f%%)", st.Fetched, size, 100*float64(st.Fetched)/size)
	if st.Fetched >= size*6/10 || st.Fetched == 0 {
		t.Fatalf("after the restart B fetched %d of %d bytes; want more than 0 and less than 60%%", st.Fetched, size)
	}
	got, n := getBlobHash(t, b, id)
	if n != size || got != want {
		t.Fatalf("B's copy: %d bytes, sha256 %x; want %d bytes, %x", n, got, size, want)
	}
	db.stop(t)
	da.stop(t)
}

// TestBlobKeys: put of a file over 64 KiB stores a blob under the key; ls,
// get, export and import show and carry the reference; blob ls, pin, unpin
// and gc manage it. Offline, then through a daemon.
func TestBlobKeys(t *testing.T) {
	for _, mode := range []string{"offline", "daemon"} {
		t.Run(mode, func(t *testing.T) {
			h := newHome(t)
			if mode == "daemon" {
				defer startDaemon(t, h, loopbackDaemon...).stop(t)
			}
			h.ok("", "space", "create", "shed")
			h.ok("", "space", "create", "copy")
			file, want := writeRandomFile(t, t.TempDir(), 3, 200<<10)
			photo := filepath.Join(filepath.Dir(file), "drill.jpg")
			os.Rename(file, photo)

			r := h.run("", "put", "shed", "tools/drill/photo", "-f", photo)
			if r.code != 0 || !strings.Contains(r.stderr, "as blob blb_") {
				t.Fatalf("put: exit %d, stderr %q", r.code, r.stderr)
			}
			h.ok("", "put", "shed", "tools/drill", "cordless")
			ls := h.ok("", "ls", "shed")
			if !strings.Contains(ls, "tools/drill/photo\t[blob blb_") || !strings.Contains(ls, "200.0 KiB, image/jpeg]") {
				t.Fatalf("ls:\n%s", ls)
			}
			var e api.Entry
			h.okJSON(&e, "get", "shed", "tools/drill/photo", "--json")
			if e.Blob == nil || e.Blob.Size != 200<<10 || e.Blob.Type != "image/jpeg" || e.Value != nil {
				t.Fatalf("get --json: %+v", e)
			}
			if got := sha256.Sum256([]byte(h.ok("", "get", "shed", "tools/drill/photo"))); got != want {
				t.Fatal("get of a blob key: the bytes differ")
			}

			export := h.ok("", "export", "shed")
			if !strings.Contains(export, `{"key":"tools/drill/photo","blob":{"id":"`+e.Blob.ID+`","size":204800,"type":"image/jpeg"}}`) {
				t.Fatalf("export:\n%s", export)
			}
			h.ok(export, "import", "copy")
			if got := sha256.Sum256([]byte(h.ok("", "get", "copy", "tools/drill/photo"))); got != want {
				t.Fatal("get of an imported blob key: the bytes differ")
			}
			if msg := h.fail(1, `{"key":"x","blob":{"id":"blb_nope","size":1}}`+"\n", "import", "copy"); !strings.Contains(msg, "line 1") {
				t.Fatalf("import of a bad blob ID: %s", msg)
			}

			var list []api.BlobInfo
			h.okJSON(&list, "blob", "ls", "--json")
			if len(list) != 1 || list[0].ID != e.Blob.ID || list[0].Pinned || list[0].Held != list[0].Chunks {
				t.Fatalf("blob ls: %+v", list)
			}
			h.ok("", "blob", "pin", e.Blob.ID)
			h.ok("", "del", "shed", "tools/drill/photo")
			h.ok("", "del", "copy", "tools/drill/photo")
			if out := h.ok("", "blob", "gc"); out != "freed 0 B\n" {
				t.Fatalf("gc of a pinned blob: %q", out)
			}
			h.ok("", "blob", "unpin", e.Blob.ID)
			if out := h.ok("", "blob", "gc", "--json"); !strings.HasPrefix(out, `{"freed":2048`) {
				t.Fatalf("gc: %q", out)
			}
			if msg := h.fail(1, "", "blob", "get", e.Blob.ID); !strings.Contains(msg, e.Blob.ID) && !strings.Contains(msg, "unavailable") && !strings.Contains(msg, "daemon") {
				t.Fatalf("get of a blob no longer held: %s", msg)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/loamdb/loam"
)

// runPrivateDemo is the demo's third part: a private space that a home
// server keeps online without being able to read it, and a member's new
// device restored from that server alone.
func runPrivateDemo(ctx context.Context, out io.Writer, home string) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	open := func(name string) (*loam.Node, error) {
		return loam.Open(ctx, loam.Options{Home: filepath.Join(home, name), Network: true, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	}
	ana, err := open("family-ana")
	if err != nil {
		return err
	}
	defer ana.Close()
	server, err := open("family-server")
	if err != nil {
		return err
	}
	defer server.Close()

	const note = "The spare key is under the blue flowerpot."
	photo := bytes.Repeat([]byte("holiday photo "), 20_000) // 280 kB: stored as a blob
	sp, err := ana.CreateSpace(ctx, "family", loam.Private)
	if err != nil {
		return err
	}
	if err := sp.Put(ctx, []byte("notes/key"), []byte(note)); err != nil {
		return err
	}
	ref, err := sp.PutBlob(ctx, []byte("photos/beach"), bytes.NewReader(photo), "image/jpeg")
	if err != nil {
		return err
	}
	say("\nA private space: Ana creates \"family\" with --private, writes a note and a")
	say("%d kB photo. Keys, values and the photo's 1 MiB frames are sealed", ref.Size/1000)
	say("(XChaCha20-Poly1305) under a read key that only members' tickets carry.")

	seedT, err := sp.Invite(ctx, loam.Seed, time.Hour)
	if err != nil {
		return err
	}
	if _, err := server.Join(ctx, seedT); err != nil {
		return err
	}
	start := time.Now()
	if err := waitBlob(ctx, server, ref.ID); err != nil {
		return err
	}
	say("\nA home server joins with a seed ticket (no read key in it) and keeps every")
	say("commit and the sealed photo (%s). It verifies every signature and", time.Since(start).Round(time.Millisecond))
	say("grant, but reads nothing:")
	ssp, err := server.Space(ctx, "family")
	if err != nil {
		return err
	}
	st, err := ssp.State(ctx)
	if err != nil {
		return err
	}
	files, size, found, err := search(server.Home(), note, "holiday photo")
	if err != nil {
		return err
	}
	say("  the server sees %d keys; its %d files (%d kB) hold the note %d times and the photo's text %d times", st.Keys, files, size/1000, found[0], found[1])

	// Bo's new phone restores the space while Ana is offline.
	readT, err := sp.Invite(ctx, loam.Read, time.Hour) // names the server, a seeder Ana is connected to
	if err != nil {
		return err
	}
	// The invite's grant is a commit of Ana's: the server must hold it
	// before Ana leaves, or the phone's join could not be admitted.
	if err := poll(ctx, "the server to hold the read invite", func() (bool, error) {
		ms, err := ssp.Members(ctx)
		for _, m := range ms {
			if m.Role == loam.Read { // the invite key: no one has joined through it yet
				return true, err
			}
		}
		return false, err
	}); err != nil {
		return err
	}
	if err := ana.Close(); err != nil {
		return err
	}
	phone, err := open("family-bo-phone")
	if err != nil {
		return err
	}
	defer phone.Close()
	start = time.Now()
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	psp, err := phone.Join(jctx, readT)
	if err != nil {
		return err
	}
	got, err := waitValue(ctx, psp, []byte("notes/key"))
	if err != nil {
		return err
	}
	r, err := psp.OpenBlob(ctx, []byte("photos/beach"))
	if err != nil {
		return err
	}
	pic, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return err
	}
	say("\nAna goes offline. Bo's new phone joins with a read ticket, which names the")
	say("server, and restores the space from the server alone in %s:", time.Since(start).Round(time.Millisecond))
	say("  notes/key    = %q", got)
	say("  photos/beach = %d bytes, the same as Ana's: %v", len(pic), bytes.Equal(pic, photo))
	return nil
}

// waitBlob waits until n holds all of blob id.
func waitBlob(ctx context.Context, n *loam.Node, id string) error {
	return poll(ctx, "the server to hold the sealed photo", func() (bool, error) {
		bs, err := n.Blobs(ctx)
		for _, b := range bs {
			if b.ID == id && b.Held == b.Chunks {
				return true, err
			}
		}
		return false, err
	})
}

// waitValue waits until key of sp has a value, and returns it.
func waitValue(ctx context.Context, sp *loam.Space, key []byte) ([]byte, error) {
	var v []byte
	err := poll(ctx, "the note to arrive", func() (bool, error) {
		var err error
		v, err = sp.Get(ctx, key)
		return err == nil, nil
	})
	return v, err
}

// poll calls done until it says so, for up to 30 s.
func poll(ctx context.Context, what string, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: waited 30 s for %s", what)
		case <-time.After(20 * time.Millisecond): // re-check interval
		}
	}
}

// search counts the files under dir, their bytes, and how many of them
// contain each needle.
func search(dir string, needles ...string) (files int, size int64, found []int, err error) {
	found = make([]int, len(needles))
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		size += int64(len(b))
		for i, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found[i]++
			}
		}
		return nil
	})
	return files, size, found, err
}

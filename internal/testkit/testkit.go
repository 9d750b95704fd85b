// Package testkit holds the small test helpers that the tests of several
// packages share: knobs read from the environment, a free loopback port,
// a search of a directory's files for bytes that must not (or must) be
// there. It imports nothing of the project, so any package's tests may
// use it; helpers that need a node or a store live next to those
// (internal/store/storetest).
package testkit

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// EnvInt returns the integer in environment variable name, or def if it
// is unset; it fails the test if the variable is not a number in [lo, hi].
func EnvInt(t testing.TB, name string, def, lo, hi int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		t.Fatalf("%s=%q: want a number from %d to %d", name, s, lo, hi)
	}
	return v
}

// Seed returns seed (a test flag's value), or a random one when it is 0,
// and logs it with the flag that replays the run: -flag=SEED.
func Seed(t testing.TB, seed uint64, flag string) uint64 {
	t.Helper()
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (replay with -%s=%d)", seed, flag, seed)
	return seed
}

// Poll checks cond every interval until it holds, and reports whether it
// did within d. The interval is a re-check, not synchronization: cond
// reads the state it waits for.
func Poll(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// FreePort returns a TCP port on loopback that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// Grep returns, as "PATH: NEEDLE", each file under dir whose bytes contain
// one of needles, once per needle it contains ("" is in every file).
func Grep(t testing.TB, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, x := range needles {
			if bytes.Contains(b, []byte(x)) {
				found = append(found, p+": "+x)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

package blob_test

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/blob"
)

const writerEnv = "LOAM_BLOB_TEST_WRITER_DIR"

// TestKilledWriter kills (SIGKILL) a process that is writing chunks, then
// reopens its store: every chunk file there verifies, and the temporary
// files of the writes cut short are gone.
func TestKilledWriter(t *testing.T) {
	if dir := os.Getenv(writerEnv); dir != "" {
		runWriter(dir) // in the child; never returns
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(os.Environ(), writerEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for n := 0; n < 40 && sc.Scan(); n++ {
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	t.Logf("the killed writer left %d temporary files", len(ents))
	s := openStore(t, dir)
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Fatalf("tmp/ holds %d files after reopening", len(ents))
	}
	n := 0
	err = filepath.WalkDir(filepath.Join(dir, "chunks"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var id blob.ChunkID
		if _, err := hex.Decode(id[:], []byte(filepath.Base(filepath.Dir(p))+d.Name())); err != nil {
			return fmt.Errorf("stray file %s", p)
		}
		n++
		_, err = s.Get(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 40 {
		t.Fatalf("%d chunks stored, want at least the 40 acknowledged", n)
	}
}

// runWriter puts chunks into the store in dir from 4 goroutines, printing a
// line for each, until killed: two with Put, two as a download writes
// (directly, then one Sync), in chunks short of a whole block, which are
// padded and then truncated.
func runWriter(dir string) {
	s, err := blob.OpenStore(dir)
	if err != nil {
		panic(err)
	}
	lines := make(chan string)
	for g := range 4 {
		go func() {
			data := randBytes(uint64(g), blob.ChunkSize)
			put := s.Put
			if g%2 == 1 {
				data = data[:blob.ChunkSize-100]
				put = func(id blob.ChunkID, data []byte) error {
					if err := blob.PutDirect(s, id, data); err != nil {
						return err
					}
					return s.Sync()
				}
			}
			for i := 0; ; i++ {
				binary.LittleEndian.PutUint64(data, uint64(i))
				id := blob.ChunkIDOf(data)
				if err := put(id, data); err != nil {
					panic(err)
				}
				lines <- id.String()
			}
		}()
	}
	w := bufio.NewWriter(os.Stdout)
	for l := range lines {
		w.WriteString(strings.TrimSpace(l) + "\n")
		w.Flush()
	}
}

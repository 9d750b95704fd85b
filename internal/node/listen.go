package node

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// listenFile keeps, in the home, the addresses the node listened on (the
// ports the system chose when no --listen was given), one per line: a
// restarted node listens on the same ports where they are free, so that
// peers that remember its addresses (their peer books) reach it again
// after both sides restarted (a power cut in a home with two devices).
const listenFile = "listen"

// maxListenFile bounds what is read of the listen file.
const maxListenFile = 4 << 10

// readListen returns the addresses kept in home's listen file (none if it
// is missing or unreadable: the node then listens on new ports).
func readListen(home string) []string {
	f, err := os.Open(filepath.Join(home, listenFile))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(io.LimitReader(f, maxListenFile))
	for sc.Scan() && len(out) < 16 {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// keepListen writes addrs to home's listen file if they changed. An error
// only costs the ports' stability: it is not reported.
func keepListen(home string, addrs []string) {
	slices.Sort(addrs)
	old := readListen(home)
	slices.Sort(old)
	if slices.Equal(old, addrs) || len(addrs) == 0 {
		return
	}
	var b bytes.Buffer
	for _, a := range addrs {
		b.WriteString(a + "\n")
	}
	_ = replaceFile(filepath.Join(home, listenFile), b.Bytes())
}

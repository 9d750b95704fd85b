//go:build unix

package testkit

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// CPUTime returns the CPU time the process has used, user and system: on
// a machine shared with other work, a benchmark's CPU per operation is
// steadier than its wall time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReadCalls returns the read system calls (read, pread…) the process has
// made, from /proc/self/io; -1 where there is no such file.
func ReadCalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("syscr: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

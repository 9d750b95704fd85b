package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// DaemonFile is the file in the Loam home that says a daemon runs there
// and where its API listens. The daemon writes it once it serves, and
// removes it when it stops.
const DaemonFile = "daemon.json"

// DaemonInfo is the content of DaemonFile.
type DaemonInfo struct {
	API   string   `json:"api"`   // host:port of the HTTP API
	Peer  string   `json:"peer"`  // the node's peer ID
	Addrs []string `json:"addrs"` // its p2p multiaddrs
	PID   int      `json:"pid"`   // the daemon's process ID
	// Bootstrap is true when the process is 'loam bootstrap', a community
	// bootstrap node: it has no API, so API is empty.
	Bootstrap bool `json:"bootstrap,omitempty"`
}

// WriteDaemonInfo writes home/daemon.json atomically, with mode 0600.
func WriteDaemonInfo(home string, info DaemonInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	err = writeFileAtomic(home, DaemonFile, append(b, '\n'))
	if errors.Is(err, syscall.ENOSPC) && os.Remove(filepath.Join(home, daemonReserve)) == nil {
		// The disk was filled by another program: the reserve makes
		// room for this file, so a daemon on a full disk starts and
		// serves reads (and says the disk is full).
		err = writeFileAtomic(home, DaemonFile, append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("api: write %s: %w", DaemonFile, err)
	}
	keepReserve(home)
	return nil
}

// daemonReserve is a small file in the home that WriteDaemonInfo deletes
// when the disk is full, to write daemon.json in its place: the store
// frees its own reserve to open on a full disk, but opening may take
// that room again (CI saw a daemon refuse to start on a full disk for
// want of 4 KiB). It is made again once there is room.
const daemonReserve = ".daemon-reserve"

const daemonReserveSize = 16 << 10

// keepReserve makes the reserve if it is missing and there is room; a
// reserve it cannot make whole is removed.
func keepReserve(home string) {
	path := filepath.Join(home, daemonReserve)
	if fi, err := os.Stat(path); err == nil && fi.Size() == daemonReserveSize {
		return
	}
	if err := os.WriteFile(path, make([]byte, daemonReserveSize), 0o600); err != nil {
		os.Remove(path)
	}
}

// ReadDaemonInfo reads home/daemon.json. The error wraps fs.ErrNotExist
// when there is none. An "api" address that is not loopback is an error.
func ReadDaemonInfo(home string) (DaemonInfo, error) {
	var info DaemonInfo
	path := filepath.Join(home, DaemonFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return info, fmt.Errorf("api: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("api: %s is not valid JSON: %v", path, err)
	}
	if info.Bootstrap {
		return info, fmt.Errorf("api: %s is a bootstrap node's ('loam bootstrap', process %d): it holds no spaces and serves no API; use another Loam home for a daemon", path, info.PID)
	}
	if info.API == "" {
		return info, fmt.Errorf("api: %s has no \"api\" address", path)
	}
	// The client sends the token there: never anywhere but loopback.
	if _, _, err := net.SplitHostPort(info.API); err != nil || !LoopbackHost(info.API) {
		return info, fmt.Errorf("api: %s names %q, not a loopback host:port", path, info.API)
	}
	return info, nil
}

// RemoveDaemonInfo removes home/daemon.json; a missing file is no error.
func RemoveDaemonInfo(home string) error {
	err := os.Remove(filepath.Join(home, DaemonFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("api: %w", err)
	}
	return nil
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
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
	if err := writeFileAtomic(home, DaemonFile, append(b, '\n')); err != nil {
		return fmt.Errorf("api: write %s: %w", DaemonFile, err)
	}
	return nil
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

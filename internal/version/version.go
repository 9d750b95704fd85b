// Package version tells which Loam a program runs: the version of the
// Loam module it was built with and the commit it was built from, read
// from the binary's build information (runtime/debug.ReadBuildInfo). It
// imports nothing of the project.
//
// A binary built by 'go install github.com/loamdb/loam/cmd/loam@v1.2.3'
// reports v1.2.3; one built in a git clone reports the pseudo-version Go
// stamps from the commit (and +dirty for uncommitted changes); one built
// without version control information, or a test binary, reports Devel.
// A program that uses Loam as a library reports the version of the Loam
// module it requires.
package version

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// Module is the Loam module's path.
const Module = "github.com/loamdb/loam"

// Devel is the version of a build that has none: built from a work tree
// without version control information, or a test binary.
const Devel = "devel"

// Info is what a binary says about the Loam it was built from.
type Info struct {
	// Version is the Loam module's version (v1.2.3, a pseudo-version) or
	// Devel.
	Version string `json:"version"`
	// Commit is the revision the binary was built from (vcs.revision),
	// "" when unknown; CommitTime is its time (zero when unknown); Dirty
	// reports uncommitted changes in the work tree it was built from.
	Commit     string    `json:"commit,omitempty"`
	CommitTime time.Time `json:"commit_time,omitzero"`
	Dirty      bool      `json:"dirty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go"`
}

// Get returns the running binary's Info. It reads the build information
// once.
func Get() Info { return get() }

var get = sync.OnceValue(func() Info { return fromBuildInfo(debug.ReadBuildInfo()) })

// Agent returns the libp2p agent version a Loam node announces: "loam/"
// and its version.
func Agent() string { return Get().Agent() }

// Agent returns the libp2p agent version of a node built as i says.
func (i Info) Agent() string { return "loam/" + i.Version }

// fromBuildInfo makes the Info of a binary whose build information is bi
// (ok false: none).
func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	i := Info{Version: Devel, GoVersion: runtime.Version()}
	if !ok || bi == nil {
		return i
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	v := ""
	switch {
	case bi.Main.Path == Module:
		v = bi.Main.Version
	default: // Loam as a library: the version required
		for _, d := range bi.Deps {
			if d.Path != Module {
				continue
			}
			v = d.Version
			if d.Replace != nil { // replaced: a local copy has no version
				v = d.Replace.Version
			}
		}
	}
	if v != "" && v != "(devel)" {
		i.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Commit = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339Nano, s.Value); err == nil {
				i.CommitTime = t.UTC()
			}
		case "vcs.modified":
			i.Dirty, _ = strconv.ParseBool(s.Value)
		}
	}
	return i
}

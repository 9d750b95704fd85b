package version

import (
	"runtime/debug"
	"testing"
	"time"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-03-04T05:06:07Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want Info
	}{
		{"no build info", nil, false, Info{Version: Devel}},
		{"installed at a tag", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: Module, Version: "v1.2.3"}},
			true, Info{Version: "v1.2.3", GoVersion: "go1.26.1"}},
		{"a work tree without vcs", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: Module, Version: "(devel)"}},
			true, Info{Version: Devel, GoVersion: "go1.26.1"}},
		{"a git clone with changes", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: Module, Version: "v0.0.0-20260304050607-0123456789ab+dirty"}, Settings: vcs},
			true, Info{Version: "v0.0.0-20260304050607-0123456789ab+dirty", Commit: "0123456789abcdef0123456789abcdef01234567", CommitTime: at, Dirty: true, GoVersion: "go1.26.1"}},
		{"a test binary", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: ""}, Deps: []*debug.Module{{Path: "github.com/spf13/cobra", Version: "v1.9.1"}}},
			true, Info{Version: Devel, GoVersion: "go1.26.1"}},
		{"a library", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "example.com/app", Version: "v0.1.0"},
			Deps: []*debug.Module{{Path: "github.com/spf13/cobra", Version: "v1.9.1"}, {Path: Module, Version: "v0.4.0"}}},
			true, Info{Version: "v0.4.0", GoVersion: "go1.26.1"}},
		{"a replaced library", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{{Path: Module, Version: "v0.4.0", Replace: &debug.Module{Path: "../loam"}}}},
			true, Info{Version: Devel, GoVersion: "go1.26.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.bi, tc.ok)
			if tc.bi == nil {
				tc.want.GoVersion = got.GoVersion // runtime.Version()
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAgent(t *testing.T) {
	if got := (Info{Version: "v1.2.3"}).Agent(); got != "loam/v1.2.3" {
		t.Errorf("Agent = %q", got)
	}
	if got := Agent(); got != "loam/"+Get().Version {
		t.Errorf("Agent() = %q, Get().Version = %q", got, Get().Version)
	}
}

package main

import (
	"strings"
	"testing"

	"github.com/loamdb/loam/internal/api"
)

// TestSpaceCheckpoint: loam space checkpoint makes a checkpoint of a
// public space, embedded and through the daemon, in text and JSON, and
// refuses a private space saying why; --help says what it is for.
func TestSpaceCheckpoint(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "put", "garden", "chat/1", "hello")
	h.ok("", "put", "garden", "chat/2", "there")
	h.ok("", "erase", "garden", "chat/1")
	if out := h.ok("", "space", "checkpoint", "garden"); !strings.Contains(out, "garden: checkpoint cmt_") || !strings.Contains(out, "a fresh member downloads") {
		t.Errorf("space checkpoint:\n%s", out)
	}
	h.ok("", "space", "create", "family", "--private")
	if r := h.run("", "space", "checkpoint", "family"); r.code == 0 || !strings.Contains(r.stderr, "private") {
		t.Errorf("space checkpoint of a private space: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := h.ok("", "space", "checkpoint", "--help"); !strings.Contains(out, "fresh member") {
		t.Errorf("--help:\n%s", out)
	}

	startDaemon(t, h, loopbackDaemon...)
	h.ok("", "put", "garden", "chat/3", "again")
	var k api.CheckpointResponse
	h.okJSON(&k, "space", "checkpoint", "garden", "--json")
	if !strings.HasPrefix(k.ID, "cmt_") || k.Commits < 5 || k.Bytes == 0 || k.SnapshotBytes == 0 {
		t.Errorf("space checkpoint --json through the daemon: %+v", k)
	}
	if r := h.run("", "space", "checkpoint", "family"); r.code == 0 || !strings.Contains(r.stderr, "private") {
		t.Errorf("space checkpoint of a private space through the daemon: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSpaceHistory: loam space history says a space created here holds
// its whole history, embedded and through the daemon, in text and JSON;
// --fetch on it returns at once. (Fetching the history below a
// checkpoint is tested on nodes: internal/node TestDeepen*.)
func TestSpaceHistory(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "put", "garden", "chat/1", "hello")
	if out := h.ok("", "space", "history", "garden"); !strings.Contains(out, "garden: the whole history is held here") {
		t.Errorf("space history:\n%s", out)
	}
	if out := h.ok("", "space", "history", "garden", "--fetch"); !strings.Contains(out, "whole history") {
		t.Errorf("space history --fetch:\n%s", out)
	}
	if out := h.ok("", "space", "history", "--help"); !strings.Contains(out, "checkpoint") {
		t.Errorf("--help:\n%s", out)
	}

	startDaemon(t, h, loopbackDaemon...)
	var r api.HistoryResponse
	h.okJSON(&r, "space", "history", "garden", "--json")
	if r != (api.HistoryResponse{}) {
		t.Errorf("space history --json through the daemon: %+v", r)
	}
	h.okJSON(&r, "space", "history", "garden", "--fetch", "--json")
	if r != (api.HistoryResponse{}) {
		t.Errorf("space history --fetch --json through the daemon: %+v", r)
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEraseCLI: 'loam erase' erases every write to a key and says so;
// get then says who erased it, ls marks it, --json reports the count, a
// second erase finds nothing, and the log still verifies.
func TestEraseCLI(t *testing.T) {
	t.Parallel()
	h := gardenHome(t)
	h.ok("", "put", "garden", "photo", "first")
	h.ok("", "put", "garden", "photo", "second")
	h.ok("", "put", "garden", "chat/1", "hello")
	h.ok("", "put", "garden", "chat/2", "there")
	if out := h.ok("", "erase", "garden", "photo"); !strings.Contains(out, `erased 2 writes of "photo" in garden`) {
		t.Fatalf("erase: %q", out)
	}
	if line := h.fail(1, "", "get", "garden", "photo"); !strings.Contains(line, `"photo" was erased by aut_`) {
		t.Fatalf("get of an erased key: %q", line)
	}
	if out := h.ok("", "ls", "garden"); !strings.Contains(out, "photo\t[erased]") || !strings.Contains(out, "chat/1\thello") {
		t.Fatalf("ls: %q", out)
	}
	var got struct {
		Erased int  `json:"erased"`
		Prefix bool `json:"prefix"`
	}
	if err := json.Unmarshal([]byte(h.ok("", "erase", "garden", "chat/", "--prefix", "--json")), &got); err != nil || got.Erased != 2 || !got.Prefix {
		t.Fatalf("erase --prefix --json: %+v, %v", got, err)
	}
	if line := h.fail(1, "", "erase", "garden", "photo"); !strings.Contains(line, "nothing to erase") {
		t.Fatalf("erase twice: %q", line)
	}
	if out := h.ok("", "log", "verify", "garden"); !strings.Contains(out, "verified") {
		t.Fatalf("log verify: %q", out)
	}
}

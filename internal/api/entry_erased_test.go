package api

import (
	"encoding/json"
	"testing"
)

// TestEntryBytesErased: an erased key's entry, as a listing or a watch
// sends it (no value, "erased": true), decodes to its key and no value.
// It failed before Bytes knew erased entries ('no "value" (or
// "value_b64")'), which broke 'loam ls' through a daemon, and the Go
// client's Range and Watch, on any space with an erased key.
func TestEntryBytesErased(t *testing.T) {
	for _, in := range []string{
		`{"key":"chat/msg/general/1","author":"aut_x","time":"2026-12-06T11:40:02Z","erased":true}`,
		`{"op":"put","key":"chat/msg/general/1","author":"aut_x","time":"2026-12-06T11:40:02Z","erased":true}`,
	} {
		var e Entry
		if err := json.Unmarshal([]byte(in), &e); err != nil {
			t.Fatal(err)
		}
		k, v, err := e.Bytes()
		if err != nil || string(k) != "chat/msg/general/1" || v != nil {
			t.Errorf("%s: Bytes() = %q, %q, %v", in, k, v, err)
		}
	}
}

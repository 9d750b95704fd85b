package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/loamdb/loam"
	"github.com/loamdb/loam/internal/api"
)

// FuzzParseRecord checks the import line parser on any bytes: it never
// panics, what it accepts is within the limits, and a record it accepts
// written again as export writes it parses to the same key and value.
//
//	go test -run='^$' -fuzz=FuzzParseRecord -fuzztime=20s ./cmd/loam
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		`{"key":"chat/0001","value":"hello, world"}`,
		`{"key":"chat/0002","value":"line\nbreak\ttab \"quoted\" \u2028 ünïcödé 🌱"}`,
		`{"key":"empty","value":""}`,
		`{"key_b64":"/wBr","value":"binary key"}`,
		`{"key":"binary","value_b64":"AAEC/v8="}`,
		`{"key":"a","value":"x","value_b64":"eA=="}`,
		`{"key":"photo","blob":{"id":"blb_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":3}}`,
		`{"key":"a","value":5}`,
		`["a","b"]`,
		`{"key":"a","value":"x"}{"key":"b","value":"y"}`,
		"{\"key\":\"a\",\"value\":\"\xff\"}",
		`{"key": "a", "value": }`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return // run skips blank lines before parsing
		}
		key, value, ref, err := parseRecord(line)
		if err != nil {
			return
		}
		if len(key) == 0 || len(key) > loam.MaxKeySize || len(value) > loam.MaxValueSize {
			t.Fatalf("accepted a key of %d bytes and a value of %d", len(key), len(value))
		}
		if ref != nil {
			return
		}
		again, err := json.Marshal(api.NewRecord(key, value))
		if err != nil {
			t.Fatal(err)
		}
		k2, v2, _, err := parseRecord(again)
		if err != nil || !bytes.Equal(k2, key) || !bytes.Equal(v2, value) {
			t.Fatalf("%q parsed, written again as %s, parses as %q=%q (%v)", line, again, k2, v2, err)
		}
	})
}

//go:build race

package api

// raceDetector: under the race detector Pebble allocates its memtables and
// block cache on the Go heap, so heap figures include them.
const raceDetector = true

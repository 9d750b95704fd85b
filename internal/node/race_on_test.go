//go:build race

package node

// raceDetector is true when the tests run with -race, which makes them
// many times slower: the fault tests then run smaller.
const raceDetector = true

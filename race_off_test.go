//go:build !race

package loam_test

// raceDetector is true when the tests run with -race.
const raceDetector = false

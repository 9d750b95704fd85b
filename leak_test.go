package loam_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// store applier, a watcher or a writer left running after Close.
//
// TestCrashSafety runs this binary again as its child (TestCrashChild), so
// the child is checked too: a child that finishes with a leak exits
// non-zero, and the parent fails with the child's report.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

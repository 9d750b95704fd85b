package space_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// watcher, a writer or a store applier left running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

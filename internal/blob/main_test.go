package blob_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: an Add
// or a GC left running by a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

package reconcile

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test ends with no goroutine of a session left running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

package bench

import (
	"os"
	"testing"
)

// TestMain removes the bench/cmd programs the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	removeBuilt()
	os.Exit(code)
}

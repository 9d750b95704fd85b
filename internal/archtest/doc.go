// Package archtest holds tests that keep Loam's architecture honest.
//
// It has no code of its own. Its tests load every package of the module with
// "go list" and check that:
//
//   - dependencies flow downward only, following the rank table in
//     arch_test.go (DESIGN.md §11);
//   - internal/keys, the leaf vocabulary, imports nothing of the project;
//   - only internal/p2p imports go-libp2p;
//   - every package has exactly one package doc comment.
//
// A new package must be added to the rank table; the test says so when it
// meets one it does not know.
package archtest

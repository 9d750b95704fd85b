package space

import (
	"errors"
	"fmt"
)

// ErrSealed is wrapped by the error a read of a private space returns on a
// node that holds no read key for it: a seeder, which keeps the space's
// sealed commits and blobs online for its members without reading them,
// or a member whose join has not brought the key yet.
var ErrSealed = errors.New("sealed")

// SealedError says that space Name cannot be read on this node.
type SealedError struct{ Name string }

func (e *SealedError) Error() string {
	return fmt.Sprintf("space %s is sealed on this node: it holds the space for its members without a read key (a seeder), so it cannot read its keys or values; read it on a member's device (a member whose join has not finished gets the key when it does)", e.Name)
}

func (e *SealedError) Unwrap() error { return ErrSealed }

// sealed returns a *SealedError if s is private and this node holds no
// read key for it.
func (s *Space) sealed() error {
	if s.readKey == nil {
		return nil
	}
	if _, err := s.readKey(); err != nil {
		return &SealedError{Name: s.info.Name}
	}
	return nil
}

// Package identity is a person's identity in Loam: the recovery phrase
// (24 BIP-39 English words), the Ed25519 identity key derived from it
// (idt_…), and the two records that key signs: device certificates (this
// device key belongs to this person, under this name) and device
// revocations (this device no longer does).
//
// The records are canonical CBOR, decoded strictly with size limits, and
// verified when decoded: a record that decodes is a record its signers
// made. docs/format/identity.md specifies them with golden bytes. How a
// space decides with them (who may carry a certificate into a space, where
// a revocation cuts) is package acl's business; this package knows no
// space.
//
// It imports only internal/keys.
package identity

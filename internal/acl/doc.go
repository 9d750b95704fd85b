// Package acl decides who may do what in a space: which commits count and
// which grants and revocations take effect. It is pure: no I/O, no clock.
//
// # Roles and grants
//
// Roles are read < write < admin, plus seed (store and serve, never read or
// write). A grant gives its subject a role, optionally restricted to a key
// prefix and optionally expiring (unix µs). A grant held by an author is in
// force for a commit c when the granting commit lies in c's causal past and
// c's own HLC time is before the expiry: expiry is decided from the
// commit's time, never the local clock, so every replica decides alike.
// The space key is admin of the whole space, always; it signs only the
// genesis commit.
//
// Every op of a commit must be allowed by the grants in force (State.Check):
//   - put, del, putblob of key k: a write or admin grant whose prefix k has;
//   - grant (direct): an admin grant whose prefix the new grant's prefix has
//     (an admin restricted to a prefix grants only inside it);
//   - grant through an invite (a self-grant): the subject is the commit's
//     author, the invite key signed the delegation, and the invite key holds
//     a grant in force that covers the role (read < write < admin; seed only
//     from seed or admin) and whose prefix the self-grant's prefix has
//     (a self-grant may name the author's person instead: see People);
//   - revoke, rotate and retention: an admin grant for the whole space (no
//     prefix);
//   - schema: any admin grant (a body that does not decode, package
//     schema, is ignored);
//   - erase (#14): per target, the author's own write (or one of another
//     device of its person) needs any role held; another's write needs an
//     admin grant whose prefix the target's key has (the whole space when
//     the key is not in the clear: a sealed op, a blob op). The target is
//     decided as the erase op names it; a store applies only targets that
//     name the op it holds;
//   - sealed ops and kinds this version does not know: a write grant for the
//     whole space (their key cannot be checked).
//
// Control ops whose body does not decode (or was erased) are ignored, as an
// unknown kind is. A commit with one op that is not allowed is not allowed
// at all. Check looks only at a commit's causal past; a store uses it to
// decide at once whether a commit is *grounded*: allowed when revocations
// and invite use counts are left aside. A commit that is not grounded was
// made by a key without any grant for it: it is rejected and its sender is
// misbehaving.
//
// # The fixpoint: revocations and invite uses
//
// Two things depend on commits outside a commit's causal past, and so can
// change the decision on commits already held:
//   - revoke(author, lastSeq): the author's commits with seq > lastSeq do not
//     count; those up to the cut still do, with the grants they issued;
//   - invite uses: a self-grant through an invite whose grant allows N uses
//     takes effect only for the first N distinct joiners, and a revocation
//     of an invite key, revoke(invite, n), admits only its first n joiners.
//
// Evaluate decides a whole set of commits at once, as a pure function of
// the set. Commits are put in the decision order: a topological order of
// the causal graph (prev and deps) that takes, among the commits whose
// causal past is done, the least by (HLC time, author, commit ID). A pass
// walks that order with a fixed set of cuts and decides every commit by
// Check with the grants of the commits decided valid so far, counting
// invite uses as it goes: "first" joiners are first in the decision order.
//
// Revocations are accepted greedily in decision order. A revocation is
// accepted if, with the cuts accepted so far plus its own, its commit is
// still valid and so is every revocation already accepted; otherwise it is
// ignored. Cuts only remove commits, so a revocation ignored once stays
// ignored: the result does not depend on when a revocation is looked at.
// Two admins revoking each other concurrently (A cuts B, B cuts A, each
// revoke above the other's cut) therefore end with the earlier revocation
// by (time, author, ID) accepted and the later one ignored, on every
// replica. We take the earliest because the decision order extends
// causality: a revocation made after seeing another comes later, and an
// author being cut cannot move its revocation before one it has seen. A
// revocation of the space key is ignored.
//
// Forks are cuts too: a forked author's commits from its fork seq on do
// not count.
//
// # People (#12)
//
// A person is an identity key (idt_…, package identity) that certifies
// devices; a certificate is signed by the identity and by the device.
//   - cert op (a certificate): carried by the certified device itself, or
//     by another device of the same person (certified in the commit's
//     causal past or in the same commit); the author must hold some role,
//     after the certificates it carries of itself. A certificate of the
//     author carried in a commit gives it its person's grants for the rest
//     of that commit, as an invite self-grant does.
//   - grant to a person (a grant with person set): as a direct grant, admin
//     on a prefix of the granted prefix. Every device with a certificate
//     of that identity in a commit's causal past holds the person's grants
//     in force there, besides its own.
//   - grant to a person through an invite (a self-grant with person set,
//     its delegation signed in the invite key's person context over the
//     space, the identity and the role): the author is a device that
//     identity certified, its certificate in the same commit or in the
//     commit's causal past, and the invite holds the role as for a
//     device's self-grant. It takes one use of the invite (counted for
//     the joining device, as a device's join: the same device joining
//     again takes none), the invite's expiry and revocation apply alike,
//     and once it counts it is a grant to the person like an admin's,
//     held by every device of that person, the later ones too. A seed
//     invite is joined by a device, never a person: a seeder is a machine.
//   - devrevoke op: a revocation signed by the identity, carried by one of
//     the person's devices holding a role, or by an admin of the whole
//     space; the revoked device's certificate must be in the commit's
//     causal past or in the commit. It is a revocation like any other: the
//     device is cut after the op's last seq, chosen by the carrier, and
//     the cut is accepted greedily with the others.
//   - revokeperson op: an admin of the whole space. It cuts each device the
//     identity certified with a certificate anywhere in the decided set:
//     at the op's cut for a device it names, at 0 for any other (one the
//     admin did not know, certified concurrently or later). Each cut is a
//     revocation accepted greedily.
//
// A certificate or revocation that does not decode is ignored; one whose
// signatures do not verify makes the commit not allowed.
//
// # App rules (#15)
//
// A schema op declares version Version of an app's rules (package schema:
// per key pattern, who may write and which JSON values). A data op (put,
// del, putblob) of a commit c must keep the rules in force for c: per app,
// the newest declaration (greatest version, then greatest author and seq)
// made by a commit that counts and lies in c's causal past. A commit's
// own schema ops apply to later commits only. A commit with a write that
// breaks one (ErrSchema, a *SchemaError) does not count. Erase ops and
// sealed ops are not checked against app rules: an erase writes no value,
// and a sealed op's key is not in the clear. The value of a write that an
// erase op of the set names, counting or not, is not checked either (the
// write is checked as a delete), nor is an erased payload: such a value
// may be gone from some replicas and held by others (an erase voided by a
// concurrent revocation drops it only where it was applied first), and a
// check made on it would decide differently on each.
//
// A write-once rule (#15, "once") refuses a data op of a key it covers
// when a write of the key is in the commit's causal past or earlier in
// the commit. Put, del and putblob are all writes, as the refused op and
// as the earlier write: a key written once is never deleted, and a key
// deleted first (a tombstone is its first write) is never put. The
// earlier writes are those of commits that count (see below).
//
// Rules only restrict, and they come from commits that count, so they are
// decided with the commits that count, never in the grounded check: a
// store holds a commit that breaks a rule (its declaring admin may be cut
// below it later, and then the commit counts). Cuts therefore no longer
// only remove commits: cutting the declarer of a strict version brings
// back the commits it refused (or makes an older, stricter version in
// force again). Evaluate stays a pure function of the set: revocations
// are still looked at once each, in decision order.
//
// A refusal says whether the commit Followed rules (SchemaError.Followed):
// every data op of it keeps, per app, some declaration in its causal
// past, counting or not (a declaration allows a key it does not cover).
// Which declarations count for a commit depends on revocations its author
// may not have seen (an admin cut below its lenient version, concurrently)
// and, through the decision order, on revocations outside its past, so an
// honest author can write by rules that are void here. Only a write that
// no declaration in its causal past allows shows that its author broke
// the rules it could see (Broken): a peer sending its own such commit
// misbehaves. The price: a write that keeps an older version, superseded
// everywhere, is void but not evidence. The check looks at every
// declaration of the apps, held in the state counting or not (Watch), and
// runs only for commits already refused. The signer is looked at the same
// way: for rules "admin" and {person}, the grants and certificates of
// every commit in c's causal past, counting or not, are held too (a
// grounded State linked by Ground: a store's grounded state, or
// Grounded; Evaluate computes it once, when a refused commit first needs
// it), since an admin grant or a certificate may be void here by a
// revocation its holder had not seen. A write-once rule's earlier writes
// are those of the commits that count, as for the rule in force: a
// commit held void here that wrote a once key never refuses a later
// write, and an earlier write that counts here was, in the writer's view
// too, a write it should not have repeated, unless a revocation in its
// past voided it there and a revocation outside its past voided that
// revocation here (not told apart: such a commit is counted).
package acl

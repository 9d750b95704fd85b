// may.js: what this device may do in a space, from the space's members
// (GET /v1/spaces/SPACE/members: its own row, or its person's with the
// device beneath). The apps show only the controls it can use, and one
// plain sentence where it cannot (a read-only or revoked member sees no
// compose box, invite form or Revoke link, never a raw error).
//
//   const m = mayOf(members, me);
//   m.write('chat/')  m.admin('')  m.why('write', 'chat/', 'post messages')
//
// The node checks every write anyway: this is what the page offers, not
// what it enforces. A device the list does not know yet (a join still
// syncing, a members list that failed to load) may try: the node answers.
import { h } from './dom.js';

// rowsOf returns this device's rows in members: its own, and its
// person's when a person certified it.
function rowsOf(members, me) {
  for (const m of members || []) {
    if (m.invite) continue;
    if (m.author === me) return { device: m, person: null };
    const d = (m.devices || []).find((x) => x.author === me);
    if (d) return { device: d, person: m };
  }
  return { device: null, person: null };
}

const live = (g, now) => !g.expires || Date.parse(g.expires) > now;

// mayOf answers what the device me may do, from a space's members list:
//   known      whether the list names it
//   revoked    the revocation ({at, by}) of the device or its person, or null
//   role       its role now ('read', 'write', 'admin', 'seed', '' for none)
//   write(key) whether it may write key (a write or admin grant over it)
//   admin(key) whether it holds an admin grant over key
//   why(need, key, what) the sentence saying why it may not do what
//              (a verb phrase: "post messages"), or '' when it may.
export function mayOf(members, me) {
  const { device, person } = rowsOf(members, me);
  const now = Date.now();
  const revoked = (device && device.revoked) || (person && person.revoked) || null;
  const grants = [device, person].filter(Boolean).flatMap((r) => r.grants || []).filter((g) => live(g, now));
  const holds = (roles, key) => !revoked && grants.some((g) => roles.includes(g.role) && key.startsWith(g.prefix || ''));
  const known = !!device;
  const role = revoked ? '' : (device && device.role) || (person && person.role) || '';
  const may = {
    known, revoked, role,
    write: (key) => !known || holds(['write', 'admin'], key),
    admin: (key) => holds(['admin'], key),
    why(need, key, what) {
      if (need === 'admin' ? may.admin(key) : may.write(key)) return '';
      if (revoked) {
        const when = revoked.at ? ' on ' + new Date(revoked.at).toLocaleDateString() : '';
        return 'This device was revoked from the space' + when + ': it still shows what it holds, but it can no longer ' + what + '.';
      }
      if (need === 'admin') {
        return 'Only the space\'s admins can ' + what + '; ask one of them if you need it.';
      }
      const prefixes = grants.filter((g) => g.role === 'write' || g.role === 'admin').map((g) => g.prefix).filter(Boolean);
      if (prefixes.length) return 'This device may write only under ' + prefixes.join(', ') + ', so it cannot ' + what + ' here.';
      if (role === 'seed') return 'This device seeds the space (it keeps it online for members) and cannot ' + what + '.';
      if (role === 'read') return 'This device may only read this space, so it cannot ' + what + '. To take part, ask an admin for a write invite.';
      return 'This device has no role in force in this space (its invite expired?), so it cannot ' + what + '. Ask an admin for a new invite.';
    },
  };
  return may;
}

// cannot is the sentence why(...) makes, as a paragraph the apps put in
// place of a control, or null when the device may.
export function cannot(may, need, key, what) {
  const s = may.why(need, key, what);
  return s ? h('p', { class: 'may-not', role: 'note' }, s) : null;
}

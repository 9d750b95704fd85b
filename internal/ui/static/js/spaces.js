// spaces.js: the space browser: the list of spaces (create, join) and one
// space (keys, heads with authors, verification, invites, members).
import { api, listAll, parseJSON } from './api.js';
import { h, put, field, short, ago, bytes, notice, errorText, stack } from './dom.js';
import { directory, avatarOf } from './people.js';
import { mayOf } from './may.js';

export function spaceList(main) {
  const list = h('div', { class: 'table-wrap' });
  const name = h('input', { name: 'name', required: true, maxlength: 64, autocomplete: 'off', placeholder: 'garden-club' });
  const priv = h('input', { type: 'checkbox', name: 'private', id: 'new-private' });
  const ticket = h('textarea', { name: 'ticket', required: true, rows: 3, placeholder: 'loam2…', spellcheck: 'false' });
  put(main,
    h('h1', {}, 'Spaces'),
    h('div', { class: 'grid' },
      h('section', { class: 'card wide', 'aria-labelledby': 's-list' }, h('h2', { id: 's-list' }, 'Spaces on this device'), list),
      h('section', { class: 'card', 'aria-labelledby': 's-new' }, h('h2', { id: 's-new' }, 'New space'),
        h('form', {
          onsubmit: async (ev) => {
            ev.preventDefault();
            try {
              const s = await api.createSpace(name.value.trim(), priv.checked);
              location.hash = '#/spaces/' + s.id;
            } catch (e) { notice(errorText(e), 'error'); }
          },
        }, field('Name', name, 'A local name for the space; peers see its ID.'),
        h('div', { class: 'field check' }, priv, h('label', { for: 'new-private' }, 'Private'),
          h('small', { class: 'hint' }, 'Keys, values and photos are encrypted; only members can read them, and a seeder keeps it online without reading it.')),
        h('button', { type: 'submit' }, 'Create'))),
      h('section', { class: 'card', 'aria-labelledby': 's-join' }, h('h2', { id: 's-join' }, 'Join with a ticket'),
        h('form', {
          onsubmit: async (ev) => {
            ev.preventDefault();
            const btn = ev.target.querySelector('button');
            btn.disabled = true;
            btn.textContent = 'Joining…';
            try {
              const s = await api.join(ticket.value.trim());
              location.hash = '#/spaces/' + s.id;
            } catch (e) {
              notice(errorText(e), 'error');
              btn.disabled = false;
              btn.textContent = 'Join';
            }
          },
        }, field('Invite ticket', ticket, 'Someone with admin rights in the space makes one.'), h('button', { type: 'submit' }, 'Join')))));
  api.spaces().then((spaces) => {
    put(list, spaces.length ? h('ul', { class: 'plain' }, spaces.map((s) => h('li', {},
      h('a', { href: '#/spaces/' + s.id }, s.name || s.id), ' ', s.private ? h('span', { class: 'badge' }, 'private') : null, ' ',
      h('code', { class: 'muted', title: s.id }, short(s.id)),
      h('span', { class: 'muted' }, ' · created ' + ago(s.created)))))
      : h('p', { class: 'muted' }, 'None yet.'));
  }).catch((e) => put(list, h('p', { class: 'error' }, errorText(e))));
}

const pageSize = 50;

export function spaceView(main, [id]) {
  const keysBox = h('div', { class: 'table-wrap' });
  const headsBox = h('div', { class: 'table-wrap' });
  const verifyBox = h('div', { role: 'status' });
  const inviteBox = h('div');
  const inviteCard = h('div', { id: 'invite-card' });
  const membersBox = h('div', { id: 'members', class: 'table-wrap' });
  const valueBox = h('div');
  const prefix = h('input', { type: 'search', name: 'prefix', placeholder: 'chat/', autocomplete: 'off' });
  const title = h('h1', {}, 'Space');
  let pages = ['']; // start keys of the pages seen
  // Authors show as their person's profile name; the directory comes
  // with the members list (loadMembers).
  let dir = new Map();
  // A device without a person goes by its old chat nickname, if any.
  let nicks = new Map();
  // The space's own key (its ID's, as an author) granted its creator.
  const nameOf = (a, none) => {
    const p = dir.get(a);
    if (a && a === 'aut_' + id.slice(4)) return 'the space, at its creation';
    return (p && p.name) || nicks.get(a) || none || short(a);
  };

  put(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/spaces' }, 'Spaces'), ' / '),
    title,
    h('div', { class: 'grid' },
      h('section', { class: 'card wide', 'aria-labelledby': 'v-keys' },
        h('h2', { id: 'v-keys' }, 'Keys'),
        h('form', { class: 'inline', role: 'search', onsubmit: (ev) => { ev.preventDefault(); pages = ['']; loadKeys(); } },
          field('Prefix', prefix), h('button', { type: 'submit' }, 'Filter')),
        keysBox, valueBox),
      h('section', { class: 'card', 'aria-labelledby': 'v-heads' },
        h('h2', { id: 'v-heads' }, 'History'),
        h('p', { class: 'muted' }, "Every author's latest commit held here. Each commit is signed by its author and chained to the previous one."),
        headsBox,
        h('button', { type: 'button', onclick: verify }, 'Verify every signature'), verifyBox),
      h('section', { class: 'card wide', 'aria-labelledby': 'v-members' },
        h('h2', { id: 'v-members' }, 'Members'),
        h('p', { class: 'muted' }, 'Who may read, write or administer the space, and who granted it. Revoking a member makes its later commits count nowhere.'),
        membersBox),
      h('section', { class: 'card', 'aria-labelledby': 'v-invite' },
        h('h2', { id: 'v-invite' }, 'Invite'),
        inviteCard, inviteBox)));

  api.space(id).then((s) => {
    put(title, s.name || s.id, s.private ? ' ' : null, s.private ? h('span', { class: 'badge', id: 'private-badge', title: 'Keys, values and photos are encrypted for members' }, 'private') : null);
    title.title = s.id;
  })
    .catch((e) => put(keysBox, h('p', { class: 'error' }, errorText(e))));

  async function loadKeys() {
    try {
      const start = pages[pages.length - 1];
      const list = await api.keys(id, { prefix: prefix.value, start, limit: pageSize + 1 });
      const more = list.length > pageSize;
      const shown = list.slice(0, pageSize);
      put(keysBox,
        shown.length ? stack(h('table', { class: 'keys' },
          h('thead', {}, h('tr', {}, ['Key', 'Value', 'Author', 'Time'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, shown.map((e) => h('tr', {},
            h('th', { scope: 'row' }, h('button', { type: 'button', class: 'link', onclick: () => showValue(e) }, e.key ?? ('base64:' + e.key_b64))),
            h('td', { class: 'value' }, preview(e)),
            h('td', {}, h('code', { title: e.author }, nameOf(e.author))),
            h('td', {}, ago(e.time))))))) : h('p', { class: 'muted' }, 'No keys' + (prefix.value ? ' under this prefix.' : '.')),
        h('div', { class: 'pager' },
          pages.length > 1 ? h('button', { type: 'button', onclick: () => { pages.pop(); loadKeys(); } }, '← Previous') : null,
          more ? h('button', { type: 'button', onclick: () => { pages.push(list[pageSize].key); loadKeys(); } }, 'Next →') : null));
    } catch (e) {
      put(keysBox, h('p', { class: 'error' }, errorText(e)));
    }
  }

  async function showValue(e) {
    let body;
    if (e.erased) {
      body = h('p', { class: 'muted' }, 'Erased: its value is gone from this node and every other that received the erase; the write stays in the history, which still verifies.');
    } else if (e.blob) {
      body = h('p', {}, 'A blob: ', h('code', {}, short(e.blob.id)), ', ' + bytes(e.blob.size) + (e.blob.type ? ', ' + e.blob.type : ''));
      if ((e.blob.type || '').startsWith('image/')) {
        const img = h('img', { class: 'preview', alt: 'The image stored at ' + e.key });
        api.getRaw(id, e.key, e.blob.type).then((b) => { img.src = URL.createObjectURL(b); });
        body = [body, img];
      }
    } else {
      let v = e.value ?? ('base64: ' + e.value_b64);
      try { v = JSON.stringify(JSON.parse(v), null, 2); } catch { /* not JSON */ }
      body = h('pre', {}, v);
    }
    put(valueBox, h('div', { class: 'value-view' },
      h('h3', {}, e.key),
      h('p', { class: 'muted' }, 'Written by ', dir.has(e.author) ? nameOf(e.author) + ' ' : '', h('code', {}, e.author), ' ' + ago(e.time)),
      body));
  }

  async function loadHeads() {
    try {
      const heads = await api.heads(id);
      put(headsBox, stack(h('table', {},
        h('thead', {}, h('tr', {}, ['Author', 'Commits', 'Latest'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, heads.map((hd) => h('tr', {},
          h('th', { scope: 'row' }, h('code', { title: hd.author }, nameOf(hd.author)), hd.author === sessionStorage.getItem('loam.author') ? ' (you)' : ''),
          h('td', {}, String(hd.seq)),
          h('td', {}, h('span', { title: hd.commit }, ago(hd.time)))))))));
    } catch (e) {
      put(headsBox, h('p', { class: 'error' }, errorText(e)));
    }
  }

  async function verify() {
    put(verifyBox, h('p', { class: 'muted' }, 'Verifying…'));
    try {
      const r = await api.verify(id);
      put(verifyBox, h('p', { class: 'ok-text' }, '✓ Verified: ' + r.commits + ' commits, ' + r.ops + ' operations by ' + r.authors +
        ' authors; every signature and chain link checks out' + (r.forks ? '; ' + r.forks + ' forks found' : '') + '.'));
    } catch (e) {
      put(verifyBox, h('p', { class: 'error' }, '✗ ' + errorText(e)));
    }
  }

  // loadMembers lists the members: a person (an identity) is one row,
  // named by their profile, with their devices beneath; revoking a person
  // revokes every device of theirs. Other devices are rows of their own.
  async function loadMembers() {
    try {
      const members = (await api.members(id)).filter((m) => !m.invite);
      dir = directory(members);
      try {
        const n = new Map();
        for (const e of await listAll(id, 'chat/nick/')) {
          const v = (parseJSON(e) || {}).nick;
          if (e.key === 'chat/nick/' + e.author && typeof v === 'string' && v.trim()) n.set(e.author, v.trim().slice(0, 40));
        }
        nicks = n;
      } catch { /* a sealed space: no nicknames */ }
      const me = sessionStorage.getItem('loam.author');
      // Invites and revocations are an admin's: others see why not.
      const may = mayOf(members, me);
      const admin = may.admin('');
      const whyNot = may.why('admin', '', 'invite people or revoke members');
      if (!inviteCard.firstChild || inviteCard.dataset.admin !== String(admin)) {
        inviteCard.dataset.admin = String(admin);
        put(inviteCard, admin ? inviteForm(id, inviteBox) : h('p', { class: 'may-not', role: 'note' }, whyNot));
      }
      const revoke = (target, question) => async () => {
        if (!confirm(question)) return;
        try { await api.revoke(id, target); notice('Revoked'); loadMembers(); } catch (e) { notice(errorText(e), 'error'); }
      };
      const row = (m, device) => {
        const g = m.grants && m.grants.length ? m.grants[m.grants.length - 1] : null;
        const person = !device && m.identity && m.author === m.identity;
        const mine = person ? (m.devices || []).some((d) => d.author === me) : m.author === me;
        // Names, not IDs: the ID is the tooltip.
        const who = person
          ? [avatarOf(id, m), h('strong', { class: 'person-name', title: m.identity }, m.name || 'No profile name yet'), ' ',
            h('span', { class: 'muted' }, (m.devices || []).length === 1 ? '1 device' : (m.devices || []).length + ' devices')]
          : [device ? '└ ' : null, h('span', { class: 'device-name', title: m.author }, m.name || nameOf(m.author, 'Unnamed device'))];
        const label = person ? (m.name || 'this person') : (m.name || nameOf(m.author, 'this device'));
        return h('tr', { class: person ? 'person' : device ? 'device' : null, dataset: { member: m.author } },
          h('th', { scope: 'row' }, who, mine ? ' (you)' : ''),
          h('td', {}, m.revoked ? h('span', { class: 'badge' }, 'revoked ' + ago(m.revoked.at)) : (m.role || '–') + (g && g.prefix ? ' under ' + g.prefix : '')),
          h('td', {}, g ? h('span', { title: g.granted_by }, nameOf(g.granted_by)) : ''),
          h('td', {}, g ? ago(g.since) : m.since ? ago(m.since) : ''),
          h('td', {}, m.revoked || mine || !admin ? '' : h('button', {
            type: 'button', class: 'link',
            onclick: person
              ? revoke(m.identity, 'Revoke ' + label + ' (all their devices)? Their commits from now on will not count.')
              : revoke(m.author, 'Revoke ' + label + '? Its commits from now on will not count.'),
          }, 'Revoke')));
      };
      put(membersBox, members.length ? stack(h('table', {},
        h('thead', {}, h('tr', {}, ['Member', 'Role', 'Granted by', 'Since', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, members.flatMap((m) => [row(m, false), ...(m.devices || []).map((d) => row(d, true))])))) : h('p', { class: 'muted' }, 'No members yet.'));
      loadHeads();
      loadKeys();
    } catch (e) {
      put(membersBox, h('p', { class: 'error' }, errorText(e)));
    }
  }

  loadKeys();
  loadHeads();
  loadMembers();
  const timer = setInterval(loadHeads, 5000);
  return () => clearInterval(timer);
}

function preview(e) {
  if (e.erased) return h('span', { class: 'badge', title: 'Its value was erased on every node; the write stays in the history' }, 'erased');
  if (e.blob) return h('span', { class: 'badge' }, 'blob · ' + bytes(e.blob.size));
  const v = e.value ?? '(binary)';
  return v.length > 80 ? v.slice(0, 80) + '…' : v;
}

function inviteForm(id, out) {
  const role = h('select', { name: 'role' }, ['write', 'read', 'admin', 'seed'].map((r) => h('option', { value: r }, r)));
  const expires = h('select', { name: 'expires' },
    [['24h', '1 day'], ['168h', '1 week'], ['1h', '1 hour'], ['0', 'never']].map(([v, l]) => h('option', { value: v }, l)));
  return h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const { ticket } = await api.invite(id, role.value, expires.value);
        const ta = h('textarea', { readonly: true, rows: 4, 'aria-label': 'Invite ticket', spellcheck: 'false' }, ticket);
        put(out, h('p', {}, 'Give this ticket to the person you invite; they join on their Spaces page or with ', h('code', {}, 'loam join'), '.'), ta,
          h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(ticket).then(() => notice('Copied')) }, 'Copy'));
        ta.select();
      } catch (e) { put(out, h('p', { class: 'error' }, errorText(e))); }
    },
  }, field('Role', role), field('Expires', expires), h('button', { type: 'submit' }, 'Make a ticket'));
}

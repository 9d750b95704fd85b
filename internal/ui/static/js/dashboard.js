// dashboard.js: spaces, peers (direct or relayed) and sync state, polled.
import { api, listAll, parseJSON } from './api.js';
import { h, put, short, bytes, ago, errorText, stack } from './dom.js';
import { sessionsCard } from './sessions.js';
import { directory } from './people.js';

// Peers and this node show as their person's profile name where a space's
// members know it (people.js); the directories are loaded with the first
// status and again every 10th.
const maxDirSpaces = 20;

export function dashboard(main) {
  const spacesBox = h('div', { class: 'table-wrap' });
  const peersBox = h('div', { class: 'table-wrap' });
  const nodeBox = h('dl', { class: 'facts' });
  put(main,
    h('h1', {}, 'Dashboard'),
    h('div', { class: 'grid' },
      h('section', { class: 'card', 'aria-labelledby': 'd-node' }, h('h2', { id: 'd-node' }, 'This node'), nodeBox),
      h('section', { class: 'card wide', 'aria-labelledby': 'd-spaces' }, h('h2', { id: 'd-spaces' }, 'Spaces'), spacesBox),
      h('section', { class: 'card wide', 'aria-labelledby': 'd-peers' }, h('h2', { id: 'd-peers' }, 'Peers'), peersBox),
      sessionsCard()));

  let dir = new Map();
  let ticks = 0;
  async function loadDir(spaces) {
    const next = new Map();
    for (const s of spaces.slice(0, maxDirSpaces)) {
      try {
        for (const [a, p] of directory(await api.members(s.id))) if (p.name || !next.has(a)) next.set(a, p);
        // A device without a person goes by its old chat nickname.
        for (const e of await listAll(s.id, 'chat/nick/')) {
          const n = (parseJSON(e) || {}).nick;
          if (e.key === 'chat/nick/' + e.author && typeof n === 'string' && n.trim() && !next.get(e.author)?.name) next.set(e.author, { name: n.trim().slice(0, 40) });
        }
      } catch { /* a space forgotten meanwhile */ }
    }
    dir = next;
  }
  // A name where a space's members know one; the ID is the tooltip.
  const nameOf = (a) => { const p = dir.get(a); return p && p.name ? p.name : short(a); };

  async function load() {
    try {
      const [st, peers] = await Promise.all([api.status(), api.peers()]);
      if (ticks++ % 10 === 0) await loadDir(st.spaces);
      put(nodeBox,
        h('dt', {}, 'Author'), h('dd', { id: 'me-author' }, h('code', { title: st.author }, nameOf(st.author))),
        h('dt', {}, 'Peer ID'), h('dd', {}, h('code', { title: st.peer }, short(st.peer))),
        h('dt', {}, 'Connected peers'), h('dd', { id: 'peer-count' }, String(st.peers)),
        h('dt', {}, 'Blobs'), h('dd', {}, bytes(st.blobs.bytes_in) + ' in, ' + bytes(st.blobs.bytes_out) + ' out' +
          (st.blobs.fetching ? ', ' + st.blobs.fetching + ' downloading' : '')),
        Object.keys(st.refusals || {}).length ? [h('dt', {}, 'Refused peers'),
          h('dd', {}, Object.entries(st.refusals).map(([k, v]) => k + ': ' + v).join(', '))] : null);
      put(spacesBox, st.spaces.length ? stack(h('table', {},
        h('thead', {}, h('tr', {}, ['Space', 'Keys', 'Commits', 'Authors', 'Sync'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, st.spaces.map((s) => h('tr', {},
          h('th', { scope: 'row' }, h('a', { href: '#/spaces/' + s.id }, s.name || short(s.id))),
          h('td', {}, String(s.keys)),
          h('td', {}, String(s.commits)),
          h('td', {}, String(s.heads.length)),
          h('td', {}, syncBadge(s))))))) : h('p', { class: 'muted' }, 'No spaces yet. ', h('a', { href: '#/spaces' }, 'Create or join one.')));
      put(peersBox, peers.length ? stack(h('table', {},
        h('thead', {}, h('tr', {}, ['Peer', 'Link', 'Spaces', 'Traffic', 'Seen'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, peers.map((p) => h('tr', {},
          h('th', { scope: 'row' }, h('code', { title: p.author + '\n' + p.peer }, nameOf(p.author))),
          h('td', {}, !p.connected ? h('span', { class: 'badge off' }, 'offline')
            : p.direct ? h('span', { class: 'badge ok' }, 'direct') : h('span', { class: 'badge warn' }, 'relayed')),
          h('td', {}, String((p.spaces || []).length)),
          h('td', {}, bytes(p.bytes_in) + ' ↓ ' + bytes(p.bytes_out) + ' ↑'),
          h('td', {}, ago(p.last_seen))))))) : h('p', { class: 'muted' }, 'No peers yet. Peers on the local network are found by themselves; others join with an invite.'));
    } catch (e) {
      if (e.status !== 401) put(spacesBox, h('p', { class: 'error' }, errorText(e)));
    }
  }
  load();
  const timer = setInterval(load, 3000);
  return () => clearInterval(timer);
}

function syncBadge(s) {
  if (!s.peers) return h('span', { class: 'badge off' }, 'no peer');
  if (s.in_sync === s.peers) return h('span', { class: 'badge ok' }, 'in sync with ' + s.peers);
  return h('span', { class: 'badge warn' }, 'syncing ' + s.in_sync + '/' + s.peers);
}

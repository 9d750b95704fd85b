// sessions.js: the browser sessions of the web UI (a dashboard card that
// lists and revokes them), and the page shown when this browser's
// session is missing, expired or revoked.
import { api } from './api.js';
import { h, put, ago, errorText, stack } from './dom.js';

// sessionsCard returns the dashboard's card of browser sessions, loaded
// once and after each revocation.
export function sessionsCard() {
  const box = h('div', { class: 'table-wrap' });
  const card = h('section', { class: 'card wide', 'aria-labelledby': 'd-sessions' },
    h('h2', { id: 'd-sessions' }, 'Browsers and phones'), box,
    h('p', { class: 'muted' }, 'Pair a phone with ', h('code', {}, 'loam pair'), ' on the node.'));
  async function load() {
    try {
      const ss = await api.sessions();
      put(box, ss.length ? stack(h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'Last used', 'Address', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ss.map((s) => h('tr', {},
          h('th', { scope: 'row' }, s.name, s.current ? h('span', { class: 'badge ok' }, 'this browser') : null),
          h('td', {}, ago(s.last_used)),
          h('td', {}, s.addr + (s.via === 'lan' ? ' (home network)' : ' (this machine)')),
          h('td', {}, h('button', {
            class: 'secondary', type: 'button', 'aria-label': 'Revoke ' + s.name,
            onclick: async (e) => {
              if (!confirm('Revoke the session “' + s.name + '”? That browser must pair or log in again.')) return;
              e.target.disabled = true;
              try { await api.revokeSession(s.name); } catch (err) { if (err.status !== 401) alert(errorText(err)); }
              load();
            },
          }, 'Revoke'))))))) : h('p', { class: 'muted' }, 'No sessions.'));
    } catch (e) {
      if (e.status !== 401) put(box, h('p', { class: 'error' }, errorText(e)));
    }
  }
  load();
  return card;
}

// signedOut shows why this browser has no session and how to get one: on
// the home-network listener (https), by pairing; on this machine, with a
// login link.
export function signedOut(main, msg, code) {
  const lan = location.protocol === 'https:';
  put(main,
    h('section', { class: 'card narrow', id: 'signed-out', dataset: { code: code || '' } },
      h('h1', {}, code === 'session_revoked' ? 'This browser was signed out' : lan ? 'Pair this browser' : 'Log in to this Loam node'),
      h('p', { id: 'signed-out-why' }, msg ? msg[0].toUpperCase() + msg.slice(1) + '.' : ''),
      lan
        ? h('p', {}, 'Run ', h('code', {}, 'loam pair'), ' on the node and scan its QR code, or ',
          h('a', { href: '/pair.html' }, 'type the code it prints'), '.')
        : h('p', {}, 'Run ', h('code', {}, 'loam ui'), ' on this device and open the link it prints. ',
          h('code', {}, 'loam daemon'), ' also prints one when it starts. A link works once, for 15 minutes.')));
}

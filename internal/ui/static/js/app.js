// app.js: the router. Each view is a function (main, args) that renders
// into main and returns a cleanup function (closing watch streams and
// timers) called when the view changes.
import { api, setOnUnauthorized } from './api.js';
import { h, put, short } from './dom.js';
import { dashboard } from './dashboard.js';
import { spaceList, spaceView } from './spaces.js';
import { chat } from './chat.js';
import { tools, waiting as toolsWaiting } from './tools.js';
import { board, waiting as boardWaiting } from './board.js';
import { energy, waiting as energyWaiting } from './energy.js';
import { startBadges } from './badges.js';
import { signedOut } from './sessions.js';
import './offline.js';

const main = document.getElementById('main');
let cleanup = () => {};
let loggedOut = false;

setOnUnauthorized((msg, code) => {
  if (loggedOut) return;
  loggedOut = true;
  if (badges) badges.stop();
  cleanup();
  cleanup = () => {};
  signedOut(main, msg, code);
});

const routes = [
  [/^\/?$/, 'dashboard', () => dashboard],
  [/^\/spaces\/?$/, 'spaces', () => spaceList],
  [/^\/spaces\/([^/]+)$/, 'spaces', () => spaceView],
  [/^\/chat(?:\/([^/]+))?$/, 'chat', () => chat],
  [/^\/tools(?:\/([^/]+))?$/, 'tools', () => tools],
  [/^\/board\/?$/, 'board', () => board],
  [/^\/energy\/?$/, 'energy', () => energy],
];

function route() {
  if (loggedOut) return;
  const path = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  cleanup();
  cleanup = () => {};
  for (const [re, nav, view] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    put(main);
    const c = view()(main, m.slice(1));
    if (typeof c === 'function') cleanup = c;
    return;
  }
  put(main, h('section', { class: 'card narrow' }, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the dashboard'))));
}

// The nav's "waiting on you" counts (badges.js), one entry per app.
const badgeApps = [
  { nav: 'tools', prefix: 'tools/', waiting: toolsWaiting },
  { nav: 'board', prefix: 'board/', waiting: boardWaiting },
  { nav: 'energy', prefix: 'energy/', waiting: energyWaiting },
];
let badges = null;

window.addEventListener('hashchange', route);
window.addEventListener('hashchange', () => { if (badges) badges.refresh(); });
api.hello().then((hello) => {
  const me = document.getElementById('me');
  me.textContent = short(hello.author);
  me.title = "This device's author ID: " + hello.author;
  sessionStorage.setItem('loam.author', hello.author);
  route();
  badges = startBadges(badgeApps, hello.author);
  // With an identity, the person's profile name (people.js), not the ID.
  api.profile().then((p) => {
    me.textContent = p.name;
    me.title = p.name + " on this device, " + hello.author;
  }).catch(() => {});
}).catch(() => {});

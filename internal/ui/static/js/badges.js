// badges.js: the nav's "waiting on you" counts. Each app gives a
// waiting(space, me) function resolving to the number of things waiting
// on this device's person in a space (borrow requests to answer,
// transfers to confirm, polls closing); its nav link's badge
// (<a data-nav=APP> … <span class="badge" hidden></span>) shows the sum
// over the spaces the apps work in, kept current by one watch stream per
// space (a browser holds few streams to a host at once: one per space,
// not one per app and space), recounted a moment after changes under the
// app's prefix.
//
//   startBadges([{ nav: 'tools', prefix: 'tools/', waiting }], me)
//
// Pages may show the same count (tools.js on the owner's page); they
// count from what they show, this module from the node.
import { api, watch } from './api.js';

const settle = 400; // ms: a burst of changes is counted once

// spacesOf returns the spaces to count in: the one each app picked
// (pick.js remembers it per app), else "community", else the first.
async function spacesOf(apps) {
  const all = await api.spaces();
  const ids = new Set();
  for (const a of apps) {
    const cur = localStorage.getItem('loam.' + a.nav + '.space');
    const s = all.find((x) => x.id === cur) || all.find((x) => x.name === 'community') || all[0];
    if (s) ids.add(s.id);
  }
  return [...ids];
}

// show sets the nav link's badge to n (hidden at 0).
function show(nav, n) {
  const a = document.querySelector('[data-nav="' + nav + '"]');
  const b = a && a.querySelector('.badge');
  if (!b) return;
  b.hidden = !n;
  b.textContent = n ? String(n) : '';
  a.setAttribute('aria-label', a.firstChild.textContent.trim() + (n ? ', ' + n + ' waiting on you' : ''));
}

// startBadges counts and shows each app's waiting things and keeps them
// current. It returns {stop, refresh}: refresh starts again when the
// spaces to count in changed (a space joined, another one picked), and
// is cheap otherwise (one GET /v1/spaces).
export function startBadges(apps, me) {
  let stops = [];
  let timers = new Map(); // nav → pending recount
  let gen = 0;
  const counts = new Map(); // nav → Map(space → n)
  let watched = ''; // the spaces watched, joined

  async function count(app, space, g) {
    try {
      const n = await app.waiting(space, me);
      if (g !== gen) return;
      if (!counts.has(app.nav)) counts.set(app.nav, new Map());
      counts.get(app.nav).set(space, Number(n) || 0);
      show(app.nav, [...counts.get(app.nav).values()].reduce((x, y) => x + y, 0));
    } catch (e) {
      if (e.status !== 401 && e.code !== 'offline' && e.code !== 'sealed') console.warn('badge', app.nav, e);
    }
  }
  function later(app, space, g) {
    const k = app.nav + '\n' + space;
    if (timers.has(k)) return;
    timers.set(k, setTimeout(() => { timers.delete(k); count(app, space, g); }, settle));
  }
  function stop() {
    gen++;
    stops.forEach((s) => s());
    stops = [];
    timers.forEach((t) => clearTimeout(t));
    timers = new Map();
  }
  async function start() {
    stop();
    counts.clear();
    const g = gen;
    let spaces;
    try { spaces = await spacesOf(apps); } catch { return; }
    if (g !== gen) return;
    watched = spaces.join('\n');
    for (const space of spaces) {
      for (const app of apps) count(app, space, g);
      stops.push(watch(space, '', (e) => {
        for (const app of apps) if ((e.key || '').startsWith(app.prefix)) later(app, space, g);
      }, (s) => {
        // After a reconnection or a resync the stream missed changes.
        if (s === 'live' || s === 'resync') for (const app of apps) later(app, space, g);
      }));
    }
  }
  async function refresh() {
    let spaces;
    try { spaces = await spacesOf(apps); } catch { return; }
    if (spaces.join('\n') !== watched) start();
  }
  start();
  return { stop, refresh };
}

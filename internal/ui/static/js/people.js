// people.js: who wrote what. A device (aut_…) certified by a person
// (idt_…) shows as that person's profile name and avatar (docs/apps.md,
// "Profiles"); the mapping comes from the space's members
// (GET /v1/spaces/SPACE/members: people with their devices), fetched once
// and again when a profile changes or an unknown author shows up, never
// per message. Without a profile: the author's old chat nickname, then
// the short ID.
import { api, watch } from './api.js';
import { h, short } from './dom.js';

// directory maps each certified device of the members list to its person:
// author → {identity, name, avatarKey}.
export function directory(members) {
  const byAuthor = new Map();
  for (const m of members || []) {
    for (const d of m.devices || []) {
      byAuthor.set(d.author, { identity: m.identity, name: m.name || '', avatarKey: m.avatar_key || '' });
    }
  }
  return byAuthor;
}

const membersEvery = 30000; // ms between two askings of the members

const avatarURLs = new Map(); // space + key → Promise of an object URL

// People keeps a space's directory current: start() loads it and watches
// profile/ for changes; changed() is called after each reload.
export class People {
  constructor(space, changed) {
    this.space = space;
    this.changed = changed;
    this.byAuthor = new Map();
    this.members = []; // the members list the directory was made from
    this.asked = new Set(); // unknown authors a reload was made for
    this.timer = null;
    this.stopWatch = () => {};
  }

  async start() {
    this.stopWatch = watch(this.space, 'profile/', () => this.reload());
    // Grants and revocations are no keys the watch sees: the members are
    // asked again now and then, and at once when a write is refused
    // (api.js), so what the page offers (may.js) follows them.
    this.onDenied = () => this.reload();
    window.addEventListener('loam-denied', this.onDenied);
    this.poll = setInterval(() => this.reload(), membersEvery);
    await this.load();
  }

  stop() {
    this.stopWatch();
    clearTimeout(this.timer);
    clearInterval(this.poll);
    window.removeEventListener('loam-denied', this.onDenied);
  }

  async load() {
    try {
      this.members = await api.members(this.space);
      this.byAuthor = directory(this.members);
    } catch (e) {
      if (e.status !== 401) console.error('members', e);
    }
  }

  // reload loads the directory again soon (coalescing bursts).
  reload() {
    if (this.timer) return;
    this.timer = setTimeout(async () => {
      const was = JSON.stringify(this.members);
      await this.load();
      this.timer = null;
      if (JSON.stringify(this.members) !== was) this.changed();
    }, 300);
  }

  person(author) {
    const p = this.byAuthor.get(author);
    if (!p && author && !this.asked.has(author)) {
      this.asked.add(author); // a device certified since the last load?
      this.reload();
    }
    return p;
  }

  // name is what to call author: the profile name of its person, else
  // nick (the old chat nickname), else its short ID.
  name(author, nick) {
    const p = this.person(author);
    return (p && p.name) || nick || short(author);
  }

  // avatar returns a small image of author's person's avatar, or null.
  avatar(author, cls = 'avatar') {
    const p = this.person(author);
    if (!p || !p.avatarKey) return null;
    const img = h('img', { class: cls, alt: '', width: 20, height: 20 });
    const k = this.space + '\n' + p.avatarKey;
    if (!avatarURLs.has(k)) {
      avatarURLs.set(k, api.getRaw(this.space, p.avatarKey).then((b) => URL.createObjectURL(b)).catch(() => { avatarURLs.delete(k); return ''; }));
    }
    avatarURLs.get(k).then((u) => { if (u) img.src = u; else img.remove(); });
    return img;
  }
}

// avatarOf returns a small image of a members row's avatar, or null.
export function avatarOf(space, m, cls = 'avatar') {
  if (!m.avatar_key) return null;
  const p = new People(space, () => {});
  p.byAuthor.set(m.identity, { identity: m.identity, name: m.name, avatarKey: m.avatar_key });
  return p.avatar(m.identity, cls);
}

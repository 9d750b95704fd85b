// board.js: the community board (#15): skill swap, co-design projects and
// polls. The key layout is in docs/apps.md ("Community board"):
//
//   board/swap/ID                {"kind":"offer"|"request","category","title","text"}  by its author
//   board/help/SWAP/ID           {"text"}: "I can help" with swap SWAP                   by the helper
//   board/project/ID             {"title","text","status":"proposed"|"active"|"done"}   by its author
//   board/photo/PROJECT/ID       the photo's bytes (a blob)                              by who adds it
//   board/comment/PROJECT/ID     {"text"}                                                by the commenter
//   board/member/PROJECT/AUTHOR  {}: joined (deleted: left)                               by AUTHOR
//   board/poll/ID                {"question","options","closes","ballot"}               by its author
//   board/vote/POLL/IDT          {"option"}: one per person, changeable until the close by a device of IDT
//
// ID is MS-AUTHOR (13 digits of milliseconds, the author ID); an entry
// whose signed author is not the one its key names is ignored. Tallies
// come from the node (GET /v1/spaces/SPACE/polls), counted from the
// signed votes; the page never counts them itself.
import { api, live, parseJSON } from './api.js';
import { h, put, field, ago, notice, errorText, keepFocus } from './dom.js';
import { spacePicker, noSpaces } from './pick.js';
import { People } from './people.js';
import { appRules } from './rules.js';
import { mayOf } from './may.js';

const idRe = /^\d{13}-(aut_[A-Za-z0-9]+)$/;
const statuses = ['proposed', 'active', 'done'];
let lastMs = 0;

function newID(author) {
  lastMs = Math.max(Date.now(), lastMs + 1);
  return String(lastMs).padStart(13, '0') + '-' + author;
}

const authorOf = (id) => (id.match(idRe) || [])[1];

// Board is the model built from the entries under board/.
class Board {
  constructor() { this.reset(); }
  reset() {
    this.swaps = new Map(); // ID → {id, author, kind, category, title, text, time}
    this.helps = new Map(); // SWAP → Map(ID → {id, author, text, time})
    this.projects = new Map(); // ID → {id, author, title, text, status, time, value}
    this.photos = new Map(); // PROJECT → Map(ID → entry)
    this.comments = new Map(); // PROJECT → Map(ID → {id, author, text, time})
    this.members = new Map(); // PROJECT → Map(AUTHOR → time)
    this.votes = new Map(); // POLL + '/' + IDT → {author, option}
  }
  sub(m, k) {
    if (!m.has(k)) m.set(k, new Map());
    return m.get(k);
  }
  apply(e) {
    if (!e.key) return;
    const [, kind, a, b, ...rest] = e.key.split('/');
    if (rest.length || !a) return;
    const gone = e.op === 'del' || e.erased;
    const v = parseJSON(e) || {};
    const str = (x) => (typeof x === 'string' ? x : '');
    switch (kind) {
      case 'swap':
        if (b !== undefined || e.author !== authorOf(a)) return;
        if (gone) this.swaps.delete(a);
        else this.swaps.set(a, { id: a, author: e.author, kind: v.kind === 'request' ? 'request' : 'offer', category: str(v.category) || 'other', title: str(v.title) || 'Untitled', text: str(v.text), time: e.time });
        return;
      case 'project':
        if (b !== undefined || e.author !== authorOf(a)) return;
        if (gone) this.projects.delete(a);
        else this.projects.set(a, { id: a, author: e.author, title: str(v.title) || 'Untitled', text: str(v.text), status: statuses.includes(v.status) ? v.status : 'proposed', time: e.time, value: v });
        return;
      case 'help': case 'photo': case 'comment':
        if (!b || e.author !== authorOf(b)) return;
        {
          const m = this.sub(kind === 'help' ? this.helps : kind === 'photo' ? this.photos : this.comments, a);
          if (gone) m.delete(b);
          else m.set(b, kind === 'photo' ? e : { id: b, author: e.author, text: str(v.text), time: e.time });
        }
        return;
      case 'member':
        if (!b || e.author !== b) return;
        if (gone) this.sub(this.members, a).delete(b); else this.sub(this.members, a).set(b, e.time);
        return;
      case 'vote':
        if (!b) return;
        if (gone) this.votes.delete(a + '/' + b); else this.votes.set(a + '/' + b, { author: e.author, option: v.option });
    }
  }
  list(m, k) { return [...(m.get(k) || new Map()).values()]; }
}

// waiting resolves to the number of open polls closing within a day that
// this device's person has not voted in (the nav badge).
export async function waiting(space, me) {
  let idt;
  try { idt = (await api.identity()).id; } catch { return 0; }
  const polls = await api.polls(space);
  const day = Date.now() + 86400e3;
  let n = 0;
  for (const p of polls) {
    if (p.closed || Date.parse(p.closes) > day) continue;
    try { await api.get(space, 'board/vote/' + p.id + '/' + idt); } catch (e) { if (e.status === 404) n++; }
  }
  return n;
}

export function board(main) {
  let stop = () => {};
  let closed = false;
  const me = sessionStorage.getItem('loam.author');
  const urls = [];
  const timers = new Set();

  (async () => {
    const pick = await spacePicker('board', () => { location.hash = '#/board'; window.dispatchEvent(new HashChangeEvent('hashchange')); });
    if (!pick.space) { put(main, noSpaces()); return; }
    const space = pick.space.id;
    const bd = new Board();
    let polls = [];
    let myIdt = null;
    try { myIdt = (await api.identity()).id; } catch (e) { if (e.code !== 'no_identity') throw e; }
    const state = h('span', { class: 'badge off', id: 'live' }, 'connecting');
    const why = h('p', { class: 'muted read-only', id: 'board-readonly', hidden: true });
    const swapsEl = h('section', { class: 'card', 'aria-labelledby': 'b-swap' });
    const projectsEl = h('section', { class: 'card', 'aria-labelledby': 'b-proj' });
    const pollsEl = h('section', { class: 'card', 'aria-labelledby': 'b-polls' });
    put(main, h('div', { class: 'app-head' }, h('h1', {}, 'Community board'), pick.el, state), why,
      h('div', { class: 'board' }, swapsEl, projectsEl, pollsEl));
    const people = new People(space, () => redraw());
    const name = (a) => (a === me ? 'you' : people.name(a));
    const personName = (idt) => {
      const m = (people.members || []).find((x) => x.identity === idt && x.author === idt);
      return (m && m.name) || idt.slice(0, 12) + '…';
    };
    let can = { ok: false, why: '' };
    let category = '';
    const photoURLs = new Map(); // key + time → object URL

    const form = (id, onsubmit, ...children) => h('form', {
      id,
      onsubmit: async (ev) => {
        ev.preventDefault();
        const btn = ev.target.querySelector('button[type=submit]');
        btn.disabled = true;
        try {
          await onsubmit(ev.target);
          ev.target.reset();
          // A change that arrived meanwhile drew the form again, with
          // what was typed: that one is cleared too.
          const cur = document.getElementById(id);
          if (cur && cur !== ev.target) cur.reset();
        } catch (e) { notice(errorText(e), 'error'); }
        btn.disabled = false;
      },
    }, ...children);
    const write = (key, v, type) => api.put(space, key, v, type);

    // Skill swap.
    function drawSwaps() {
      const cats = [...new Set([...bd.swaps.values()].map((s) => s.category))].sort();
      const filter = h('select', { id: 'swap-filter', onchange: () => { category = filter.value; drawSwaps(); } },
        h('option', { value: '' }, 'All categories'), cats.map((c) => h('option', { value: c, selected: c === category }, c)));
      const shown = [...bd.swaps.values()].filter((s) => !category || s.category === category).sort((x, y) => (x.id < y.id ? 1 : -1));
      put(swapsEl, h('h2', { id: 'b-swap' }, 'Skill swap'),
        cats.length ? field('Category', filter) : null,
        h('ul', { class: 'plain board-list', id: 'swap-list' }, shown.length ? shown.map(swapItem) : h('li', { class: 'muted' }, 'No offers or requests yet.')),
        can.ok ? h('details', { class: 'board-new' }, h('summary', {}, 'Offer or ask for help'), form('swap-form', async (f) => {
          await write('board/swap/' + newID(me), { kind: f.kind.value, category: f.category.value.trim().toLowerCase(), title: f.title.value.trim(), text: f.text.value.trim() });
          notice('Posted');
        }, field('Kind', h('select', { name: 'kind', id: 'swap-kind' }, h('option', { value: 'offer' }, 'I offer'), h('option', { value: 'request' }, 'I need help'))),
        field('Category', h('input', { name: 'category', id: 'swap-category', required: true, maxlength: 40, placeholder: 'bikes, garden, repairs…', autocomplete: 'off' })),
        field('Title', h('input', { name: 'title', id: 'swap-title', required: true, maxlength: 120, placeholder: 'I can fix bikes', autocomplete: 'off' })),
        field('Details', h('textarea', { name: 'text', id: 'swap-text', rows: 2, maxlength: 4000 })),
        h('button', { type: 'submit' }, 'Post'))) : null);
    }

    function swapItem(s) {
      const helps = bd.list(bd.helps, s.id).sort((x, y) => (x.id < y.id ? -1 : 1));
      const mine = s.author === me;
      const myHelp = helps.find((x) => x.author === me);
      return h('li', { class: 'board-item', dataset: { swap: s.id } },
        h('p', {}, h('span', { class: 'badge ' + (s.kind === 'offer' ? 'ok' : 'warn') }, s.kind), ' ', h('span', { class: 'badge' }, s.category), ' ',
          h('strong', {}, s.title)),
        s.text ? h('p', {}, s.text) : null,
        h('p', { class: 'muted' }, name(s.author) + ' · ' + ago(s.time)),
        mine ? (helps.length ? h('ul', { class: 'plain helps', id: 'helps-' + s.id }, helps.map((x) => h('li', {}, h('strong', {}, name(x.author)), ' can help', x.text ? ': “' + x.text + '”' : '', ' · ' + ago(x.time))))
          : h('p', { class: 'muted' }, 'No answers yet.'))
          : myHelp ? h('p', { class: 'ok-text' }, 'You said you can help.')
            : can.ok ? form('help-' + s.id, async (f) => {
              await write('board/help/' + s.id + '/' + newID(me), { text: f.text.value.trim() });
              notice('Sent to ' + name(s.author));
            }, h('div', { class: 'compose-line' }, h('input', { name: 'text', maxlength: 4000, 'aria-label': 'A note to ' + name(s.author), placeholder: 'A note (optional)', autocomplete: 'off' }),
              h('button', { type: 'submit', class: 'help-btn' }, 'I can help'))) : null);
    }

    // Co-design projects.
    function photo(key, e) {
      const img = h('img', { class: 'board-photo', alt: 'A photo of the project' });
      const k = key + e.time;
      if (photoURLs.has(k)) img.src = photoURLs.get(k);
      else {
        api.getRaw(space, key, (e.blob && e.blob.type) || 'image/jpeg').then((b) => {
          const u = URL.createObjectURL(b);
          urls.push(u);
          photoURLs.set(k, u);
          img.src = u;
        }).catch(() => { img.alt = 'The photo is not here yet'; });
      }
      return img;
    }

    function drawProjects() {
      const ps = [...bd.projects.values()].sort((x, y) => (x.id < y.id ? 1 : -1));
      const file = h('input', { type: 'file', name: 'photo', accept: 'image/*', multiple: true, id: 'project-photo' });
      put(projectsEl, h('h2', { id: 'b-proj' }, 'Projects'),
        h('ul', { class: 'plain board-list', id: 'project-list' }, ps.length ? ps.map(projectItem) : h('li', { class: 'muted' }, 'No projects yet.')),
        can.ok ? h('details', { class: 'board-new' }, h('summary', {}, 'Propose a project'), form('project-form', async (f) => {
          const id = newID(me);
          for (const pf of file.files) await write('board/photo/' + id + '/' + newID(me), pf, pf.type || 'application/octet-stream');
          await write('board/project/' + id, { title: f.title.value.trim(), text: f.text.value.trim(), status: 'proposed' });
          notice('Proposed');
        }, field('Title', h('input', { name: 'title', id: 'project-title', required: true, maxlength: 120, placeholder: 'A bench by the bus stop', autocomplete: 'off' })),
        field('Proposal', h('textarea', { name: 'text', id: 'project-text', rows: 3, maxlength: 8000 })),
        field('Photos', file, 'Shared with everyone in the space.'),
        h('button', { type: 'submit' }, 'Propose'))) : null);
    }

    function projectItem(p) {
      const mine = p.author === me;
      const joined = [...(bd.members.get(p.id) || new Map()).keys()];
      const inIt = joined.includes(me);
      const comments = bd.list(bd.comments, p.id).sort((x, y) => (x.id < y.id ? -1 : 1));
      const photos = [...(bd.photos.get(p.id) || new Map()).entries()].sort();
      const status = h('select', {
        id: 'status-' + p.id, 'aria-label': 'Status',
        onchange: async () => {
          try { await write('board/project/' + p.id, { ...p.value, status: status.value }); } catch (e) { notice(errorText(e), 'error'); }
        },
      }, statuses.map((s) => h('option', { value: s, selected: s === p.status }, s)));
      return h('li', { class: 'board-item project', dataset: { project: p.id } },
        h('h3', {}, p.title, ' ', mine && can.ok ? status : h('span', { class: 'badge status' }, p.status)),
        photos.length ? h('div', { class: 'board-photos' }, photos.map(([id, e]) => photo('board/photo/' + p.id + '/' + id, e))) : null,
        p.text ? h('p', {}, p.text) : null,
        h('p', { class: 'muted' }, 'Proposed by ' + name(p.author) + ' · ' + ago(p.time)),
        h('p', { class: 'members', id: 'members-' + p.id }, joined.length ? 'Joined: ' + joined.map(name).join(', ') : 'Nobody has joined yet.'),
        can.ok ? h('button', {
          type: 'button', class: inIt ? 'secondary' : '', id: 'join-' + p.id,
          onclick: async () => {
            try {
              if (inIt) await api.del(space, 'board/member/' + p.id + '/' + me); else await write('board/member/' + p.id + '/' + me, {});
            } catch (e) { notice(errorText(e), 'error'); }
          },
        }, inIt ? 'Leave' : 'Join') : null,
        h('ul', { class: 'plain comments' }, comments.map((c) => h('li', {}, h('strong', {}, name(c.author)), ': ', c.text, h('span', { class: 'muted' }, ' · ' + ago(c.time))))),
        can.ok ? form('comment-' + p.id, async (f) => {
          await write('board/comment/' + p.id + '/' + newID(me), { text: f.text.value.trim() });
        }, h('div', { class: 'compose-line' }, h('input', { name: 'text', required: true, maxlength: 4000, 'aria-label': 'Comment on ' + p.title, placeholder: 'Comment', autocomplete: 'off' }),
          h('button', { type: 'submit' }, 'Comment'))) : null);
    }

    // Polls.
    function drawPolls() {
      const closes = h('input', { type: 'datetime-local', name: 'closes', id: 'poll-closes', step: 1, required: true });
      const local = new Date(Date.now() + 86400e3 - new Date().getTimezoneOffset() * 60e3);
      closes.value = local.toISOString().slice(0, 16);
      put(pollsEl, h('h2', { id: 'b-polls' }, 'Polls'),
        h('ul', { class: 'plain board-list', id: 'poll-list' }, polls.length ? polls.map(pollItem) : h('li', { class: 'muted' }, 'No polls yet.')),
        !can.ok ? null : !myIdt ? h('p', { class: 'muted', id: 'poll-no-identity' }, 'Votes are one per person, so voting needs an identity on this device: create one with ', h('code', {}, 'loam id create --name "Your name"'), ', then reload this page.')
          : h('details', { class: 'board-new' }, h('summary', {}, 'Start a poll'), form('poll-form', async (f) => {
            const options = f.options.value.split('\n').map((s) => s.trim()).filter(Boolean);
            if (options.length < 2 || options.length > 16) throw new Error('A poll needs 2 to 16 options, one per line.');
            const t = new Date(f.closes.value);
            if (!(t > Date.now())) throw new Error('The closing time has passed: choose one ahead.');
            await write('board/poll/' + newID(me), { question: f.question.value.trim(), options, closes: t.toISOString(), ballot: f.ballot.value });
            notice('Poll started');
          }, field('Question', h('input', { name: 'question', id: 'poll-question', required: true, maxlength: 200, autocomplete: 'off' })),
          field('Options', h('textarea', { name: 'options', id: 'poll-options', rows: 3, required: true }), 'One per line, 2 to 16.'),
          field('Closes', closes),
          field('Ballot', h('select', { name: 'ballot', id: 'poll-ballot' }, h('option', { value: 'open' }, 'open: names shown'), h('option', { value: 'secret' }, 'secret: counts only'))),
          h('button', { type: 'submit' }, 'Start the poll'))));
    }

    function pollItem(p) {
      const mine = myIdt ? bd.votes.get(p.id + '/' + myIdt) : null;
      const total = p.counted || 0;
      const open = !p.closed && Date.parse(p.closes) > Date.now();
      const choice = h('div', { class: 'options', role: 'radiogroup', 'aria-label': p.question },
        p.options.map((o, i) => {
          const n = p.counts[i] || 0;
          const voters = (p.votes || []).filter((v) => v.option === i).map((v) => v.name || personName(v.person));
          return h('label', { class: 'option' },
            open && can.ok && myIdt ? h('input', { type: 'radio', name: 'opt-' + p.id, value: i, checked: mine && mine.option === i }) : h('span', { class: 'opt-mark', 'aria-hidden': 'true' }, mine && mine.option === i ? '✓' : ''),
            h('span', { class: 'opt-name' }, o),
            h('progress', { class: 'bar', max: total || 1, value: n, 'aria-hidden': 'true' }),
            h('span', { class: 'opt-count' }, String(n)),
            voters.length ? h('small', { class: 'muted voters' }, voters.join(', ')) : null);
        }));
      const vote = open && can.ok && myIdt ? h('button', {
        type: 'button', class: 'vote-btn', id: 'vote-' + p.id,
        onclick: async () => {
          const sel = choice.querySelector('input:checked');
          if (!sel) { notice('Choose an option first.', 'error'); return; }
          try {
            await write('board/vote/' + p.id + '/' + myIdt, { option: Number(sel.value) });
            notice('Vote recorded: you can change it until the close.');
          } catch (e) { notice(errorText(e), 'error'); }
        },
      }, mine ? 'Change my vote' : 'Vote') : null;
      const extra = [p.late ? p.late + ' signed after the close, not counted' : '', p.ignored ? p.ignored + ' ignored (not signed by the person they name)' : ''].filter(Boolean).join('; ');
      return h('li', { class: 'board-item poll', dataset: { poll: p.id } },
        h('h3', {}, p.question),
        h('p', { class: 'muted' }, 'By ' + (p.author === me ? 'you' : p.name || name(p.author)) + ' · ',
          open ? 'closes ' + new Date(p.closes).toLocaleString() : h('strong', { class: 'closed' }, 'closed ' + new Date(p.closes).toLocaleString())),
        choice, vote,
        h('p', { class: 'verified', id: 'tally-' + p.id }, '✓ Verified from ' + p.signed + ' signed vote' + (p.signed === 1 ? '' : 's') + ': ' + total + ' counted' + (extra ? ' (' + extra + ')' : '') + '.'),
        h('p', { class: 'muted ballot' }, p.ballot === 'secret'
          ? 'Secret ballot: this app shows counts only. Every vote is a signed entry members can read; secret only hides it in this app.'
          : 'Open ballot: everyone sees who voted for what.', ' One vote per person, changeable until the close; votes signed after the close do not count.'),
        mine && !open ? h('p', { class: 'muted' }, 'You voted “' + (p.options[mine.option] || '?') + '”.') : null);
    }

    let pollTimer = null;
    async function loadPolls() {
      try { polls = await api.polls(space); } catch (e) { if (e.status !== 401) notice(errorText(e), 'error'); return; }
      if (closed) return;
      render(); // keeps what is being typed, as for any change
      // Redraw at the next close, when voting ends.
      const next = polls.filter((p) => !p.closed).map((p) => Date.parse(p.closes)).filter((t) => t > Date.now()).sort((x, y) => x - y)[0];
      if (next) {
        const t = setTimeout(() => { timers.delete(t); loadPolls(); }, Math.min(next - Date.now() + 1000, 2 ** 31 - 1));
        timers.add(t);
      }
    }
    function pollsChanged() {
      if (pollTimer) return;
      pollTimer = setTimeout(() => { pollTimer = null; loadPolls(); }, 200);
    }

    function render() {
      const may = mayOf(people.members, me);
      can = { ok: may.write('board/'), why: may.why('write', 'board/', 'post to the board') };
      why.hidden = can.ok;
      why.textContent = can.ok ? '' : can.why;
      const kept = [...main.querySelectorAll('input[name=text], textarea, input[id]:not([type=file]):not([type=radio])')].map((el) => [el.closest('form')?.id + '/' + (el.id || el.name), el.value, el === document.activeElement]);
      const openDetails = [...main.querySelectorAll('details[open] form')].map((f) => f.id);
      const radios = [...main.querySelectorAll('input[type=radio]:checked')].map((r) => [r.name, r.value]);
      keepFocus(swapsEl, drawSwaps);
      keepFocus(projectsEl, drawProjects);
      keepFocus(pollsEl, drawPolls);
      for (const [n, v] of radios) { const r = main.querySelector('input[type=radio][name="' + CSS.escape(n) + '"][value="' + v + '"]'); if (r) r.checked = true; }
      for (const id of openDetails) { const f = main.querySelector('#' + CSS.escape(id)); if (f) f.closest('details').open = true; }
      for (const [k, value, focused] of kept) {
        const el = [...main.querySelectorAll('input, textarea')].find((x) => x.closest('form')?.id + '/' + (x.id || x.name) === k);
        if (!el || el.type === 'datetime-local' && !value) continue;
        el.value = value;
        if (focused) el.focus();
      }
      document.title = 'Loam community board';
    }
    const redraw = () => { if (!closed) render(); };

    const boardLive = live(space, 'board/', {
      apply: (e) => {
        bd.apply(e);
        if (/^board\/(poll|vote)\//.test(e.key || '')) pollsChanged();
      },
      reset: () => bd.reset(),
      changed: redraw,
      onState: (s) => {
        if (closed) return;
        state.className = 'badge ' + (s === 'live' ? 'ok' : 'warn');
        state.textContent = s;
      },
    });
    stop = () => { boardLive.stop(); people.stop(); };
    await Promise.all([boardLive.loaded, people.start()]);
    if (closed) { stop(); return; }
    redraw();
    await loadPolls();
    appRules(pick.space, me, people.members, 'board/', ['board', 'profile']);
  })().catch((e) => { if (e.status !== 401) put(main, h('p', { class: 'error' }, errorText(e))); });

  return () => {
    closed = true;
    stop();
    timers.forEach(clearTimeout);
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}

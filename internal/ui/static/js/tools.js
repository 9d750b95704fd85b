// tools.js: the tool library. Neighbours list tools they lend, with a
// photo; others request to borrow; the owner accepts or declines and marks
// the tool returned. Every step is its own key, written once by the one
// who may take it, so each tool's lending history is a list of signed
// commits. The key layout is in docs/apps.md:
//
//   tools/item/TOOL                 {"name","description","condition","photo_type"}  by the owner
//   tools/photo/TOOL                the photo's bytes (a blob when over 64 KiB)      by the owner
//   tools/req/TOOL/REQ              {"note"}                                         by the borrower
//   tools/answer/TOOL/REQ           {"answer":"accepted"|"declined","note"}          by the owner
//   tools/returned/TOOL/REQ         {"note"}                                         by the owner
//
// TOOL and REQ are MS-AUTHOR: 13 digits of milliseconds and the author ID
// of the owner (TOOL) or the borrower (REQ). An entry whose signed author
// is not the one its key names is ignored.
//
// The owner edits a tool (a new item value, a new photo; the superseded
// writes of both erased after) and delists it: the photo erased (its blob
// freed on every node), the item deleted and its old values erased; the
// req/answer/returned keys, its lending history, stay. Delisting asks
// first, in the page.
//
// Open requests to the owner's tools are counted on their cards, on the
// tool's page and, through waiting (badges.js), on the nav's Tools link.
// A device that may not write (may.js) sees why instead of the forms.
import { api, live, listAll, parseJSON } from './api.js';
import { h, put, field, ago, notice, errorText, confirmStrip, keepFocus } from './dom.js';
import { mayOf } from './may.js';
import { spacePicker, noSpaces } from './pick.js';
import { People, directory } from './people.js';
import { appRules } from './rules.js';

const conditions = ['like new', 'good', 'worn', 'needs repair'];
const idRe = /^\d{13}-(aut_[A-Za-z0-9]+)$/;
let lastMs = 0;

function newID(author) {
  lastMs = Math.max(Date.now(), lastMs + 1);
  return String(lastMs).padStart(13, '0') + '-' + author;
}

const ownerOf = (id) => (id.match(idRe) || [])[1];

// model builds the library from the entries under tools/.
class Library {
  constructor() { this.reset(); }
  reset() {
    this.items = new Map(); // TOOL → {id, owner, name, description, condition, photo_type, time, value}
    this.photos = new Map(); // TOOL → entry
    this.delisted = new Set(); // TOOL whose item was deleted or erased here
    this.reqs = new Map(); // TOOL → Map(REQ → {id, borrower, note, time, answer, returned})
  }
  req(tool, id) {
    if (!this.reqs.has(tool)) this.reqs.set(tool, new Map());
    const m = this.reqs.get(tool);
    if (!m.has(id)) m.set(id, { id, borrower: ownerOf(id) });
    return m.get(id);
  }
  apply(e) {
    if (!e.key) return;
    const [, kind, tool, rid, ...rest] = e.key.split('/');
    const owner = ownerOf(tool || '');
    if (!owner || rest.length) return;
    const del = e.op === 'del';
    const v = parseJSON(e) || {};
    switch (kind) {
      case 'item':
        if (rid !== undefined || e.author !== owner) return;
        if (del || e.erased) {
          this.items.delete(tool);
          this.delisted.add(tool);
        } else {
          this.delisted.delete(tool);
          this.items.set(tool, { id: tool, owner, name: String(v.name || 'Unnamed tool'), description: String(v.description || ''),
            condition: String(v.condition || ''), photo_type: v.photo_type, time: e.time, value: v });
        }
        return;
      case 'photo':
        if (rid !== undefined || e.author !== owner) return;
        if (del || e.erased) this.photos.delete(tool); else this.photos.set(tool, e);
        return;
    }
    if (!rid || !idRe.test(rid) || del) return;
    if (kind === 'req' && e.author === ownerOf(rid)) Object.assign(this.req(tool, rid), { note: String(v.note || ''), time: e.time, signed: e.author });
    else if (kind === 'answer' && e.author === owner && (v.answer === 'accepted' || v.answer === 'declined')) {
      this.req(tool, rid).answer = { answer: v.answer, note: String(v.note || ''), time: e.time, by: e.author };
    } else if (kind === 'returned' && e.author === owner) this.req(tool, rid).returned = { note: String(v.note || ''), time: e.time, by: e.author };
  }
  requests(tool) {
    return [...(this.reqs.get(tool) || new Map()).values()].filter((r) => r.time).sort((a, b) => (a.id < b.id ? -1 : 1));
  }
  // open returns the requests to tool no answer was given yet.
  open(tool) {
    return this.requests(tool).filter((r) => !r.answer);
  }
  // waitingOn counts the open requests to borrow the tools of owners (a
  // set of authors: a person's devices) by others: the ones waiting on
  // them.
  waitingOn(owners) {
    let n = 0;
    for (const t of this.items.values()) if (owners.has(t.owner)) n += this.open(t.id).filter((r) => !owners.has(r.borrower)).length;
    return n;
  }
  // lentTo returns the request the tool is out on, if any.
  lentTo(tool) {
    return this.requests(tool).find((r) => r.answer?.answer === 'accepted' && !r.returned);
  }
}

// waiting resolves to the number of borrow requests waiting on the
// person of this device (me), in space: to the tools of any of their
// devices. The Tools badge (badges.js).
export async function waiting(space, me) {
  const [entries, members] = await Promise.all([listAll(space, 'tools/'), api.members(space).catch(() => [])]);
  const dir = directory(members);
  const idt = dir.get(me)?.identity;
  const mine = new Set([me]);
  if (idt) for (const [a, p] of dir) if (p.identity === idt) mine.add(a);
  const lib = new Library();
  for (const e of entries) lib.apply(e);
  return lib.waitingOn(mine);
}

export function tools(main, [toolArg]) {
  let stop = () => {};
  let closed = false;
  const me = sessionStorage.getItem('loam.author');
  const urls = []; // object URLs to revoke

  (async () => {
    const pick = await spacePicker('tools', () => { location.hash = '#/tools'; window.dispatchEvent(new HashChangeEvent('hashchange')); });
    if (!pick.space) { put(main, noSpaces()); return; }
    const space = pick.space.id;
    const lib = new Library();
    const nicks = new Map();
    const body = h('div');
    const state = h('span', { class: 'badge off', id: 'live' }, 'connecting');
    put(main, h('div', { class: 'app-head' }, h('h1', {}, 'Tool library'), pick.el, state), body);
    // Owners and borrowers show as their person's profile name (people.js),
    // else their old chat nickname, else their short ID.
    const people = new People(space, () => redraw());
    const name = (a) => people.name(a, nicks.get(a));
    // who is a person's name, with the author ID as the tooltip.
    const who = (a, text) => h('span', { class: 'who', title: a }, text || name(a));
    // may is what this device may do here (may.js), from the members.
    const may = () => mayOf(people.members, me);
    const photoCache = new Map(); // TOOL+time → object URL

    function photo(tool, cls) {
      const item = lib.items.get(tool);
      const p = lib.photos.get(tool);
      const img = h('img', { class: cls, alt: item ? 'Photo of ' + item.name : '' });
      if (!p) return h('div', { class: cls + ' nophoto' }, h('span', { class: 'muted' }, 'No photo'));
      const k = tool + p.time;
      if (photoCache.has(k)) img.src = photoCache.get(k);
      else {
        api.getRaw(space, 'tools/photo/' + tool, (p.blob && p.blob.type) || item?.photo_type || 'image/jpeg').then((b) => {
          const u = URL.createObjectURL(b);
          urls.push(u);
          photoCache.set(k, u);
          img.src = u;
        }).catch(() => { img.alt = 'The photo is not here yet'; });
      }
      return img;
    }

    function statusBadge(tool) {
      const out = lib.lentTo(tool);
      if (out) return h('span', { class: 'badge warn', title: out.borrower }, 'lent to ' + name(out.borrower));
      return h('span', { class: 'badge ok' }, 'available');
    }

    let query = '';
    function renderList() {
      const search = h('input', { type: 'search', name: 'q', value: query, placeholder: 'drill, ladder…', autocomplete: 'off', id: 'tool-search',
        oninput: () => { query = search.value; drawCards(); } });
      const cards = h('ul', { class: 'tool-grid', id: 'tool-list', 'aria-label': 'Tools' });
      function drawCards() {
        const q = query.trim().toLowerCase();
        const items = [...lib.items.values()].filter((t) => !q || (t.name + ' ' + t.description + ' ' + t.condition).toLowerCase().includes(q))
          .sort((a, b) => a.name.localeCompare(b.name));
        put(cards, items.length ? items.map((t) => h('li', { class: 'tool-card', dataset: { tool: t.id } },
          h('a', { href: '#/tools/' + t.id }, photo(t.id, 'thumb'),
            h('div', { class: 'tool-info' },
              h('h3', {}, t.name),
              h('p', { class: 'muted' }, t.condition + ' · ', t.owner === me ? 'yours' : who(t.owner)),
              statusBadge(t.id), t.owner === me ? asking(t.id) : null)))) : h('li', { class: 'muted empty' }, q ? 'No tool matches.' : 'No tools listed yet.' + (may().write('tools/item/') ? ' Be the first!' : '')));
      }
      drawCards();
      put(body, h('div', { class: 'tools' },
        h('section', { class: 'card wide', 'aria-labelledby': 't-browse' },
          h('h2', { id: 't-browse' }, 'Browse'),
          h('div', { role: 'search' }, field('Search tools', search)), cards),
        h('section', { class: 'card', 'aria-labelledby': 't-new' }, h('h2', { id: 't-new' }, 'Lend a tool'), lendBox)));
      drawLend();
      renderList.redraw = () => { drawCards(); drawLend(); };
    }

    // asking is the count of open requests to one of this device's tools.
    function asking(tool) {
      const n = lib.open(tool).filter((r) => r.borrower !== me).length;
      return n ? h('span', { class: 'badge warn asking' }, n === 1 ? '1 request' : n + ' requests') : null;
    }

    // The lend form, or why this device may not lend: kept across
    // redraws while it may (it may hold a chosen photo).
    const lendBox = h('div', { id: 'lend' });
    function drawLend() {
      const why = may().why('write', 'tools/item/', 'lend tools');
      if (!why && !lendBox.querySelector('#tool-form')) put(lendBox, listForm());
      else if (why) put(lendBox, h('p', { class: 'may-not', role: 'note' }, why));
    }

    function listForm() {
      const nm = h('input', { name: 'name', required: true, maxlength: 80, autocomplete: 'off', id: 'tool-name' });
      const desc = h('textarea', { name: 'description', rows: 3, maxlength: 2000, id: 'tool-description' });
      const cond = h('select', { name: 'condition', id: 'tool-condition' }, conditions.map((c) => h('option', { value: c }, c)));
      const file = h('input', { type: 'file', name: 'photo', accept: 'image/*', id: 'tool-photo' });
      const prev = h('div', { class: 'photo-preview' });
      file.addEventListener('change', () => {
        put(prev);
        if (file.files[0]) {
          const u = URL.createObjectURL(file.files[0]);
          urls.push(u);
          prev.append(h('img', { src: u, alt: 'Preview of the photo', class: 'thumb' }));
        }
      });
      return h('form', {
        id: 'tool-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const btn = ev.target.querySelector('button[type=submit]');
          btn.disabled = true;
          const id = newID(me);
          try {
            const f = file.files[0];
            if (f) await api.put(space, 'tools/photo/' + id, f, f.type || 'application/octet-stream');
            await api.put(space, 'tools/item/' + id, { name: nm.value.trim(), description: desc.value.trim(), condition: cond.value, photo_type: f ? f.type : undefined });
            ev.target.reset();
            put(prev);
            notice('Listed');
          } catch (e) { notice(errorText(e), 'error'); }
          btn.disabled = false;
        },
      }, field('Name', nm), field('Description', desc), field('Condition', cond), field('Photo', file, 'Shared with everyone in the space.'), prev,
      h('button', { type: 'submit' }, 'List the tool'));
    }

    // The owner's edit form and delist question on a tool's page; kept
    // across renders (the form itself, with a chosen photo file).
    let editing = null; // {tool, form}
    let confirming = null; // TOOL whose delisting asks first
    let focusNext = null; // data-focus of the control the next render focuses

    function startEdit(tool) {
      const t = lib.items.get(tool);
      const nm = h('input', { name: 'name', required: true, maxlength: 80, autocomplete: 'off', id: 'edit-name', value: t.name });
      const desc = h('textarea', { name: 'description', rows: 3, maxlength: 2000, id: 'edit-description' });
      desc.value = t.description;
      const choices = conditions.includes(t.condition) || !t.condition ? conditions : [...conditions, t.condition];
      const cond = h('select', { name: 'condition', id: 'edit-condition' }, choices.map((c) => h('option', { value: c, selected: c === t.condition }, c)));
      const file = h('input', { type: 'file', name: 'photo', accept: 'image/*', id: 'edit-photo' });
      const drop = h('input', { type: 'checkbox', name: 'nophoto', id: 'edit-nophoto' });
      const hasPhoto = lib.photos.has(tool);
      const form = h('form', {
        id: 'tool-edit-form',
        class: 'edit-tool',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const btn = form.querySelector('button[type=submit]');
          btn.disabled = true;
          try {
            await saveTool(tool, { name: nm.value.trim(), description: desc.value.trim(), condition: cond.value, file: file.files[0], drop: drop.checked });
            editing = null;
            focusNext = 'tool-edit';
            render();
            notice('Saved');
          } catch (e) { notice(errorText(e), 'error'); }
          btn.disabled = false;
        },
        onkeydown: (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); endEdit(); } },
      }, h('h3', {}, 'Edit the tool'), field('Name', nm), field('Description', desc), field('Condition', cond),
      field(hasPhoto ? 'New photo' : 'Photo', file, hasPhoto ? 'Replaces the photo; the old one is erased from every node.' : 'Shared with everyone in the space.'),
      hasPhoto ? h('div', { class: 'field check' }, drop, h('label', { for: 'edit-nophoto' }, 'Remove the photo'), h('small', { class: 'hint' }, 'It is erased from every node.')) : null,
      h('div', { class: 'buttons' }, h('button', { type: 'submit', dataset: { focus: 'edit-save' } }, 'Save'),
        h('button', { type: 'button', class: 'secondary', dataset: { focus: 'edit-cancel' }, onclick: () => endEdit() }, 'Cancel')));
      editing = { tool, form };
      confirming = null;
      render();
      nm.focus();
    }
    function endEdit() {
      editing = null;
      focusNext = 'tool-edit';
      render();
    }

    // saveTool writes the new photo (or erases the photo), then the new
    // item, and erases what each superseded: the old photo's blob and the
    // old text leave every node.
    async function saveTool(tool, { name: nm, description, condition, file, drop }) {
      const t = lib.items.get(tool);
      if (!t) throw new Error('This tool is no longer listed.');
      if (!nm) throw new Error('A tool needs a name.');
      const photoKey = 'tools/photo/' + tool;
      let photoType = t.photo_type;
      if (file) {
        await api.put(space, photoKey, file, file.type || 'application/octet-stream');
        await api.eraseSome(space, photoKey, { superseded: true });
        photoType = file.type || undefined;
      } else if (drop && lib.photos.has(tool)) {
        await api.eraseSome(space, photoKey);
        photoType = undefined;
      }
      const old = t.value && typeof t.value === 'object' && !Array.isArray(t.value) ? t.value : {};
      const v = { ...old, name: nm, description, condition, photo_type: photoType };
      if (photoType === undefined) delete v.photo_type;
      await api.put(space, 'tools/item/' + tool, v);
      await api.eraseSome(space, 'tools/item/' + tool, { superseded: true });
    }

    // delist erases the photo, deletes the item and erases its old
    // values; the lending history stays.
    async function delist(tool) {
      try {
        await api.eraseSome(space, 'tools/photo/' + tool);
        await api.del(space, 'tools/item/' + tool);
        await api.eraseSome(space, 'tools/item/' + tool, { superseded: true });
        confirming = null;
        notice('Delisted: its photo is erased; its lending history stays.');
        location.hash = '#/tools';
      } catch (e) { notice(errorText(e), 'error'); }
    }

    function ownerTools(tool, t) {
      if (confirming === tool) {
        return confirmStrip('delist', 'Delist “' + t.name + '”? It leaves the library on every node and its photo is erased from every node; its lending history stays.',
          'Delist', () => delist(tool), () => { confirming = null; focusNext = 'tool-delist'; render(); });
      }
      return h('div', { class: 'buttons owner-tools' },
        h('button', { type: 'button', class: 'secondary', id: 'tool-edit', dataset: { focus: 'tool-edit' }, onclick: () => startEdit(tool) }, 'Edit'),
        h('button', { type: 'button', class: 'danger', id: 'tool-delist', dataset: { focus: 'tool-delist' },
          onclick: () => { confirming = tool; editing = null; focusNext = 'delist:no'; render(); } }, 'Delist'));
    }

    function historySection(tool, t) {
      const reqs = lib.requests(tool);
      const verifyBox = h('div', { role: 'status' });
      const owner = t ? t.owner : ownerOf(tool);
      return h('section', { class: 'card wide', 'aria-labelledby': 'tool-history' },
            h('h2', { id: 'tool-history' }, 'Lending history'),
            reqs.length ? h('ol', { class: 'history', id: 'history' }, reqs.flatMap((r) => [
              h('li', {}, h('time', { datetime: r.time }, ago(r.time)), ' ', h('strong', { title: r.borrower }, name(r.borrower)), ' asked to borrow it', r.note ? ': “' + r.note + '”' : '', signed(r.signed)),
              r.answer ? h('li', { class: r.answer.answer }, h('time', { datetime: r.answer.time }, ago(r.answer.time)), ' ', who(owner), ' ', r.answer.answer, ' ', who(r.borrower, name(r.borrower) + "'s"), ' request', r.answer.note ? ': “' + r.answer.note + '”' : '', signed(r.answer.by)) : null,
              r.returned ? h('li', { class: 'returned' }, h('time', { datetime: r.returned.time }, ago(r.returned.time)), ' returned by ', who(r.borrower), signed(r.returned.by)) : null,
            ])) : h('p', { class: 'muted' }, 'Never lent yet.'),
            h('p', { class: 'muted' }, 'Each step is a commit signed by the person who took it; entries signed by anyone else are ignored.'),
            h('button', {
              type: 'button',
              onclick: async () => {
                try {
                  const r = await api.verify(space);
                  put(verifyBox, h('p', { class: 'ok-text' }, '✓ All ' + r.commits + ' commits of this space verify: signatures and chains are intact.'));
                } catch (e) { put(verifyBox, h('p', { class: 'error' }, '✗ ' + errorText(e))); }
              },
            }, 'Verify the history'), verifyBox);
    }

    function renderTool(tool) {
      const t = lib.items.get(tool);
      if (!t) {
        editing = null;
        const gone = lib.delisted.has(tool);
        put(body, h('p', { class: 'crumbs' }, h('a', { href: '#/tools' }, 'Tool library'), ' /'),
          h('p', { class: 'muted', id: 'tool-gone' }, gone ? 'This tool was delisted by its owner.' : 'This tool is not here (yet).'),
          lib.requests(tool).length ? h('div', { class: 'tool-detail' }, historySection(tool, null)) : null);
        return;
      }
      const mine = t.owner === me;
      const reqs = lib.requests(tool);
      const out = lib.lentTo(tool);
      const myOpen = reqs.find((r) => r.borrower === me && !r.answer);
      const edit = mine && editing && editing.tool === tool;
      put(body,
        h('p', { class: 'crumbs' }, h('a', { href: '#/tools' }, 'Tool library'), ' / '),
        h('div', { class: 'tool-detail' },
          h('section', { class: 'card' }, photo(tool, 'photo'),
            h('h2', { id: 'tool-title' }, t.name), statusBadge(tool),
            edit ? editing.form : [
              h('p', {}, t.description || h('span', { class: 'muted' }, 'No description.')),
              h('dl', { class: 'facts' },
                h('dt', {}, 'Condition'), h('dd', {}, t.condition),
                h('dt', {}, 'Owner'), h('dd', {}, who(t.owner, mine ? 'you' : name(t.owner))),
                h('dt', {}, 'Listed'), h('dd', {}, ago(t.time))),
              mine && may().write('tools/item/' + tool) ? ownerTools(tool, t) : null]),
          h('section', { class: 'card', 'aria-labelledby': 'tool-actions' },
            h('h2', { id: 'tool-actions' }, mine ? ['Requests', ' ', asking(tool)] : 'Borrow'),
            mine ? ownerActions(tool, reqs, out) : borrowForm(tool, myOpen, out)),
          historySection(tool, t)));
    }

    function signed(author) {
      return h('span', { class: 'sig', title: 'Signed by ' + author }, ' ✓ signed');
    }

    function borrowForm(tool, myOpen, out) {
      if (myOpen) return h('p', { id: 'request-state' }, 'You asked to borrow it ' + ago(myOpen.time) + '; waiting for the owner.');
      if (out && out.borrower === me) return h('p', { id: 'request-state' }, 'You have it since ' + ago(out.answer.time) + '. The owner marks it returned.');
      const why = may().why('write', 'tools/req/' + tool + '/', 'ask to borrow tools');
      if (why) return h('p', { class: 'may-not', role: 'note' }, why);
      const note = h('input', { name: 'note', maxlength: 500, autocomplete: 'off', id: 'request-note', placeholder: 'Saturday morning, back on Sunday' });
      return h('form', {
        id: 'request-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          try {
            await api.put(space, 'tools/req/' + tool + '/' + newID(me), { note: note.value.trim() });
            notice('Request sent');
          } catch (e) { notice(errorText(e), 'error'); }
        },
      }, out ? h('p', { class: 'muted' }, 'It is lent out now; you can still ask for it next.') : null,
      field('Message to the owner', note), h('button', { type: 'submit' }, 'Request to borrow'));
    }

    function ownerActions(tool, reqs, out) {
      const open = reqs.filter((r) => !r.answer);
      const why = may().why('write', 'tools/answer/' + tool + '/', 'answer requests or mark the tool returned');
      if (why) return h('div', { id: 'owner-actions' }, h('p', { class: 'may-not', role: 'note' }, why));
      const answer = (r, a) => async () => {
        try {
          await api.put(space, 'tools/answer/' + tool + '/' + r.id, { answer: a });
        } catch (e) { notice(errorText(e), 'error'); }
      };
      return h('div', { id: 'owner-actions' },
        out ? h('div', { class: 'lent' }, h('p', {}, 'Lent to ', h('strong', {}, name(out.borrower)), ' since ' + ago(out.answer.time) + '.'),
          h('button', {
            type: 'button', id: 'mark-returned',
            onclick: async () => {
              try { await api.put(space, 'tools/returned/' + tool + '/' + out.id, { note: '' }); } catch (e) { notice(errorText(e), 'error'); }
            },
          }, 'Mark returned')) : null,
        open.length ? h('ul', { class: 'plain requests' }, open.map((r) => h('li', { dataset: { req: r.id } },
          h('p', {}, h('strong', { title: r.borrower }, name(r.borrower)), ' asks ' + ago(r.time), r.note ? ': “' + r.note + '”' : ''),
          h('div', { class: 'buttons' },
            h('button', { type: 'button', class: 'accept', disabled: !!out, title: out ? 'Mark it returned first' : null, onclick: answer(r, 'accepted') }, 'Accept'),
            h('button', { type: 'button', class: 'secondary decline', onclick: answer(r, 'declined') }, 'Decline')))))
          : h('p', { class: 'muted' }, 'No open requests.'));
    }

    function render() {
      if (toolArg) {
        // A change arriving while someone types must not wipe the text
        // (the edit form is kept whole: a chosen file cannot be set back).
        const kept = [...body.querySelectorAll('input[id]:not([type=file]):not([type=checkbox]), textarea[id]')]
          .filter((el) => !(editing && editing.form.contains(el))).map((el) => [el.id, el.value, el === document.activeElement]);
        const want = focusNext;
        focusNext = null;
        keepFocus(body, () => {
          renderTool(toolArg);
          for (const [id, value, focused] of kept) {
            const el = body.querySelector('#' + id);
            if (!el) continue;
            el.value = value;
            if (focused) el.focus();
          }
        }, want);
      } else if (renderList.redraw && body.querySelector('#tool-list')) renderList.redraw();
      else renderList();
      document.title = 'Loam tool library';
    }

    const redraw = () => { if (!closed) render(); };
    const toolsLive = live(space, 'tools/', {
      apply: (e) => {
        lib.apply(e);
        // An erased or deleted photo leaves this page's memory too.
        const [, kind, tool] = (e.key || '').split('/');
        if (kind === 'photo' && (e.erased || e.op === 'del')) {
          for (const [k, u] of photoCache) {
            if (k.startsWith(tool)) { URL.revokeObjectURL(u); photoCache.delete(k); }
          }
        }
      },
      reset: () => lib.reset(),
      changed: redraw,
      onState: (s) => {
        if (closed) return;
        state.className = 'badge ' + (s === 'live' ? 'ok' : 'warn');
        state.textContent = s;
      },
    });
    const nicksLive = live(space, 'chat/nick/', {
      apply: (e) => {
        const n = (parseJSON(e) || {}).nick;
        if (e.key !== 'chat/nick/' + e.author) return;
        if (e.op === 'del' || !n) nicks.delete(e.author); else nicks.set(e.author, String(n).slice(0, 40));
      },
      reset: () => nicks.clear(),
      changed: redraw,
    });
    stop = () => { toolsLive.stop(); nicksLive.stop(); people.stop(); };
    await Promise.all([toolsLive.loaded, nicksLive.loaded, people.start()]);
    if (closed) { stop(); return; }
    redraw(); // with the members loaded: what this device may do
    appRules(pick.space, me, people.members, 'tools/', ['tools', 'profile']);
  })().catch((e) => { if (e.status !== 401) put(main, h('p', { class: 'error' }, errorText(e))); });

  return () => { closed = true; stop(); urls.forEach((u) => URL.revokeObjectURL(u)); };
}

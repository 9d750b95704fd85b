// dom.js: building elements without innerHTML, so text from peers is
// never parsed as HTML.

// h creates an element: h('p', {class: 'x', onclick: f}, 'text', child…).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else {
      el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// clear empties el and appends children.
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
// field returns a label and its control, tied by a fresh id.
export function field(label, control, hint) {
  const id = control.id || 'f' + ++ids;
  control.id = id;
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

// ago formats an RFC 3339 time relative to now.
export function ago(t) {
  if (!t) return '';
  const s = (Date.now() - Date.parse(t)) / 1000;
  if (s < 45) return 'just now';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return new Date(t).toLocaleDateString();
}

export function clock(t) {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// dayName names the day of d for a day separator: "Today",
// "Yesterday", else the date ("Monday 30 November", with the year when
// it is not this year's).
export function dayName(d, now = new Date()) {
  const midnight = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((midnight(now) - midnight(d)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const o = { weekday: 'long', day: 'numeric', month: 'long' };
  if (d.getFullYear() !== now.getFullYear()) o.year = 'numeric';
  return d.toLocaleDateString([], o);
}

export function bytes(n) {
  if (n < 1024) return n + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + ' ' + u[i];
}

// stack marks a table to stack on phones (style.css, table.stack): each
// row a block, each cell labelled with its column's heading (data-label),
// so no column is cut off at 390 px. It returns the table.
export function stack(table) {
  table.classList.add('stack');
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  for (const tr of table.querySelectorAll('tbody tr')) {
    if ([...tr.children].some((c) => c.colSpan > 1)) continue; // a row of its own (a note), not of the columns
    [...tr.children].forEach((c, i) => { if (heads[i] && c.tagName === 'TD') c.dataset.label = heads[i]; });
  }
  return table;
}

// short abbreviates an ID: aut_k3j…x9f.
export function short(id) {
  if (!id || id.length <= 14) return id || '';
  return id.slice(0, 8) + '…' + id.slice(-4);
}

// notice shows a transient message in the page's status region.
export function notice(msg, kind = 'info') {
  const box = document.getElementById('notices');
  const n = h('div', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status' }, msg);
  box.append(n);
  setTimeout(() => n.remove(), kind === 'error' ? 8000 : 3000);
}

// errorText is an error's message for people.
export function errorText(e) {
  return e && e.message ? e.message : String(e);
}

// confirmStrip asks in the page before a destructive action: the
// question, a button that does it (label) and Cancel; Escape cancels.
// Its buttons carry data-focus (id + ':yes', id + ':no') for the caller
// to move the focus there (to Cancel: the safe choice) and to keep it
// across renders. onConfirm may be async: both buttons are disabled
// while it runs.
export function confirmStrip(id, question, label, onConfirm, onCancel) {
  const qid = 'q-' + id.replace(/[^A-Za-z0-9_-]/g, '_');
  const yes = h('button', { type: 'button', class: 'danger', dataset: { focus: id + ':yes' } }, label);
  const no = h('button', { type: 'button', class: 'secondary', dataset: { focus: id + ':no' } }, 'Cancel');
  yes.addEventListener('click', async () => {
    yes.disabled = no.disabled = true;
    try {
      await onConfirm();
    } finally {
      yes.disabled = no.disabled = false;
    }
  });
  no.addEventListener('click', onCancel);
  const box = h('div', { class: 'confirm', role: 'alertdialog', 'aria-labelledby': qid },
    h('p', { id: qid }, question), h('div', { class: 'buttons' }, yes, no));
  box.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      onCancel();
    }
  });
  return box;
}

// keepFocus runs draw, which replaces what root holds, and gives the
// focus back to the new element with the same data-focus as the one that
// had it (or to the one named want, when given), or to the element that
// had it when draw put that element back.
export function keepFocus(root, draw, want) {
  const act = document.activeElement;
  const had = act && root.contains(act) ? act.dataset.focus : undefined;
  draw();
  const name = want || had;
  if (!name) {
    // A control kept whole across the draw (an edit form being filled in)
    // loses focus when it is put back: give it back, so that a change
    // arriving meanwhile does not take the typing away.
    if (act && act !== document.activeElement && act.isConnected && root.contains(act)) act.focus();
    return;
  }
  const el = [...root.querySelectorAll('[data-focus]')].find((x) => x.dataset.focus === name);
  if (el) el.focus();
}

// isAdminOf reports whether author holds an admin grant, in force now,
// of a prefix key has, in a space's members list (GET …/members): on its
// device's row or its person's.
export function isAdminOf(members, author, key) {
  const now = Date.now();
  for (const m of members || []) {
    const rows = m.author === author ? [m] : (m.devices || []).some((d) => d.author === author) ? [m, ...m.devices.filter((d) => d.author === author)] : [];
    for (const r of rows) {
      if (r.revoked) continue;
      for (const g of r.grants || []) {
        if (g.role === 'admin' && key.startsWith(g.prefix || '') && (!g.expires || Date.parse(g.expires) > now)) return true;
      }
    }
  }
  return false;
}

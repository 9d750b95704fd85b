// energy.js: the neighbourhood energy exchange (docs/apps.md, "Energy
// exchange"). Members post offers of surplus kWh and requests, and keep a
// mutual-credit ledger: the giver records a transfer, the receiver
// confirms it, each signing their own key; balances come from confirmed
// transfers, sum to zero, and never pass a member's limit, which admins
// set. The node computes the ledger (GET /v1/spaces/SPACE/ledger), the
// same reader the CLI and the Go API use; this page writes the keys:
//
//   energy/post/MS-AUTHOR                {"kind":"offer"|"request","kwh","text","until"}
//   energy/transfer/IDT/TO/MS-AUTHOR     {"milli","note"}   by a device of IDT, the giver
//   energy/confirm/GIVER/IDT/TRANSFER    {"note","milli"}   by a device of IDT, the receiver (milli: the amount confirmed)
//   energy/limit/IDT                     {"milli"}          by an admin
//
// Accounts are people (IDT, an identity): a device without one can read
// the ledger but not take part, and the page says how to make one.
import { api, watch, listAll, parseJSON } from './api.js';
import { h, put, field, short, ago, notice, errorText, keepFocus, stack } from './dom.js';
import { spacePicker, noSpaces } from './pick.js';
import { appRules } from './rules.js';
import { mayOf } from './may.js';

let lastMs = 0;
function newID(author) {
  lastMs = Math.max(Date.now(), lastMs + 1);
  return String(lastMs).padStart(13, '0') + '-' + author;
}

// kwh formats thousandths of a kWh: "3", "2.5", "-0.125".
export function kwh(milli) {
  return String(Math.round(milli) / 1000);
}

// signed formats a balance with its sign: "+3", "−3", "0".
function signed(milli) {
  if (milli > 0) return '+' + kwh(milli);
  if (milli < 0) return '−' + kwh(-milli);
  return '0';
}

// parseKWh reads "3", "2.5" or "2,5" as thousandths of a kWh, or NaN.
export function parseKWh(s) {
  const t = String(s).trim().replace(',', '.');
  if (!/^\d+(\.\d{1,3})?$/.test(t) && !/^\.\d{1,3}$/.test(t)) return NaN;
  return Math.round(parseFloat(t) * 1000);
}

// myIdentity resolves to this device's person's ID, or '' without one.
async function myIdentity() {
  try {
    return (await api.identity()).id || '';
  } catch (e) {
    if (e.code === 'no_identity' || e.status === 404) return '';
    throw e;
  }
}

// waiting resolves to the number of transfers to this device's person
// waiting for their confirmation in space (for the nav badge).
export async function waiting(space, me) {
  const idt = await myIdentity();
  if (!idt) return 0;
  const l = await api.ledger(space);
  return l.transfers.filter((t) => t.to === idt && t.status === 'waiting').length;
}

const statusWords = {
  waiting: (t, name) => 'waiting for ' + name(t.to, t.to_name) + ' to confirm',
  confirmed: () => 'confirmed',
  past_limit: (t, name) => 'refused: past ' + name(t.from, t.from_name) + "'s limit",
  equivocated: () => 'void: the giver signed two different transfers as this one',
  invalid: () => 'void: to the giver, or of no amount',
};

export function energy(main) {
  let closed = false;
  let stops = [];
  const me = sessionStorage.getItem('loam.author');

  (async () => {
    const pick = await spacePicker('energy', () => { location.hash = '#/energy'; window.dispatchEvent(new HashChangeEvent('hashchange')); });
    if (!pick.space) { put(main, noSpaces()); return; }
    const space = pick.space.id;
    const body = h('div', { class: 'energy' });
    const state = h('span', { class: 'badge off', id: 'live' }, 'connecting');
    put(main, h('div', { class: 'app-head' }, h('h1', {}, 'Energy exchange'), pick.el, state), body);

    const idt = await myIdentity();
    let members = [];
    let ledger = { accounts: [], transfers: [], default_limit_milli: 0, ignored: 0 };
    let posts = [];
    let declared = false;
    const names = new Map(); // member → name
    const name = (id, n) => n || names.get(id) || short(id);

    async function load() {
      const [ms, l, ps] = await Promise.all([api.members(space), api.ledger(space), listAll(space, 'energy/post/')]);
      members = ms;
      ledger = l;
      posts = ps.filter((e) => !e.erased && e.op !== 'del');
      for (const m of ms) if (m.identity && m.name) names.set(m.identity, m.name);
      for (const a of l.accounts) if (a.name) names.set(a.member, a.name);
      if (!declared) {
        declared = true;
        appRules(pick.space, me, members, 'energy/', ['energy', 'profile']);
      }
    }

    let timer = null;
    function reload() {
      if (timer || closed) return;
      timer = setTimeout(async () => {
        timer = null;
        try { await load(); } catch (e) { if (e.code !== 'offline') notice(errorText(e), 'error'); }
        if (!closed) keepFocus(body, render);
      }, 150);
    }
    const onState = (s) => {
      state.textContent = s === 'live' ? 'live' : 'reconnecting';
      state.className = 'badge ' + (s === 'live' ? 'ok' : 'off');
      if (s === 'live' || s === 'resync') reload();
    };
    stops.push(watch(space, 'energy/', reload, onState));
    stops.push(watch(space, 'profile/', reload));

    // What this device may do, and why not.
    function why() {
      const cannot = mayOf(members, me).why('write', 'energy/', 'post, record or confirm transfers');
      if (cannot) return cannot;
      if (!idt) return "Transfers are between people, and this device has no identity yet. Create yours with 'loam id create --name \"Your name\"' on this device, then come back.";
      return '';
    }

    async function write(key, value, done) {
      try {
        await api.put(space, key, value);
        if (done) done();
        reload();
      } catch (e) {
        notice(errorText(e), 'error');
      }
    }

    // kept across renders: what is being typed.
    const form = {
      to: h('select', { name: 'to', id: 'transfer-to', required: true }),
      kwh: h('input', { name: 'kwh', id: 'transfer-kwh', inputmode: 'decimal', autocomplete: 'off', placeholder: '2.5', required: true }),
      note: h('input', { name: 'note', id: 'transfer-note', maxlength: 500, autocomplete: 'off', placeholder: 'Sunday afternoon, solar' }),
      kind: h('select', { name: 'kind', id: 'post-kind' }, h('option', { value: 'offer' }, 'Offer: I have surplus'), h('option', { value: 'request' }, 'Request: I need some')),
      pkwh: h('input', { name: 'post-kwh', id: 'post-kwh', inputmode: 'decimal', autocomplete: 'off', placeholder: '5', required: true }),
      text: h('input', { name: 'text', id: 'post-text', maxlength: 4000, autocomplete: 'off', placeholder: 'Saturday 10–16h, EV charging welcome' }),
      limits: new Map(), // member → input
    };

    function transferForm() {
      const others = ledger.accounts.filter((a) => a.member !== idt && a.member.startsWith('idt_'));
      const sel = form.to.value;
      put(form.to, h('option', { value: '' }, 'Choose a person…'), others.map((a) => h('option', { value: a.member, selected: a.member === sel }, name(a.member, a.name))));
      return h('form', {
        id: 'transfer-form',
        onsubmit: (ev) => {
          ev.preventDefault();
          const milli = parseKWh(form.kwh.value);
          if (!form.to.value) { notice('Choose the person you gave the energy to.', 'error'); return; }
          if (!(milli >= 1 && milli <= 100000000)) { notice('Give the kWh as a number above 0, with up to 3 decimals (2.5).', 'error'); return; }
          const key = 'energy/transfer/' + idt + '/' + form.to.value + '/' + newID(me);
          write(key, { milli, note: form.note.value.trim() }, () => {
            notice('Recorded: ' + kwh(milli) + ' kWh to ' + name(form.to.value) + ', waiting for their confirmation');
            form.kwh.value = form.note.value = '';
          });
        },
      }, field('To', form.to), field('kWh', form.kwh, 'Decimals are fine: 2.5'), field('Note', form.note),
      h('button', { type: 'submit', id: 'transfer-record' }, 'Record transfer'));
    }

    function postForm() {
      return h('form', {
        id: 'post-form',
        onsubmit: (ev) => {
          ev.preventDefault();
          const milli = parseKWh(form.pkwh.value);
          if (!(milli >= 1)) { notice('Give the kWh as a number above 0 (5, or 2.5).', 'error'); return; }
          write('energy/post/' + newID(me), { kind: form.kind.value, kwh: milli / 1000, text: form.text.value.trim() }, () => {
            form.pkwh.value = form.text.value = '';
          });
        },
      }, field('Kind', form.kind), field('kWh', form.pkwh), field('Details', form.text), h('button', { type: 'submit' }, 'Post'));
    }

    function accountsTable(admin) {
      return h('div', { class: 'table-wrap' }, stack(h('table', { id: 'balances' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Person'), h('th', { scope: 'col', class: 'num' }, 'Balance (kWh)'), h('th', { scope: 'col', class: 'num' }, 'Limit (kWh)'), admin ? h('th', { scope: 'col' }, 'Set limit') : null)),
        h('tbody', {}, ledger.accounts.map((a) => {
          let lim = null;
          if (admin) {
            if (!form.limits.has(a.member)) form.limits.set(a.member, h('input', { inputmode: 'decimal', autocomplete: 'off', size: 5, 'aria-label': 'New limit for ' + name(a.member, a.name) + ' in kWh', placeholder: kwh(a.limit_milli) }));
            const input = form.limits.get(a.member);
            input.placeholder = kwh(a.limit_milli);
            lim = h('td', {}, h('form', {
              class: 'inline limit-form',
              onsubmit: (ev) => {
                ev.preventDefault();
                const milli = parseKWh(input.value);
                if (!(milli >= 0 && milli <= 100000000)) { notice('A limit is a number of kWh, 0 or more.', 'error'); return; }
                write('energy/limit/' + a.member, { milli }, () => { input.value = ''; notice('Limit set: ' + name(a.member, a.name) + ' may go to −' + kwh(milli) + ' kWh'); });
              },
            }, input, h('button', { type: 'submit', class: 'secondary' }, 'Set')));
          }
          return [
            h('tr', { dataset: { member: a.member }, class: a.forked ? 'forked' : null },
              h('th', { scope: 'row' }, name(a.member, a.name), a.member === idt ? h('span', { class: 'muted' }, ' (you)') : null, a.admin ? h('span', { class: 'muted' }, ' · admin') : null,
                a.forked ? h('span', { class: 'badge err' }, 'forked') : null),
              h('td', { class: 'num balance' + (a.balance_milli < 0 ? ' neg' : '') }, signed(a.balance_milli)),
              h('td', { class: 'num' }, '−' + kwh(a.limit_milli)),
              lim),
            a.forked ? h('tr', { class: 'evidence' }, h('td', { colspan: admin ? 4 : 3 },
              h('strong', {}, name(a.member, a.name) + ' signed two different things as one: '),
              h('ul', {}, a.forked.map((f) => h('li', {}, f.evidence))))) : null,
          ];
        })))));
    }

    function render() {
      if (closed) return;
      const cannot = why();
      const admin = !cannot && mayOf(members, me).admin('energy/limit/');
      const mine = ledger.accounts.find((a) => a.member === idt);
      const toConfirm = ledger.transfers.filter((t) => t.to === idt && t.status === 'waiting');
      const statement = '/v1/spaces/' + encodeURIComponent(space) + '/ledger/statement?person=' + encodeURIComponent(idt);

      const summary = h('section', { class: 'card', 'aria-labelledby': 'e-mine' },
        h('h2', { id: 'e-mine' }, 'Your balance'),
        idt ? [
          h('p', { class: 'big', id: 'my-balance' }, signed(mine ? mine.balance_milli : 0), ' kWh'),
          h('p', { class: 'muted' }, 'You may go down to −' + kwh(mine ? mine.limit_milli : ledger.default_limit_milli) + ' kWh. Balances count confirmed transfers only, and always sum to zero.'),
          h('p', {}, h('a', { href: statement, download: 'energy-statement.csv', id: 'statement' }, 'Download my statement (CSV)')),
        ] : h('p', { class: 'muted' }, 'This device has no identity, so no account of its own.'),
        cannot ? h('p', { class: 'why', id: 'why' }, cannot) : null);

      const confirmBox = !cannot && toConfirm.length ? h('section', { class: 'card', 'aria-labelledby': 'e-confirm', id: 'to-confirm' },
        h('h2', { id: 'e-confirm' }, 'Waiting for your confirmation'),
        h('ul', { class: 'plain transfers' }, toConfirm.map((t) => h('li', { dataset: { transfer: t.id } },
          h('p', {}, h('strong', {}, name(t.from, t.from_name)), ' says they gave you ', h('strong', {}, kwh(t.milli) + ' kWh'), t.note ? ' — “' + t.note + '”' : '', ' ', h('span', { class: 'muted' }, ago(t.at))),
          h('button', {
            type: 'button', class: 'confirm-transfer', dataset: { focus: 'confirm:' + t.id },
            onclick: () => write('energy/confirm/' + t.from + '/' + idt + '/' + t.id, { milli: t.milli }, () => notice('Confirmed: ' + kwh(t.milli) + ' kWh from ' + name(t.from, t.from_name))),
          }, 'Confirm'))))) : null;

      const record = !cannot ? h('section', { class: 'card', 'aria-labelledby': 'e-record' },
        h('h2', { id: 'e-record' }, 'Record a transfer you gave'),
        h('p', { class: 'muted' }, 'It counts once the receiver confirms it on their device.'),
        transferForm()) : null;

      const balances = h('section', { class: 'card wide', 'aria-labelledby': 'e-balances' },
        h('h2', { id: 'e-balances' }, 'Balances'),
        ledger.accounts.length ? accountsTable(admin) : h('p', { class: 'muted' }, 'No one has an account yet.'),
        admin ? h('p', { class: 'muted' }, 'As an admin you set how far below zero each person may go (no limit set: −' + kwh(ledger.default_limit_milli) + ' kWh). A transfer that would take its giver past the limit is refused when it is confirmed.') : null,
        ledger.ignored ? h('p', { class: 'muted' }, ledger.ignored + (ledger.ignored === 1 ? ' entry breaks' : ' entries break') + " the exchange's rules (written under someone else's name, or malformed) and does not count.") : null);

      const history = h('section', { class: 'card wide', 'aria-labelledby': 'e-transfers' },
        h('h2', { id: 'e-transfers' }, 'Transfers'),
        ledger.transfers.length ? h('ul', { class: 'plain transfers', id: 'transfers' }, ledger.transfers.slice(0, 100).map((t) => h('li', { class: 'status-' + t.status, dataset: { transfer: t.id } },
          h('span', {}, h('strong', {}, name(t.from, t.from_name)), ' → ', h('strong', {}, name(t.to, t.to_name)), ': ', kwh(t.milli) + ' kWh', t.note ? ' — ' + t.note : ''),
          h('span', { class: 'muted' }, ' · ' + (statusWords[t.status] || (() => t.status))(t, name) + ' · ' + ago(t.confirmed_at || t.at))))) : h('p', { class: 'muted' }, 'No transfers yet.'));

      const offers = h('section', { class: 'card', 'aria-labelledby': 'e-posts' },
        h('h2', { id: 'e-posts' }, 'Offers and requests'),
        posts.length ? h('ul', { class: 'plain posts', id: 'posts' }, posts.slice().reverse().map((e) => {
          const v = parseJSON(e) || {};
          const kind = v.kind === 'request' ? 'request' : 'offer';
          return h('li', {}, h('span', { class: 'badge ' + (kind === 'offer' ? 'ok' : 'warn') }, kind), ' ', h('strong', {}, (Number(v.kwh) > 0 ? String(Number(v.kwh)) : '?') + ' kWh'), ' ',
            String(v.text || ''), ' ', h('span', { class: 'muted' }, '· ' + nameOfDevice(e.author) + ' · ' + ago(e.time)));
        })) : h('p', { class: 'muted' }, 'No offers or requests yet.'),
        !cannot ? postForm() : null);

      put(body, h('div', { class: 'energy-grid' }, summary, confirmBox, record, offers, balances, history));
    }

    function nameOfDevice(author) {
      for (const m of members) {
        if ((m.devices || []).some((d) => d.author === author)) return name(m.identity, m.name);
      }
      return short(author);
    }

    try {
      await load();
    } catch (e) {
      put(body, h('p', { class: 'error' }, 'The ledger could not be read: ' + errorText(e)));
      return;
    }
    render();
  })().catch((e) => { if (!closed) put(main, h('p', { class: 'error' }, errorText(e))); });

  return () => {
    closed = true;
    for (const s of stops) s();
    stops = [];
  };
}

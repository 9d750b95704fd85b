// chat.js: channels, messages, nicknames, topics, live updates and unread
// counts, in the spirit of Cabal. The key layout is in docs/apps.md:
//
//   chat/channel/CHANNEL              {"created":"RFC 3339"}   the channel exists
//                                     {…,"name":"Garden Tools"}  as typed, when it is not CHANNEL
//   chat/topic/CHANNEL                {"topic":"…"}            last writer wins
//   chat/msg/CHANNEL/MS-AUTHOR        {"text":"…"}             one key per message
//                                     {"text":"…","edited":"RFC 3339"}  after an edit
//   chat/nick/AUTHOR                  {"nick":"…"}             only AUTHOR's own counts
//
// A message's author shows as its person's profile name and avatar
// (people.js); the old nickname of an author without a profile still
// shows. "Your name" sets the profile of this device's person, or, on a
// device without an identity, its nickname as before.
//
// Unread counts are kept in this browser's localStorage: the key of the
// last message read, per space and channel. A channel's name is what
// someone typed made a slug (slug: "Garden Tools" is garden-tools).
// Messages are grouped under their days ("Today", "Yesterday", a date).
// A device that may not write here (may.js) sees why instead of the
// compose box and the channel and topic forms.
//
// Its author edits a message by writing the new value to the same key
// and then erasing the superseded writes (the old text leaves every
// replica); deletes it by erasing the key: it shows as "message deleted"
// everywhere. An admin (of a prefix the key has) may delete anyone's.
// Deleting asks first, in the page; Escape cancels an edit or a delete.
import { api, live, parseJSON } from './api.js';
import { h, put, field, clock, dayName, notice, errorText, confirmStrip, keepFocus, isAdminOf } from './dom.js';
import { mayOf } from './may.js';
import { spacePicker, noSpaces } from './pick.js';
import { People } from './people.js';
import { appRules } from './rules.js';

const channelRe = /^[a-z0-9][a-z0-9_-]{0,39}$/;

// slug makes a channel name of what someone typed: "Garden Tools"
// becomes garden-tools (lower case, accents dropped, every run of other
// characters one '-', at most 40). It is '' when nothing is left.
export function slug(typed) {
  return String(typed).normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/ß/g, 'ss')
    .replace(/[^a-z0-9_-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[-_]+/, '').slice(0, 40).replace(/-+$/, '');
}
// object is v when it is a JSON object, else {}: what an edit keeps.
const object = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
let lastMs = 0;

// msgID is a message key's last segment: a time-sortable, per-author
// unique id (milliseconds, 13 digits, strictly increasing here).
function msgID(author) {
  lastMs = Math.max(Date.now(), lastMs + 1);
  return String(lastMs).padStart(13, '0') + '-' + author;
}

export function chat(main, [channelArg]) {
  let closed = false;
  let stop = () => {};
  const me = sessionStorage.getItem('loam.author');

  (async () => {
    const pick = await spacePicker('chat', () => { location.hash = '#/chat'; route(); });
    if (!pick.space) { put(main, noSpaces()); return; }
    const space = pick.space.id;
    const channel = channelRe.test(channelArg || '') ? channelArg : 'general';
    const readKey = (c) => 'loam.chat.' + space + '.read.' + c;

    // state, filled from the space and kept current by the watch stream
    const channels = new Set(['general']);
    const topics = new Map(); // channel → {topic, author, time}
    const typed = new Map(); // channel → its name as typed, when it differs
    const nicks = new Map(); // author → nick
    const msgs = new Map(); // channel → Map(key → entry)

    function apply(e) {
      const k = e.key;
      if (!k) return;
      const del = e.op === 'del';
      const [, kind, a, ...rest] = k.split('/');
      if (kind === 'channel' && channelRe.test(a) && !del) {
        channels.add(a);
        const n = (parseJSON(e) || {}).name;
        if (typeof n === 'string' && n.trim() && n.trim() !== a) typed.set(a, n.trim().slice(0, 60));
      }
      else if (kind === 'topic' && channelRe.test(a)) {
        if (del) topics.delete(a);
        else topics.set(a, { topic: (parseJSON(e) || {}).topic || '', author: e.author, time: e.time });
      } else if (kind === 'nick' && a === e.author) {
        const n = (parseJSON(e) || {}).nick;
        if (del || !n) nicks.delete(a); else nicks.set(a, String(n).slice(0, 40));
      } else if (kind === 'msg' && channelRe.test(a) && rest.length === 1) {
        channels.add(a);
        if (!msgs.has(a)) msgs.set(a, new Map());
        if (del) msgs.get(a).delete(k); else msgs.get(a).set(k, e);
      }
    }

    const people = new People(space, () => { if (!closed) render(); });
    let myProfile = null; // this device's person's profile; null without an identity
    try { myProfile = await api.profile(); } catch (e) { if (e.code !== 'no_identity') throw e; }
    const name = (author) => people.name(author, nicks.get(author));
    const sorted = (c) => [...(msgs.get(c) || new Map()).values()].sort((x, y) => (x.key < y.key ? -1 : 1));
    function unread(c) {
      const last = localStorage.getItem(readKey(c)) || '';
      return sorted(c).filter((e) => e.key > last && e.author !== me && !e.erased).length;
    }
    function markRead() {
      const all = sorted(channel);
      if (all.length && document.visibilityState === 'visible') localStorage.setItem(readKey(channel), all[all.length - 1].key);
    }

    // layout
    const chanList = h('ul', { class: 'channels', 'aria-label': 'Channels' });
    const topicEl = h('p', { class: 'topic', id: 'topic' });
    const log = h('ol', { class: 'messages', 'aria-live': 'polite', 'aria-label': 'Messages in #' + channel, id: 'messages' });
    const text = h('input', { name: 'message', autocomplete: 'off', maxlength: 4000, placeholder: 'Message #' + channel, id: 'message' });
    const state = h('span', { class: 'badge off', id: 'live' }, 'connecting');
    const newChan = h('input', { name: 'channel', placeholder: 'Garden tools', maxlength: 60, autocomplete: 'off', id: 'new-channel' });
    const typedName = h('span', { class: 'muted typed-name', id: 'room-typed' });
    const composeNote = h('div', { id: 'compose-note' }); // why this device may not post, when it may not
    const nickIn = h('input', { name: 'nick', maxlength: 64, autocomplete: 'nickname', id: 'nick' });
    const topicIn = h('input', { name: 'topic', maxlength: 200, autocomplete: 'off', id: 'topic-input' });

    for (const el of [topicIn, nickIn]) el.addEventListener('input', () => { el.dataset.editing = '1'; });
    const doneEditing = (el) => { delete el.dataset.editing; };
    put(main,
      h('div', { class: 'app-head' }, h('h1', {}, 'Chat'), pick.el, state),
      h('div', { class: 'chat' },
        h('nav', { class: 'card side chans', 'aria-labelledby': 'chan-head' },
          h('h2', { id: 'chan-head' }, 'Channels'), chanList),
        h('aside', { class: 'card side settings', 'aria-label': 'Channels and nickname' },
          h('form', {
            class: 'compact',
            onsubmit: async (ev) => {
              ev.preventDefault();
              const t = newChan.value.trim();
              const c = slug(t);
              if (!channelRe.test(c)) { notice('A channel name needs a letter or a digit: try "garden tools".', 'error'); return; }
              try {
                const v = { created: new Date().toISOString() };
                if (t !== c) v.name = t;
                await api.put(space, 'chat/channel/' + c, v);
                newChan.value = '';
                location.hash = '#/chat/' + c;
              } catch (e) { notice(errorText(e), 'error'); }
            },
            id: 'new-channel-form',
          }, field('New channel', newChan), h('button', { type: 'submit' }, 'Add')),
          h('form', {
            class: 'compact',
            onsubmit: async (ev) => {
              ev.preventDefault();
              try {
                const n = nickIn.value.trim();
                if (myProfile) {
                  myProfile = await api.setProfile(n, myProfile.avatar);
                  people.reload();
                } else {
                  await api.put(space, 'chat/nick/' + me, { nick: n });
                }
                doneEditing(nickIn);
                notice('Name saved');
              } catch (e) { notice(errorText(e), 'error'); }
            },
            id: 'nick-form',
          }, field('Your name', nickIn), h('button', { type: 'submit' }, 'Save'))),
        h('section', { class: 'card room', 'aria-labelledby': 'room-name' },
          h('header', { class: 'room-head' },
            h('div', { class: 'room-title' }, h('h2', { id: 'room-name' }, '#' + channel), typedName), topicEl,
            h('details', { id: 'topic-edit' }, h('summary', {}, 'Change topic'),
              h('form', {
                class: 'compact',
                onsubmit: async (ev) => {
                  ev.preventDefault();
                  try {
                    await api.put(space, 'chat/topic/' + channel, { topic: topicIn.value.trim() });
                    doneEditing(topicIn);
                    ev.target.closest('details').open = false;
                  } catch (e) { notice(errorText(e), 'error'); }
                },
              }, field('Topic of #' + channel, topicIn), h('button', { type: 'submit' }, 'Set')))),
          log, composeNote,
          h('form', {
            class: 'compose',
            id: 'compose',
            onsubmit: async (ev) => {
              ev.preventDefault();
              const t = text.value.trim();
              if (!t) return;
              text.value = '';
              try {
                if (!channels.has(channel) || !msgs.has(channel)) {
                  await api.put(space, 'chat/channel/' + channel, { created: new Date().toISOString() });
                }
                await api.put(space, 'chat/msg/' + channel + '/' + msgID(me), { text: t });
              } catch (e) {
                text.value = t;
                notice(errorText(e), 'error');
              }
            },
          }, h('label', { for: 'message', class: 'visually-hidden' }, 'Message'), text, h('button', { type: 'submit' }, 'Send')))));

    const compose = main.querySelector('#compose');
    const newChanForm = main.querySelector('#new-channel-form');
    const nickForm = main.querySelector('#nick-form');
    const topicEdit = main.querySelector('#topic-edit');

    // Editing and deleting: at most one message is edited and one asks
    // for a delete's confirmation at a time; renders keep both (and the
    // focus) as live changes arrive.
    let editing = null; // {key, input, form} of the message being edited
    let confirming = null; // key of the message whose delete asks first
    let focusNext = null; // data-focus of the control the next render focuses

    function startEdit(e) {
      const input = h('input', { name: 'edit', maxlength: 4000, autocomplete: 'off', 'aria-label': 'Edit your message', value: String((parseJSON(e) || {}).text ?? ''), dataset: { focus: 'edit-input:' + e.key } });
      const form = h('form', {
        class: 'edit-form',
        onsubmit: (ev) => { ev.preventDefault(); saveEdit(e.key); },
        onkeydown: (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); endEdit(e.key); } },
      }, input, h('div', { class: 'buttons' },
        h('button', { type: 'submit', dataset: { focus: 'edit-save:' + e.key } }, 'Save'),
        h('button', { type: 'button', class: 'secondary', dataset: { focus: 'edit-cancel:' + e.key }, onclick: () => endEdit(e.key) }, 'Cancel')),
      h('small', { class: 'hint' }, 'The old text is erased from every node.'));
      editing = { key: e.key, input, form };
      confirming = null;
      focusNext = 'edit-input:' + e.key;
      render();
    }
    // lost reports whether the focus is nowhere, or in el: where a
    // control that answers late may take it back without stealing it.
    const lost = (el) => {
      const a = document.activeElement;
      return !a || a === document.body || (el && el.contains(a));
    };
    function endEdit(key) {
      if (lost(editing && editing.form)) focusNext = 'edit:' + key;
      editing = null;
      render();
    }
    async function saveEdit(key) {
      const e = msgs.get(channel)?.get(key);
      const old = object(parseJSON(e));
      const t = editing.input.value.trim();
      if (!e || e.erased) { endEdit(key); return; }
      if (!t) { notice('A message needs text: to remove it, delete it.', 'error'); return; }
      if (t === old.text) { endEdit(key); return; }
      try {
        // The new value first, then the old one's erase: a failure in
        // between leaves the edit made and the old text still held.
        await api.put(space, key, { ...old, text: t, edited: new Date().toISOString() });
        endEdit(key);
        await api.eraseSome(space, key, { superseded: true });
      } catch (err) { notice(errorText(err), 'error'); }
    }
    function askDelete(key) {
      confirming = key;
      editing = null;
      focusNext = 'del-' + key + ':no';
      render();
    }
    function cancelDelete(key) {
      confirming = null;
      focusNext = 'delete:' + key;
      render();
    }
    async function deleteMsg(key) {
      try {
        await api.erase(space, key);
        // The erase's watch event may have redrawn the message already
        // (the question gone) and the person gone on: the focus moves
        // to the message box only from the question, or from nowhere.
        const ask = log.querySelector('.confirm');
        const move = lost(ask);
        confirming = null;
        render();
        if (move) text.focus();
        notice('Message deleted');
      } catch (err) { notice(errorText(err), 'error'); }
    }

    // sentAt is when a message was sent: the entry's time is its last
    // write's (an edit's), so an edited or deleted message shows the time
    // its key names.
    function sentAt(e) {
      const ms = Number((e.key.split('/')[3] || '').slice(0, 13));
      return ms > 0 ? new Date(ms).toISOString() : e.time;
    }

    function message(e) {
      if (e.erased) {
        const at = sentAt(e);
        return h('li', { class: 'msg deleted' + (e.author === me ? ' mine' : ''), dataset: { key: e.key } },
          h('div', { class: 'meta' }, people.avatar(e.author), h('strong', { class: 'who', title: e.author }, name(e.author)), ' ', h('time', { datetime: at, title: new Date(at).toLocaleString() }, clock(at))),
          h('div', { class: 'text' }, h('em', {}, 'message deleted')));
      }
      const m = parseJSON(e) || {};
      const mine = e.author === me;
      // Erase allows one's own writes, one's person's (another device of
      // theirs) and, to an admin of a prefix the key has, anyone's; to a
      // device with a role in force (may.js), and an edit needs a write.
      const p = people.person(e.author);
      const canEdit = mine && may.write(e.key);
      const canDelete = (may.known ? !!may.role : true) &&
        (mine || (p && p.identity && p.identity === people.person(me)?.identity) || isAdminOf(people.members, me, e.key));
      const edited = typeof m.edited === 'string' && m.edited
        ? h('span', { class: 'edited', title: 'Edited ' + new Date(m.edited).toLocaleString() }, 'edited') : null;
      const at = edited ? sentAt(e) : e.time;
      let body = h('div', { class: 'text' }, String(m.text ?? ''));
      if (editing && editing.key === e.key) body = editing.form;
      const label = (what) => what + ' the message of ' + clock(at);
      const actions = (canEdit || canDelete) && !(editing && editing.key === e.key) && confirming !== e.key
        ? h('div', { class: 'msg-actions' },
          canEdit ? h('button', { type: 'button', class: 'link', 'aria-label': label('Edit'), dataset: { focus: 'edit:' + e.key }, onclick: () => startEdit(e) }, 'Edit') : null,
          canDelete ? h('button', { type: 'button', class: 'link', 'aria-label': label('Delete'), dataset: { focus: 'delete:' + e.key }, onclick: () => askDelete(e.key) }, 'Delete') : null)
        : null;
      const ask = confirming === e.key
        ? confirmStrip('del-' + e.key, mine ? 'Delete this message for everyone? Its text is erased from every node.'
          : 'Delete ' + name(e.author) + "'s message for everyone? Its text is erased from every node.", 'Delete', () => deleteMsg(e.key), () => cancelDelete(e.key))
        : null;
      return h('li', { class: 'msg' + (mine ? ' mine' : ''), dataset: { key: e.key } },
        h('div', { class: 'meta' }, people.avatar(e.author), h('strong', { class: 'who', title: e.author }, name(e.author)), ' ', h('time', { datetime: at, title: new Date(at).toLocaleString() }, clock(at)), edited ? ' ' : null, edited),
        body, actions, ask);
    }

    // withDays puts a separator ("Today", "Yesterday", a date) before the
    // first message of each day, by the day each was sent.
    function withDays(all) {
      const out = [];
      let last = '';
      for (const e of all) {
        const d = new Date(sentAt(e));
        const day = d.toDateString();
        if (day !== last) {
          out.push(h('li', { class: 'day', role: 'separator', dataset: { day: d.toISOString().slice(0, 10) } }, h('span', {}, dayName(d))));
          last = day;
        }
        out.push(message(e));
      }
      return out;
    }

    // mayWrite shows the write controls this device can use, and the
    // sentence why not where it cannot (may.js).
    let may = mayOf([], me); // what this device may do; set by each render
    function mayWrite() {
      may = mayOf(people.members, me);
      const why = may.why('write', 'chat/msg/' + channel + '/', 'post messages');
      compose.hidden = !!why;
      put(composeNote, why ? h('p', { class: 'may-not', role: 'note' }, why) : null);
      newChanForm.hidden = !may.write('chat/channel/');
      topicEdit.hidden = !may.write('chat/topic/' + channel);
      // Without an identity the name is a nickname in this space.
      nickForm.hidden = !myProfile && !may.write('chat/nick/');
      nickForm.parentElement.hidden = newChanForm.hidden && nickForm.hidden;
    }

    function render() {
      mayWrite();
      if (editing && !msgs.get(channel)?.get(editing.key)) editing = null;
      if (editing && msgs.get(channel).get(editing.key).erased) editing = null;
      put(chanList, [...channels].sort().map((c) => {
        const n = c === channel ? 0 : unread(c);
        return h('li', {}, h('a', { href: '#/chat/' + c, 'aria-current': c === channel ? 'page' : null, dataset: { channel: c } },
          h('span', {}, '#' + c),
          n ? h('span', { class: 'count', 'aria-label': n + ' unread' }, String(n)) : null));
      }));
      typedName.textContent = typed.get(channel) || '';
      const tp = topics.get(channel);
      put(topicEl, tp && tp.topic ? [tp.topic, h('span', { class: 'muted' }, ' — set by ' + name(tp.author))] : h('span', { class: 'muted' }, 'No topic yet.'));
      // Fill the forms only while nobody is editing them.
      if (!topicIn.dataset.editing) topicIn.value = tp ? tp.topic : '';
      if (!nickIn.dataset.editing) nickIn.value = myProfile ? myProfile.name : nicks.get(me) || '';
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 40;
      const all = sorted(channel);
      const want = focusNext;
      focusNext = null;
      keepFocus(log, () => put(log, all.length ? withDays(all) : h('li', { class: 'muted empty' }, 'No messages in #' + channel + ' yet.' + (compose.hidden ? '' : ' Say hello!'))), want);
      if (atBottom) log.scrollTop = log.scrollHeight;
      markRead();
      document.title = 'Loam chat: #' + channel;
    }

    await people.start();
    stop = () => people.stop();
    if (closed) { stop(); return; }
    appRules(pick.space, me, people.members, 'chat/', ['chat', 'profile']);
    const watching = live(space, 'chat/', {
      apply,
      reset: () => {
        channels.clear();
        channels.add('general');
        channels.add(channel);
        topics.clear();
        nicks.clear();
        msgs.clear();
      },
      changed: () => { if (!closed) render(); },
      onState: (s) => {
        if (closed) return;
        state.className = 'badge ' + (s === 'live' ? 'ok' : 'warn');
        state.textContent = s;
      },
    });
    stop = () => { watching.stop(); people.stop(); };
    channels.add(channel);
    await watching.loaded;
    const onVis = () => render();
    document.addEventListener('visibilitychange', onVis);
    const prevStop = stop;
    stop = () => { prevStop(); document.removeEventListener('visibilitychange', onVis); };
    if (closed) stop();
    // Focus the message box once loaded, unless the person has meanwhile
    // started typing elsewhere (a nickname, a topic): taking the focus
    // then would send the rest of their keystrokes as a message.
    const active = document.activeElement;
    if (!active || active === document.body) text.focus();
  })().catch((e) => { if (e.status !== 401) put(main, h('p', { class: 'error' }, errorText(e))); });

  function route() { window.dispatchEvent(new HashChangeEvent('hashchange')); }
  return () => { closed = true; stop(); };
}

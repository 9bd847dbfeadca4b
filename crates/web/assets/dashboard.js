// mailstack dashboard — plain JavaScript, no build step, no framework.
//
// Layout (ES modules, no build step): dashboard-util.js (helpers: h, formatting, the admin
// token, api) → this file (model, rendering of accounts and sessions, the event feed, live
// updates over EventSource '/api/dashboard/events', wiring, start) → dashboard-drawer.js (the
// message view, the session trace, admin actions, fault injection rules) and
// dashboard-backup.js (an account's Export download and Clean up).
//
// Invariants:
// - Nothing from the server (or a message) ever reaches the DOM as markup: every string goes
//   through textContent / createTextNode / dataset. There is no innerHTML in this file, so a
//   message whose subject or body is `<script>` is shown literally and cannot run.
// - The state snapshot (/api/dashboard/state) is fetched after the event stream is open, and
//   again on every reconnect; events that arrive while a snapshot is in flight are queued and
//   replayed on top of it (all updates are idempotent), so nothing is lost in between.
// - The page is read-only unless the admin token is given; it is kept in sessionStorage only.

import { $, h, fmtTime, fmtSize, family, FAMILY_LABEL, protoChip, tlsBadge, flagClass, isInbox, flash, fadeOut, showError, token, setToken, currentToken, api } from './dashboard-util.js';
import { drawer, closeDrawer, renderMessageMeta, showTab, openMessage, applySearch, openTrace, sendTest, deleteMessage, loadFaults, addFault, removeFault } from './dashboard-drawer.js';
import { backupPanel } from './dashboard-backup.js';

// ---------------------------------------------------------------- model

export const model = {
  admin: false,
  /** address → { address, mailboxes, rows: Map(uid → Row), el, tbody, mbList, summary } */
  accounts: new Map(),
  /** id → { session, tr } */
  sessions: new Map(),
};

// ---------------------------------------------------------------- header

function renderServer(server) {
  if (!server) return;
  $('hostname').textContent = server.hostname ? `on ${server.hostname}` : '';
  const ul = $('ports');
  ul.replaceChildren();
  const ports = server.ports || {};
  for (const [svc, port] of Object.entries(ports)) {
    const fam = svc.startsWith('http') ? 'http' : family(svc);
    ul.append(h('li', { class: `port port-${fam}`, title: `${svc} listens on port ${port}` },
      h('span', { class: 'svc' }, svc), ' ', h('span', { class: 'num' }, port)));
  }
}

function renderMode() {
  document.body.classList.toggle('admin', model.admin);
  const mode = $('mode');
  const given = Boolean(currentToken());
  if (model.admin) {
    mode.textContent = 'admin';
    mode.className = 'mode mode-admin';
    mode.title = 'Admin: you can send test messages and delete messages';
  } else if (given) {
    mode.textContent = 'token refused';
    mode.className = 'mode mode-bad';
    mode.title = 'The server did not accept this token: read-only';
  } else {
    mode.textContent = 'read-only';
    mode.className = 'mode mode-ro';
    mode.title = 'Read-only: give the admin token to send or delete messages';
  }
  $('token-clear').hidden = !given;
  $('token').placeholder = given ? '•••••• (token set)' : 'admin token';
}

// ---------------------------------------------------------------- accounts

function renderAccounts(accounts) {
  const root = $('accounts');
  const openState = new Map();
  for (const [addr, acc] of model.accounts) openState.set(addr, acc.el.open);
  model.accounts.clear();
  root.replaceChildren();
  if (!accounts.length) {
    root.append(h('p', { class: 'empty' }, 'No accounts yet. Create one with `mailstack account add`.'));
    return;
  }
  for (const a of accounts) {
    // Accounts start open when they have mail (or are few); one that gets mail opens.
    const busy = (a.inbox || []).length > 0 || accounts.length <= 2;
    const acc = buildAccount(a, openState.has(a.address) ? openState.get(a.address) : busy);
    model.accounts.set(a.address, acc);
    root.append(acc.el);
  }
}

function buildAccount(a, open) {
  const acc = {
    address: a.address,
    mailboxes: a.mailboxes || [],
    rows: new Map(),
  };
  acc.summary = h('span', { class: 'acc-summary muted' });
  const sendBtn = h('button', {
    type: 'button', class: 'small admin-only send-test', data: { account: a.address },
    title: 'Deliver a generated message to this INBOX (admin REST API)',
  }, '✉ Send test message');
  acc.mbList = h('ul', { class: 'mailboxes', 'aria-label': `Mailboxes of ${a.address}` });
  acc.tbody = h('tbody');
  acc.note = h('p', { class: 'muted small-note' });
  const table = h('table', { class: 'grid inbox', data: { account: a.address } },
    h('thead', null, h('tr', null,
      h('th', { class: 'num' }, 'UID'), h('th', null, 'Flags'), h('th', null, 'From'),
      h('th', null, 'Subject'), h('th', { class: 'num' }, 'Size'),
      h('th', { class: 'admin-only' }, ''))),
    acc.tbody);
  acc.el = h('details', { class: 'account', data: { account: a.address }, open },
    h('summary', null,
      h('span', { class: 'acc-name' }, a.address), ' ', acc.summary, sendBtn),
    sieveLine(a.sieve),
    acc.mbList,
    h('h3', { class: 'inbox-title' }, 'INBOX'),
    table,
    acc.note,
    backupPanel(acc));
  renderMailboxes(acc, acc.mailboxes, false);
  for (const row of a.inbox || []) {
    acc.rows.set(row.uid, row);
    acc.tbody.append(buildRow(acc, row));
  }
  updateInboxMeta(acc);
  return acc;
}

// What the account's Sieve script does (docs/spec.md §6.5): forward, vacation, other script.
function sieveLine(sieve) {
  const p = h('p', { class: 'sieve muted small-note', 'aria-label': 'Delivery rules' });
  if (!sieve || !sieve.active) { p.hidden = true; return p; }
  const parts = [];
  const managed = sieve.active === 'mailstack';
  if (managed && sieve.forward) {
    parts.push(`↪ forwarding to ${sieve.forward.to}` +
      (sieve.forward.keep_copy ? ' (a copy stays here)' : ' (no copy kept)'));
  }
  if (managed && sieve.vacation) {
    const v = sieve.vacation;
    const when = v.from || v.until ? ` ${v.from || '…'} → ${v.until || '…'}` : '';
    parts.push(`✈ vacation replies${when}` + (v.subject ? `: “${v.subject}”` : ''));
  }
  if (!managed) parts.push(`Sieve script “${sieve.active}” is active`);
  p.textContent = parts.join(' · ');
  p.title = 'Set with `mailstack forward` / `mailstack vacation`, over ManageSieve, or the REST API';
  return p;
}

function renderMailboxes(acc, mailboxes, animate) {
  const before = new Map();
  for (const li of acc.mbList.children) before.set(li.dataset.mailbox, li.dataset.sig);
  acc.mailboxes = mailboxes || [];
  acc.mbList.replaceChildren();
  for (const mb of acc.mailboxes) {
    const sig = `${mb.messages}/${mb.unseen}`;
    const li = h('li', {
      class: 'mailbox', data: { mailbox: mb.name, sig },
      title: `${mb.name}: ${mb.messages} messages, ${mb.unseen} unseen`,
    },
    h('span', { class: 'mb-name' }, mb.name),
    mb.special_use ? h('span', { class: 'special' }, mb.special_use) : null,
    h('span', { class: 'mb-count' }, mb.messages),
    mb.unseen ? h('span', { class: 'mb-unseen' }, `${mb.unseen} unseen`) : null);
    acc.mbList.append(li);
    if (animate && before.get(mb.name) !== sig) flash(li);
  }
  const inbox = acc.mailboxes.find((m) => isInbox(m.name));
  const total = acc.mailboxes.reduce((n, m) => n + (m.messages || 0), 0);
  acc.summary.textContent = inbox
    ? `${inbox.messages} in INBOX · ${inbox.unseen} unseen · ${acc.mailboxes.length} mailboxes, ${total} messages`
    : `${acc.mailboxes.length} mailboxes`;
}

function updateInboxMeta(acc) {
  const empty = acc.tbody.querySelector('tr.empty-row');
  const rows = acc.tbody.querySelectorAll('tr[data-uid]:not(.removing)').length;
  if (rows === 0 && !empty) {
    acc.tbody.append(h('tr', { class: 'empty-row' },
      h('td', { colspan: 6, class: 'empty' }, 'INBOX is empty')));
  } else if (rows > 0 && empty) {
    empty.remove();
  }
  const inbox = acc.mailboxes.find((m) => isInbox(m.name));
  acc.note.textContent = inbox && inbox.messages > acc.rows.size
    ? `Showing the newest ${acc.rows.size} of ${inbox.messages} messages.` : '';
}

function flagsCell(flags) {
  const td = h('td', { class: 'flags' });
  for (const f of flags || []) td.append(h('span', { class: `badge flag ${flagClass(f)}` }, f), ' ');
  return td;
}

function buildRow(acc, row) {
  const flags = row.flags || [];
  const tr = h('tr', {
    class: flags.some((f) => f.toLowerCase() === '\\seen') ? 'msg' : 'msg unseen',
    data: { account: acc.address, uid: row.uid },
    tabindex: 0,
    title: row.date ? `Date: ${row.date}` : null,
  },
  h('td', { class: 'num uid' }, row.uid),
  flagsCell(flags),
  h('td', { class: 'from' }, row.from ?? '—'),
  h('td', { class: 'subject' }, row.subject ?? '(no subject)'),
  h('td', { class: 'num size', title: `${row.size} bytes` }, fmtSize(row.size)),
  h('td', { class: 'admin-only actions' },
    h('button', {
      type: 'button', class: 'small danger delete',
      data: { account: acc.address, uid: row.uid },
      title: 'Delete this message (admin REST API)',
    }, 'Delete')));
  return tr;
}

export function rowEl(acc, uid) {
  return acc.tbody.querySelector(`tr[data-uid="${Number(uid)}"]`);
}

/** Adds (or replaces) a row, keeping UID order. */
function upsertRow(acc, row, animate) {
  if (!row || typeof row.uid !== 'number') return;
  acc.rows.set(row.uid, row);
  const tr = buildRow(acc, row);
  const old = rowEl(acc, row.uid);
  if (old) {
    old.replaceWith(tr);
  } else {
    let next = null;
    for (const other of acc.tbody.querySelectorAll('tr[data-uid]')) {
      if (Number(other.dataset.uid) > row.uid) { next = other; break; }
    }
    acc.tbody.insertBefore(tr, next);
  }
  if (animate) flash(tr, 'flash-new');
  updateInboxMeta(acc);
  if ($('search').value) applySearch();
}

function setFlags(acc, uid, flags) {
  const row = acc.rows.get(uid);
  if (row) row.flags = flags;
  const tr = rowEl(acc, uid);
  if (!tr) return;
  tr.children[1].replaceWith(flagsCell(flags));
  tr.classList.toggle('unseen', !flags.some((f) => f.toLowerCase() === '\\seen'));
  flash(tr);
  if (drawer.kind === 'message' && drawer.account === acc.address && drawer.uid === uid) {
    renderMessageMeta(acc.address, uid, flags);
  }
}

function removeRow(acc, uid) {
  acc.rows.delete(uid);
  const tr = rowEl(acc, uid);
  if (tr) fadeOut(tr, () => updateInboxMeta(acc));
  if (drawer.kind === 'message' && drawer.account === acc.address && drawer.uid === uid) {
    $('message-meta').append(h('span', { class: 'badge gone' }, 'deleted'));
  }
}

// ---------------------------------------------------------------- sessions

function renderSessions(sessions) {
  const tbody = $('sessions').tBodies[0];
  tbody.replaceChildren();
  model.sessions.clear();
  for (const s of sessions) {
    if (s.ended) continue;
    upsertSession(s, false);
  }
  updateSessionCount();
}

function buildSessionRow(s) {
  let state;
  if (s.ended) state = h('span', { class: 'badge ended' }, 'closed');
  else if (s.idle) state = h('span', { class: 'badge idle', title: 'IMAP IDLE: waiting for the server to push changes' }, 'IDLE');
  else if (s.user) state = h('span', { class: 'muted' }, 'logged in');
  else state = h('span', { class: 'muted' }, 'connected');
  return h('tr', {
    class: `session fam-${family(s.protocol)}${s.ended ? ' ended' : ''}`,
    data: { session: s.id, protocol: s.protocol },
    tabindex: 0,
    title: `Session ${s.id} since ${s.started ? fmtTime(s.started) : '?'} — click for its protocol trace`,
  },
  h('td', { class: 'num' }, s.id),
  h('td', { class: 'proto-cell', title: `${s.protocol} listener, port ${s.port}` }, protoChip(s.protocol), ' ',
    s.protocol !== family(s.protocol) ? h('span', { class: 'listener' }, s.protocol) : null,
    h('span', { class: 'port' }, `:${s.port}`)),
  h('td', null, tlsBadge(s.tls)),
  h('td', { class: 'who', title: `${s.user || 'not logged in'} from ${s.peer || '?'}` },
    h('span', { class: 'user' }, s.user || h('span', { class: 'muted' }, 'not logged in')),
    h('span', { class: 'peer mono' }, s.peer || '')),
  h('td', null, s.mailbox || h('span', { class: 'muted' }, '—')),
  h('td', { class: 'state' }, state));
}

function upsertSession(s, animate) {
  const entry = model.sessions.get(s.id);
  const tr = buildSessionRow(s);
  if (entry && entry.tr.isConnected) {
    entry.tr.replaceWith(tr);
  } else {
    const tbody = $('sessions').tBodies[0];
    let next = null;
    for (const other of tbody.rows) {
      if (Number(other.dataset.session) > s.id) { next = other; break; }
    }
    tbody.insertBefore(tr, next);
  }
  if (drawer.kind === 'trace' && drawer.session === s.id) tr.classList.add('selected');
  model.sessions.set(s.id, { session: s, tr });
  if (animate) flash(tr, entry ? 'flash' : 'flash-new');
  updateSessionCount();
  return entry ? entry.session : null;
}

function closeSession(s) {
  if (model.admin && $('faults').children.length) loadFaults();
  upsertSession(Object.assign({}, s, { ended: s.ended || Date.now() }), true);
  const entry = model.sessions.get(s.id);
  // Closed sessions stay a few seconds (so a short POP3 visit can still be clicked), then fade.
  setTimeout(() => {
    const now = model.sessions.get(s.id);
    if (now && now.session.ended) {
      model.sessions.delete(s.id);
      fadeOut(now.tr, updateSessionCount);
    }
  }, 8000);
  return entry;
}

function updateSessionCount() {
  let open = 0;
  for (const { session } of model.sessions.values()) if (!session.ended) open += 1;
  $('session-count').textContent = open;
  $('no-sessions').hidden = $('sessions').tBodies[0].rows.length > 0;
}

function sessionLabel(s) {
  const who = s.user ? `${s.user}, ` : '';
  return `${FAMILY_LABEL[family(s.protocol)]} session ${s.id} (${who}port ${s.port}${s.tls ? '/TLS' : ''})`;
}

// ---------------------------------------------------------------- event feed

const FEED_MAX = 300;

/** A chip for a change without an originating session: guessed from its text. */
function neutralChip(text, label) {
  const m = /^(SMTP|POP3|IMAP)\b/.exec(text || '');
  if (m) return protoChip(m[1]);
  return h('span', { class: 'proto proto-none', title: 'no client session: REST API, command line or server' }, label);
}

function feedItem(kind, chipProtocol, text, extraClass, label = 'server') {
  const feed = $('feed');
  const li = h('li', { class: `feed-item ${extraClass || ''}`, data: { kind } },
    h('time', { datetime: new Date().toISOString() }, fmtTime(Date.now())),
    chipProtocol ? protoChip(chipProtocol) : neutralChip(text, label),
    h('span', { class: 'text' }, text));
  feed.prepend(li);
  flash(li, 'flash-new');
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  $('feed-empty').hidden = true;
}

function changeText(ev) {
  if (ev.text) return ev.text;
  const who = ev.origin ? sessionLabel(ev.origin) : 'The REST API or SMTP delivery';
  const where = `${ev.account} ${ev.mailbox}`;
  switch (ev.kind) {
    case 'appended': return `${who} appended UID ${ev.uid} to ${where}`;
    case 'flags': return `${who} set flags of UID ${ev.uid} in ${where} to ${(ev.flags || []).join(' ') || '(none)'}`;
    case 'expunged': return `${who} deleted UID ${(ev.uids || [ev.uid]).join(', ')} from ${where}`;
    default: return `${who}: ${ev.kind} in ${ev.account} (${ev.mailbox})`;
  }
}

// ---------------------------------------------------------------- live updates

let pendingEvents = null; // queued while a state snapshot is in flight
let stateGen = 0;

function handleEvent(type, data) {
  if (pendingEvents) pendingEvents.push([type, data, false]);
  applyEvent(type, data, true);
}

/** Applies one event; `fresh` = first time (feed items and animations only then). */
function applyEvent(type, ev, fresh) {
  if (type === 'session') onSessionEvent(ev, fresh);
  else if (type === 'change') onChangeEvent(ev, fresh);
  else if (type === 'mailboxes') onMailboxesEvent(ev, fresh);
}

function onSessionEvent(ev, fresh) {
  const s = ev.session;
  if (!s || typeof s.id !== 'number') return;
  if (ev.kind === 'closed') {
    closeSession(s);
    if (fresh) feedItem('session', s.protocol, `${sessionLabel(s)} disconnected`, 'feed-session');
    return;
  }
  const before = upsertSession(s, fresh);
  if (!fresh) return;
  if (ev.kind === 'opened') {
    feedItem('session', s.protocol, `${sessionLabel(s)} connected from ${s.peer}`, 'feed-session');
  } else if (before) {
    if (!before.user && s.user) feedItem('session', s.protocol, `${sessionLabel(s)} logged in`, 'feed-session');
    if (!before.idle && s.idle) feedItem('session', s.protocol, `${sessionLabel(s)} is IDLE on ${s.mailbox || '?'}, waiting for pushes`, 'feed-session');
    if (s.mailbox && before.mailbox !== s.mailbox) {
      const what = family(s.protocol) === 'pop3' ? `opened its maildrop (${s.mailbox})` : `selected ${s.mailbox}`;
      feedItem('session', s.protocol, `${sessionLabel(s)} ${what}`, 'feed-session');
    }
  }
}

export function findAccount(addr) {
  return model.accounts.get(addr) || model.accounts.get(String(addr || '').toLowerCase());
}

function onChangeEvent(ev, fresh) {
  if (fresh) {
    feedItem('change', ev.origin ? ev.origin.protocol : null, changeText(ev), `feed-change kind-${ev.kind}`);
  }
  const acc = findAccount(ev.account);
  if (!acc) { scheduleRefresh(); return; }
  if (!isInbox(ev.mailbox)) return; // other mailboxes: only their counts are shown
  switch (ev.kind) {
    case 'appended':
      if (fresh) acc.el.open = true;
      if (ev.row) upsertRow(acc, ev.row, fresh);
      else scheduleRefresh();
      break;
    case 'flags':
      if (Array.isArray(ev.flags)) setFlags(acc, ev.uid, ev.flags);
      break;
    case 'expunged':
      for (const uid of ev.uids || (ev.uid !== undefined ? [ev.uid] : [])) removeRow(acc, uid);
      break;
    default:
      break;
  }
}

function onMailboxesEvent(ev, fresh) {
  const acc = findAccount(ev.account);
  if (!acc) { scheduleRefresh(); return; }
  renderMailboxes(acc, ev.mailboxes, fresh);
  updateInboxMeta(acc);
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(loadState, 300);
}

async function loadState() {
  const gen = ++stateGen;
  pendingEvents = [];
  try {
    const state = await api('/api/dashboard/state');
    if (gen !== stateGen) return;
    model.admin = Boolean(state.admin);
    renderMode();
    renderServer(state.server);
    renderAccounts(state.accounts || []);
    renderSessions(state.sessions || []);
    loadFaults();
    const queued = pendingEvents;
    pendingEvents = null;
    for (const [type, data] of queued) applyEvent(type, data, false);
    document.body.dataset.loaded = 'true';
  } catch (e) {
    if (gen !== stateGen) return;
    pendingEvents = null;
    showError(`Could not load the dashboard state: ${e.message}`);
  }
}

let events = null;
let everOpened = false;
function setConn(cls, text) {
  const el = $('conn');
  el.className = `conn conn-${cls}`;
  el.textContent = text;
}

/** A dashboard read URL for what cannot send headers — EventSource, a frame, a link: the
 *  token goes in the query (RFC 6750 §2.3). */
export function streamUrl(path) {
  const t = currentToken();
  const sep = path.includes('?') ? '&' : '?';
  return t ? `${path}${sep}access_token=${encodeURIComponent(t)}` : path;
}

function connect() {
  events = new EventSource(streamUrl('/api/dashboard/events'));
  events.addEventListener('open', () => {
    setConn('live', 'live');
    if (everOpened) feedItem('info', null, 'Reconnected: state reloaded', 'feed-session', 'info');
    everOpened = true;
    loadState(); // after the stream is open, so no change falls in between
  });
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CLOSED) {
      setConn('down', 'disconnected');
      events = null;
      setTimeout(connect, 5000); // the browser gave up (e.g. HTTP error): try again later
    } else {
      setConn('connecting', 'reconnecting…');
    }
  });
  // The server fell behind and dropped events for this stream: re-read everything.
  events.addEventListener('resync', () => loadState());
  for (const type of ['session', 'change', 'mailboxes']) {
    events.addEventListener(type, (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch { return; }
      handleEvent(type, data);
    });
  }
}

// ---------------------------------------------------------------- wiring

function onAccountsClick(e) {
  const btn = e.target.closest('button');
  if (btn) {
    e.preventDefault();
    if (!model.admin) return;
    if (btn.classList.contains('send-test')) sendTest(btn.dataset.account, btn);
    else if (btn.classList.contains('delete')) deleteMessage(btn.dataset.account, Number(btn.dataset.uid), btn);
    return;
  }
  const tr = e.target.closest('tr[data-uid]');
  if (tr) openMessage(tr.dataset.account, Number(tr.dataset.uid));
}

function onSessionsClick(e) {
  const tr = e.target.closest('tr[data-session]');
  if (tr) openTrace(Number(tr.dataset.session));
}

function onKey(handler) {
  return (e) => {
    if ((e.key === 'Enter' || e.key === ' ') && e.target.matches('tr')) {
      e.preventDefault();
      handler(e);
    }
  };
}

function start() {
  // `/?token=…` prefills the token; it is then removed from the address bar and history.
  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    setToken(params.get('token') || '');
    params.delete('token');
    const q = params.toString();
    history.replaceState(null, '', `${location.pathname}${q ? `?${q}` : ''}${location.hash}`);
  }
  renderMode();
  $('admin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('token').value.trim();
    if (!t) return;
    $('token').value = '';
    setToken(t);
    loadState();
  });
  $('token-clear').addEventListener('click', () => {
    setToken('');
    loadState();
  });
  $('accounts').addEventListener('click', onAccountsClick);
  $('accounts').addEventListener('keydown', onKey(onAccountsClick));
  $('sessions').addEventListener('click', onSessionsClick);
  $('sessions').addEventListener('keydown', onKey(onSessionsClick));
  $('message-tabs').addEventListener('click', (e) => {
    const b = e.target.closest('button.tab');
    if (b && !b.disabled) showTab(b.dataset.tab);
  });
  $('search').addEventListener('input', applySearch);
  $('fault-form').addEventListener('submit', addFault);
  $('faults-clear').addEventListener('click', () => removeFault(null));
  $('faults').addEventListener('click', (e) => {
    const b = e.target.closest('button.fault-del');
    if (b) removeFault(Number(b.dataset.id));
  });
  $('drawer-close').addEventListener('click', closeDrawer);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(); });
  // "connections" shows or hides the session lines of the feed (they are always recorded).
  $('feed-sessions').addEventListener('change', (e) => {
    $('feed').classList.toggle('hide-sessions', !e.target.checked);
  });
  $('feed-clear').addEventListener('click', () => {
    $('feed').replaceChildren();
    $('feed-empty').hidden = false;
  });
  connect();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();

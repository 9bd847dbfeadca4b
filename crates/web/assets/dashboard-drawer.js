// mailstack dashboard: the drawer — a message (Text, HTML in a sandboxed frame, Headers,
// Source, Attachments), a session's live trace — and the admin actions (send a test message,
// delete, fault injection rules). See dashboard.js for the layout and the invariants.

import { $, h, fmtTime, fmtTimeMs, fmtSize, protoChip, tlsBadge, flagClass, showError, token, currentToken, api } from './dashboard-util.js';
import { model, rowEl, findAccount, streamUrl } from './dashboard.js';

// ---------------------------------------------------------------- drawer

export const drawer = { kind: null, account: null, uid: null, session: null, seq: 0 };
let traceEvents = null;

function openDrawer(kind, title) {
  closeTrace();
  drawer.kind = kind;
  drawer.seq += 1;
  $('drawer').hidden = false;
  document.body.classList.add('drawer-open');
  $('drawer-title').textContent = title;
  $('message-view').hidden = kind !== 'message';
  $('trace-view').hidden = kind !== 'trace';
  for (const el of document.querySelectorAll('tr.selected')) el.classList.remove('selected');
  return drawer.seq;
}

export function closeDrawer() {
  closeTrace();
  drawer.kind = null;
  $('drawer').hidden = true;
  document.body.classList.remove('drawer-open');
  for (const el of document.querySelectorAll('tr.selected')) el.classList.remove('selected');
}

export function renderMessageMeta(addr, uid, flags) {
  const meta = $('message-meta');
  meta.replaceChildren(`${addr} · INBOX · UID ${uid} `);
  for (const f of flags || []) meta.append(h('span', { class: `badge flag ${flagClass(f)}` }, f), ' ');
}

export function showTab(name) {
  for (const b of document.querySelectorAll('#message-tabs .tab')) {
    b.classList.toggle('active', b.dataset.tab === name);
  }
  for (const p of document.querySelectorAll('#message-view .tab-pane')) {
    p.hidden = p.dataset.pane !== name;
  }
  if (name === 'raw' && drawer.uid && !$('message-raw').dataset.loaded) loadRaw();
}

async function loadRaw() {
  const seq = drawer.seq;
  const base = `/api/dashboard/messages/${encodeURIComponent(drawer.account)}/${drawer.uid}`;
  $('message-raw').textContent = 'Loading…';
  try {
    const text = await api(`${base}/raw?mailbox=INBOX`);
    if (seq !== drawer.seq) return;
    // textContent only: the source is shown, never interpreted.
    $('message-raw').textContent = text;
    $('message-raw').dataset.loaded = 'true';
  } catch (e) {
    if (seq === drawer.seq) $('message-raw').textContent = `Could not load the source: ${e.message}`;
  }
}

export async function openMessage(addr, uid) {
  const seq = openDrawer('message', `Message UID ${uid}`);
  drawer.account = addr;
  drawer.uid = uid;
  const acc = findAccount(addr);
  const tr = acc && rowEl(acc, uid);
  if (tr) tr.classList.add('selected');
  renderMessageMeta(addr, uid, []);
  $('message-header').textContent = 'Loading…';
  $('message-text').textContent = '';
  $('message-raw').textContent = '';
  delete $('message-raw').dataset.loaded;
  $('message-html').replaceChildren();
  $('message-attachments').replaceChildren();
  showTab('text');
  const base = `/api/dashboard/messages/${encodeURIComponent(addr)}/${uid}`;
  try {
    const m = await api(`${base}?mailbox=INBOX`);
    if (seq !== drawer.seq) return;
    renderMessageMeta(addr, uid, m.flags);
    // textContent only: the message is shown as it is, never interpreted as HTML.
    $('message-header').textContent = m.header ?? '';
    $('message-text').textContent = m.text ?? '';
    $('tab-html').disabled = !m.html;
    if (m.html) {
      // An empty sandbox: no scripts, no same-origin access, no forms, no popups; the
      // server's CSP for the frame also blocks every remote load.
      $('message-html').append(h('iframe', {
        class: 'html-frame', title: 'HTML part', sandbox: '', referrerpolicy: 'no-referrer',
        src: streamUrl(`${base}/html?mailbox=INBOX`),
      }));
    }
    const atts = m.attachments || [];
    $('tab-attachments').textContent = `Attachments (${atts.length})`;
    $('tab-attachments').disabled = atts.length === 0;
    $('message-attachments').replaceChildren(...atts.map((a) => h('li', null,
      h('a', { href: streamUrl(`${base}/attachments/${a.index}?mailbox=INBOX`), download: a.name,
               class: 'attachment' }, a.name),
      ' ', h('span', { class: 'muted' }, `${a.content_type} · ${fmtSize(a.size)}`))));
  } catch (e) {
    if (seq !== drawer.seq) return;
    $('message-header').textContent = '';
    $('message-text').textContent = `Could not load the message: ${e.message}`;
  }
}

/** The search box: rows whose subject or sender contains every word; accounts without a
 *  match fold away while a search is on. */
export function applySearch() {
  const words = $('search').value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const acc of model.accounts.values()) {
    let shown = 0;
    for (const tr of acc.el.querySelectorAll('tr[data-uid]')) {
      const text = tr.textContent.toLowerCase();
      const hit = words.every((w) => text.includes(w));
      tr.hidden = !hit;
      if (hit) shown += 1;
    }
    acc.el.hidden = words.length > 0 && shown === 0;
  }
}

function closeTrace() {
  if (traceEvents) traceEvents.close();
  traceEvents = null;
}

function traceLine(line) {
  const dir = line.dir === 'C' || line.dir === 'S' ? line.dir : 'note';
  const list = $('trace');
  const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 24;
  const injected = dir === 'note' && /^injected fault #/.test(line.text || '');
  list.append(h('li', { class: `line dir-${dir}${injected ? ' injected' : ''}`, data: { dir } },
    h('time', null, line.at ? fmtTimeMs(line.at) : ''),
    h('span', { class: `dir dir-${dir}` }, dir === 'note' ? '—' : `${dir}:`),
    h('span', { class: line.tls ? 'lock on' : 'lock', title: line.tls ? 'over TLS' : 'in clear text' }),
    h('span', { class: 'text' }, injected ? `⚠ ${line.text}` : (line.text ?? ''))));
  while (list.children.length > 2000) list.firstElementChild.remove();
  if (stick) list.scrollTop = list.scrollHeight;
}

export function openTrace(id) {
  openDrawer('trace', `Protocol trace of session ${id}`);
  drawer.session = id;
  const entry = model.sessions.get(id);
  if (entry) entry.tr.classList.add('selected');
  const meta = $('trace-meta');
  meta.replaceChildren();
  if (entry) {
    const s = entry.session;
    meta.append(protoChip(s.protocol), ' ', tlsBadge(s.tls), ' ',
      `${s.protocol} on port ${s.port} from ${s.peer}${s.user ? ` · ${s.user}` : ''}`);
  }
  $('trace').replaceChildren();
  const status = $('trace-status');
  status.textContent = 'connecting…';
  const es = new EventSource(streamUrl(`/api/dashboard/sessions/${encodeURIComponent(id)}/trace`));
  traceEvents = es;
  es.addEventListener('open', () => {
    // The backlog is sent again on every (re)connection.
    $('trace').replaceChildren();
    status.textContent = 'live';
  });
  es.addEventListener('line', (e) => {
    try { traceLine(JSON.parse(e.data)); } catch { /* ignore a bad line */ }
  });
  es.addEventListener('end', (e) => {
    let reason = 'closed';
    try { reason = JSON.parse(e.data).reason || reason; } catch { /* keep default */ }
    status.textContent = `session ended (${reason})`;
    es.close();
    if (traceEvents === es) traceEvents = null;
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      status.textContent = $('trace').children.length
        ? 'trace stream closed'
        : 'no trace for this session (unknown, or ended too long ago)';
    } else {
      status.textContent = 'reconnecting…';
    }
  });
}

// ---------------------------------------------------------------- admin actions

function testMessage(to) {
  const now = new Date();
  const id = `${now.getTime().toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
  const lines = [
    'From: mailstack dashboard <dashboard@example.test>',
    `To: <${to}>`,
    `Subject: Test message ${fmtTime(now.getTime())}`,
    `Date: ${now.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@dashboard.invalid>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Hello!',
    '',
    'This message was delivered by the "Send test message" button of the mailstack',
    'dashboard through the admin REST API. Watch it appear in IMAP and POP3 clients.',
    '',
  ];
  return lines.join('\r\n');
}

export async function sendTest(addr, button) {
  button.disabled = true;
  try {
    await api(`/api/accounts/${encodeURIComponent(addr)}/messages?mailbox=INBOX`, {
      method: 'POST',
      headers: { 'Content-Type': 'message/rfc822' },
      body: testMessage(addr),
    });
  } catch (e) {
    showError(`Send failed: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

export async function deleteMessage(addr, uid, button) {
  button.disabled = true;
  try {
    await api(`/api/accounts/${encodeURIComponent(addr)}/messages/${uid}?mailbox=INBOX`, { method: 'DELETE' });
  } catch (e) {
    button.disabled = false;
    showError(`Delete failed: ${e.message}`);
  }
}

// ---------------------------------------------------------------- fault injection

/** docs/spec.md §7.7: the rules in force, each with a remove button (admin only). */
export async function loadFaults() {
  if (!model.admin) return;
  let rules;
  try {
    rules = await api('/api/faults');
  } catch (e) {
    return;
  }
  $('fault-count').textContent = String(rules.length);
  $('faults').replaceChildren(...rules.map((r) => h('li', { class: 'fault' },
    h('span', { class: `proto proto-${r.protocol}` }, r.protocol.toUpperCase()), ' ',
    h('code', null, r.stage), ' → ', h('strong', null, r.action), ' ',
    r.reply ? h('code', null, r.reply) : '', r.delay_ms != null ? `${r.delay_ms} ms` : '',
    r.times != null ? ` · ${r.times}×` : '', ` · fired ${r.fired} `,
    h('button', { type: 'button', class: 'small fault-del', data: { id: r.id } }, 'Remove'))));
}

export async function addFault(e) {
  e.preventDefault();
  const action = $('fault-action').value;
  const extra = $('fault-reply').value.trim();
  const rule = { protocol: $('fault-protocol').value, stage: $('fault-stage').value.trim(), action };
  if (action === 'reply' && extra) rule.reply = extra;
  if (action === 'delay') rule.delay_ms = Number(extra || 1000);
  if ($('fault-times').value) rule.times = Number($('fault-times').value);
  try {
    await api('/api/faults', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(rule),
    });
    $('fault-stage').value = '';
    $('fault-reply').value = '';
  } catch (err) {
    showError(`Rule refused: ${err.message}`);
  }
  loadFaults();
}

export async function removeFault(id) {
  try {
    await api(id == null ? '/api/faults' : `/api/faults/${id}`, { method: 'DELETE' });
  } catch (err) {
    showError(`Remove failed: ${err.message}`);
  }
  loadFaults();
}

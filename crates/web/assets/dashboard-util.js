// mailstack dashboard: helpers shared by the page's modules — DOM building (`h`, never
// innerHTML), formatting, the admin token and the API call. See dashboard.js for the layout
// and the invariants.
// ---------------------------------------------------------------- helpers

export const $ = (id) => document.getElementById(id);

/** Creates an element; strings and numbers become text nodes (never markup). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'data') Object.assign(el.dataset, v);
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const pad = (n, w = 2) => String(n).padStart(w, '0');
export function fmtTime(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function fmtTimeMs(ms) {
  return `${fmtTime(ms)}.${pad(new Date(ms).getMilliseconds(), 3)}`;
}
export function fmtSize(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** 'pop3s' → 'pop3', 'imaps' → 'imap', 'submission(s)'/'smtp' → 'smtp'. */
export function family(protocol) {
  const p = String(protocol || '').toLowerCase();
  if (p.startsWith('pop3')) return 'pop3';
  if (p.startsWith('imap')) return 'imap';
  return 'smtp';
}
export const FAMILY_LABEL = { pop3: 'POP3', imap: 'IMAP', smtp: 'SMTP' };

export function protoChip(protocol) {
  const fam = family(protocol);
  return h('span', { class: `proto proto-${fam}`, title: protocol }, FAMILY_LABEL[fam]);
}

export function tlsBadge(tls) {
  return tls
    ? h('span', { class: 'badge tls', title: 'encrypted (TLS)' }, 'TLS')
    : h('span', { class: 'badge plain', title: 'not encrypted' }, 'plain');
}

/** CSS class of a flag badge: `\Seen` → flag-seen, keywords → flag-keyword. */
export function flagClass(flag) {
  const known = ['\\seen', '\\answered', '\\flagged', '\\deleted', '\\draft', '\\recent'];
  const f = String(flag).toLowerCase();
  return known.includes(f) ? `flag-${f.slice(1)}` : 'flag-keyword';
}

export const isInbox = (name) => String(name || '').toUpperCase() === 'INBOX';

/** Restarts a CSS animation class on an element (row flash). */
export function flash(el, cls = 'flash') {
  if (!el) return;
  el.classList.remove(cls);
  void el.offsetWidth; // reflow so the animation starts again
  el.classList.add(cls);
}

/** Fades an element out, then removes it. */
export function fadeOut(el, after) {
  if (!el || el.classList.contains('removing')) return;
  el.classList.add('removing');
  setTimeout(() => {
    el.remove();
    if (after) after();
  }, 700);
}

let errorTimer = null;
export function showError(text) {
  const el = $('error');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { el.hidden = true; }, 10000);
}

// ---------------------------------------------------------------- admin token

const TOKEN_KEY = 'mailstack.admin_token';
export function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}
export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts for this page only */ }
  memoryToken = t;
}
let memoryToken = '';
export const currentToken = () => token() || memoryToken;

/** fetch with the bearer token (when given) and JSON errors turned into exceptions; the
 *  answer as JSON or text, or with `raw: true` the Response itself (a download). */
export async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const t = currentToken();
  if (t) headers.Authorization = `Bearer ${t}`;
  const res = await fetch(path, Object.assign({}, opts, { headers, cache: 'no-store' }));
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error) msg = `${res.status}: ${body.error}`;
    } catch { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  if (opts.raw) return res;
  const type = res.headers.get('content-type') || '';
  return type.includes('json') ? res.json() : res.text();
}

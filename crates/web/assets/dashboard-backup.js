// mailstack dashboard: backup and cleanup of an account (docs/spec.md §7.8), admin mode only
// like the other actions — **Export** downloads one mailbox as mbox or every mailbox as a tar
// archive (mbox files or Maildir++), **Clean up** shows a dry run's list first and purges on
// confirmation. Both through the admin REST API (…/export, …/purge). See dashboard.js for the
// layout and the invariants (no markup from the server ever reaches the DOM).

import { h, fmtSize, showError, api } from './dashboard-util.js';

/** The panel under an account: `acc.mailboxes` is read when a list opens (it changes live). */
export function backupPanel(acc) {
  const exportBox = mailboxSelect(acc, 'All mailboxes');
  const format = h('select', { class: 'backup-format', 'aria-label': 'Format' },
    h('option', { value: 'mbox' }, 'mbox'), h('option', { value: 'maildir' }, 'Maildir'));
  const exportBtn = h('button', { type: 'button', class: 'small backup-export', title: 'Download (admin REST API: GET …/export)' }, '⇩ Export');
  exportBtn.addEventListener('click', () => download(acc, exportBox.value, format.value, exportBtn));

  const cleanBox = mailboxSelect(acc, null);
  const older = h('input', { class: 'cleanup-older', placeholder: 'older than: 90d, 12h, 2w', 'aria-label': 'Older than', size: 18 });
  const larger = h('input', { class: 'cleanup-larger', placeholder: 'larger than: 5MiB', 'aria-label': 'Larger than', size: 16 });
  const result = h('div', { class: 'cleanup-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'cleanup-form', autocomplete: 'off' },
    h('span', { class: 'muted' }, 'Clean up'), cleanBox, older, larger,
    h('button', { type: 'submit', class: 'small cleanup-preview', title: 'List what would be removed (dry run)' }, 'Preview'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams({ mailbox: cleanBox.value });
    if (older.value.trim()) q.set('older_than', older.value.trim());
    if (larger.value.trim()) q.set('larger_than', larger.value.trim());
    preview(acc, q, result);
  });

  const panel = h('details', { class: 'admin-only backup', data: { account: acc.address } },
    h('summary', null, 'Backup and clean up'),
    h('div', { class: 'backup-form' }, h('span', { class: 'muted' }, 'Export'), exportBox, format, exportBtn),
    form, result);
  // The account list's own click handler (rows open messages, its buttons act) stays out.
  panel.addEventListener('click', (e) => e.stopPropagation());
  panel.addEventListener('toggle', () => {
    if (panel.open) for (const sel of [exportBox, cleanBox]) sel.refresh();
  });
  return panel;
}

/** A mailbox list filled from `acc.mailboxes` when it is opened; `all` names a first,
 *  empty-valued entry (every mailbox). */
function mailboxSelect(acc, all) {
  const sel = h('select', { class: 'backup-mailbox', 'aria-label': 'Mailbox' });
  sel.refresh = () => {
    const keep = sel.value;
    const names = acc.mailboxes.map((m) => m.name);
    sel.replaceChildren(...(all ? [h('option', { value: '' }, all)] : []),
      ...names.map((n) => h('option', { value: n }, n)));
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    else if (!all) sel.value = names.find((n) => n === 'Trash') || names[0] || '';
  };
  sel.addEventListener('focus', sel.refresh);
  sel.refresh();
  return sel;
}

const base = (acc) => `/api/accounts/${encodeURIComponent(acc.address)}`;

/** The export as a file: fetched with the token (a link could not send it), then saved. */
async function download(acc, mailbox, format, button) {
  button.disabled = true;
  try {
    const q = new URLSearchParams({ format });
    if (mailbox) q.set('mailbox', mailbox);
    const res = await api(`${base(acc)}/export?${q}`, { raw: true });
    const blob = await res.blob();
    const named = /filename\*=UTF-8''([^;]+)/.exec(res.headers.get('content-disposition') || '');
    const name = named ? decodeURIComponent(named[1]) : `${acc.address}-export`;
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) {
    showError(`Export failed: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

function fmtDate(secs) {
  return new Date(secs * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

function removedTable(messages) {
  return h('table', { class: 'grid cleanup-list' },
    h('thead', null, h('tr', null, h('th', { class: 'num' }, 'UID'), h('th', null, 'Received (UTC)'),
      h('th', { class: 'num' }, 'Size'), h('th', null, 'Subject'))),
    h('tbody', null, messages.map((m) => h('tr', { data: { uid: m.uid } },
      h('td', { class: 'num' }, m.uid), h('td', null, fmtDate(m.received)),
      h('td', { class: 'num', title: `${m.size} bytes` }, fmtSize(m.size)),
      h('td', null, m.subject ?? '(no subject)')))));
}

/** The dry run: its list, and a button that purges with the same criteria. */
async function preview(acc, q, result) {
  result.replaceChildren(h('p', { class: 'muted' }, 'Looking…'));
  let dry;
  try {
    dry = await api(`${base(acc)}/purge?${q}&dry_run=true`, { method: 'POST' });
  } catch (e) {
    result.replaceChildren(h('p', { class: 'cleanup-error' }, `Refused: ${e.message}`));
    return;
  }
  const mailbox = q.get('mailbox');
  if (!dry.count) {
    result.replaceChildren(h('p', { class: 'muted cleanup-summary' }, `Nothing in ${mailbox} matches.`));
    return;
  }
  const confirm = h('button', { type: 'button', class: 'small danger cleanup-confirm' },
    `Delete these ${dry.count} messages (${fmtSize(dry.bytes)})`);
  const cancel = h('button', { type: 'button', class: 'small cleanup-cancel' }, 'Cancel');
  cancel.addEventListener('click', () => result.replaceChildren());
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      const done = await api(`${base(acc)}/purge?${q}`, { method: 'POST' });
      const note = done.count === dry.count ? '' : ` (${dry.count} were listed: mail changed meanwhile)`;
      result.replaceChildren(h('p', { class: 'cleanup-summary' },
        `Removed ${done.deleted} messages (${fmtSize(done.bytes)}) from ${mailbox}${note}.`));
    } catch (e) {
      confirm.disabled = false;
      showError(`Clean up failed: ${e.message}`);
    }
  });
  result.replaceChildren(
    h('p', { class: 'cleanup-summary' }, `${dry.count} messages (${fmtSize(dry.bytes)}) in ${mailbox} would be removed:`),
    removedTable(dry.messages), h('p', null, confirm, ' ', cancel));
}

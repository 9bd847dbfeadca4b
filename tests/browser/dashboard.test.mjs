// The dashboard in headless Chromium, against a real mailstack server.
//
// Run by tests/tests/dashboard_browser.rs, which starts the server and passes:
//   DASHBOARD_URL   http://127.0.0.1:PORT/
//   SMTP_PORT, IMAP_PORT, POP3_PORT   plain listeners on 127.0.0.1
//   ACCOUNT, PASSWORD                 a fresh, empty account
//   ADMIN_TOKEN                       the server's admin bearer token
//   SCREENSHOT                        where to save the final screenshot (PNG)
//   DOCS_SCREENSHOT (optional)        a second copy (docs/dashboard.png for the README)
//   CHROMIUM (optional)               browser binary, default /usr/bin/chromium
//
// Scenario (no page reload anywhere: a marker set on window at load must survive):
//   an IMAP client idles on INBOX → its session shows IDLE; a message arrives over SMTP → a row
//   appears; a second IMAP client sets \Seen → the badge appears; a message full of markup
//   arrives → shown literally, nothing runs; POP3 DELE 1 + QUIT → the row fades out and the
//   feed names POP3, the UID and the notified IMAP session; the idling session's trace shows
//   C:/S: lines (password redacted) and grows live; with the admin token the page injects and
//   deletes a message through the REST API, exports the INBOX and cleans up a large message.
// Exit status 0 = pass. Every wait is generous (30 s): a slow machine must not fail the test.

import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch {
  console.error('dashboard test: playwright-core is missing: run `npm ci --prefix tests/browser`');
  process.exit(2);
}

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) {
    console.error(`dashboard test: ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const URL_ = env('DASHBOARD_URL');
const SMTP_PORT = Number(env('SMTP_PORT'));
const IMAP_PORT = Number(env('IMAP_PORT'));
const POP3_PORT = Number(env('POP3_PORT'));
const ACCOUNT = env('ACCOUNT');
const PASSWORD = env('PASSWORD');
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const SCREENSHOT = env('SCREENSHOT', 'target/dashboard-screenshot.png');
const DOCS_SCREENSHOT = process.env.DOCS_SCREENSHOT || '';
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

const WAIT = 30_000;
const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);

// Whole-run watchdog: a hang ends the process with a clear message rather than never.
const watchdog = setTimeout(() => {
  console.error('dashboard test: gave up after 300 s');
  process.exit(3);
}, 300_000);

// ------------------------------------------------------------------ raw protocol clients

/** A line-oriented TCP client (CRLF), enough for SMTP, POP3 and IMAP. */
class LineClient {
  constructor(name, port) {
    this.name = name;
    this.port = port;
    this.buf = '';
    this.lines = [];
    this.waiters = [];
    this.closed = false;
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.sock = net.createConnection({ host: '127.0.0.1', port: this.port }, resolve);
      this.sock.setEncoding('utf8');
      this.sock.once('error', reject);
      this.sock.on('data', (d) => {
        this.buf += d;
        let i;
        while ((i = this.buf.indexOf('\r\n')) >= 0) {
          this.lines.push(this.buf.slice(0, i));
          this.buf = this.buf.slice(i + 2);
        }
        this.wake();
      });
      this.sock.on('close', () => { this.closed = true; this.wake(); });
    });
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next line from the server (30 s at most). */
  async line() {
    const deadline = Date.now() + WAIT;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error(`${this.name}: connection closed`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no answer within ${WAIT / 1000} s`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
    return this.lines.shift();
  }

  send(text) {
    this.sock.write(`${text}\r\n`);
  }

  /** Reads lines until one matches `re`; throws if `bad` matches first. */
  async until(re, bad) {
    for (;;) {
      const l = await this.line();
      if (bad && bad.test(l)) throw new Error(`${this.name}: unexpected ${JSON.stringify(l)}`);
      if (re.test(l)) return l;
    }
  }

  close() {
    if (this.sock) this.sock.destroy();
  }
}

async function smtpDeliver(to, subject, body, contentType = 'text/plain; charset=utf-8') {
  const c = new LineClient('smtp', SMTP_PORT);
  await c.connect();
  const reply = async (code) => {
    // Multi-line replies: `250-…` lines, then `250 …`.
    for (;;) {
      const l = await c.line();
      if (!l.startsWith(String(code))) throw new Error(`smtp: expected ${code}, got ${JSON.stringify(l)}`);
      if (l[3] === ' ') return l;
    }
  };
  await reply(220);
  c.send('EHLO browser-test.example.net');
  await reply(250);
  c.send('MAIL FROM:<sender@example.net>');
  await reply(250);
  c.send(`RCPT TO:<${to}>`);
  await reply(250);
  c.send('DATA');
  await reply(354);
  const msg = [
    'From: Browser Test <sender@example.net>',
    `To: <${to}>`,
    `Subject: ${subject}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${Date.now()}.${Math.random().toString(36).slice(2)}@example.net>`,
    'MIME-Version: 1.0',
    `Content-Type: ${contentType}`,
    '',
    ...body.split('\n'),
  ].map((l) => (l.startsWith('.') ? `.${l}` : l)); // RFC 5321 §4.5.2 dot-stuffing
  c.send(`${msg.join('\r\n')}\r\n.`);
  await reply(250);
  c.send('QUIT');
  await reply(221);
  c.close();
}

class Imap extends LineClient {
  constructor(name) {
    super(name, IMAP_PORT);
    this.tag = 0;
  }

  async open() {
    await this.connect();
    await this.until(/^\* OK/);
  }

  /** Sends a command and returns its untagged lines; throws unless the tagged reply is OK. */
  async cmd(text) {
    const tag = `T${++this.tag}`;
    this.send(`${tag} ${text}`);
    const untagged = [];
    for (;;) {
      const l = await this.line();
      if (l.startsWith(`${tag} `)) {
        if (!l.startsWith(`${tag} OK`)) throw new Error(`${this.name}: ${text.split(' ')[0]} → ${l}`);
        return untagged;
      }
      untagged.push(l);
    }
  }
}

const quoted = (s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

// ------------------------------------------------------------------ browser

const consoleErrors = [];
const pageErrors = [];
let context;
let page;
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mailstack-chromium-'));

async function launch() {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
    viewport: { width: 1440, height: 960 },
    deviceScaleFactor: 1,
    timeout: 60_000,
  });
  context.setDefaultTimeout(WAIT);
  page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
}

const row = (uid) => `tr[data-account="${ACCOUNT}"][data-uid="${uid}"]`;

async function feedHas(...needles) {
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('#feed li')].some((li) => n.every((x) => li.textContent.includes(x))),
    needles,
    { timeout: WAIT },
  );
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log(`ok: ${what}`);
}

async function main() {
  await launch();
  log(`chromium ${context.browser()?.version() ?? ''} up; opening ${URL_}`);
  const resp = await page.goto(URL_, { waitUntil: 'domcontentloaded' });
  check(resp && resp.ok(), `GET / answers ${resp && resp.status()}`);
  const csp = (await resp.allHeaders())['content-security-policy'] || '';
  check(csp.includes("default-src 'self'"), `page has a strict CSP (${csp.slice(0, 40)}…)`);
  await page.waitForSelector('body[data-loaded="true"]');
  await page.waitForSelector('#conn.conn-live');
  await page.evaluate(() => { window.__noReload = 'still here'; });
  check(await page.isVisible(`details.account[data-account="${ACCOUNT}"]`), `account ${ACCOUNT} is listed`);
  check((await page.textContent('#mode')).trim() === 'read-only', 'read-only without the token');
  check(!(await page.isVisible(`button.send-test[data-account="${ACCOUNT}"]`)), 'no send button when read-only');

  // An IMAP client idles on INBOX: its session row shows the user, the mailbox and IDLE.
  const watcher = new Imap('imap-idle');
  await watcher.open();
  await watcher.cmd(`LOGIN ${quoted(ACCOUNT)} ${quoted(PASSWORD)}`);
  await watcher.cmd('SELECT INBOX');
  watcher.send('W1 IDLE');
  await watcher.until(/^\+ /);
  const idleRow = `#sessions tr[data-session][data-protocol="imap"]:has(.badge.idle)`;
  await page.waitForSelector(idleRow);
  const idleText = await page.textContent(idleRow);
  check(idleText.includes(ACCOUNT) && idleText.includes('INBOX'), 'IDLE session shows user and INBOX');
  const watcherId = Number(await page.getAttribute(idleRow, 'data-session'));

  // 1. SMTP delivery → a new row without reload.
  await smtpDeliver(ACCOUNT, 'Hello from the browser test', 'First message.\nSecond line.');
  await page.waitForSelector(row(1));
  check((await page.textContent(`${row(1)} td.subject`)) === 'Hello from the browser test', 'row 1 appears with its subject');
  check(await page.$eval(row(1), (tr) => tr.classList.contains('unseen')), 'row 1 is unseen');
  await watcher.until(/^\* 1 EXISTS/);
  log('ok: the idling IMAP client was told * 1 EXISTS');

  // 2. \Seen over IMAP → the badge appears on the row.
  const setter = new Imap('imap-store');
  await setter.open();
  await setter.cmd(`LOGIN ${quoted(ACCOUNT)} ${quoted(PASSWORD)}`);
  await setter.cmd('SELECT INBOX');
  await setter.cmd('UID STORE 1 +FLAGS (\\Seen)');
  await page.waitForSelector(`${row(1)} .badge.flag:text-is("\\\\Seen")`);
  check(!(await page.$eval(row(1), (tr) => tr.classList.contains('unseen'))), 'row 1 no longer unseen');
  await feedHas('IMAP', 'UID 1', '\\Seen');
  await setter.cmd('LOGOUT').catch(() => {});
  setter.close();

  // 3. A hostile message: markup in the subject and the body stays text.
  const hostileSubject = '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2">';
  const hostileBody = 'Hi!\n<script>window.__pwned=3</script>\n<img src=x onerror="window.__pwned=4">\n<b>not bold</b>';
  await smtpDeliver(ACCOUNT, hostileSubject, hostileBody);
  await page.waitForSelector(row(2));
  check((await page.textContent(`${row(2)} td.subject`)) === hostileSubject, 'hostile subject shown literally in the row');
  await page.click(`${row(2)} td.subject`);
  await page.waitForFunction(() => document.querySelector('#message-text').textContent.includes('onerror'));
  const view = await page.evaluate(() => ({
    pwned: window.__pwned,
    imgs: document.querySelectorAll('img').length,
    scripts: [...document.querySelectorAll('script')].map((s) => s.src),
    text: document.querySelector('#message-text').textContent,
    header: document.querySelector('#message-header').textContent,
    bold: document.querySelectorAll('#drawer b').length,
  }));
  check(view.pwned === undefined, 'window.__pwned stays undefined');
  check(view.imgs === 0, 'no <img> element was created');
  check(view.bold === 0, 'no markup element in the message view');
  check(view.scripts.length === 1 && view.scripts[0].endsWith('/assets/dashboard.js'), 'the only script element is dashboard.js (its modules come from the same origin)');
  check(view.text.includes('<script>window.__pwned=3</script>') && view.text.includes('<img src=x onerror="window.__pwned=4">'), 'body shown literally');
  check(view.header.includes(hostileSubject), 'header shown literally');
  await page.waitForTimeout(500); // an onerror would fire by now
  check(await page.evaluate(() => window.__pwned === undefined), 'still nothing ran');

  // 4. POP3 DELE 1 + QUIT → the row fades out; the feed names POP3, the UID, the IMAP watcher.
  const pop = new LineClient('pop3', POP3_PORT);
  await pop.connect();
  await pop.until(/^\+OK/, /^-ERR/);
  pop.send(`USER ${ACCOUNT}`);
  await pop.until(/^\+OK/, /^-ERR/);
  pop.send(`PASS ${PASSWORD}`);
  await pop.until(/^\+OK/, /^-ERR/);
  await page.waitForSelector('#sessions tr[data-session][data-protocol="pop3"]');
  log('ok: the POP3 session is listed');
  pop.send('DELE 1');
  await pop.until(/^\+OK/, /^-ERR/);
  check(await page.isVisible(row(1)), 'row 1 still there before QUIT (RFC 1939 §6: deleted at QUIT)');
  pop.send('QUIT');
  await pop.until(/^\+OK/, /^-ERR/);
  pop.close();
  await page.waitForSelector(row(1), { state: 'detached' });
  log('ok: row 1 is gone');
  await feedHas('POP3', 'UID 1');
  const popLine = await page.$$eval('#feed li', (lis) => lis.map((l) => l.textContent).find((t) => t.includes('POP3') && t.includes('UID 1')));
  log(`feed: ${popLine}`);
  check(/1 IMAP session notified/.test(popLine), 'the feed counts the idling IMAP session as notified');
  await watcher.until(/^\* 1 EXPUNGE/);
  log('ok: the idling IMAP client was told * 1 EXPUNGE');

  // 5. The idling session's trace: backlog with C:/S: lines, password redacted, then live.
  await page.click(`#sessions tr[data-session="${watcherId}"]`);
  await page.waitForSelector('#trace li.dir-C');
  await page.waitForSelector('#trace li.dir-S');
  const trace = await page.$$eval('#trace li', (lis) => lis.map((l) => l.textContent));
  check(trace.some((t) => t.includes('LOGIN')), `trace has the LOGIN line (${trace.length} lines)`);
  check(!trace.some((t) => t.includes(PASSWORD)), 'the password is not in the trace');
  check(trace.some((t) => t.includes('IDLE')), 'trace has the IDLE command');
  const before = trace.length;
  watcher.send('DONE');
  await watcher.until(/^W1 OK/);
  await page.waitForFunction(
    (n) => document.querySelectorAll('#trace li').length > n
      && [...document.querySelectorAll('#trace li.dir-C')].some((l) => l.textContent.includes('DONE')),
    before,
  );
  log('ok: the trace grew live (DONE)');
  await page.waitForSelector(`#sessions tr[data-session="${watcherId}"]:not(:has(.badge.idle))`);
  log('ok: IDLE badge gone after DONE');
  watcher.send('W2 IDLE');
  await watcher.until(/^\+ /);
  await page.waitForSelector(`#sessions tr[data-session="${watcherId}"]:has(.badge.idle)`);

  // 6. Admin: the token unlocks "Send test message" and "Delete" (the admin REST API).
  await page.click('#drawer-close');
  await page.waitForSelector('#drawer', { state: 'hidden' });
  await page.fill('#token', ADMIN_TOKEN);
  await page.click('#token-apply');
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'admin');
  log('ok: admin mode with the token');
  await page.click(`button.send-test[data-account="${ACCOUNT}"]`);
  await page.waitForSelector(row(3));
  check((await page.textContent(`${row(3)} td.subject`)).startsWith('Test message'), 'the test message arrived as UID 3');
  await watcher.until(/^\* 2 EXISTS/);
  await page.click(`${row(3)} button.delete`);
  await page.waitForSelector(row(3), { state: 'detached' });
  log('ok: Delete removed UID 3');
  await feedHas('UID 3');

  // 7. Fault injection from the dashboard (docs/spec.md §7.7): a 452 at RCPT, once.
  await page.waitForSelector('#faults-pane', { state: 'visible' });
  await page.selectOption('#fault-protocol', 'smtp');
  await page.fill('#fault-stage', 'RCPT');
  await page.selectOption('#fault-action', 'reply');
  await page.fill('#fault-reply', '452 4.2.2 Mailbox full');
  await page.fill('#fault-times', '1');
  await page.click('#fault-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#fault-count').textContent === '1');
  const refused = await smtpDeliver(ACCOUNT, 'refused', 'never stored').then(() => null, (e) => e.message);
  check(refused && refused.includes('452 4.2.2 Mailbox full'), `RCPT refused by the rule (${refused})`);
  await page.click('#faults-clear');
  await page.waitForFunction(() => document.querySelector('#fault-count').textContent === '0');
  log('ok: a fault rule added on the dashboard refused RCPT with 452');

  // 7b. Backup and clean up (docs/spec.md §7.8): Export downloads the INBOX as mbox; Clean up
  // lists what its dry run would remove and, on confirmation, removes exactly that.
  await smtpDeliver(ACCOUNT, 'Large attachment', Array(300).fill('y'.repeat(76)).join('\n'));
  const bigRow = `tr[data-account="${ACCOUNT}"]:has(td.subject:text-is("Large attachment"))`;
  await page.waitForSelector(bigRow);
  const bigUid = Number(await page.getAttribute(bigRow, 'data-uid'));
  const panel = `details.backup[data-account="${ACCOUNT}"]`;
  await page.click(`${panel} > summary`);
  await page.selectOption(`${panel} .backup-form select.backup-mailbox`, 'INBOX');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`${panel} button.backup-export`)]);
  const exported = fs.readFileSync(await download.path(), 'utf8');
  check(download.suggestedFilename() === `${ACCOUNT}-INBOX.mbox` && exported.startsWith('From ')
    && exported.includes('Subject: Large attachment'), `Export downloads the INBOX as mbox (${download.suggestedFilename()})`);
  await page.selectOption(`${panel} .cleanup-form select.backup-mailbox`, 'INBOX');
  await page.fill(`${panel} input.cleanup-larger`, '10KB');
  await page.click(`${panel} button.cleanup-preview`);
  await page.waitForSelector(`${panel} button.cleanup-confirm`);
  const listed = await page.$$eval(`${panel} table.cleanup-list tbody tr`, (trs) => trs.map((tr) => Number(tr.dataset.uid)));
  check(listed.length === 1 && listed[0] === bigUid && await page.isVisible(bigRow), `the dry run lists UID ${listed} and removes nothing`);
  await page.click(`${panel} button.cleanup-confirm`);
  await page.waitForSelector(bigRow, { state: 'detached' });
  check((await page.textContent(`${panel} .cleanup-summary`)).startsWith('Removed 1 messages'), 'Clean up removed what it listed');
  check(await page.isVisible(row(2)), 'and nothing else (UID 2 is still there)');
  await page.click(`${panel} > summary`);

  check(await page.evaluate(() => window.__noReload === 'still here'), 'the page was never reloaded');
  check(await page.evaluate(() => window.__pwned === undefined), 'window.__pwned still undefined');
  const csps = consoleErrors.filter((e) => /Content Security Policy/i.test(e));
  check(csps.length === 0, `no CSP violation (${csps.join(' | ')})`);
  check(pageErrors.length === 0, `no script error on the page (${pageErrors.join(' | ')})`);

  // 8. The inbox page: a message with an HTML part and an attachment. The HTML is rendered in
  // a sandboxed frame whose CSP blocks its script and its remote image (the console shows
  // those refusals: they are the proof); the attachment downloads; the source is text; the
  // search box filters rows.
  // A "tracking pixel" on this very server: any answer to it would mean the load happened.
  const pixel = new URL('/assets/dashboard.css?tracker=1', URL_).href;
  const answered = [];
  page.on('response', (r) => answered.push(r.url()));
  const errorsBefore = consoleErrors.length;
  const rich = [
    '--mix', 'Content-Type: multipart/alternative; boundary=alt', '',
    '--alt', 'Content-Type: text/plain; charset=utf-8', '', 'Rich mail, text part.',
    '--alt', 'Content-Type: text/html; charset=utf-8', '',
    '<p id="rich">Rich <b>HTML</b> mail</p><script>parent.__pwned = 3; document.title = "ran"</script>',
    `<img src="${pixel}" alt="tracker">`,
    '--alt--',
    '--mix', 'Content-Type: application/pdf', 'Content-Disposition: attachment; filename="report.pdf"',
    'Content-Transfer-Encoding: base64', '', 'JVBERi0xLjQK', '--mix--',
  ].join('\n');
  await smtpDeliver(ACCOUNT, 'Quarterly report', rich, 'multipart/mixed; boundary=mix');
  const richRow = `tr[data-account="${ACCOUNT}"]:has(td.subject:text-is("Quarterly report"))`;
  await page.waitForSelector(richRow);
  await page.click(`${richRow} td.subject`);
  await page.waitForFunction(() => document.querySelector('#message-text').textContent.includes('Rich mail'));
  await page.click('#message-tabs button[data-tab="html"]');
  const frameEl = await page.waitForSelector('#message-html iframe');
  check((await frameEl.getAttribute('sandbox')) === '', 'the HTML frame is sandboxed (no allow-* tokens)');
  const frame = await frameEl.contentFrame();
  await frame.waitForSelector('#rich');
  check((await frame.textContent('#rich')) === 'Rich HTML mail', 'the HTML part is rendered');
  await page.waitForTimeout(300); // a script or an image load would have happened by now
  check(await page.evaluate(() => window.__pwned === undefined), 'the message\'s script did not run');
  check((await frame.title()) !== 'ran', 'not even inside its frame');
  check(!answered.includes(pixel), 'the image was not loaded');
  check(consoleErrors.slice(errorsBefore).some((e) => e.includes('tracker=1') && /Content Security Policy/.test(e)),
    'the frame\'s CSP refused the image');
  await page.click('#message-tabs button[data-tab="attachments"]');
  const link = await page.waitForSelector('#message-attachments a.attachment');
  check((await link.textContent()) === 'report.pdf', 'the attachment is listed');
  const dl = await page.evaluate(async (href) => {
    const r = await fetch(href);
    return { status: r.status, disposition: r.headers.get('content-disposition'), size: (await r.arrayBuffer()).byteLength };
  }, await link.getAttribute('href'));
  check(dl.status === 200 && dl.disposition.startsWith('attachment') && dl.size === 9, `the attachment downloads (${JSON.stringify(dl)})`);
  await page.click('#message-tabs button[data-tab="raw"]');
  await page.waitForFunction(() => document.querySelector('#message-raw').textContent.includes('boundary=mix'));
  log('ok: inbox page: sandboxed HTML, attachment download, source');
  await page.fill('#search', 'quarterly');
  check(await page.isVisible(richRow) && !(await page.isVisible(row(1))), 'the search box filters the rows');
  await page.click('#message-tabs button[data-tab="html"]');
  const inboxShot = SCREENSHOT.replace(/\.png$/, '-inbox.png');
  await page.screenshot({ path: inboxShot });
  log(`screenshot: ${inboxShot}`);
  await page.fill('#search', '');
  const frameErrors = consoleErrors.slice(errorsBefore);
  consoleErrors.length = errorsBefore;
  log(`the frame's refusals (expected): ${frameErrors.length}`);

  // The picture: the trace of the idling session open, the feed full.
  await page.click(`#sessions tr[data-session="${watcherId}"]`);
  await page.waitForSelector('#trace li.dir-C');
  await page.waitForTimeout(2500); // let the flashes fade
  await shoot();
  watcher.send('DONE');
  await watcher.until(/^W2 OK/).catch(() => {});
  await watcher.cmd('LOGOUT').catch(() => {});
  watcher.close();
}

async function shoot() {
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  log(`screenshot: ${SCREENSHOT}`);
  if (DOCS_SCREENSHOT) {
    fs.copyFileSync(SCREENSHOT, DOCS_SCREENSHOT);
    log(`screenshot copied to ${DOCS_SCREENSHOT}`);
  }
}

let status = 0;
try {
  await main();
  log('PASS: dashboard browser test');
} catch (e) {
  status = 1;
  console.error(`FAIL: ${e && e.stack ? e.stack : e}`);
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join(' | ')}`);
  if (consoleErrors.length) console.error(`console errors: ${consoleErrors.join(' | ')}`);
  if (page) {
    try {
      const feed = await page.$$eval('#feed li', (lis) => lis.map((l) => l.textContent).slice(0, 15));
      console.error(`feed (newest first):\n  ${feed.join('\n  ')}`);
      const failure = SCREENSHOT.replace(/\.png$/, '-failure.png');
      await page.screenshot({ path: failure });
      console.error(`failure screenshot: ${failure}`);
    } catch { /* the page is gone */ }
  }
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(status);

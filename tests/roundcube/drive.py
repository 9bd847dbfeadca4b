#!/usr/bin/env python3
"""Drives Debian's Roundcube webmail against a running mailstack, like a browser would.

Called by tests/tests/roundcube.rs with the JSON line of the server it started through the test
kit (`testkit::Mailstack`: ports, generated CA, admin token), read with the kit's Python module
(tests/clients/mailstack_test.py); standalone, `--bin PATH` starts such a server itself. It writes a private Roundcube configuration (SQLite database,
IMAPS + submission with certificate verification against the CA, the `password` plugin with
the `httpapi` driver pointed at mailstack's POST /api/password) into --workdir, runs Roundcube
with `php -S` on a free loopback port, and then, over HTTP with a cookie jar:

 1. logs in as alice;
 2. lists INBOX: a message delivered beforehand over SMTP shows up by subject;
 3. composes and sends a message to bob: it lands in bob's INBOX and in alice's Sent (IMAP);
 4. changes alice's password through the password plugin;
 5. logs out and logs in to Roundcube again with the new password;
 6. the new password logs in over IMAP, POP3 and SMTP; the old one is refused by all three.

Every step prints "step N: ..." first, so a failure names the step. On failure the Roundcube
logs (errors, imap, smtp) and the php server log are printed. Exit 0 and a last line
"roundcube: ok" mean success.
"""

import argparse
import html
import http.cookiejar
import imaplib
import json
import os
import poplib
import re
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients"))
from mailstack_test import Server, eventually  # noqa: E402
from mailstack_test import tls_context as trusting  # noqa: E402

ALICE = ("alice@example.test", "rabbit-hole-2026")
BOB = ("bob@example.test", "builder-of-things")
NEW_PASSWORD = "through-the-looking-glass-7"

# Generous: a loaded CI machine with a cold PHP opcode cache can be slow.
HTTP_TIMEOUT = 120
WAIT_SECONDS = 120


class StepFailed(Exception):
    pass


STEP = ["setup"]


def step(text):
    STEP[0] = text
    print(f"step {text}", flush=True)


def fail(msg):
    raise StepFailed(f"[{STEP[0]}] {msg}")


# --------------------------------------------------------------------------------------------
# Roundcube setup


def write_config(args, workdir, ports, plugins=("password",), extra=None):
    """Writes the private Roundcube config (and its SQLite database) into `workdir`; returns the
    config folder. `plugins` is Roundcube's plugin list; `extra` adds or overrides settings
    (tests/roundcube/drive_sieve.py uses both for the managesieve plugin)."""
    conf_dir = os.path.join(workdir, "config")
    for d in ("config", "temp", "logs"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    # Roundcube loads defaults.inc.php (and mimetypes.php) from its config folder too.
    for name in ("defaults.inc.php", "mimetypes.php"):
        src = os.path.join(args.roundcube, "config", name)
        dst = os.path.join(conf_dir, name)
        if os.path.exists(src) and not os.path.lexists(dst):
            os.symlink(os.path.realpath(src), dst)
    db = os.path.join(workdir, "roundcube.db")
    tls = php_tls(args.ca)
    settings = {
        "db_dsnw": f"sqlite:///{db}?mode=0640",
        # Implicit TLS IMAP (RFC 8314), verified against mailstack's CA.
        "imap_host": f"ssl://localhost:{ports['imaps']}",
        "imap_conn_options": tls,
        "imap_timeout": 60,
        # Submission with STARTTLS (RFC 6409 / RFC 3207), authenticated as the logged-in user.
        "smtp_host": f"tls://localhost:{ports['submission']}",
        "smtp_conn_options": tls,
        "smtp_user": "%u",
        "smtp_pass": "%p",
        "smtp_timeout": 60,
        "sent_mbox": "Sent",
        "des_key": "mailstack-e2e-des-key-24",
        "plugins": list(plugins),
        "password_driver": "httpapi",
        "password_httpapi_url": f"http://127.0.0.1:{ports['http']}/api/password",
        "password_httpapi_method": "POST",
        "password_httpapi_var_user": "user",
        "password_httpapi_var_curpass": "curpass",
        "password_httpapi_var_newpass": "newpass",
        "password_httpapi_expect": "/^ok$/",
        "password_minimum_length": 12,
        "password_confirm_current": True,
        "password_log": True,
        "temp_dir": os.path.join(workdir, "temp"),
        "log_dir": os.path.join(workdir, "logs"),
        "log_driver": "file",
        "imap_debug": True,
        "smtp_debug": True,
        "skin": "elastic",
        "enable_spellcheck": False,
        "enable_installer": False,
        "support_url": "",
    }
    settings.update(extra or {})
    assert len(settings["des_key"]) == 24
    lines = ["<?php", "// Written by tests/roundcube/drive.py for one test run.", "$config = [];"]
    for key, value in settings.items():
        lines.append(f"$config[{php(key)}] = {php(value)};")
    with open(os.path.join(conf_dir, "config.inc.php"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # Roundcube does not create its schema itself: load Debian's SQLite one.
    schema = os.path.join(args.roundcube, "SQL", "sqlite.initial.sql")
    with open(schema) as f, sqlite3.connect(db) as conn:
        conn.executescript(f.read())
    return conf_dir


def php_tls(ca):
    """PHP stream context options that verify the server against mailstack's CA as localhost."""
    return {
        "ssl": {
            "verify_peer": True,
            "verify_peer_name": True,
            "peer_name": "localhost",
            "cafile": os.path.abspath(ca),
            "allow_self_signed": False,
        }
    }


def php(value):
    """A Python value as a PHP literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(php(v) for v in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{php(k)} => {php(v)}" for k, v in value.items()) + "]"
    raise TypeError(value)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_php(args, workdir, conf_dir):
    """`php -S` on a free loopback port; retries if another process took the port first."""
    docroot = os.path.join(args.roundcube, "public_html")
    if not os.path.exists(os.path.join(docroot, "index.php")):
        docroot = args.roundcube
    env = dict(os.environ)
    env["ROUNDCUBE_CONFIG_DIR"] = conf_dir
    env.pop("RCUBE_CONFIG_PATH", None)
    log_path = os.path.join(workdir, "php-server.log")
    for _ in range(5):
        port = free_port()
        log = open(log_path, "ab")
        proc = subprocess.Popen(
            [args.php, "-S", f"127.0.0.1:{port}", "-t", docroot],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        base = f"http://127.0.0.1:{port}/"

        def serving():
            """True once Roundcube's login page answers 200; "exited" if php died."""
            if proc.poll() is not None:
                return "exited"
            try:
                with urllib.request.urlopen(base + "?_task=login", timeout=HTTP_TIMEOUT) as r:
                    return r.status == 200
            except urllib.error.HTTPError as e:
                body = e.read().decode("utf-8", "replace")[:2000]
                stop_php(proc)
                fail(f"Roundcube answered HTTP {e.code}: {body}\nphp log:\n{read(log_path)[-4000:]}")
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                return False

        try:
            if eventually(serving, WAIT_SECONDS, "php -S serving Roundcube") is True:
                return proc, base, log_path
        except AssertionError:
            pass
        stop_php(proc)
    fail(f"php -S did not serve Roundcube; its log:\n{read(log_path)}")


def die_with_parent():
    """In the php child: SIGTERM it if this driver dies, even by SIGKILL (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_php(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# A browser


class Browser:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.token = None

    def request(self, query, data=None, ajax=False):
        url = self.base + "?" + urllib.parse.urlencode(query)
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body)
        req.add_header("User-Agent", "mailstack-e2e (Roundcube driver)")
        if ajax:
            req.add_header("X-Roundcube-Request", self.token or "")
            req.add_header("X-Requested-With", "XMLHttpRequest")
        try:
            with self.opener.open(req, timeout=HTTP_TIMEOUT) as r:
                return r.status, r.geturl(), r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            fail(f"HTTP {e.code} for {url}: {text[:2000]}")

    def login(self, user, password):
        _, _, page = self.request({"_task": "login"})
        m = re.search(r'name="_token" value="([^"]+)"', page)
        if not m:
            fail(f"no _token in the login page:\n{page[:2000]}")
        _, url, page = self.request(
            {"_task": "login"},
            {
                "_token": m.group(1),
                "_task": "login",
                "_action": "login",
                "_timezone": "UTC",
                "_url": "",
                "_user": user,
                "_pass": password,
            },
        )
        env = rcmail_env(page)
        if env.get("task") != "mail":
            messages = display_messages(page)
            fail(f"login as {user} did not reach the mailbox (url {url}, messages {messages})")
        self.token = env.get("request_token")
        if not self.token:
            fail("no request_token in the mail page's rcmail env")
        return env

    def logout(self):
        self.request({"_task": "logout", "_token": self.token})
        self.token = None


def rcmail_env(page):
    """The merged `rcmail.set_env({...})` objects of a Roundcube page."""
    env = {}
    for m in re.finditer(r"rcmail\.set_env\((\{.*?\})\);", page, re.S):
        try:
            env.update(json.loads(m.group(1)))
        except ValueError:
            pass
    return env


def display_messages(page):
    """(text, type) of each `display_message(...)` command Roundcube sent to the page."""
    out = []
    for m in re.finditer(r'display_message\("((?:[^"\\]|\\.)*)","(\w+)"', page):
        out.append((json.loads('"' + m.group(1) + '"'), m.group(2)))
    return out


# --------------------------------------------------------------------------------------------
# Direct protocol clients (Python's standard library) to check what Roundcube did.


def tls_context(ca):
    ctx = trusting(ca)
    ctx.check_hostname = True
    return ctx


def imap_login(ports, ca, user, password):
    conn = imaplib.IMAP4_SSL("localhost", ports["imaps"], ssl_context=tls_context(ca), timeout=60)
    try:
        conn.login(user, password)
    except Exception:
        try:
            conn.shutdown()
        except OSError:
            pass
        raise
    return conn


def imap_find(ports, ca, user, password, mailbox, subject):
    """Polls (no fixed sleep assertion: a generous deadline) until `subject` is in `mailbox`."""

    def found():
        conn = imap_login(ports, ca, user, password)
        try:
            typ, _ = conn.select(f'"{mailbox}"', readonly=True)
            if typ == "OK":
                typ, data = conn.search(None, "SUBJECT", f'"{subject}"')
                if typ == "OK" and data and data[0].split():
                    num = data[0].split()[-1]
                    typ, msg = conn.fetch(num, "(BODY.PEEK[])")
                    return b"".join(p[1] for p in msg if isinstance(p, tuple))
        finally:
            conn.logout()
        return None

    try:
        return eventually(found, WAIT_SECONDS, f"{subject!r} in {user}'s {mailbox}")
    except AssertionError:
        fail(f"no message with subject {subject!r} in {user}'s {mailbox}")


def check_imap(ports, ca, user, password):
    conn = imap_login(ports, ca, user, password)
    conn.logout()


def check_pop3(ports, ca, user, password):
    conn = poplib.POP3_SSL("localhost", ports["pop3s"], context=tls_context(ca), timeout=60)
    try:
        conn.user(user)
        conn.pass_(password)
        conn.stat()
    finally:
        try:
            conn.quit()
        except (poplib.error_proto, OSError):
            pass


def check_smtp(ports, ca, user, password):
    with smtplib.SMTP("localhost", ports["submission"], timeout=60) as s:
        s.starttls(context=tls_context(ca))
        s.login(user, password)


AUTH_REFUSED = (imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPAuthenticationError)


# --------------------------------------------------------------------------------------------


def run(args, ports, workdir):
    ca = os.path.abspath(args.ca)
    tag = str(os.getpid())
    inbox_subject = f"Delivered before login {tag}"
    sent_subject = f"Hello Bob from Roundcube {tag}"

    step("0: deliver a message to alice over SMTP (port 25 listener)")
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=60) as s:
        s.sendmail(
            "carol@elsewhere.test",
            [ALICE[0]],
            (
                f"From: carol@elsewhere.test\r\nTo: {ALICE[0]}\r\nSubject: {inbox_subject}\r\n"
                "Message-ID: <pre-login@elsewhere.test>\r\n\r\nWaiting for you in Roundcube.\r\n"
            ).encode(),
        )
    imap_find(ports, ca, *ALICE, "INBOX", inbox_subject)

    step("setup: private Roundcube config and `php -S`")
    conf_dir = write_config(args, workdir, ports)
    proc, base, _ = start_php(args, workdir, conf_dir)
    try:
        drive(base, ports, ca, inbox_subject, sent_subject)
    finally:
        stop_php(proc)


def drive(base, ports, ca, inbox_subject, sent_subject):
    browser = Browser(base)

    step("1: log in to Roundcube as alice (IMAPS, verified against mailstack's CA)")
    browser.login(*ALICE)

    step("2: list INBOX through Roundcube")
    listed = {}

    def in_list():
        _, _, body = browser.request(
            {"_task": "mail", "_action": "list", "_mbox": "INBOX", "_remote": "1", "_page": "1"},
            ajax=True,
        )
        listed["body"] = body
        try:
            reply = json.loads(body)
        except ValueError:
            fail(f"list answer is not JSON: {body[:2000]}")
        return inbox_subject in reply.get("exec", "")

    try:
        eventually(in_list, WAIT_SECONDS, "the delivered message in Roundcube's INBOX list")
    except AssertionError:
        fail(f"{inbox_subject!r} not in Roundcube's INBOX list: {listed.get('body', '')[:3000]}")

    step("3: compose and send a message to bob (submission + STARTTLS, saved to Sent)")
    _, url, page = browser.request({"_task": "mail", "_action": "compose"})
    compose_id = urllib.parse.parse_qs(urllib.parse.urlparse(url).query).get("_id", [None])[0]
    if not compose_id:
        compose_id = rcmail_env(page).get("compose_id")
    if not compose_id:
        fail(f"no compose id (url {url})")
    m = re.search(r'<select name="_from"[^>]*>\s*<option value="(\d+)"', page)
    if not m:
        fail(f"no identity in the compose form:\n{page[:3000]}")
    identity = m.group(1)
    _, _, reply = browser.request(
        {"_task": "mail", "_action": "send"},
        {
            "_token": browser.token,
            "_task": "mail",
            "_action": "send",
            "_id": compose_id,
            "_attachments": "",
            "_from": identity,
            "_to": BOB[0],
            "_cc": "",
            "_bcc": "",
            "_replyto": "",
            "_followupto": "",
            "_subject": sent_subject,
            "_draft": "",
            "_is_html": "0",
            "_framed": "1",
            "_message": "Sent through Roundcube, delivered by mailstack.\r\n",
        },
    )
    m = re.search(r'sent_successfully\("confirmation",(".*?"),(\[.*?\]),(true|false)\)', reply)
    if not m:
        fail(f"Roundcube did not report the message sent: {display_messages(reply)}\n{reply[:3000]}")
    if m.group(3) == "true":
        fail(f"Roundcube sent the message but could not save it to Sent: {m.group(0)}")
    received = imap_find(ports, ca, *BOB, "INBOX", sent_subject)
    if ALICE[0].encode() not in received:
        fail(f"bob's copy does not name alice as sender:\n{received[:2000]!r}")
    imap_find(ports, ca, *ALICE, "Sent", sent_subject)

    step("4: change alice's password with the password plugin (httpapi driver)")
    _, _, page = browser.request({"_task": "settings", "_action": "plugin.password"})
    if "_newpasswd" not in page:
        fail(f"the password form is missing:\n{page[:3000]}")
    _, _, page = browser.request(
        {"_task": "settings", "_action": "plugin.password-save"},
        {
            "_token": browser.token,
            "_curpasswd": ALICE[1],
            "_newpasswd": NEW_PASSWORD,
            "_confpasswd": NEW_PASSWORD,
        },
    )
    messages = display_messages(page)
    if not any(kind == "confirmation" for _, kind in messages):
        fail(f"password change not confirmed; Roundcube said {messages}")
    print(f"  roundcube said: {messages}", flush=True)

    step("5: log out of Roundcube and log in again with the new password")
    browser.logout()
    Browser(base).login(ALICE[0], NEW_PASSWORD)

    step("6: the new password works over IMAP, POP3 and SMTP")
    for name, check in (("IMAP", check_imap), ("POP3", check_pop3), ("SMTP", check_smtp)):
        try:
            check(ports, ca, ALICE[0], NEW_PASSWORD)
        except Exception as e:  # noqa: BLE001 - report which protocol refused
            fail(f"{name} refused the new password: {e!r}")

    step("7: the old password is refused over IMAP, POP3 and SMTP")
    for name, check in (("IMAP", check_imap), ("POP3", check_pop3), ("SMTP", check_smtp)):
        try:
            check(ports, ca, *ALICE)
        except AUTH_REFUSED as e:
            print(f"  {name} refused the old password: {e}", flush=True)
            continue
        fail(f"{name} still accepts the old password")


def main(steps=None, name="roundcube", doc=__doc__):
    """The command line: attach to (or start) a server, run the steps, print "NAME: ok" last.
    `steps(args, server, workdir)` is this file's `run` unless another driver passes its own
    (tests/roundcube/drive_sieve.py)."""
    if steps is None:

        def steps(args, server, workdir):
            run(args, server.ports, workdir)

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--php", default="php")
    p.add_argument("--roundcube", default="/var/lib/roundcube", help="Debian's INSTALL_PATH")
    p.add_argument("--server", help="the JSON line of a running mailstack (testkit::Mailstack)")
    p.add_argument("--bin", help="start `mailstack serve --ephemeral` from this binary instead")
    p.add_argument("--workdir", required=True, help="an empty temporary folder")
    args = p.parse_args()
    if args.server:
        server = Server.attach(args.server)
    elif args.bin:
        server = Server.start(args.bin)
        for account in (ALICE, BOB):
            server.add_account(*account)
    else:
        print(f"{name}: give --server JSON or --bin PATH", file=sys.stderr)
        return 2
    args.ca = server.ca
    # A SIGTERM (test runner timeout) still runs the `finally` that stops php.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Absolute: Roundcube resolves paths from its own install folder, not our cwd.
    workdir = os.path.abspath(args.workdir)
    try:
        steps(args, server, workdir)
    except StepFailed as e:
        print(f"{name}: FAILED {e}", file=sys.stderr)
        dump_logs(workdir)
        return 1
    except Exception as e:  # noqa: BLE001 - name the step whatever broke
        print(f"{name}: FAILED [{STEP[0]}] {e!r}", file=sys.stderr)
        dump_logs(workdir)
        return 1
    finally:
        server.stop()  # only a server this driver started
    print(f"{name}: ok", flush=True)
    return 0


def dump_logs(workdir):
    logs = os.path.join(workdir, "logs")
    names = sorted(os.listdir(logs)) if os.path.isdir(logs) else []
    for name in names + ["../php-server.log"]:
        text = read(os.path.join(logs, name))
        if text:
            tail = text[-6000:]
            print(f"----- roundcube {name} (last {len(tail)} chars) -----\n{tail}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

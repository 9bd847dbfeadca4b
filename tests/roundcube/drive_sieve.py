#!/usr/bin/env python3
"""Drives Roundcube's managesieve plugin (Out of Office + Forwarding) against a running mailstack.

Called by tests/tests/roundcube.rs with the JSON line of the server it started (like
tests/roundcube/drive.py, whose config writer, `php -S` handling, browser and IMAP helpers it
imports); standalone, `--bin PATH` starts such a server itself. Roundcube gets the
`managesieve` plugin talking to mailstack's ManageSieve listener (RFC 5804) with STARTTLS,
verified against the server's CA, and its separate "Out of Office" and "Forwarding" settings
pages (`managesieve_vacation = 1`, `managesieve_forward = 1`). Then, over HTTP with a cookie
jar, posting what the browser's forms post:

 1. logs in as alice; the settings menu offers Out of Office and Forwarding;
 2. Out of Office: on, subject "Out of office", a reason, from yesterday to a week from today
    (UTC, the plugin's date format Y-m-d), interval 1 day; saved;
 3. Forwarding: on, "send copy to" (redirect :copy) bob; saved;
 4. over ManageSieve (a raw client here, STARTTLS + PLAIN) the active script has the vacation
    with both dates and `redirect :copy "bob@example.test"`; it is printed; the Out of Office
    page reads the dates back;
 5. carol sends alice a message (submission, STARTTLS): alice keeps it, bob gets the forwarded
    copy, carol gets one reply ("Out of office", Auto-Submitted: auto-replied); a second
    message from carol is kept and forwarded but not answered again;
 6. Out of Office off: the script's vacation rule is disabled (`if false # …`, how Roundcube
    turns a rule off), the forward is still on, and a message from dave gets no reply.

Every step prints "step N: ..." first and its duration after, so a failure names the step. On
failure the Roundcube logs (errors, imap, sieve) and the php server log are printed. Exit 0 and
a last line "roundcube-sieve: ok" mean success.
"""

import base64
import datetime
import email
import email.policy
import email.utils
import html.parser
import json
import os
import re
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drive  # noqa: E402
from drive import ALICE, BOB, WAIT_SECONDS, eventually, fail  # noqa: E402

CAROL = ("carol@example.test", "carol-sends-first-2026")
DAVE = ("dave@example.test", "dave-sends-later-2026")
VACATION_SUBJECT = "Out of office"
VACATION_REASON = "I am away until next week.\nYour message was forwarded to Bob."

# --------------------------------------------------------------------------------------------
# Steps with their durations (the report's timings).

TIMES = []


def step(text):
    now = time.monotonic()
    if TIMES:
        started = TIMES[-1][1]
        print(f"  ({now - started:.2f} s)", flush=True)
    TIMES.append((text, now))
    drive.step(text)


def timings():
    end = time.monotonic()
    print("timings:", flush=True)
    for i, (name, started) in enumerate(TIMES):
        until = TIMES[i + 1][1] if i + 1 < len(TIMES) else end
        print(f"  {until - started:7.2f} s  {name}", flush=True)


# --------------------------------------------------------------------------------------------
# A form as jQuery's serialize() sends it (managesieve.js posts `$(form).serialize()`).


class FormFields(html.parser.HTMLParser):
    """The successful controls of the <form id=FORM_ID>: (name, value) in document order."""

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.found = False
        self.fields = []
        self.select = None  # [name, first option value, selected value or None]
        self.option = None  # value of the <option> being read (text is its value if no attr)
        self.textarea = None  # [name, text, data-type="list"]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = self.found = True
            return
        if not self.inside or "disabled" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("button", "submit", "reset", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value") or ""))
        elif tag == "select" and name:
            self.select = [name, None, None]
        elif tag == "option" and self.select is not None:
            self.option = a.get("value")
            value = self.option if self.option is not None else ""
            if self.select[1] is None:
                self.select[1] = value
            if "selected" in a:
                self.select[2] = value
        elif tag == "textarea" and name:
            self.textarea = [name, "", a.get("data-type") == "list"]

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select is not None:
            name, first, selected = self.select
            self.fields.append((name, selected if selected is not None else (first or "")))
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            name, text, is_list = self.textarea
            text = text[1:] if text.startswith("\n") else text  # as browsers read it
            if is_list:
                # The skin's smart_field_init turns a data-type="list" textarea into one
                # `name[]` input per line and disables the textarea itself.
                for line in text.split("\n") if text else [""]:
                    self.fields.append((name + "[]", line))
            else:
                self.fields.append((name, text))
            self.textarea = None


def form_fields(page, form_id):
    parser = FormFields(form_id)
    parser.feed(page)
    if not parser.found:
        messages = drive.display_messages(page)
        fail(f"no <form id={form_id!r}> in the page (Roundcube said {messages}):\n{page[:3000]}")
    return parser.fields


def save_form(browser, action, form_id, changes):
    """Opens the settings page `action`, changes fields of its form and saves it the way
    managesieve.js does (an AJAX POST of the serialized form); returns Roundcube's messages."""
    _, _, page = browser.request({"_task": "settings", "_action": action})
    fields = form_fields(page, form_id)
    names = {n for n, _ in fields}
    missing = set(changes) - names
    if missing:
        fail(f"the {action} form has no field {sorted(missing)}; it has {sorted(names)}")
    data = [(n, changes.get(n, v)) for n, v in fields]
    # rcmail.http_post adds these two (app.js http_request).
    data += [("_remote", "1"), ("_unlock", f"loading{int(time.time() * 1000)}")]
    _, _, body = browser.request({"_task": "settings", "_action": action}, data, ajax=True)
    try:
        reply = json.loads(body)
    except ValueError:
        fail(f"the {action} save answer is not JSON: {body[:3000]}")
    messages = drive.display_messages(reply.get("exec", ""))
    print(f"  roundcube said: {messages}", flush=True)
    if not any(kind == "confirmation" for _, kind in messages):
        fail(f"{action}: save not confirmed; Roundcube said {messages}")
    return messages


# --------------------------------------------------------------------------------------------
# A ManageSieve client (RFC 5804) to read what Roundcube stored, independent of Roundcube.


class ManageSieve:
    def __init__(self, port, ca, user, password):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.expect_ok("greeting")
        self.send(b"STARTTLS")
        self.expect_ok("STARTTLS")
        # RFC 5804 §2.2: the server sends its capabilities again after the handshake.
        self.sock = drive.tls_context(ca).wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.expect_ok("capabilities after STARTTLS")
        plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f'AUTHENTICATE "PLAIN" "{plain}"'.encode())
        self.expect_ok("AUTHENTICATE PLAIN")

    def send(self, line):
        self.sock.sendall(line + b"\r\n")

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("ManageSieve server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self):
        """(data, status line): data lines and literals (bytes) up to OK/NO/BYE."""
        data = []
        while True:
            line = self._line()
            m = re.search(rb"\{(\d+)\+?\}$", line)
            if m:  # a literal: its bytes, then the rest of that line
                head = line[: m.start()]
                literal = self._bytes(int(m.group(1)))
                line = head + literal + self._line()
                if not re.match(rb"(OK|NO|BYE)\b", head, re.I):
                    data.append(literal)
                    continue
            if re.match(rb"(OK|NO|BYE)\b", line, re.I):
                return data, line.decode("utf-8", "replace")
            data.append(line)

    def expect_ok(self, what):
        data, status = self.response()
        if not status.upper().startswith("OK"):
            fail(f"ManageSieve {what}: {status}")
        return data

    def scripts(self):
        """{name: active} from LISTSCRIPTS."""
        self.send(b"LISTSCRIPTS")
        out = {}
        for line in self.expect_ok("LISTSCRIPTS"):
            m = re.match(rb'"((?:[^"\\]|\\.)*)"(\s+ACTIVE)?$', line, re.I)
            if not m:
                fail(f"LISTSCRIPTS line not understood: {line!r}")
            out[m.group(1).decode()] = bool(m.group(2))
        return out

    def getscript(self, name):
        self.send(f'GETSCRIPT "{name}"'.encode())
        data = self.expect_ok(f"GETSCRIPT {name}")
        if len(data) != 1:
            fail(f"GETSCRIPT {name}: expected one literal, got {data!r}")
        return data[0].decode()

    def logout(self):
        try:
            self.send(b"LOGOUT")
            self.response()
        except OSError:
            pass
        self.sock.close()


def active_script(ports, ca, user, password):
    """(name, text with LF line ends) of the account's active script, over ManageSieve."""
    conn = ManageSieve(ports["managesieve"], ca, user, password)
    try:
        scripts = conn.scripts()
        active = [n for n, a in scripts.items() if a]
        if len(active) != 1:
            fail(f"expected one active script, LISTSCRIPTS says {scripts}")
        # Roundcube writes CRLF line ends (RCUBE_SIEVE_NEWLINE); LF here for matching.
        return active[0], conn.getscript(active[0]).replace("\r\n", "\n")
    finally:
        conn.logout()


def rule(script, name):
    """The `if` line and block of Roundcube's rule `# rule:[name]`."""
    head = r"^# rule:\[" + re.escape(name) + r"\]\n"
    m = re.search(head + r"(.*?)(?=^# rule:|\Z)", script, re.M | re.S)
    if not m:
        fail(f"no rule {name!r} in the script:\n{script}")
    return m.group(1)


# --------------------------------------------------------------------------------------------
# Mail


def send(ports, ca, sender, to, subject, tag):
    """A message from `sender` (submission, STARTTLS, authenticated); returns its Message-ID."""
    msgid = f"<{tag}.{subject.replace(' ', '-').lower()}@example.test>"
    text = (
        f"From: {sender[0]}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
        f"Date: {email.utils.formatdate()}\r\n\r\nHello, is anyone there?\r\n"
    )
    with smtplib.SMTP("localhost", ports["submission"], timeout=60) as s:
        s.starttls(context=drive.tls_context(ca))
        s.login(*sender)
        s.sendmail(sender[0], [to], text.encode())
    return msgid


def messages(ports, ca, user, password, subject):
    """Every message in INBOX whose subject contains `subject`, parsed."""
    conn = drive.imap_login(ports, ca, user, password)
    try:
        conn.select("INBOX", readonly=True)
        typ, data = conn.search(None, "SUBJECT", f'"{subject}"')
        found = []
        for num in (data[0].split() if typ == "OK" and data else []):
            _, parts = conn.fetch(num, "(BODY.PEEK[])")
            raw = b"".join(p[1] for p in parts if isinstance(p, tuple))
            found.append(email.message_from_bytes(raw, policy=email.policy.default))
        return found
    finally:
        conn.logout()


def wait_for(ports, ca, account, subject):
    """Polls until `account`'s INBOX has a message with `subject`; returns all such messages."""
    try:
        return eventually(
            lambda: messages(ports, ca, *account, subject),
            WAIT_SECONDS,
            f"{subject!r} in {account[0]}'s INBOX",
        )
    except AssertionError as e:
        fail(str(e))


def check_reply(reply, to, msgid):
    problems = []
    if reply["Subject"] != VACATION_SUBJECT:
        problems.append(f"Subject {reply['Subject']!r}")
    if (reply["Auto-Submitted"] or "").strip().lower() != "auto-replied":
        problems.append(f"Auto-Submitted {reply['Auto-Submitted']!r}")
    if to not in str(reply["To"]):
        problems.append(f"To {reply['To']!r}")
    if ALICE[0] not in str(reply["From"]):
        problems.append(f"From {reply['From']!r}")
    if msgid not in str(reply["In-Reply-To"] or ""):
        problems.append(f"In-Reply-To {reply['In-Reply-To']!r} (want {msgid})")
    if "I am away until next week." not in reply.get_body(("plain",)).get_content():
        problems.append("the reason is not the body")
    if problems:
        fail(f"vacation reply is wrong: {', '.join(problems)}:\n{reply}")


# --------------------------------------------------------------------------------------------


def run(args, server, workdir):
    ports = server.ports
    ca = os.path.abspath(args.ca)
    tag = f"rcsieve{os.getpid()}"

    step("0: accounts carol and dave (admin API) to send from")
    for account in (CAROL, DAVE):
        server.add_account(*account)

    step("setup: private Roundcube config with the managesieve plugin, `php -S`")
    conf_dir = drive.write_config(
        args,
        workdir,
        ports,
        plugins=["managesieve"],
        extra={
            # RFC 5804 §2.2 STARTTLS, verified against mailstack's CA.
            "managesieve_host": f"tls://localhost:{ports['managesieve']}",
            "managesieve_conn_options": drive.php_tls(ca),
            "managesieve_vacation": 1,
            "managesieve_forward": 1,
            # The first script starts empty (the plugin's sample config names Dovecot's
            # global script as its template).
            "managesieve_default": "",
            "managesieve_debug": True,
        },
    )
    proc, base, _ = drive.start_php(args, workdir, conf_dir)
    try:
        steps(base, ports, ca, tag)
    finally:
        drive.stop_php(proc)
    step("done")
    timings()


def steps(base, ports, ca, tag):
    browser = drive.Browser(base)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    date_from = (today - datetime.timedelta(days=1)).isoformat()
    date_to = (today + datetime.timedelta(days=7)).isoformat()

    step("1: log in to Roundcube as alice; Settings offers Out of Office and Forwarding")
    browser.login(*ALICE)
    _, _, page = browser.request({"_task": "settings"})
    for action in ("plugin.managesieve-vacation", "plugin.managesieve-forward"):
        if action not in page:
            fail(f"the settings menu has no {action}:\n{page[:3000]}")

    step(f"2: Out of Office on, {date_from} to {date_to}, every 1 day")
    save_form(
        browser,
        "plugin.managesieve-vacation",
        "vacationform",
        {
            "vacation_status": "on",
            "vacation_subject": VACATION_SUBJECT,
            "vacation_reason": VACATION_REASON,
            "vacation_datefrom": date_from,
            "vacation_dateto": date_to,
            "vacation_interval": "1",
            "vacation_interval_type": "days",
            "vacation_action": "keep",
        },
    )

    step("3: Forwarding on, send a copy to bob (keep a copy)")
    save_form(
        browser,
        "plugin.managesieve-forward",
        "forwardform",
        {"forward_status": "on", "forward_action": "copy", "action_target": BOB[0]},
    )

    step("4: the active script (ManageSieve GETSCRIPT) has the vacation and redirect :copy")
    name, script = active_script(ports, ca, *ALICE)
    print(f"  active script {name!r}:\n----- 8< -----\n{script}----- >8 -----", flush=True)
    vacation = rule(script, "Out of Office")
    forward = rule(script, "Forwarding")
    # The dates as the date extension's currentdate tests (RFC 5260 §5), in the zone of the
    # Roundcube session (UTC, given at login); the interval as :days (RFC 5230 §4.1).
    for want in (
        f'currentdate :zone "+0000" :value "ge" "date" "{date_from}"',
        f'currentdate :zone "+0000" :value "le" "date" "{date_to}"',
        f'vacation :days 1 :subject "{VACATION_SUBJECT}"',
        VACATION_REASON,
    ):
        if want not in vacation:
            fail(f"the vacation rule lacks {want!r}:\n{vacation}")
    if vacation.lstrip().startswith("if false"):
        fail(f"the vacation rule is disabled:\n{vacation}")
    if f'redirect :copy "{BOB[0]}"' not in forward or forward.lstrip().startswith("if false"):
        fail(f"the forwarding rule is not an enabled redirect :copy to bob:\n{forward}")
    # Roundcube read the script back: the form shows the saved dates and status.
    _, _, page = browser.request({"_task": "settings", "_action": "plugin.managesieve-vacation"})
    shown = dict(form_fields(page, "vacationform"))
    for field, want in (("vacation_datefrom", date_from), ("vacation_dateto", date_to),
                        ("vacation_status", "on"), ("vacation_subject", VACATION_SUBJECT)):
        if shown.get(field) != want:
            fail(f"the Out of Office form shows {field}={shown.get(field)!r}, want {want!r}")

    step("5a: carol writes to alice: kept, forwarded to bob, answered once")
    first = f"Are you there {tag} 1"
    msgid = send(ports, ca, CAROL, ALICE[0], first, tag)
    wait_for(ports, ca, ALICE, first)
    copy = wait_for(ports, ca, BOB, first)[0]
    if copy["Message-ID"] != msgid:
        fail(f"bob's copy has Message-ID {copy['Message-ID']!r}, want {msgid}")
    reply = wait_for(ports, ca, CAROL, VACATION_SUBJECT)
    if len(reply) != 1:
        fail(f"carol got {len(reply)} vacation replies")
    check_reply(reply[0], CAROL[0], msgid)
    print(f"  reply: {dict((k, str(v)) for k, v in reply[0].items())}", flush=True)

    step("5b: a second message from carol: kept and forwarded, no second reply")
    second = f"Are you there {tag} 2"
    send(ports, ca, CAROL, ALICE[0], second, tag)
    wait_for(ports, ca, BOB, second)
    # Delivery runs the script's actions (redirect, vacation) before it stores the kept copy,
    # so once alice has it, a reply would already be in carol's INBOX.
    wait_for(ports, ca, ALICE, second)
    replies = messages(ports, ca, *CAROL, VACATION_SUBJECT)
    if len(replies) != 1:
        fail(f"carol has {len(replies)} vacation replies after the second message, want 1")

    step("6: Out of Office off: the vacation rule is disabled, forwarding still on")
    save_form(browser, "plugin.managesieve-vacation", "vacationform", {"vacation_status": "off"})
    name, script = active_script(ports, ca, *ALICE)
    print(f"  active script {name!r}:\n----- 8< -----\n{script}----- >8 -----", flush=True)
    vacation = rule(script, "Out of Office")
    if not vacation.lstrip().startswith("if false #"):
        fail(f"the vacation rule is still enabled:\n{vacation}")
    forward = rule(script, "Forwarding")
    if f'redirect :copy "{BOB[0]}"' not in forward or forward.lstrip().startswith("if false"):
        fail(f"the forwarding rule changed:\n{forward}")
    _, _, page = browser.request({"_task": "settings", "_action": "plugin.managesieve-vacation"})
    status = dict(form_fields(page, "vacationform")).get("vacation_status")
    if status != "off":
        fail(f"the Out of Office form shows status {status!r} after turning it off")

    step("6b: dave writes to alice: kept and forwarded, no reply")
    third = f"Are you there {tag} 3"
    send(ports, ca, DAVE, ALICE[0], third, tag)
    wait_for(ports, ca, BOB, third)
    wait_for(ports, ca, ALICE, third)
    replies = messages(ports, ca, *DAVE, VACATION_SUBJECT)
    if replies:
        fail(f"dave got a vacation reply although it is off:\n{replies[0]}")


if __name__ == "__main__":
    sys.exit(drive.main(run, "roundcube-sieve", __doc__))

#!/usr/bin/env python3
"""Real-client matrix: starts a fresh `mailstack serve` (temporary store, generated certs,
ephemeral loopback ports) and drives every third-party client against it, plain and TLS where
the client supports both. Each check verifies content (byte-identical body, flags, folders), not
just exit codes. Prints a table client x protocol x TLS mode -> pass/fail with the failing step;
exits 1 if anything failed.

Usage: matrix.py [--bin PATH] [--only NAME]
"""
import argparse
import email
import imaplib
import os
import poplib
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback

PASSWORD = "client-matrix-secret"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Server:
    """`mailstack serve` on a temporary folder, one account per check."""

    def __init__(self, binary, accounts):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="mailstack-matrix-")
        self.config = os.path.join(self.dir, "mailstack.toml")
        with open(self.config, "w") as f:
            f.write(textwrap.dedent("""\
                hostname = "localhost"
                data_dir = "data"
                domains = ["example.test"]
                outbound = "reject"
                [tls]
                cert = "certs/server.crt"
                key = "certs/server.key"
                generate = true
                [listeners]
                smtp = "127.0.0.1:0"
                submission = "127.0.0.1:0"
                submissions = "127.0.0.1:0"
                pop3 = "127.0.0.1:0"
                pop3s = "127.0.0.1:0"
                imap = "127.0.0.1:0"
                imaps = "127.0.0.1:0"
                [auth]
                argon2_memory_kib = 64
                argon2_iterations = 1
                """))
        for a in accounts:
            self.cli("user", "add", a, "--password-stdin", stdin=PASSWORD + "\n")
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "--config", self.config, "serve", "--trace-protocol"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.ports = {}
        deadline = time.time() + 120
        for line in self.proc.stdout:
            m = re.match(r"mailstack: (\S+) listening on \S+:(\d+)", line)
            if m:
                self.ports[m.group(1)] = int(m.group(2))
            if line.startswith("mailstack: ready") or time.time() > deadline:
                break
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        if len(self.ports) != 7:
            raise RuntimeError(f"server did not start: {self.ports}")
        self.ca = os.path.join(self.dir, "certs", "ca.crt")

    def cli(self, *args, stdin=""):
        r = subprocess.run([self.binary, "--config", self.config, *args], input=stdin,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"mailstack {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def trace(self):
        with open(os.path.join(self.dir, "server.log")) as f:
            return f.read()


class Check:
    def __init__(self, srv, name, account, workdir):
        self.srv, self.name, self.user, self.work = srv, name, account, workdir
        self.step = "start"

    # -- helpers --------------------------------------------------------------------------
    def message(self, token, body_extra=""):
        """A message with a unique token; 8-bit body, a line starting with a dot."""
        return (f"From: sender@example.test\r\nTo: {self.user}\r\nSubject: {token}\r\n"
                f"Message-ID: <{token}@example.test>\r\nMIME-Version: 1.0\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                f"Hello {token}\r\n.leading dot line\r\ncaf\u00e9 \u2713\r\n{body_extra}").encode()

    def deliver(self, token):
        """Inbound SMTP (port 25 role), no auth: how mail arrives from the outside."""
        self.step = "deliver over inbound SMTP"
        raw = self.message(token)
        with smtplib.SMTP("127.0.0.1", self.srv.ports["smtp"], timeout=30) as s:
            s.sendmail("sender@example.test", [self.user], raw)
        return raw

    def run(self, *cmd, stdin=None, env=None, timeout=120):
        r = subprocess.run(list(cmd), input=stdin, capture_output=True, timeout=timeout,
                           env={**os.environ, **(env or {})}, cwd=self.work)
        if r.returncode != 0:
            raise AssertionError(f"{cmd[0]} exited {r.returncode}: "
                                 f"{(r.stderr or b'').decode(errors='replace').strip()[-400:]}")
        return r.stdout

    def tls(self):
        return ssl.create_default_context(cafile=self.srv.ca)

    def expect(self, cond, what):
        if not cond:
            raise AssertionError(what)

    def body_of(self, raw):
        return raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[1]

    def same_body(self, sent, got, what):
        norm = lambda b: self.body_of(b).replace(b"\r\n", b"\n")
        self.expect(norm(got) == norm(sent), f"{what}: body differs: {norm(got)[:120]!r}")

    def maildir_files(self, path):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(path, sub)
            if os.path.isdir(d):
                out += [os.path.join(d, f) for f in os.listdir(d)]
        return out

    def find_in_maildir(self, path, token):
        for f in self.maildir_files(path):
            with open(f, "rb") as fh:
                data = fh.read()
            if token.encode() in data:
                return data
        raise AssertionError(f"message {token} not in {path}")


CHECKS = []


def check(client, protocol, mode):
    def deco(fn):
        CHECKS.append((client, protocol, mode, fn))
        return fn
    return deco


# -- curl ----------------------------------------------------------------------------------
def curl_auth(c):
    return ["--user", f"{c.user}:{PASSWORD}", "--cacert", c.srv.ca, "-sS", "--max-time", "60"]


@check("curl", "imap", "STARTTLS")
def curl_imap(c):
    sent = c.deliver("curl-imap")
    c.step = "LIST"
    out = c.run("curl", *curl_auth(c), "--ssl-reqd", f"imap://127.0.0.1:{c.srv.ports['imap']}/")
    c.expect(b"INBOX" in out and b"Sent" in out, f"folder list: {out!r}")
    c.step = "FETCH UID 1"
    got = c.run("curl", *curl_auth(c), "--ssl-reqd", f"imap://127.0.0.1:{c.srv.ports['imap']}/INBOX;UID=1")
    c.same_body(sent, got, "UID 1")
    c.step = "APPEND with -T"
    path = os.path.join(c.work, "up.eml")
    with open(path, "wb") as f:
        f.write(c.message("curl-append"))
    c.run("curl", *curl_auth(c), "--ssl-reqd", "-T", path, f"imap://127.0.0.1:{c.srv.ports['imap']}/Drafts")
    c.step = "-X custom command"
    out = c.run("curl", *curl_auth(c), "--ssl-reqd", "-X", "STATUS Drafts (MESSAGES)",
                f"imap://127.0.0.1:{c.srv.ports['imap']}/")
    c.expect(b"MESSAGES 1" in out, f"STATUS: {out!r}")


@check("curl", "imap", "implicit TLS")
def curl_imaps(c):
    sent = c.deliver("curl-imaps")
    got = c.run("curl", *curl_auth(c), f"imaps://localhost:{c.srv.ports['imaps']}/INBOX;UID=1")
    c.same_body(sent, got, "UID 1")


@check("curl", "pop3", "STLS")
def curl_pop3(c):
    sent = c.deliver("curl-pop3")
    c.step = "LIST"
    out = c.run("curl", *curl_auth(c), "--ssl-reqd", f"pop3://127.0.0.1:{c.srv.ports['pop3']}/")
    c.expect(out.startswith(b"1 "), f"LIST: {out!r}")
    c.step = "RETR 1"
    got = c.run("curl", *curl_auth(c), "--ssl-reqd", f"pop3://127.0.0.1:{c.srv.ports['pop3']}/1")
    c.same_body(sent, got, "RETR 1")


@check("curl", "pop3", "implicit TLS")
def curl_pop3s(c):
    sent = c.deliver("curl-pop3s")
    got = c.run("curl", *curl_auth(c), f"pop3s://localhost:{c.srv.ports['pop3s']}/1")
    c.same_body(sent, got, "RETR 1")


def curl_send(c, url, extra):
    raw = c.message("curl-smtp")
    path = os.path.join(c.work, "send.eml")
    with open(path, "wb") as f:
        f.write(raw)
    c.run("curl", *curl_auth(c), *extra, url, "--mail-from", c.user, "--mail-rcpt", c.user, "-T", path)
    c.step = "read back over IMAP"
    got = imap_fetch_token(c, "curl-smtp")
    c.same_body(raw, got, "submitted message")


@check("curl", "smtp", "STARTTLS")
def curl_smtp(c):
    curl_send(c, f"smtp://127.0.0.1:{c.srv.ports['submission']}", ["--ssl-reqd"])


@check("curl", "smtp", "implicit TLS")
def curl_smtps(c):
    curl_send(c, f"smtps://localhost:{c.srv.ports['submissions']}", [])


def imap_fetch_token(c, token, mailbox="INBOX"):
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as m:
        m.login(c.user, PASSWORD)
        m.select(mailbox, readonly=True)
        typ, data = m.uid("SEARCH", None, "SUBJECT", token)
        uids = data[0].split()
        c.expect(uids, f"{token} not found in {mailbox}")
        typ, data = m.uid("FETCH", uids[-1], "(BODY.PEEK[])")
        return data[0][1]


# -- Python standard library ---------------------------------------------------------------
def imaplib_session(c, m):
    c.step = "LOGIN"
    m.login(c.user, PASSWORD)
    c.step = "LIST"
    typ, boxes = m.list()
    names = b" ".join(boxes)
    for n in (b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive"):
        c.expect(n in names, f"LIST lacks {n!r}: {names!r}")
    c.step = "SELECT + FETCH"
    m.select("INBOX")
    typ, data = m.fetch("1", "(FLAGS BODY.PEEK[] ENVELOPE)")
    return data


@check("imaplib", "imap", "STARTTLS")
def py_imap(c):
    sent = c.deliver("py-imap")
    with imaplib.IMAP4("127.0.0.1", c.srv.ports["imap"]) as m:
        c.step = "STARTTLS"
        m.starttls(ssl_context=c.tls())
        data = imaplib_session(c, m)
        c.same_body(sent, data[0][1], "FETCH BODY[]")
        c.step = "STORE \\Seen then FLAGS"
        m.store("1", "+FLAGS", "\\Seen")
        typ, data = m.fetch("1", "(FLAGS)")
        c.expect(b"\\Seen" in data[0], f"flags: {data!r}")
        c.step = "CREATE/APPEND/COPY/EXPUNGE"
        m.create("Projects/2026")
        m.append("Projects/2026", "(\\Flagged)", None, c.message("py-append"))
        m.copy("1", "Archive")
        m.store("1", "+FLAGS", "\\Deleted")
        m.expunge()
        typ, data = m.status("Archive", "(MESSAGES)")
        c.expect(b"MESSAGES 1" in data[0], f"STATUS: {data!r}")
        m.logout()


@check("imaplib", "imap", "implicit TLS")
def py_imaps(c):
    sent = c.deliver("py-imaps")
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as m:
        data = imaplib_session(c, m)
        c.same_body(sent, data[0][1], "FETCH BODY[]")


@check("poplib", "pop3", "STLS")
def py_pop3(c):
    sent = c.deliver("py-pop3")
    p = poplib.POP3("127.0.0.1", c.srv.ports["pop3"], timeout=30)
    c.step = "STLS"
    p.stls(context=c.tls())
    p.user(c.user)
    p.pass_(PASSWORD)
    c.step = "STAT/UIDL/RETR"
    count, _ = p.stat()
    c.expect(count == 1, f"STAT {count}")
    uidl = p.uidl(1)
    c.expect(re.match(rb"\+OK 1 \d+\.1", uidl), f"UIDL {uidl!r}")
    resp, lines, _ = p.retr(1)
    c.same_body(sent, b"\r\n".join(lines) + b"\r\n", "RETR")
    c.step = "DELE + QUIT removes it for everyone"
    p.dele(1)
    p.quit()
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as m:
        m.login(c.user, PASSWORD)
        typ, data = m.select("INBOX")
        c.expect(data[0] == b"0", f"IMAP still sees {data!r}")


@check("poplib", "pop3", "implicit TLS")
def py_pop3s(c):
    sent = c.deliver("py-pop3s")
    p = poplib.POP3_SSL("localhost", c.srv.ports["pop3s"], context=c.tls(), timeout=30)
    p.user(c.user)
    p.pass_(PASSWORD)
    resp, lines, _ = p.retr(1)
    c.same_body(sent, b"\r\n".join(lines) + b"\r\n", "RETR")
    p.quit()


@check("smtplib", "smtp", "STARTTLS")
def py_smtp(c):
    raw = c.message("py-smtp")
    with smtplib.SMTP("127.0.0.1", c.srv.ports["submission"], timeout=30) as s:
        c.step = "MAIL without AUTH is refused"
        s.ehlo()
        code, _ = s.mail(c.user)
        c.expect(code == 530, f"unauthenticated MAIL got {code}")
        s.rset()
        c.step = "STARTTLS + AUTH + send"
        s.starttls(context=c.tls())
        s.login(c.user, PASSWORD)
        s.sendmail(c.user, [c.user], raw)
    got = imap_fetch_token(c, "py-smtp")
    c.same_body(raw, got, "submitted message")
    c.expect(b"Received:" in got, "Received header")


@check("smtplib", "smtp", "implicit TLS")
def py_smtps(c):
    raw = c.message("py-smtps")
    with smtplib.SMTP_SSL("localhost", c.srv.ports["submissions"], context=c.tls(), timeout=30) as s:
        s.login(c.user, PASSWORD)
        s.sendmail(c.user, [c.user], raw)
    c.same_body(raw, imap_fetch_token(c, "py-smtps"), "submitted message")


# -- swaks / msmtp / mutt / mailutils (sending) --------------------------------------------
@check("swaks", "smtp", "STARTTLS")
def swaks_tls(c):
    for auth in ("PLAIN", "LOGIN"):
        c.step = f"AUTH {auth} --pipeline"
        c.run("swaks", "--server", "127.0.0.1", "--port", str(c.srv.ports["submission"]),
              "--tls", "--tls-ca-path", c.srv.ca, "--auth", auth, "--auth-user", c.user,
              "--auth-password", PASSWORD, "--from", c.user, "--to", c.user, "--pipeline",
              "--header", f"Subject: swaks-{auth}", "--body", f"hello swaks {auth}")
        got = imap_fetch_token(c, f"swaks-{auth}")
        c.expect(f"hello swaks {auth}".encode() in got, "body")
    c.step = "10 MiB attachment"
    att = os.path.join(c.work, "big.bin")
    with open(att, "wb") as f:
        f.write(os.urandom(10 * 1024 * 1024))
    c.run("swaks", "--server", "127.0.0.1", "--port", str(c.srv.ports["submission"]),
          "--tls", "--tls-ca-path", c.srv.ca, "--auth", "PLAIN", "--auth-user", c.user,
          "--auth-password", PASSWORD, "--from", c.user, "--to", c.user,
          "--header", "Subject: swaks-big", "--attach", f"@{att}", "--silent", "2", timeout=300)
    got = imap_fetch_token(c, "swaks-big")
    c.expect(len(got) > 13 * 1024 * 1024, f"size {len(got)}")


@check("swaks", "smtp", "implicit TLS")
def swaks_smtps(c):
    c.run("swaks", "--server", "127.0.0.1", "--port", str(c.srv.ports["submissions"]),
          "--tlsc", "--tls-ca-path", c.srv.ca, "--auth", "PLAIN", "--auth-user", c.user,
          "--auth-password", PASSWORD, "--from", c.user, "--to", c.user,
          "--header", "Subject: swaks-smtps", "--body", "over 465")
    c.expect(b"over 465" in imap_fetch_token(c, "swaks-smtps"), "body")


def msmtp_send(c, port, tls_starttls):
    rc = os.path.join(c.work, "msmtprc")
    with open(rc, "w") as f:
        f.write(textwrap.dedent(f"""\
            defaults
            tls on
            tls_starttls {tls_starttls}
            tls_trust_file {c.srv.ca}
            account mailstack
            host localhost
            port {port}
            auth plain
            user {c.user}
            password {PASSWORD}
            from {c.user}
            account default : mailstack
            """))
    os.chmod(rc, 0o600)
    raw = c.message(f"msmtp-{tls_starttls}")
    c.run("msmtp", "-C", rc, c.user, stdin=raw)
    c.same_body(raw, imap_fetch_token(c, f"msmtp-{tls_starttls}"), "msmtp message")


@check("msmtp", "smtp", "STARTTLS")
def msmtp_starttls(c):
    msmtp_send(c, c.srv.ports["submission"], "on")


@check("msmtp", "smtp", "implicit TLS")
def msmtp_smtps(c):
    msmtp_send(c, c.srv.ports["submissions"], "off")


@check("mutt", "smtp", "STARTTLS")
def mutt_send(c):
    rc = os.path.join(c.work, "muttrc")
    with open(rc, "w") as f:
        f.write(textwrap.dedent(f"""\
            set from = "{c.user}"
            set smtp_url = "smtp://{c.user}@localhost:{c.srv.ports['submission']}/"
            set smtp_pass = "{PASSWORD}"
            set ssl_starttls = yes
            set ssl_force_tls = yes
            set certificate_file = "{c.srv.ca}"
            set ssl_ca_certificates_file = "{c.srv.ca}"
            set record = ""
            set charset = "utf-8"
            """))
    c.run("mutt", "-n", "-F", rc, "-s", "mutt-send", c.user, stdin=b"sent by mutt\n",
          env={"HOME": c.work})
    c.expect(b"sent by mutt" in imap_fetch_token(c, "mutt-send"), "mutt message")


@check("mutt", "imap", "implicit TLS")
def mutt_imap(c):
    c.deliver("mutt-read")
    rc = os.path.join(c.work, "muttrc")
    url = f"imaps://{c.user.replace('@', '%40')}@localhost:{c.srv.ports['imaps']}"
    with open(rc, "w") as f:
        # $folder on the server, so mutt does not stop to ask whether to create ~/Mail.
        f.write(textwrap.dedent(f"""\
            set folder = "{url}/"
            set imap_pass = "{PASSWORD}"
            set ssl_ca_certificates_file = "{c.srv.ca}"
            set certificate_file = "{c.srv.ca}"
            """))
    c.step = "open INBOX over IMAPS in a terminal (script(1))"
    screen = c.run("script", "-qec", f"mutt -n -F {rc} -f {url}/INBOX -e 'push <quit>'", "/dev/null",
                   env={"HOME": c.work, "TERM": "xterm"}, timeout=60)
    c.expect(b"mutt-read" in screen and b"Msgs:1" in screen, f"index screen: {screen[-300:]!r}")


@check("mailutils", "pop3", "STLS")
def mailutils_movemail(c):
    sent = c.deliver("movemail-pop")
    out = os.path.join(c.work, "moved.mbox")
    c.step = "movemail --preserve (leave a copy)"
    c.run("movemail", "--preserve",
          f"pop://{c.user.replace('@', '%40')}:{PASSWORD}@127.0.0.1:{c.srv.ports['pop3']}",
          out, env={"HOME": c.work})
    with open(out, "rb") as f:
        data = f.read()
    c.expect(b"Hello movemail-pop" in data, "moved message")
    c.step = "movemail over pops:// without --preserve removes it"
    c.run("movemail", f"pops://{c.user.replace('@', '%40')}:{PASSWORD}@localhost:{c.srv.ports['pop3s']}",
          out + "2", env={"HOME": c.work})
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as m:
        m.login(c.user, PASSWORD)
        typ, data = m.select("INBOX")
        c.expect(data[0] == b"0", f"removed? {data!r}")


# -- synchronisation clients -------------------------------------------------------------
def mbsync_tls_keyword():
    """isync 1.5 renamed SSLType to TLSType."""
    out = subprocess.run(["mbsync", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+)\.(\d+)", out)
    return "TLSType" if m and (int(m.group(1)), int(m.group(2))) >= (1, 5) else "SSLType"


@check("mbsync", "imap", "implicit TLS")
def mbsync_sync(c):
    sent = c.deliver("mbsync-pull")
    local = os.path.join(c.work, "Mail") + "/"
    os.makedirs(local)
    rc = os.path.join(c.work, "mbsyncrc")
    with open(rc, "w") as f:
        f.write(textwrap.dedent(f"""\
            IMAPAccount ms
            Host localhost
            Port {c.srv.ports['imaps']}
            User {c.user}
            Pass {PASSWORD}
            {mbsync_tls_keyword()} IMAPS
            CertificateFile {c.srv.ca}

            IMAPStore ms-remote
            Account ms

            MaildirStore ms-local
            Path {local}
            Inbox {local}INBOX
            SubFolders Verbatim

            Channel ms
            Far :ms-remote:
            Near :ms-local:
            Patterns *
            Create Both
            Expunge Both
            SyncState *
            """))
    c.step = "pull"
    c.run("mbsync", "-c", rc, "-a")
    c.same_body(sent, c.find_in_maildir(local + "INBOX", "mbsync-pull"), "pulled message")
    c.step = "push a new folder with a message"
    newbox = os.path.join(local, "Pushed")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(newbox, sub))
    pushed = c.message("mbsync-push")
    with open(os.path.join(newbox, "new", "1700000000.1.host"), "wb") as f:
        f.write(pushed)
    c.run("mbsync", "-c", rc, "-a")
    c.same_body(pushed, imap_fetch_token(c, "mbsync-push", "Pushed"), "pushed message")


@check("offlineimap", "imap", "implicit TLS")
def offlineimap_sync(c):
    sent = c.deliver("offlineimap-pull")
    local = os.path.join(c.work, "Mail")
    rc = os.path.join(c.work, "offlineimaprc")
    with open(rc, "w") as f:
        f.write(textwrap.dedent(f"""\
            [general]
            accounts = ms
            metadata = {c.work}/meta
            [Account ms]
            localrepository = local
            remoterepository = remote
            [Repository local]
            type = Maildir
            localfolders = {local}
            [Repository remote]
            type = IMAP
            remotehost = localhost
            remoteport = {c.srv.ports['imaps']}
            remoteuser = {c.user}
            remotepass = {PASSWORD}
            ssl = yes
            sslcacertfile = {c.srv.ca}
            """))
    c.run("offlineimap", "-c", rc, "-o", "-u", "basic", timeout=180)
    c.same_body(sent, c.find_in_maildir(os.path.join(local, "INBOX"), "offlineimap-pull"), "pulled")


def fetchmail_run(c, proto, port, tls_opts, token, keep):
    sent = c.deliver(token)
    rc = os.path.join(c.work, "fetchmailrc")
    out = os.path.join(c.work, f"{token}.mbox")
    with open(rc, "w") as f:
        f.write(f'poll localhost protocol {proto} port {port} user "{c.user}" password "{PASSWORD}" '
                f'{tls_opts} sslcertfile "{c.srv.ca}" sslcertck {"keep" if keep else ""} '
                f'mda "cat >> {out}"\n')
    os.chmod(rc, 0o600)
    c.run("fetchmail", "-f", rc, "--nosyslog", "-i", os.path.join(c.work, "fetchids"),
          "--pidfile", os.path.join(c.work, "fetchmail.pid"), env={"HOME": c.work})
    with open(out, "rb") as f:
        data = f.read()
    c.expect(b"Hello " + token.encode() in data, "fetched body")
    return sent


@check("fetchmail", "pop3", "STLS")
def fetchmail_pop3(c):
    fetchmail_run(c, "pop3", c.srv.ports["pop3"], "sslproto TLS1.2+", "fm-pop3-keep", keep=True)
    c.step = "keep: still on the server"
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as m:
        m.login(c.user, PASSWORD)
        typ, data = m.select("INBOX")
        c.expect(data[0] == b"1", f"kept? {data!r}")


@check("fetchmail", "pop3", "implicit TLS")
def fetchmail_pop3s(c):
    fetchmail_run(c, "pop3", c.srv.ports["pop3s"], "ssl", "fm-pop3s-del", keep=False)
    c.step = "default mode deletes on the server"
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as m:
        m.login(c.user, PASSWORD)
        typ, data = m.select("INBOX")
        c.expect(data[0] == b"0", f"deleted? {data!r}")


@check("fetchmail", "imap", "implicit TLS")
def fetchmail_imap(c):
    fetchmail_run(c, "imap", c.srv.ports["imaps"], "ssl", "fm-imap", keep=True)


def getmail_run(c, retriever, port, token, delete):
    c.deliver(token)
    mbox = os.path.join(c.work, "getmail.mbox")
    open(mbox, "w").close()
    rc = os.path.join(c.work, "getmailrc")
    with open(rc, "w") as f:
        f.write(textwrap.dedent(f"""\
            [retriever]
            type = {retriever}
            server = localhost
            port = {port}
            username = {c.user}
            password = {PASSWORD}
            ca_certs = {c.srv.ca}
            [destination]
            type = MDA_external
            path = /bin/sh
            arguments = ("-c", "cat >> {mbox}")
            allow_root_commands = true
            [options]
            read_all = true
            delete = {str(delete).lower()}
            """))
    c.run("getmail", "--getmaildir", c.work, "--rcfile", rc, env={"HOME": c.work})
    with open(mbox, "rb") as f:
        c.expect(b"Hello " + token.encode() in f.read(), "retrieved body")


@check("getmail6", "pop3", "implicit TLS")
def getmail_pop3(c):
    getmail_run(c, "SimplePOP3SSLRetriever", c.srv.ports["pop3s"], "gm-pop3", delete=True)
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as m:
        m.login(c.user, PASSWORD)
        typ, data = m.select("INBOX")
        c.expect(data[0] == b"0", f"delete = true removed it: {data!r}")


@check("getmail6", "imap", "implicit TLS")
def getmail_imap(c):
    getmail_run(c, "SimpleIMAPSSLRetriever", c.srv.ports["imaps"], "gm-imap", delete=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("MAILSTACK_BIN",
                                                   os.path.join(ROOT, "target", "debug", "mailstack")))
    ap.add_argument("--only", default=None, help="run checks whose client name matches")
    args = ap.parse_args()
    checks = [c for c in CHECKS if not args.only or re.search(args.only, c[0])]
    accounts = [f"{client}-{i}@example.test".replace("6", "six") for i, (client, *_rest) in enumerate(checks)]
    srv = Server(args.bin, accounts)
    results = []
    try:
        for (client, proto, mode, fn), account in zip(checks, accounts):
            work = tempfile.mkdtemp(prefix=f"{client}-", dir=srv.dir)
            c = Check(srv, client, account, work)
            if shutil.which(client.replace("imaplib", "python3").replace("poplib", "python3")
                            .replace("smtplib", "python3").replace("getmail6", "getmail")
                            .replace("mailutils", "movemail")) is None:
                results.append((client, proto, mode, False, "not installed (see .ci/run)"))
                continue
            try:
                fn(c)
                results.append((client, proto, mode, True, ""))
            except Exception as e:  # report and go on: the table shows every failure
                detail = f"{c.step}: {e}"
                if os.environ.get("MATRIX_VERBOSE"):
                    traceback.print_exc()
                results.append((client, proto, mode, False, detail))
    finally:
        srv.stop()
    trace = srv.trace()
    leaked = PASSWORD in trace
    width = max(len(r[0]) for r in results) if results else 10
    print(f"{'client':<{width}}  {'protocol':<8}  {'TLS mode':<12}  result")
    for client, proto, mode, ok, detail in results:
        print(f"{client:<{width}}  {proto:<8}  {mode:<12}  {'pass' if ok else 'FAIL  ' + detail}")
    print(f"protocol trace: {'PASSWORD LEAKED' if leaked else 'no password in ' + str(len(trace)) + ' bytes'}")
    failed = sum(1 for r in results if not r[3]) + (1 if leaked else 0)
    print(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        print(f"server folder kept for inspection: {srv.dir}", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(srv.dir, ignore_errors=True)


if __name__ == "__main__":
    main()

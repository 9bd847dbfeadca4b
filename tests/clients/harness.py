"""The client matrix's harness: a fresh `mailstack serve --ephemeral` through the test kit's
Python module (`Server`, ports from its JSON line), one account and work folder per check
(`Check`), and the `@check` registry the check modules fill."""
import os
import smtplib
import subprocess
import tempfile
import textwrap

import mailstack_test

PASSWORD = "client-matrix-secret"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Server:
    """`mailstack serve --ephemeral` (mailstack_test.Server) with the matrix's config: outbound
    mail rejected, cheap argon2, the protocol trace on (checked for passwords afterwards); one
    account per check, created through the admin API."""

    def __init__(self, binary, accounts):
        self.dir = tempfile.mkdtemp(prefix="mailstack-matrix-")
        config = os.path.join(self.dir, "mailstack.toml")
        with open(config, "w") as f:
            f.write(textwrap.dedent("""\
                hostname = "localhost"
                domains = ["example.test"]
                outbound = "reject"
                [auth]
                argon2_memory_kib = 64
                argon2_iterations = 1
                """))
        self.srv = mailstack_test.Server.start(
            binary, config=config, args=["--trace-protocol"],
            log_path=os.path.join(self.dir, "server.log"))
        self.ports = self.srv.ports
        self.ca = self.srv.ca
        for a in accounts:
            self.srv.add_account(a, PASSWORD)

    def stop(self):
        self.srv.stop()

    def trace(self):
        return self.srv.log()


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
        return mailstack_test.tls_context(self.srv.ca)

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



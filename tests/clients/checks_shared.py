"""Matrix check: mutt and Python's imaplib on one mailbox at the same time, as a person with
two mail programs (or Thunderbird's idling and acting connections) has it. mutt flags and
deletes; an imaplib session idling over IMAPS must be told each change, in order (MODSEQ per
message never goes back), with every keyword announced by FLAGS before a FETCH carries it; a
second imaplib session marks a message read and adds a keyword, and mutt shows the result."""
import imaplib
import os
import re
import textwrap
import threading

from harness import PASSWORD, check
from mailstack_test import eventually

FETCH = re.compile(rb"^\* (\d+) FETCH \((.*)\)$")


class Idler:
    """An imaplib session that idles on INBOX (CONDSTORE on) and records what it is told."""

    def __init__(self, c):
        self.m = imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls())
        self.m.sock.settimeout(60)
        self.m.login(c.user, PASSWORD)
        typ, data = self.m._simple_command("ENABLE", "CONDSTORE")
        assert typ == "OK", data
        typ, data = self.m.select("INBOX")
        assert typ == "OK", data
        # Keywords known from SELECT's FLAGS.
        self.announced = set()
        for line in self.m.untagged_responses.get("FLAGS", []):
            self.announced |= set(line.strip(b"()").split())
        self.lines = []
        self.errors = []
        self.lock = threading.Lock()
        self.tag = self.m._new_tag()
        self.m.send(self.tag + b" IDLE\r\n")
        first = self.m.readline()
        assert first.startswith(b"+"), first
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        modseq = {}
        while True:
            try:
                line = self.m.readline()
            except OSError as e:
                self.errors.append(f"read: {e}")
                return
            if not line:
                return
            line = line.rstrip(b"\r\n")
            with self.lock:
                self.lines.append(line)
            if line.startswith(self.tag + b" "):
                return
            if line.startswith(b"* FLAGS ("):
                self.announced |= set(line[len(b"* FLAGS ("):-1].split())
            m = FETCH.match(line)
            if not m:
                continue
            items = m.group(2)
            uid = re.search(rb"UID (\d+)", items)
            ms = re.search(rb"MODSEQ \((\d+)\)", items)
            fl = re.search(rb"FLAGS \(([^)]*)\)", items)
            if not (uid and ms):
                self.errors.append(f"unsolicited FETCH without UID/MODSEQ under CONDSTORE: {line!r}")
                continue
            u, s = int(uid.group(1)), int(ms.group(1))
            if s < modseq.get(u, 0):
                self.errors.append(f"MODSEQ of UID {u} went back from {modseq[u]} to {s}: {line!r}")
            modseq[u] = max(s, modseq.get(u, 0))
            for flag in (fl.group(1).split() if fl else []):
                if not flag.startswith(b"\\") and flag not in self.announced:
                    self.errors.append(f"keyword {flag!r} in a FETCH before any FLAGS: {line!r}")

    def flags(self):
        """The newest flags told per sequence number, and the sequence numbers expunged."""
        out, gone = {}, []
        with self.lock:
            lines = list(self.lines)
        for line in lines:
            m = FETCH.match(line)
            if m:
                fl = re.search(rb"FLAGS \(([^)]*)\)", m.group(2))
                if fl:
                    out[int(m.group(1))] = set(fl.group(1).split())
            e = re.match(rb"^\* (\d+) EXPUNGE$", line)
            if e:
                gone.append(int(e.group(1)))
        return out, gone

    def wait_for(self, what, cond, timeout=60):
        """Until the idler has seen `what` (or its connection ended)."""
        try:
            eventually(lambda: cond(*self.flags()) or not self.thread.is_alive(), timeout, what)
        except AssertionError:
            pass
        if not cond(*self.flags()):
            raise AssertionError(f"idler never saw {what}; it saw {self.lines[-10:]!r}")

    def done(self):
        self.m.send(b"DONE\r\n")
        self.thread.join(30)
        assert self.lines and self.lines[-1].startswith(self.tag + b" OK"), self.lines[-3:]
        return self.m


def mutt(c, keys):
    """Runs mutt on INBOX over IMAPS in a terminal, typing `keys` (push syntax), and returns
    the last screen."""
    rc = os.path.join(c.work, "muttrc")
    url = f"imaps://{c.user.replace('@', '%40')}@localhost:{c.srv.ports['imaps']}"
    with open(rc, "w") as f:
        f.write(textwrap.dedent(f"""\
            set folder = "{url}/"
            set imap_pass = "{PASSWORD}"
            set ssl_ca_certificates_file = "{c.srv.ca}"
            set certificate_file = "{c.srv.ca}"
            set delete = yes
            set quit = yes
            set wait_key = no
            """))
    return c.run("script", "-qec", f"mutt -n -F {rc} -f {url}/INBOX -e 'push \"{keys}\"'",
                 "/dev/null", env={"HOME": c.work, "TERM": "xterm"}, timeout=90)


@check("mutt", "imap", "two clients")
def mutt_and_imaplib_share_a_mailbox(c):
    for token in ("mx-one", "mx-two", "mx-three"):
        c.deliver(token)
    c.step = "imaplib idles on INBOX over IMAPS"
    idler = Idler(c)
    c.step = "mutt flags mx-two and deletes mx-three"
    mutt(c, "/mx-two<enter><flag-message>/mx-three<enter><delete-message><sync-mailbox><quit>")
    c.step = "the idler is told: \\Flagged on 2, then 3 expunged"
    idler.wait_for("\\Flagged on message 2 and message 3 expunged",
                   lambda f, gone: b"\\Flagged" in f.get(2, set()) and 3 in gone)
    c.step = "a second imaplib session marks mx-one read and adds keyword $Work"
    with imaplib.IMAP4_SSL("localhost", c.srv.ports["imaps"], ssl_context=c.tls()) as b:
        b.login(c.user, PASSWORD)
        b.select("INBOX")
        typ, _ = b.store("1", "+FLAGS", "(\\Seen $Work)")
        c.expect(typ == "OK", "STORE")
        idler.wait_for("\\Seen $Work on message 1",
                       lambda f, gone: {b"\\Seen", b"$Work"} <= f.get(1, set()))
        typ, data = b.fetch("1:*", "(UID FLAGS)")
        other = sorted(d.replace(b" \\Recent", b"") for d in data if isinstance(d, bytes))
    c.step = "the idler ends IDLE; its view equals the other session's"
    m = idler.done()
    c.expect(not idler.errors, "; ".join(idler.errors[:3]))
    typ, data = m.fetch("1:*", "(UID FLAGS)")
    # \Recent is per session (RFC 3501 §2.3.2); MODSEQ is there because CONDSTORE is on.
    mine = sorted(re.sub(rb" MODSEQ \(\d+\)", b"", d).replace(b" \\Recent", b"")
                  for d in data if isinstance(d, bytes))
    c.expect(mine == other, f"views differ: {mine!r} vs {other!r}")
    m.logout()
    c.step = "mutt shows two messages, mx-two flagged"
    screen = mutt(c, "<quit>")
    c.expect(b"Msgs:2" in screen, f"mutt status: {screen[-300:]!r}")
    c.expect(b"mx-three" not in screen, "mx-three still listed")
    flagged = [ln for ln in screen.split(b"\n") if b"mx-two" in ln]
    c.expect(flagged and b"!" in flagged[-1], f"mx-two not flagged in mutt: {flagged!r}")

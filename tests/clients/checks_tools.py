"""Matrix checks: the Debian mail tools (swaks, msmtp, mutt, mailutils, mbsync, offlineimap,
fetchmail, getmail6)."""
import imaplib
import os
import re
import subprocess
import textwrap

from harness import PASSWORD, check  # noqa: F401
from checks_basic import imap_fetch_token  # noqa: F401


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
    c.deliver("movemail-pop")
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

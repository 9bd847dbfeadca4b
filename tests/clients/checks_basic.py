"""Matrix checks: curl and the Python standard library clients (imaplib, poplib, smtplib)."""
import imaplib
import os
import poplib
import re
import smtplib

from harness import PASSWORD, check  # noqa: F401


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
    c.step = "FETCH BINARY (RFC 3516) with -X"
    url = f"imaps://localhost:{c.srv.ports['imaps']}/INBOX"
    body = c.body_of(sent)
    # curl prints the untagged lines of a custom command, a literal's header but not its data.
    out = c.run("curl", *curl_auth(c), "-X", "FETCH 1 BINARY.PEEK[1]", url)
    c.expect(b"BINARY[1] {%d}" % len(body) in out, f"BINARY answer: {out[:300]!r}")
    out = c.run("curl", *curl_auth(c), "-X", "FETCH 1 BINARY.SIZE[1]", url)
    c.expect(b"BINARY.SIZE[1] %d" % len(body) in out, f"BINARY.SIZE answer: {out[:300]!r}")


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
        c.step = "SORT, THREAD (RFC 5256) and SEARCH YOUNGER (RFC 5032)"
        c.deliver("py-imap-reply")
        m.noop()
        typ, data = m.sort("(ARRIVAL)", "UTF-8", "ALL")
        c.expect(typ == "OK" and data[0].split() == [b"1", b"2"], f"SORT: {typ} {data!r}")
        typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
        c.expect(typ == "OK" and data[0] in (b"(1)(2)", b"(2)(1)"), f"THREAD: {typ} {data!r}")
        typ, data = m.search(None, "YOUNGER", "3600")
        c.expect(typ == "OK" and data[0].split() == [b"1", b"2"], f"YOUNGER: {typ} {data!r}")
        c.step = "SEARCHRES (RFC 5182) and ESORT (RFC 5267), raw commands"
        typ, data = m._simple_command("SEARCH", "RETURN", "(SAVE)", "ALL")
        c.expect(typ == "OK", f"SEARCH RETURN (SAVE): {typ} {data!r}")
        typ, data = m.fetch("$", "(UID)")
        c.expect(typ == "OK" and len([d for d in data if d]) == 2, f"FETCH $: {typ} {data!r}")
        typ, data = m.sort("(REVERSE SUBJECT)", "UTF-8", "ALL")
        order = data[0].split()
        typ, data = m._simple_command(
            "SORT", "RETURN", "(MIN MAX COUNT)", "(REVERSE SUBJECT)", "UTF-8", "ALL"
        )
        typ, data = m._untagged_response(typ, data, "ESEARCH")
        want = b"MIN %s MAX %s COUNT 2" % (order[0], order[-1])
        c.expect(typ == "OK" and data[0].endswith(want), f"ESORT: {typ} {data!r} not {want!r}")
        c.step = "PREVIEW (RFC 8970) and THREAD=REFS, raw commands"
        typ, data = m.fetch("1", "(PREVIEW)")
        want = "Hello py-imap .leading dot line caf\u00e9 \u2713".encode()
        c.expect(typ == "OK" and isinstance(data[0], tuple) and data[0][1] == want,
                 f"PREVIEW: {typ} {data!r} not {want!r}")
        typ, data = m.thread("REFS", "UTF-8", "ALL")
        c.expect(typ == "OK" and data[0] in (b"(1)(2)", b"(2)(1)"), f"THREAD REFS: {typ} {data!r}")
        c.step = "CATENATE (RFC 4469) with URL-PARTIAL (RFC 5550), raw command"
        typ, data = m._simple_command(
            "APPEND", "Drafts", "CATENATE",
            '(URL "/INBOX/;UID=1/;SECTION=HEADER" URL "/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=0.5")')
        c.expect(typ == "OK", f"APPEND CATENATE: {typ} {data!r}")
        typ, data = m._simple_command("APPEND", "Drafts", "CATENATE", '(URL "/INBOX/;UID=99")')
        c.expect(typ == "NO" and b"[BADURL /INBOX/;UID=99]" in data[0], f"BADURL: {typ} {data!r}")
        m.select("Drafts")
        typ, data = m.fetch("1", "(BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        c.expect(data[0][1] == b"Hello" and b"py-imap" in data[1][1], f"catenated: {data!r}")
        m.select("INBOX")
        c.step = "CONTEXT=SEARCH (RFC 5267 §4), raw commands"
        typ, data = m._simple_command("SEARCH", "RETURN", "(UPDATE)", "SUBJECT", "py-ctx")
        c.expect(typ == "OK", f"SEARCH RETURN (UPDATE): {typ} {data!r}")
        m.append("INBOX", None, None, c.message("py-ctx"))
        typ, data = m.noop()
        typ, data = m._untagged_response(typ, data, "ESEARCH")
        c.expect(any(b"ADDTO (0 " in d for d in data if d), f"ESEARCH ADDTO: {data!r}")
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
        c.step = "EHLO lists DSN and BINARYMIME"
        c.expect(s.has_extn("dsn") and s.has_extn("binarymime"), f"EHLO: {s.esmtp_features}")
        c.step = "send asking for a success report (RFC 3461)"
        s.sendmail(c.user, [c.user], raw, mail_options=["RET=HDRS", "ENVID=py-smtps-1"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    c.same_body(raw, imap_fetch_token(c, "py-smtps"), "submitted message")
    c.step = "the delivery status report is in the sender's INBOX"
    report = imap_fetch_token(c, "Successful")
    for want in (b"report-type=delivery-status", b"Original-Envelope-Id: py-smtps-1",
                 b"Action: delivered", b"Status: 2.0.0"):
        c.expect(want in report, f"{want!r} missing from the report")

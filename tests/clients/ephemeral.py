#!/usr/bin/env python3
"""What a test harness in any language does with `mailstack serve --ephemeral`, here through the
test kit's Python module (mailstack_test.py): start it, read the one JSON line, create an account
over HTTP, send mail over SMTP submission (STARTTLS + AUTH, trusting the generated CA), await it
through the REST API, stop the server, and check that the temporary store is gone. Exits
non-zero with a reason on any failure."""
import os
import smtplib
import sys
import threading

from mailstack_test import Server

binary = sys.argv[1]
srv = Server.start(binary)  # no config file: the built-in defaults
try:
    for service in ("smtp", "submission", "submissions", "pop3", "pop3s", "imap", "imaps", "http"):
        assert srv.ports.get(service), f"no port for {service}: {srv.info}"
    srv.add_account("tester@example.test", "a long harness password")

    # Await in the background while the message is sent (the long poll looks first, so the
    # message is found whether it arrives before or after the poll starts waiting).
    result = {}

    def wait():
        result["r"] = srv.api("GET", "/api/accounts/tester@example.test/messages"
                                     "?wait=30s&subject=harness-check")

    t = threading.Thread(target=wait)
    t.start()
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
        s.starttls(context=srv.tls_context())
        s.login("tester@example.test", "a long harness password")
        s.sendmail("tester@example.test", ["tester@example.test"],
                   b"Subject: harness-check\r\nFrom: tester@example.test\r\n\r\nawaited\r\n")
    t.join(60)
    status, msgs = result["r"]
    assert status == 200 and len(msgs) == 1 and msgs[0]["subject"] == "harness-check", msgs
finally:
    code = srv.stop()
assert code == 0, f"exit {code}"
assert not os.path.exists(srv.data_dir), f"ephemeral store left behind: {srv.data_dir}"
print("ephemeral: ok")

#!/usr/bin/env python3
"""What a test harness in any language does with `mailstack serve --ephemeral`: start it, parse
the one JSON line, create an account over HTTP, send mail over SMTP submission (STARTTLS + AUTH,
trusting the generated CA), await it through the REST API, stop the server, and check that the
temporary store is gone. Exits non-zero with a reason on any failure."""
import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

binary = sys.argv[1]
cwd = tempfile.mkdtemp(prefix="ephemeral-cwd-")  # no config file here: built-in defaults
proc = subprocess.Popen([binary, "serve", "--ephemeral"], cwd=cwd, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, text=True)
try:
    info = json.loads(proc.stdout.readline())
    ports, token = info["ports"], info["admin_token"]
    for service in ("smtp", "submission", "submissions", "pop3", "pop3s", "imap", "imaps", "http"):
        assert ports.get(service), f"no port for {service}: {info}"
    api = f"http://127.0.0.1:{ports['http']}/api"

    def call(method, path, body=None):
        req = urllib.request.Request(api + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")

    status, _ = call("POST", "/accounts", {"address": "tester@example.test",
                                           "password": "a long harness password"})
    assert status in (200, 201), status

    # Await in the background while the message is sent.
    result = {}

    def wait():
        result["r"] = call("GET", "/accounts/tester@example.test/messages?wait=30s&subject=harness-check")

    import threading
    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    ctx = ssl.create_default_context(cafile=info["ca"])
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=30) as s:
        s.starttls(context=ctx)
        s.login("tester@example.test", "a long harness password")
        s.sendmail("tester@example.test", ["tester@example.test"],
                   b"Subject: harness-check\r\nFrom: tester@example.test\r\n\r\nawaited\r\n")
    t.join(60)
    status, msgs = result["r"]
    assert status == 200 and len(msgs) == 1 and msgs[0]["subject"] == "harness-check", msgs
finally:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
assert code == 0, f"exit {code}"
data_dir = info["data_dir"]
assert not os.path.exists(data_dir), f"ephemeral store left behind: {data_dir}"
print("ephemeral: ok")

"""The Python side of the test kit (crates/testkit): a mailstack server for a test.

`Server.start(binary)` runs `mailstack serve --ephemeral` (a temporary store deleted at exit,
every listener on a free loopback port) and reads the one JSON line it prints: ports, the
generated CA, the admin token, the data dir. Accounts are created through the admin API, TLS
clients trust the generated CA (`tls_context`), `stop()` sends SIGTERM. The server's stdin is a
pipe held here, so it also stops (and deletes its store) when this process dies. A server another
harness started (the Rust kit passes its JSON line along) is `Server.attach(line)`.
`eventually()` waits for a condition with a deadline instead of sleeping.

Never a fixed port; never the server's log to find out where it listens.
"""
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

START_TIMEOUT = 120


def eventually(probe, timeout=60, what="condition"):
    """Calls `probe()` until it returns something truthy, which is returned; raises
    AssertionError naming `what` and the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        seen = probe()
        if seen:
            return seen
        if time.monotonic() + pause > deadline:
            raise AssertionError(f"{what}: not within {timeout} s; last saw {seen!r}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def tls_context(ca):
    """An SSL context trusting only the CA certificate at `ca` (the server's generated CA)."""
    return ssl.create_default_context(cafile=ca)


class Server:
    """A running `mailstack serve --ephemeral` (or one attached by its JSON line)."""

    def __init__(self, info, proc=None, log_path=None):
        self.info = info
        self.proc = proc
        self.log_path = log_path
        self.ports = info["ports"]
        self.ca = info["ca"]
        self.admin_token = info["admin_token"]
        self.data_dir = info["data_dir"]
        self.pid = info["pid"]
        self.cwd = None  # the empty working directory `start` made, removed by `stop`

    @classmethod
    def start(cls, binary, config=None, args=(), log_path=None):
        """Starts `binary [--config CONFIG] serve --ephemeral ARGS`. Without a config file the
        binary's defaults apply (domain example.test, outbound mail captured); with one, its
        options apply but the store, certificates and listeners are still temporary. The log
        (stderr) goes to `log_path`, or is discarded."""
        cwd = tempfile.mkdtemp(prefix="mailstack-test-cwd-")  # no config/mailstack.toml here
        if os.sep in binary:  # a relative path names a file from our directory, not from `cwd`
            binary = os.path.abspath(binary)
        if config:
            config = os.path.abspath(config)
        cmd = [binary]
        if config:
            cmd += ["--config", config]
        cmd += ["serve", "--ephemeral", *args]
        log = open(log_path, "w") if log_path else subprocess.DEVNULL
        # stdin is a pipe this process holds: should the test die without stop(), the pipe
        # closes and the server stops and deletes its store (docs/spec.md §7.2).
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log, text=True)
        if log_path:
            log.close()
        line = _read_line(proc, START_TIMEOUT)
        if not line.startswith("{"):
            proc.kill()
            proc.wait()
            tail = _read(log_path)[-4000:] if log_path else ""
            raise RuntimeError(f"mailstack printed no JSON line (got {line!r}); log:\n{tail}")
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        server = cls(json.loads(line), proc, log_path)
        server.cwd = cwd
        return server

    @classmethod
    def attach(cls, line):
        """A server someone else started, from its JSON line (not stopped by `stop()`)."""
        return cls(json.loads(line))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def api(self, method, path, body=None, timeout=60):
        """One admin API call (`/api…` with the bearer token): (status, decoded JSON or None)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['http']}{path}", method=method, data=data,
            headers={"Authorization": f"Bearer {self.admin_token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def add_account(self, address, password, quota=None):
        body = {"address": address, "password": password}
        if quota:
            body["quota"] = quota
        status, answer = self.api("POST", "/api/accounts", body)
        if status not in (200, 201):
            raise RuntimeError(f"add {address}: HTTP {status} {answer}")

    def add_fault(self, **rule):
        """Adds a fault injection rule (docs/spec.md §7.7), e.g.
        `add_fault(protocol="smtp", stage="RCPT", action="reply", reply="452 4.2.2 Full")`;
        returns its id."""
        status, answer = self.api("POST", "/api/faults", rule)
        if status != 201:
            raise RuntimeError(f"fault rule {rule}: HTTP {status} {answer}")
        return answer["id"]

    def clear_faults(self):
        self.api("DELETE", "/api/faults")

    def tls_context(self):
        return tls_context(self.ca)

    def log(self):
        """What the server logged so far (when started with a `log_path`)."""
        return _read(self.log_path) if self.log_path else ""

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code (None when it had to be killed, or when the
        server was attached)."""
        try:
            if self.proc is None or self.proc.poll() is not None:
                return None if self.proc is None else self.proc.returncode
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        finally:
            if self.cwd:
                shutil.rmtree(self.cwd, ignore_errors=True)
                self.cwd = None


def _read_line(proc, timeout):
    """The first stdout line of `proc`, or "" after `timeout` seconds."""
    got = []
    t = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return got[0].strip() if got else ""


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


if __name__ == "__main__":
    # A smoke test: python3 mailstack_test.py PATH/TO/mailstack
    import sys

    with Server.start(sys.argv[1]) as srv:
        srv.add_account("check@example.test", "a long enough password")
        assert os.path.isdir(srv.data_dir), srv.info
        print("mailstack_test: ok", srv.ports)

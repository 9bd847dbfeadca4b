#!/usr/bin/env python3
"""Real-client matrix: starts a fresh `mailstack serve` (temporary store, generated certs,
ephemeral loopback ports) and drives every third-party client against it, plain and TLS where
the client supports both. Each check verifies content (byte-identical body, flags, folders), not
just exit codes. Prints a table client x protocol x TLS mode -> pass/fail with the failing step;
exits 1 if anything failed.

Usage: matrix.py [--bin PATH] [--only NAME]
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import traceback

# The checks register themselves with @check when imported (one module per family).
import checks_basic  # noqa: F401
import checks_shared  # noqa: F401
import checks_tools  # noqa: F401
from harness import CHECKS, PASSWORD, ROOT, Check, Server


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
                results.append((client, proto, mode, False, "not installed (run make deps)"))
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

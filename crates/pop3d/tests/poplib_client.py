"""Drives mailstack's POP3 server with Python's poplib (a real, independent client).

usage: poplib_client.py MODE PORT CAFILE USER PASSWORD DELETE
MODE: plain | stls | pop3s; DELETE: 1 to DELE message 1 before QUIT.
Prints one JSON object: capabilities, stat, uidl, messages (latin-1 text), quit reply.
"""
import json
import poplib
import ssl
import sys

mode, port, cafile, user, password, delete = sys.argv[1:7]
port = int(port)
ctx = ssl.create_default_context(cafile=cafile)
if mode == "pop3s":
    conn = poplib.POP3_SSL("localhost", port, context=ctx, timeout=30)
else:
    conn = poplib.POP3("127.0.0.1", port, timeout=30)
    if mode == "stls":
        conn.stls(context=ctx)
out = {"welcome": conn.getwelcome().decode()}
out["capa"] = sorted(conn.capa().keys())
conn.user(user)
conn.pass_(password)
count, size = conn.stat()
out["stat"] = [count, size]
out["uidl"] = [u.decode() for u in conn.uidl()[1]]
out["messages"] = []
for i in range(1, count + 1):
    _, lines, _ = conn.retr(i)
    out["messages"].append(b"\r\n".join(lines).decode("latin-1") + "\r\n")
if count:
    _, lines, _ = conn.top(1, 0)
    out["top_lines"] = len(lines)
if delete == "1" and count:
    out["dele"] = conn.dele(1).decode()
out["quit"] = conn.quit().decode()
print(json.dumps(out))

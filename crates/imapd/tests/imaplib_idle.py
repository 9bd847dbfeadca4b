"""IDLE, ENABLE QRESYNC and GETQUOTAROOT through Python's imaplib (raw IDLE via send/readline).
argv: port user password. Prints IDLING when the server confirmed IDLE, then waits for the
test to deliver by SMTP (-> EXISTS) and to DELE+QUIT over POP3 (-> VANISHED)."""
import imaplib, sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
M = imaplib.IMAP4("127.0.0.1", port)
M.sock.settimeout(30)
typ, data = M.login(user, password)
assert typ == "OK", data
for cap in ("IDLE", "QRESYNC", "QUOTA", "ESEARCH"):
    assert cap in M.capabilities, (cap, M.capabilities)
typ, data = M._simple_command("ENABLE", "QRESYNC")
assert typ == "OK", data
typ, data = M._untagged_response(typ, data, "ENABLED")
assert data == [b"QRESYNC"], data
typ, data = M.select("INBOX")
assert typ == "OK" and data == [b"1"], data
typ, data = M.getquotaroot("INBOX")
assert typ == "OK", data
roots, quotas = data
assert roots == [b'"INBOX" ""'], roots
assert quotas[0].startswith(b'"" (STORAGE 1 1024'), quotas

def line():
    l = M.readline()
    assert l, "connection closed"
    return l.rstrip(b"\r\n")

tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
assert line().startswith(b"+"), "IDLE continuation"
print("IDLING", flush=True)
l = line()
assert l == b"* 2 EXISTS", l
l = line()
assert l == b"* 2 RECENT", l
print("GOT-EXISTS", flush=True)
l = line()
assert l == b"* VANISHED 1", l
M.send(b"DONE\r\n")
l = line()
assert l.startswith(tag + b" OK"), l
typ, data = M.fetch("1", "(UID FLAGS)")
assert typ == "OK" and b"UID 2" in data[0], data
M.logout()
print("imaplib idle OK", flush=True)

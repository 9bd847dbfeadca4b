"""Drives the server with Python's imaplib. argv: mode(plain|starttls|ssl) port ca user password."""
import imaplib, ssl, sys

mode, port, ca, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
if mode == "ssl":
    M = imaplib.IMAP4_SSL("localhost", port, ssl_context=ctx)
else:
    M = imaplib.IMAP4("localhost", port)
    if mode == "starttls":
        M.starttls(ssl_context=ctx)
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
ok(M.login(user, password))
boxes = ok(M.list())
assert any(b'"INBOX"' in b for b in boxes), boxes
ok(M.create("Py/" + mode))
msg = b"From: py@example.test\r\nSubject: from python\r\n\r\nhello from imaplib\r\n"
typ, data = M.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(1700000000), msg)
assert typ == "OK" and b"APPENDUID" in data[0], data
n = int(ok(M.select("INBOX"))[0])
assert n >= 1, n
typ, data = M.search(None, "SUBJECT", '"from python"')
nums = data[0].split()
assert len(nums) == 1, data
typ, data = M.fetch(nums[0], "(RFC822 FLAGS)")
assert data[0][1] == msg, data
# RFC 8514: INTERNALDATE is the client's (Nov 2023), SAVEDATE is when it was appended.
typ, data = M.fetch(nums[0], "(INTERNALDATE SAVEDATE)")
assert typ == "OK" and b'INTERNALDATE "14-Nov-2023' in data[0] and b'SAVEDATE "' in data[0], data
typ, data = M.search(None, "SAVEDSINCE", "1-Jan-2025")
assert nums[0] in data[0].split(), data
typ, data = M.search(None, "SAVEDBEFORE", "1-Jan-2025", "SUBJECT", '"from python"')
assert data[0] == b"", data
typ, data = M.uid("FETCH", "1:*", "(UID ENVELOPE BODYSTRUCTURE)")
assert typ == "OK", data
ok(M.store(nums[0], "+FLAGS", "\\Deleted"))
ok(M.copy(nums[0], "Py/" + mode))
ok(M.expunge())
ok(M.select("Py/" + mode, readonly=True))
typ, data = M.search(None, "ALL")
assert data[0] == b"1", data
typ, data = M.search(None, "SAVEDATESUPPORTED")
assert data[0] == b"1", data
ok(M.close())
M.logout()
print("imaplib OK")

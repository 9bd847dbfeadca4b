"""Injected faults as Python's imaplib and poplib see them (docs/spec.md §7.7): a tagged NO for
one IMAP command, a BYE that ends the session, a POP3 -ERR, then the same commands succeed."""
import imaplib, poplib, smtplib
import pytest


def test_imap_and_pop3_faults(server):
    server.add_account("amy@example.test", "secret")
    smtplib.SMTP("127.0.0.1", server.ports["smtp"]).sendmail(
        "x@example.test", ["amy@example.test"], b"Subject: hi\r\n\r\nbody\r\n")
    server.add_fault(protocol="imap", stage="SELECT", action="reply",
                     reply="NO [UNAVAILABLE] try again", times=1)
    imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    imap.login("amy@example.test", "secret")
    status, data = imap.select("INBOX")
    assert status == "NO" and b"try again" in data[0]
    assert imap.select("INBOX") == ("OK", [b"1"])
    server.add_fault(protocol="imap", stage="FETCH", action="reply", reply="BYE going away")
    with pytest.raises(imaplib.IMAP4.abort):
        imap.fetch("1", "(FLAGS)")
    server.clear_faults()
    server.add_fault(listener="pop3", stage="RETR", action="reply",
                     reply="-ERR [SYS/TEMP] disk on fire", times=1)
    pop = poplib.POP3("127.0.0.1", server.ports["pop3"])
    pop.user("amy@example.test"), pop.pass_("secret")
    with pytest.raises(poplib.error_proto, match="disk on fire"):
        pop.retr(1)
    assert b"body" in pop.retr(1)[1]
    pop.quit()

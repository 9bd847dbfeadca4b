import imaplib, poplib, smtplib
import pytest

MSG = b"From: app@example.test\r\nTo: bob@example.test\r\nSubject: hello\r\n\r\nHi Bob\r\n"


def test_send_read_and_injected_faults(server):
    server.add_account("bob@example.test", "secret")
    smtp = smtplib.SMTP("127.0.0.1", server.ports["smtp"])
    smtp.sendmail("app@example.test", ["bob@example.test"], MSG)
    imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    imap.login("bob@example.test", "secret")
    imap.select("INBOX")
    assert imap.search(None, "SUBJECT", "hello")[1] == [b"1"]
    pop = poplib.POP3("127.0.0.1", server.ports["pop3"])
    pop.user("bob@example.test"), pop.pass_("secret")
    assert b"Hi Bob" in pop.retr(1)[1]
    pop.quit()
    # 452 at RCPT, once: the application sees a temporary refusal of that recipient.
    server.add_fault(protocol="smtp", stage="RCPT", action="reply", reply="452 4.2.2 Mailbox full", times=1)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail("app@example.test", ["bob@example.test"], MSG)
    assert refused.value.recipients["bob@example.test"][0] == 452
    # The connection dropped at the end of DATA: no answer, and nothing delivered.
    server.add_fault(protocol="smtp", stage="END-OF-DATA", action="drop", times=1)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtp.sendmail("app@example.test", ["bob@example.test"], MSG)
    imap.noop()
    assert imap.select("INBOX")[1] == [b"1"]
    imap.logout()

"""Backups read by a third-party reader (docs/spec.md §7.8): Python's `mailbox` module (stdlib)
reads the mbox file and the Maildir++ tree that `mailstack mailbox export` writes (here through
the running server's admin API, as an operator would run it), with the flags set over IMAP:
mboxMessage.get_flags() from Status/X-Status, MaildirMessage.get_flags() from the file names,
the INTERNALDATE as the file's mtime (MaildirMessage.get_date())."""
import imaplib
import mailbox
import os
import subprocess

BIN = os.environ.get("MAILSTACK_BIN", "target/debug/mailstack")
DORA = "dora@example.test"


def message(subject):
    return (f"From: bob@example.test\r\nTo: {DORA}\r\nSubject: {subject}\r\n\r\n"
            "From the start of a line\r\n>From quoted\r\nbye\r\n").encode()


def cli(server, tmp_path, *args):
    """A CLI verb against the running server (its store is in use: the verb goes through the
    admin API found in the data folder)."""
    config = tmp_path / "mailstack.toml"
    config.write_text(f'data_dir = "{server.data_dir}"\ndomains = ["example.test"]\n'
                      f'outbound = "reject"\n[http]\nadmin_token = "{server.admin_token}"\n')
    run = subprocess.run([os.path.abspath(BIN), "--config", str(config), *args],
                         capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    return run


def test_python_mailbox_reads_mbox_and_maildir_exports(server, tmp_path):
    server.add_account(DORA, "secret")
    imap = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    imap.login(DORA, "secret")
    dates = [1_500_000_000, 1_600_000_000, 1_700_000_000]
    for i, date in enumerate(dates):
        imap.append("INBOX", None, imaplib.Time2Internaldate(date), message(f"m{i + 1}"))
    imap.create("Archive/2024")
    imap.append("Archive/2024", r"(\Seen)", imaplib.Time2Internaldate(86_400), message("old"))
    imap.select("INBOX")  # claims \Recent: the messages are old (`O`) from now on
    imap.store("1", "+FLAGS", r"(\Seen \Flagged)")
    imap.store("2", "+FLAGS", r"(\Answered \Deleted $Work)")
    imap.store("3", "+FLAGS", r"(\Draft)")
    imap.logout()

    mbox_file = tmp_path / "inbox.mbox"
    cli(server, tmp_path, "mailbox", "export", DORA, "--mailbox", "INBOX", "--out", str(mbox_file))
    box = mailbox.mbox(str(mbox_file))
    msgs = list(box)
    assert [m["subject"] for m in msgs] == ["m1", "m2", "m3"]
    assert [sorted(m.get_flags()) for m in msgs] == [sorted("ROF"), sorted("OAD"), sorted("OT")]
    assert msgs[1]["X-Keywords"] == "$Work"
    assert msgs[0].get_from().startswith("MAILER-DAEMON Fri Jul 14 02:40:00 2017")
    # mboxrd: the body's From lines are quoted once more in the file.
    assert ">From the start of a line\n>>From quoted\n" in msgs[0].get_payload()

    tree = tmp_path / "maildir"
    cli(server, tmp_path, "mailbox", "export", DORA, "--format", "maildir", "--out", str(tree))
    md = mailbox.Maildir(str(tree), factory=None)
    assert "Archive.2024" in md.list_folders() and "Sent" in md.list_folders()
    inbox = sorted(md, key=lambda m: m["subject"])
    assert [m["subject"] for m in inbox] == ["m1", "m2", "m3"]
    # maildir(5) info: F flagged, R replied, S seen, T trashed, D draft; `a` = $Work
    # (dovecot-keywords).
    assert [m.get_flags() for m in inbox] == ["FS", "RTa", "D"]
    assert [int(m.get_date()) for m in inbox] == dates
    assert (tree / "dovecot-keywords").read_text() == "0 $Work\n"
    archived = list(md.get_folder("Archive.2024"))
    assert [(m["subject"], m.get_flags(), int(m.get_date())) for m in archived] == [("old", "S", 86_400)]
    assert archived[0].get_payload().startswith("From the start of a line\n>From quoted\n")

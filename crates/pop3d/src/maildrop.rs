//! The maildrop of a POP3 session: the account's INBOX as it was at login (RFC 1939 §8: message
//! numbers are fixed for the session), the DELE marks, and the lock that keeps a second POP3
//! session out (RFC 1939 §8, store's `lock_maildrop`).

use store::{Account, BlobId, MailboxId, MaildropLock, Pop3Policy, Uid, UidValidity};

use crate::reply::{CmdError, RespCode};

/// One message of the snapshot.
#[derive(Debug, Clone)]
pub struct Entry {
    pub uid: Uid,
    pub blob: BlobId,
    /// Octets as stored (RFC 1939 §5 LIST).
    pub size: u64,
    /// Marked by DELE; removed at QUIT (RFC 1939 §6).
    pub deleted: bool,
    /// Sent by RETR in this session (`pop3_policy = delete` removes these at QUIT).
    pub retrieved: bool,
}

/// An open, locked maildrop.
pub struct Maildrop {
    pub account: Account,
    pub mailbox: MailboxId,
    pub uidvalidity: UidValidity,
    /// Index = message number − 1, for the whole session.
    pub messages: Vec<Entry>,
    /// Released when the maildrop is dropped: QUIT, disconnect, timeout, panic.
    _lock: MaildropLock,
}

impl Maildrop {
    /// Locks the account's maildrop and takes the snapshot of its INBOX.
    pub fn open(store: &store::Store, account: Account) -> Result<Maildrop, CmdError> {
        let lock = match store.lock_maildrop(account.id) {
            Ok(l) => l,
            // RFC 2449 §8.1.2: [IN-USE] when the maildrop is already locked.
            Err(store::Error::MaildropInUse) => {
                return Err(CmdError::code(
                    RespCode::InUse,
                    "maildrop already locked: another POP3 session of this account is active",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let Some(inbox) = store.mailbox(account.id, "INBOX")? else {
            // RFC 3206 §4: a fault that retrying will not fix.
            return Err(CmdError::code(
                RespCode::SysPerm,
                "this account has no INBOX",
            ));
        };
        let messages = store
            .messages(inbox.id)?
            .into_iter()
            .map(|m| Entry {
                uid: m.uid,
                blob: m.blob,
                size: m.size,
                deleted: false,
                retrieved: false,
            })
            .collect();
        Ok(Maildrop {
            account,
            mailbox: inbox.id,
            uidvalidity: inbox.uidvalidity,
            messages,
            _lock: lock,
        })
    }

    /// A message by its number; deleted ones and numbers out of range are errors (RFC 1939 §5:
    /// "may NOT refer to a message marked as deleted").
    pub fn get(&self, n: u32) -> Result<&Entry, CmdError> {
        let e = self.entry(n)?;
        if e.deleted {
            return Err(CmdError::no(format!("message {n} already deleted")));
        }
        Ok(e)
    }

    pub fn get_mut(&mut self, n: u32) -> Result<&mut Entry, CmdError> {
        self.get(n)?;
        let i = n as usize - 1;
        Ok(&mut self.messages[i])
    }

    fn entry(&self, n: u32) -> Result<&Entry, CmdError> {
        match (n as usize)
            .checked_sub(1)
            .and_then(|i| self.messages.get(i))
        {
            Some(e) => Ok(e),
            None => Err(CmdError::no(format!("no such message: {n}"))),
        }
    }

    /// (count, octets) of the messages not marked deleted (RFC 1939 §5 STAT).
    pub fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, s), (_, e)| (n + 1, s + e.size))
    }

    /// (number, entry) of messages not marked deleted.
    pub fn live(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.deleted)
            .map(|(i, e)| (i + 1, e))
    }

    /// The unique-id listing (RFC 1939 §7): `<uidvalidity>.<uid>`, stable for the message's life.
    pub fn unique_id(&self, e: &Entry) -> String {
        format!("{}.{}", self.uidvalidity, e.uid)
    }

    /// UIDs to remove at QUIT: the DELE-marked ones, plus the retrieved ones under
    /// `pop3_policy = delete` (docs/spec.md §5).
    pub fn to_expunge(&self) -> Vec<Uid> {
        let policy_delete = self.account.pop3_policy == Pop3Policy::Delete;
        self.messages
            .iter()
            .filter(|e| e.deleted || (policy_delete && e.retrieved))
            .map(|e| e.uid)
            .collect()
    }
}

//! The session's end of the store's change feed: changes are pulled from the account's
//! channel into `pending`, then applied to the selected mailbox by [`crate::selected`] (the
//! one place that turns changes into untagged responses), at command boundaries and while
//! idling (RFC 3501 §7, RFC 2177).

use tokio::sync::broadcast::error::TryRecvError;

use crate::selected::Tell;
use crate::session::{Session, State};

impl Session {
    /// Moves every change published so far from the channel into `pending` (not applied:
    /// a handler may look at them first, see STORE).
    pub fn pull_changes(&mut self) {
        let Some(rx) = self.rx.as_mut() else { return };
        loop {
            match rx.try_recv() {
                // Changes lost between nodes of a shared store: as a lagged channel.
                Ok(store::Change::Resync) => self.lagged = true,
                Ok(c) => self.pending.push(c),
                Err(TryRecvError::Lagged(_)) => self.lagged = true,
                Err(_) => break,
            }
        }
    }

    /// Applies pending store changes to the selected mailbox and writes the untagged responses
    /// RFC 3501 §7 allows now. With `allow_expunge` false (FETCH/STORE/SEARCH) expunges wait.
    pub fn sync_events(&mut self, allow_expunge: bool) {
        self.pull_changes();
        let out = self.apply_pending(allow_expunge, false);
        if !out.is_empty() {
            self.conn.write(&out);
        }
    }

    /// Applies `pending` and returns the untagged responses (not written). `recheck` compares
    /// with the store's state as after lost changes (the IDLE re-check). When the selected
    /// mailbox was deleted by another session the output ends with `* BYE` and the session
    /// is marked closing.
    pub fn apply_pending(&mut self, allow_expunge: bool, recheck: bool) -> Vec<u8> {
        let changes = std::mem::take(&mut self.pending);
        let lagged = std::mem::take(&mut self.lagged) || recheck;
        let tell = Tell {
            condstore: self.condstore,
            qresync: self.qresync,
            allow_expunge,
        };
        let store = self.ctx.auth.store().clone();
        let State::Selected { account, sel } = &mut self.state else {
            return vec![];
        };
        let resync = if lagged {
            // Missed changes: the store's state is the truth, the mailbox record and its
            // messages as of one commit (`Store::snapshot`).
            match store.snapshot(account.id, sel.mailbox.id) {
                Ok(snapshot) => snapshot,
                Err(e) => {
                    tracing::warn!("resynchronising: {e}");
                    None
                }
            }
        } else {
            None
        };
        // RFC 5267 §4: the UIDs as the client knew them, for the searches kept up to date.
        let before = (!sel.contexts.is_empty()).then(|| sel.uids.clone());
        let applied = sel.apply(changes, resync, tell);
        if applied.closed {
            self.closing = true;
        }
        match before {
            Some(before) if !self.closing => {
                crate::cmd::context::around(self, &before, applied.out)
            }
            _ => applied.out,
        }
    }
}

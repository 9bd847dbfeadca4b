//! Command handlers, one file per family. Each returns the tagged OK text (with an optional
//! response code) or a [`CmdError`]; untagged data is written to the connection as it goes.
//!
//! Handlers turn sequence sets into UIDs and sequence numbers and back: lossy integer casts
//! are warnings here (and in `selected`, `search`), as in the store.
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_lossless
)]

pub mod auth;
pub mod catenate;
pub mod context;
pub mod fetch;
pub mod idle;
pub mod list;
pub mod mailbox;
pub mod message;
pub mod quota;
pub mod search;
pub mod sections;
pub mod select;

use crate::command::Kind;
use crate::session::{ok, CmdError, CmdResult, Session};

pub async fn dispatch(s: &mut Session, tag: &str, kind: Kind) -> CmdResult {
    match kind {
        Kind::Capability => {
            // RFC 3501 §6.1.1.
            let line = format!("* CAPABILITY {}\r\n", s.capabilities());
            s.conn.write(line.as_bytes());
            ok("CAPABILITY completed")
        }
        // RFC 3501 §6.1.2: NOOP's only job is the untagged updates sent before its OK.
        Kind::Noop => {
            // RFC 3501 §6.1.2: NOOP is the poll for updates; on a shared store, what other
            // nodes committed before it is told with it.
            s.store().catch_up().await;
            ok("NOOP completed")
        }
        Kind::Logout => {
            // RFC 3501 §6.1.3.
            s.conn.write(b"* BYE logging out\r\n");
            s.closing = true;
            s.state = crate::session::State::Logout;
            ok("LOGOUT completed")
        }
        // State transitions, not commands with a tagged reply: the session runs them.
        Kind::StartTls | Kind::Compress => Err(crate::session::CmdError::Bad(
            "handled by the session".into(),
        )),
        Kind::Login { user, pass } => auth::login(s, &user, pass).await,
        Kind::Authenticate { mechanism, initial } => {
            auth::authenticate(s, &mechanism, initial).await
        }
        Kind::Select {
            mailbox,
            read_only,
            params,
        } => select::select(s, &mailbox, read_only, &params).await,
        Kind::Create {
            mailbox,
            special_use,
        } => mailbox::create(s, &mailbox, &special_use).await,
        Kind::Delete(m) => mailbox::delete(s, &m).await,
        Kind::Rename(a, b) => mailbox::rename(s, &a, &b).await,
        Kind::Subscribe(m) => mailbox::subscribe(s, &m, true).await,
        Kind::Unsubscribe(m) => mailbox::subscribe(s, &m, false).await,
        Kind::List {
            reference,
            patterns,
            lsub,
            opts,
        } => list::list(s, &reference, &patterns, lsub, &opts),
        Kind::Status { mailbox, items } => list::status(s, &mailbox, &items),
        Kind::CancelUpdate(tags) => context::cancel(s, &tags),
        Kind::GetQuota(root) => quota::getquota(s, &root),
        Kind::GetQuotaRoot(m) => quota::getquotaroot(s, &m),
        Kind::SetQuota(root) => quota::setquota(s, &root),
        Kind::Namespace => {
            // RFC 2342 §5: one personal namespace, no prefix, "/" separator.
            s.conn.write(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
            ok("NAMESPACE completed")
        }
        Kind::Enable(caps) => idle::enable(s, &caps),
        Kind::Id => {
            // RFC 2971 §3.1.
            s.conn.write(b"* ID (\"name\" \"mailstack\" \"version\" \"");
            s.conn.write(env!("CARGO_PKG_VERSION").as_bytes());
            s.conn.write(b"\")\r\n");
            ok("ID completed")
        }
        Kind::Idle => idle::idle(s).await,
        Kind::Check => {
            s.store().catch_up().await;
            ok("CHECK completed")
        }
        Kind::Close => select::close(s, true).await,
        Kind::Unselect => select::close(s, false).await,
        Kind::Expunge { uids } => message::expunge(s, uids.as_ref()).await,
        Kind::Append { mailbox, messages } => message::append(s, &mailbox, &messages).await,
        Kind::Store {
            uid,
            set,
            op,
            silent,
            flags,
            unchanged_since,
        } => message::store(s, uid, &set, op, silent, &flags, unchanged_since).await,
        Kind::Copy {
            uid,
            set,
            mailbox,
            is_move,
        } => message::copy(s, uid, &set, &mailbox, is_move).await,
        Kind::Search { uid, key, ret } => search::search(s, tag, uid, &key, ret.as_ref()),
        Kind::Sort {
            uid,
            keys,
            key,
            ret,
        } => search::sort(s, tag, uid, &keys, &key, ret.as_ref()),
        Kind::Thread {
            uid,
            algorithm,
            key,
        } => search::thread(s, uid, algorithm, &key),
        Kind::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
        } => fetch::fetch(s, uid, &set, &items, changed_since, vanished).await,
        Kind::Refused {
            code,
            text,
            selected_only,
            clears_saved,
        } => {
            if selected_only && !matches!(s.state, crate::session::State::Selected { .. }) {
                // RFC 3501 §6.4: the command's state comes first.
                return Err(CmdError::Bad("no mailbox selected".into()));
            }
            if clears_saved {
                // RFC 5182 §2.1: a SEARCH with SAVE that fails leaves `$` empty.
                search::set_saved(s, Vec::new());
            }
            Err(CmdError::No(code, text))
        }
    }
}

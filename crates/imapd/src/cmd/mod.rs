//! Command handlers, one file per family. Each returns the tagged OK text (with an optional
//! response code) or a [`CmdError`]; untagged data is written to the connection as it goes.

pub mod auth;
pub mod fetch;
pub mod idle;
pub mod mailbox;
pub mod message;
pub mod search;

use crate::command::Kind;
use crate::session::{ok, CmdResult, Session};

pub async fn dispatch(s: &mut Session, tag: &str, kind: Kind) -> CmdResult {
    match kind {
        Kind::Capability => {
            // RFC 3501 §6.1.1.
            let line = format!("* CAPABILITY {}\r\n", s.capabilities());
            s.conn.write(line.as_bytes());
            ok("CAPABILITY completed")
        }
        // RFC 3501 §6.1.2: NOOP's only job is the untagged updates sent before its OK.
        Kind::Noop => ok("NOOP completed"),
        Kind::Logout => {
            // RFC 3501 §6.1.3.
            s.conn.write(b"* BYE logging out\r\n");
            s.closing = true;
            s.state = crate::session::State::Logout;
            ok("LOGOUT completed")
        }
        Kind::StartTls => auth::starttls(s, tag).await,
        Kind::Login { user, pass } => auth::login(s, &user, pass).await,
        Kind::Authenticate { mechanism, initial } => {
            auth::authenticate(s, &mechanism, initial).await
        }
        Kind::Select { mailbox, read_only } => mailbox::select(s, &mailbox, read_only).await,
        Kind::Create(m) => mailbox::create(s, &m).await,
        Kind::Delete(m) => mailbox::delete(s, &m).await,
        Kind::Rename(a, b) => mailbox::rename(s, &a, &b).await,
        Kind::Subscribe(m) => mailbox::subscribe(s, &m, true).await,
        Kind::Unsubscribe(m) => mailbox::subscribe(s, &m, false).await,
        Kind::List {
            reference,
            pattern,
            lsub,
        } => mailbox::list(s, &reference, &pattern, lsub),
        Kind::Status { mailbox, items } => mailbox::status(s, &mailbox, &items),
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
        Kind::Check => ok("CHECK completed"),
        Kind::Close => mailbox::close(s, true).await,
        Kind::Unselect => mailbox::close(s, false).await,
        Kind::Expunge { uids } => message::expunge(s, uids.as_ref()).await,
        Kind::Append {
            mailbox,
            flags,
            date,
            message,
        } => message::append(s, &mailbox, &flags, date, &message).await,
        Kind::Store {
            uid,
            set,
            op,
            silent,
            flags,
        } => message::store(s, uid, &set, op, silent, &flags).await,
        Kind::Copy {
            uid,
            set,
            mailbox,
            is_move,
        } => message::copy(s, uid, &set, &mailbox, is_move).await,
        Kind::Search { uid, key, esearch } => search::search(s, uid, &key, esearch),
        Kind::Fetch { uid, set, items } => fetch::fetch(s, uid, &set, &items).await,
    }
}

//! IMAP4rev1 server library (RFC 3501) for mailstack, on the shared `store`, `auth` and `net`
//! crates.
//!
//! # Parsing and encoding: what is imap-codec's and what is ours
//! Commands are parsed by imap-codec 2.0 (docs/architecture.md §13; alpha, pinned in Cargo.lock):
//! its grammar is complete for RFC 3501 and fuzzed upstream. `command_codec.rs` converts its
//! `Command` into our [`command::Command`], which the handlers consume; our own session loop
//! still drives the I/O (line and literal limits, `+` continuations, LITERAL+, STARTTLS), so
//! imap-codec only ever sees one whole command with its literals inline.
//!
//! | Grammar | From |
//! |---|---|
//! | RFC 3501 commands, FETCH items and sections, SEARCH keys, APPEND (with RFC 3516 `~{n}`), flags, sequence sets, strings/literals, tags | imap-codec |
//! | RFC 7162 SELECT/EXAMINE `(CONDSTORE)` / `(QRESYNC (...))`, FETCH `(CHANGEDSINCE n VANISHED)`, STORE `(UNCHANGEDSINCE n)`, SEARCH MODSEQ, FETCH MODSEQ, STATUS HIGHESTMODSEQ | imap-codec (`ext_condstore_qresync`) |
//! | RFC 2971 ID, RFC 2342 NAMESPACE, RFC 8438 STATUS SIZE, RFC 9208 GETQUOTA/GETQUOTAROOT/SETQUOTA, RFC 5161 ENABLE, RFC 2177 IDLE, RFC 6851 MOVE, RFC 4315 UID EXPUNGE, RFC 3691 UNSELECT, RFC 4959 SASL-IR, STARTTLS | imap-codec (`ext_id`, `ext_namespace`, `ext_status_size`, `starttls`) |
//! | RFC 5258 LIST-EXTENDED (selection options, several patterns, RETURN), RFC 5819 LIST `RETURN (STATUS (...))`, RFC 6154 LIST/CREATE `SPECIAL-USE` / `USE (...)` | ours (`command_ext.rs`): imap-codec 2.0.0-alpha.10 parses only `LIST ref pattern` and `CREATE mailbox` (its `ext_list_extended` types have no parser) |
//! | RFC 4731 SEARCH `RETURN (MIN MAX ALL COUNT)`, RFC 5182 `SAVE`, RFC 5267 SORT `RETURN` and `PARTIAL` | ours for the options, then the rest of the command goes back to imap-codec (it has no ESEARCH) |
//! | RFC 3502 MULTIAPPEND | ours (`command_append.rs`) cuts the messages apart; imap-codec parses each as a one-message APPEND |
//! | RFC 8970 FETCH `PREVIEW [(LAZY)]`, RFC 8514 FETCH `SAVEDATE` | ours (`command_preview.rs`) cuts the items out, imap-codec parses the rest of the FETCH |
//! | RFC 8514 SEARCH `SAVEDBEFORE` / `SAVEDON` / `SAVEDSINCE` / `SAVEDATESUPPORTED` | ours (`command_savedate.rs`): written as keys imap-codec knows (a stand-in HEADER, `ALL`), turned back after parsing |
//! | RFC 4469 APPEND `CATENATE (TEXT … URL …)` | ours (`command_append.rs`) for the parts; imap-codec reads each message's flags and date |
//! | RFC 5182 `$` as a sequence set | ours (`command_saved.rs`): a `$` is written as a number for imap-codec, then its set marked; the session puts the saved result there (`searchres.rs`) |
//! | XLIST (answered as LIST, as Dovecot does), STATUS with RFC 7889 APPENDLIMIT | ours (`command_ext.rs`) |
//!
//! imap-codec is always tried first; only when it fails do LIST, XLIST, CREATE, STATUS and
//! SEARCH RETURN go to our extension parser. Conversions we check after imap-codec: strings
//! must be UTF-8, VANISHED only with CHANGEDSINCE. A mailbox name that is not modified UTF-7
//! ([`mutf7`]; imap-codec hands us the raw mUTF-7 and spells any case of INBOX as INBOX) and
//! a SEARCH charset other than UTF-8/US-ASCII make valid commands that are answered NO
//! (RFC 3501 §5.1.3, §6.4.4; `command::Kind::Refused`); a LIST pattern that is not
//! modified UTF-7 matches nothing. An unknown THREAD algorithm is BAD (RFC 5256 §3).
//! imap-codec reports no error position, so a
//! syntax error's BAD reason names the token where the command stops being valid, found by
//! re-decoding prefixes (its parsers are streaming: every prefix of a valid command is
//! "incomplete"); LOGIN/AUTHENTICATE reasons never quote the input. A BAD for a
//! well-formed command that stops at an unknown keyword (command, search key, item,
//! option) costs half the strike of a syntax error toward the disconnect limit
//! (`command::ParseError::strikes`). Features `ext_utf8` and
//! `quirk_crlf_relaxed` keep accepting 8-bit UTF-8 in quoted strings and bare-LF line ends.
//! A plain `{n}` literal may not contain NUL (RFC 3501 §4.3; imap-codec enforces it),
//! `~{n}` may.
//!
//! Responses are written by us ([`response`], [`bodystructure`], the handlers), not by
//! imap-codec's encoder: `tests/tests/dovecot_diff.rs` holds our FETCH answers byte-identical
//! to Dovecot's, and that form comes from choices made while writing (subjects and display
//! names cleaned up and sent as literals, header-field names echoed in upper case, "7bit" in
//! lower case, an added `"charset" "us-ascii"`; see below). Going through imap-types'
//! ENVELOPE/BODYSTRUCTURE values would mean re-creating each choice in typed values whose
//! constructors validate (fallible for header bytes that are not 7-bit text) and proving the
//! bytes again, for no gain in safety; the simple status lines are plain `format!`.
//!
//! # Layout
//! - [`command`]: bytes of one command (literals inline) → [`command::Command`]; no I/O.
//!   `command_codec.rs` (imap-codec → our types), `command_ext.rs` (LIST-EXTENDED, XLIST,
//!   CREATE USE, STATUS APPENDLIMIT, SEARCH RETURN), `command_cursor.rs` (the byte cursor
//!   `command_ext.rs` reads with), `command_failure.rs` (BAD reasons; unknown command or
//!   garbage).
//! - `searchres`: RFC 5182 SEARCHRES, what SAVE keeps and `$` put back as messages.
//! - `preview`: RFC 8970 PREVIEW text (part choice, decoding, HTML to text, limits).
//! - [`search`]: SEARCH keys and their evaluation, MODSEQ included; RFC 2047 decoding of
//!   header fields for the header keys.
//! - [`session`]: state enum, read loop (lines, literals, `+` continuations), per-state
//!   command table, dispatch, [`Limits`] (autologout, IDLE re-check).
//! - [`selected`]: what a session knows of its selected mailbox (its UIDs in the order of
//!   [`selected::SeqNum`], the message sequence numbers) and the one rule for what it is
//!   told (cursor in the mailbox's change sequence, keywords announced, expunges pending):
//!   store changes → untagged EXISTS/RECENT, EXPUNGE or VANISHED, FETCH (FLAGS, MODSEQ),
//!   FLAGS, BYE when the selected mailbox is deleted.
//! - `events`: the session's end of the change feed (pull from the channel, apply at command
//!   boundaries and while idling).
//! - `cmd/*`: handlers per family: auth, select (SELECT/EXAMINE with CONDSTORE/QRESYNC,
//!   CLOSE, UNSELECT), mailbox (CREATE/DELETE/RENAME/SUBSCRIBE), list (LIST/LSUB/STATUS),
//!   message (APPEND/STORE/COPY/MOVE/EXPUNGE), fetch, search (SEARCH/ESEARCH), quota, idle
//!   (IDLE, ENABLE).
//! - [`response`]: strings/literals, flags, dates, sequence sets, response codes.
//! - [`bodystructure`]: ENVELOPE / BODY / BODYSTRUCTURE and address lists.
//! - [`mutf7`]: modified UTF-7 mailbox names.
//!
//! # Invariants
//! - A session's message sequence numbers change only when it sends EXISTS / EXPUNGE /
//!   VANISHED; other sessions' changes arrive as store events and are applied at command
//!   boundaries or while idling, and no EXPUNGE/VANISHED is sent during FETCH, STORE or
//!   SEARCH (RFC 3501 §7.4.1, RFC 7162 §3.2.10).
//! - The ordering rule ([`selected`]): untagged responses come from the mailbox's change
//!   sequence after the session's cursor, in order; per message, the MODSEQ and flags a
//!   session is told never go back; a keyword is announced by FLAGS before a FETCH carries it;
//!   a message expunged elsewhere stays readable with its real data until the session has
//!   been told (RFC 2180 §4.1.1).
//! - An idling session waits on its socket, its change channel and two timers: no polling.
//!   The autologout counts from the last client input; DONE resets it.
//! - Once QRESYNC is enabled, VANISHED replaces EXPUNGE; once a CONDSTORE enabling command
//!   ran, unsolicited FETCH responses carry UID and MODSEQ.
//! - No `+` continuation is sent for a literal over `max_literal`; a LITERAL+ over it closes.
//! - Plaintext LOGIN/AUTHENTICATE only on TLS or (if allowed) loopback; else LOGINDISABLED.
//! - Commands pipelined after STARTTLS are discarded (`net::Connection::start_tls`).
//! - Tagged OK for a write is sent only after the store made it durable; quota is checked in
//!   the store, the one place SMTP and IMAP share (`[OVERQUOTA]` / 552 5.2.2).
//!
//! # RFCs
//! | RFC | What | Status |
//! |---|---|---|
//! | 3501 | IMAP4rev1 | Partial: all commands and FETCH/SEARCH items; SEARCH decodes RFC 2047 words in header keys (FROM, TO, CC, BCC, SUBJECT, HEADER, and TEXT's header) but matches bodies undecoded (no MIME transfer decoding) |
//! | 2177 | IDLE | Yes: pushed from store events (SMTP, POP3, other sessions, `mailstack deliver`) |
//! | 4315 | UIDPLUS | Yes |
//! | 6851 | MOVE | Yes |
//! | 6154 | SPECIAL-USE, CREATE-SPECIAL-USE | Yes (one attribute per mailbox) |
//! | 2342 | NAMESPACE | Yes |
//! | 3691 | UNSELECT | Yes |
//! | 7888 | LITERAL+ | Yes |
//! | 5161 | ENABLE | Yes (CONDSTORE, QRESYNC) |
//! | 2971 | ID | Yes |
//! | 3348 | CHILDREN | Yes |
//! | 4959 | SASL-IR | Yes |
//! | 7889 | APPENDLIMIT | Yes |
//! | 4731 | ESEARCH | Yes: RETURN (MIN MAX ALL COUNT) |
//! | 3502 | MULTIAPPEND | Yes: all or none, in one store transaction (`Store::append_many`): other sessions see every message or none |
//! | 5182 | SEARCHRES | Yes (`searchres.rs`): SAVE for SEARCH and SORT, `$` in every set |
//! | 5267 | ESORT, PARTIAL, CONTEXT=SEARCH | Partial: SORT RETURN, PARTIAL for SEARCH and SORT (positive ranges); CONTEXT=SEARCH (`cmd/context.rs`: kept searches re-run when changes are applied); CONTEXT=SORT No |
//! | 8970 | PREVIEW | Yes (`preview.rs`): Dovecot's choice of part and text rules; LAZY answered with the text |
//! | 5255 | I18NLEVEL=1 | Yes: i;unicode-casemap (RFC 5051) in SEARCH and SORT (`sort::fold`); levels 2 and 3 No |
//! | 4469, 5550 | CATENATE, URL-PARTIAL | Yes (`cmd/catenate.rs`): URLs of the user's own mailboxes (relative, absolute path, `imap://` of this user); others NO [BADURL] |
//! | — | THREAD=REFS (Dovecot) | Yes (`thread.rs`): REFERENCES without subject gathering, threads by latest message |
//! | 7162 | CONDSTORE, QRESYNC | Yes: per-message MODSEQ, every expunge remembered with its MODSEQ (seq-match data parsed, not needed); no per-annotation MODSEQ |
//! | 9208 | QUOTA | Yes: one root `""`, STORAGE and MESSAGE; SETQUOTA refused (no QUOTASET) |
//! | 5258 | LIST-EXTENDED | Yes: SUBSCRIBED (subscribed names that are no mailbox as \NonExistent), RECURSIVEMATCH with CHILDINFO, SPECIAL-USE selection; SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS return; REMOTE ignored |
//! | 5819 | LIST-STATUS | Yes |
//! | 8438 | STATUS=SIZE | Yes |
//! | 4978 | COMPRESS=DEFLATE | Yes: after login, plain and TLS (`net::compress`); the trace shows commands inflated |
//! | 5256 | SORT, THREAD=ORDEREDSUBJECT, THREAD=REFERENCES | Yes (`sort.rs`, `thread.rs`): base subject per §2.1, sent date per §2.2; strings compared under i;unicode-casemap (RFC 5051, `sort::fold`) |
//! | 5957 | SORT=DISPLAY | Yes |
//! | 5032 | WITHIN | Yes: OLDER / YOUNGER against INTERNALDATE |
//! | 8514 | SAVEDATE | Yes: FETCH SAVEDATE (UTC), SAVEDBEFORE / SAVEDON / SAVEDSINCE, SAVEDATESUPPORTED (every mailbox); set by delivery, APPEND, COPY and MOVE (`MessageMeta::saved`); messages stored before it read their INTERNALDATE |
//! | 3516 | BINARY | Yes: a leaf part's base64 / quoted-printable undone (literal8 answer), BINARY.SIZE, APPEND literal8; BINARY[] and multipart parts as stored (Dovecot decodes the leaves inside them); UNKNOWN-CTE, and PARSE for corrupt base64 |
//!
//! # ENVELOPE, BODYSTRUCTURE and sections compared with Dovecot
//! `tests/tests/dovecot_diff.rs` appends every message of `tests/corpus/` to Debian's
//! Dovecot 2.3 and to mailstack and requires byte-identical FETCH answers (ENVELOPE,
//! BODYSTRUCTURE, BODY, RFC822.SIZE, RFC822.HEADER, HEADER, HEADER.FIELDS[.NOT], TEXT,
//! partial TEXT, and per part `n`, `n.MIME`, `n.HEADER`, `n.TEXT`, `n.HEADER.FIELDS`).
//! Dovecot's choices we follow where RFC 3501 leaves room: header-field names echoed in upper
//! case, "7bit" in lower case, `"charset" "us-ascii"` added to text parts, subjects and display
//! names cleaned up (white space runs collapsed, then sent as a literal), RFC 2231 parameters
//! merged but left encoded (`"name*" "UTF-8''%C3%BC..."`), a multipart without parts shown
//! with one empty text/plain part, and a blank line added to a top-level HEADER.FIELDS whose
//! header has none. The deliberate differences:
//!
//! | Message | Items | Dovecot | mailstack | Why |
//! |---|---|---|---|---|
//! | `19-lf-only.eml` (bare LF line ends) | sizes, BODY/BODYSTRUCTURE, HEADER, TEXT, sections | turns every bare LF into CRLF, sizes count the added CRs | serves the octets the client APPENDed, sizes count them | RFC 3501 §6.3.11 lets the server store the literal as given; answers stay consistent with each other (SMTP refuses bare LF, so only APPEND can store one) |
//!
//! Header values that are not UTF-8 are sent byte for byte in ENVELOPE; in BODYSTRUCTURE
//! parameters and Content-* values such bytes become U+FFFD (not in the corpus).
#![forbid(unsafe_code)]

pub mod bodystructure;
mod cmd;
pub mod command;
mod events;
pub mod mutf7;
mod preview;
pub mod response;
pub mod search;
mod searchres;
pub mod selected;
pub mod session;
pub mod sort;
pub mod sort_cache;
pub mod thread;

/// Everything a session needs; cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub auth: auth::Auth,
    /// What every daemon's listener shares: certificate (STARTTLS, and imaps on 993 when
    /// `implicit_tls`), hostname, limits, trace (secrets redacted by [`redact`]), the
    /// plaintext rule and the dashboard registry.
    pub service: net::ServiceConfig,
    /// APPENDLIMIT and largest literal, default 50 MiB.
    pub max_literal: u64,
    /// Sort and thread fields of the selected mailboxes, shared by their sessions.
    pub sort_cache: sort_cache::SortCache,
}

impl Ctx {
    /// A context with the defaults: no TLS, 50 MiB APPENDLIMIT, loopback plaintext on.
    pub fn new(auth: auth::Auth, hostname: impl Into<String>) -> Ctx {
        Ctx {
            auth,
            service: net::ServiceConfig::new(hostname),
            max_literal: DEFAULT_MAX_LITERAL,
            sort_cache: sort_cache::SortCache::default(),
        }
    }
}

/// Default APPENDLIMIT (docs/spec.md §8).
pub const DEFAULT_MAX_LITERAL: u64 = 50 * 1024 * 1024;

/// Trace redactor: LOGIN passwords and AUTHENTICATE initial responses → `<redacted>`.
pub fn redact(line: &[u8]) -> Option<String> {
    cmd::auth::redact(line)
}

pub use session::Limits;

/// Serves IMAP on `listener` until `shutdown`; sessions then get `* BYE server shutting down`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    serve_with_limits(listener, ctx, Limits::default(), shutdown).await
}

/// [`serve`] with explicit session timeouts (tests shorten the autologout).
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    limits: Limits,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    let protocol = net::Protocol {
        plain: "imap",
        implicit: "imaps",
        busy_reply: b"* BYE too many connections; try again later\r\n",
        redactor: redact,
    };
    let service = ctx.service.clone();
    net::serve_service(listener, &service, protocol, shutdown, move |session| {
        let ctx = ctx.clone();
        let id = session.id;
        // Store changes made by this session carry its id (dashboard event feed).
        store::with_origin(id, async move {
            session::Session::new(session.conn, ctx, id, session.shutdown, limits)
                .run()
                .await;
        })
    })
    .await
}

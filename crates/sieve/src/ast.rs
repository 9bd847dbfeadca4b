//! The validated script: commands and tests with typed arguments, as the parser builds them
//! and the interpreter runs them. Every argument was checked at parse time (RFC 5228 §2.6:
//! counts, types, tags, conflicts), so the interpreter never sees a malformed command.

/// The extensions a script can `require` (RFC 5228 §3.2, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ext {
    Fileinto,
    Envelope,
    Copy,
    Imap4flags,
    Vacation,
    VacationSeconds,
    Date,
    Relational,
    Body,
    Variables,
    Mailbox,
    AsciiNumeric,
    EncodedCharacter,
}

impl Ext {
    /// Capability names, in the order of `crate::EXTENSIONS`.
    pub const ALL: [Ext; 13] = [
        Ext::Fileinto,
        Ext::Envelope,
        Ext::Copy,
        Ext::Imap4flags,
        Ext::Vacation,
        Ext::VacationSeconds,
        Ext::Date,
        Ext::Relational,
        Ext::Body,
        Ext::Variables,
        Ext::Mailbox,
        Ext::AsciiNumeric,
        Ext::EncodedCharacter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Ext::Fileinto => "fileinto",
            Ext::Envelope => "envelope",
            Ext::Copy => "copy",
            Ext::Imap4flags => "imap4flags",
            Ext::Vacation => "vacation",
            Ext::VacationSeconds => "vacation-seconds",
            Ext::Date => "date",
            Ext::Relational => "relational",
            Ext::Body => "body",
            Ext::Variables => "variables",
            Ext::Mailbox => "mailbox",
            Ext::AsciiNumeric => "comparator-i;ascii-numeric",
            Ext::EncodedCharacter => "encoded-character",
        }
    }

    /// The extension a `require` string names (capability strings are case-sensitive, RFC
    /// 5228 §2.10.5; we accept any case as Dovecot and Cyrus do).
    pub fn from_name(name: &str) -> Option<Ext> {
        Ext::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(name))
    }
}

/// The set of required extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Caps(u32);

impl Caps {
    pub fn add(&mut self, e: Ext) {
        self.0 |= 1 << e as u32;
        // RFC 6131 §2: "vacation-seconds" extends vacation; requiring it makes vacation
        // usable too (Dovecot behaves the same).
        if e == Ext::VacationSeconds {
            self.0 |= 1 << Ext::Vacation as u32;
        }
    }

    pub fn has(self, e: Ext) -> bool {
        self.0 & (1 << e as u32) != 0
    }
}

/// A string argument: literal text and, with "variables", references expanded at run time
/// (RFC 5229 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str(pub Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Lit(String),
    /// `${name}`, name lower-cased (variable names are case-insensitive, RFC 5229 §3).
    Var(String),
    /// `${N}`, a match variable (RFC 5229 §3.2).
    Match(usize),
}

impl Str {
    /// The text when it has no variable references.
    pub fn constant(&self) -> Option<&str> {
        match self.0.as_slice() {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// RFC 5228 §3.1: `if` / `elsif` branches, then `else`.
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Vec<Command>,
    },
    Stop,
    /// `flags`: RFC 5232 §5 `:flags`; `None` uses the internal variable.
    Keep {
        flags: Option<Vec<Str>>,
    },
    Discard,
    FileInto {
        mailbox: Str,
        copy: bool,
        create: bool,
        flags: Option<Vec<Str>>,
    },
    Redirect {
        address: Str,
        copy: bool,
    },
    Vacation(Box<VacationArgs>),
    /// RFC 5229 §4.
    Set {
        name: String,
        mods: Modifiers,
        value: Str,
    },
    /// RFC 5232 §3: setflag / addflag / removeflag, on a named variable or the internal one.
    Flags {
        op: FlagOp,
        var: Option<String>,
        flags: Vec<Str>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagOp {
    Set,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VacationArgs {
    pub period: Period,
    pub subject: Option<Str>,
    pub from: Option<Str>,
    pub addresses: Vec<Str>,
    pub mime: bool,
    pub handle: Option<Str>,
    pub reason: Str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Days(u64),
    Seconds(u64),
}

/// RFC 5229 §4.1 modifiers, applied in precedence order (case, first letter, quoting, length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Modifiers {
    /// Some(true) = :upper, Some(false) = :lower.
    pub upper: Option<bool>,
    /// Some(true) = :upperfirst, Some(false) = :lowerfirst.
    pub upper_first: Option<bool>,
    pub quote_wildcard: bool,
    pub length: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Address {
        m: Match,
        part: AddrPart,
        headers: Vec<Str>,
        keys: Vec<Str>,
    },
    Envelope {
        m: Match,
        part: AddrPart,
        fields: Vec<Str>,
        keys: Vec<Str>,
    },
    Header {
        m: Match,
        headers: Vec<Str>,
        keys: Vec<Str>,
    },
    Exists(Vec<Str>),
    Size {
        over: bool,
        limit: u64,
    },
    Body {
        m: Match,
        transform: BodyTransform,
        keys: Vec<Str>,
    },
    Date {
        m: Match,
        zone: Zone,
        header: Str,
        part: Str,
        keys: Vec<Str>,
    },
    CurrentDate {
        m: Match,
        zone: Zone,
        part: Str,
        keys: Vec<Str>,
    },
    String {
        m: Match,
        sources: Vec<Str>,
        keys: Vec<Str>,
    },
    HasFlag {
        m: Match,
        vars: Vec<String>,
        keys: Vec<Str>,
    },
    MailboxExists(Vec<Str>),
}

/// A match type with its comparator (RFC 5228 §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    pub kind: MatchKind,
    pub cmp: Comparator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchKind {
    Is,
    Contains,
    Matches,
    /// RFC 5231 §4.
    Value(Rel),
    /// RFC 5231 §5.
    Count(Rel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddrPart {
    All,
    Localpart,
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyTransform {
    Raw,
    Content(Vec<Str>),
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Zone {
    /// Neither `:zone` nor `:originalzone`: the local zone (`Context::zone_minutes`).
    Local,
    Fixed(Str),
    Original,
}

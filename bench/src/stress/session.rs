//! One IMAP session of the stress run: connect, LOGIN, ENABLE (CONDSTORE or QRESYNC for most
//! sessions), SELECT, then operations from the mix ([`super::ops`]) until the deadline, taking
//! part in every checkpoint. Every response goes through the session's [`View`]; violations
//! are recorded with the exchange in flight. A broken connection is an error of its own and the
//! session starts again on a new one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::checkpoint::{Phase, Report};
use super::errors::{FirstError, Kind, Violation};
use super::model::{Pending, View};
use super::response::{Code, Resp, Status};
use super::runner::Env;
use super::wire::Wire;
use crate::imap::Rng;

/// Which extensions a session enables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// IMAP4rev1 only: EXPUNGE, FETCH FLAGS without MODSEQ.
    Plain,
    /// `ENABLE CONDSTORE` (RFC 7162 §3.1): MODSEQ in every FETCH with FLAGS.
    Condstore,
    /// `ENABLE QRESYNC` (RFC 7162 §3.2): VANISHED instead of EXPUNGE.
    Qresync,
}

impl Flavor {
    /// A quarter plain, half CONDSTORE, a quarter QRESYNC.
    pub fn of(id: usize) -> Flavor {
        match id % 4 {
            0 => Flavor::Plain,
            3 => Flavor::Qresync,
            _ => Flavor::Condstore,
        }
    }
}

/// The tagged answer of a command and what its responses left in [`Pending`].
pub struct Done {
    pub status: Status,
    pub code: Option<Code>,
    pub text: String,
    pub p: Pending,
    /// The view was lost during the command: checks against it are skipped.
    pub lost: bool,
}

impl Done {
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// Answered OK and the view is still trustworthy.
    pub fn checkable(&self) -> bool {
        self.ok() && !self.lost
    }
}

pub struct Session {
    pub id: usize,
    pub name: String,
    pub flavor: Flavor,
    pub env: Arc<Env>,
    /// Whether this session's commands count towards the throughput (not for setup and
    /// checkpoint connections).
    pub counting: bool,
    pub rng: Rng,
    pub wire: Option<Wire>,
    pub view: Option<View>,
    /// The mailbox this session selects.
    pub mailbox: String,
    /// Messages appended so far (each gets a unique number).
    pub appended: u64,
    last_checkpoint: u64,
}

impl Session {
    pub fn new(env: Arc<Env>, id: usize) -> Session {
        let mailbox = env.cfg.mailboxes[id % env.cfg.mailboxes.len()].clone();
        Session {
            id,
            name: format!("s{id}"),
            flavor: Flavor::of(id),
            env: env.clone(),
            counting: true,
            rng: Rng::new(env.cfg.seed.wrapping_mul(7919).wrapping_add(id as u64 + 1)),
            wire: None,
            view: None,
            mailbox,
            appended: 0,
            last_checkpoint: 0,
        }
    }

    /// Records violations with the exchange in flight.
    pub fn report(&self, v: Vec<Violation>) {
        if v.is_empty() {
            return;
        }
        for x in v {
            self.env.errors.record_with(x.kind, || FirstError {
                at_s: self.env.start.elapsed().as_secs_f64(),
                session: format!("{} ({:?}, {})", self.name, self.flavor, self.mailbox),
                detail: x.detail,
                exchange: self
                    .wire
                    .as_ref()
                    .map(|w| w.exchange.lines())
                    .unwrap_or_default(),
            });
        }
    }

    /// Counts one answered command of the mix.
    pub fn count(&self, label: &'static str) {
        if self.counting {
            self.env.counters.op(label);
        }
    }

    pub fn fail(&self, kind: Kind, detail: String) {
        self.report(vec![super::errors::violation(kind, detail)]);
    }

    /// Sends a command (with an optional literal after the continuation request), applies every
    /// response to the view, and returns the tagged answer.
    pub async fn exec(
        &mut self,
        text: &str,
        literal: Option<&[u8]>,
        mut p: Pending,
    ) -> anyhow::Result<Done> {
        let Some(w) = self.wire.as_mut() else {
            bail!("not connected");
        };
        // `p.sent` stays the time before sending: a reply's state is at least that new.
        let tag = w.send(text).await?;
        let mut literal = literal;
        loop {
            let w = self
                .wire
                .as_mut()
                .ok_or_else(|| anyhow::anyhow!("not connected"))?;
            let resp = w.read().await?;
            match resp {
                Resp::Tagged {
                    tag: t,
                    status,
                    code,
                    text,
                } if t == tag => {
                    self.settle(&mut p);
                    if status == Status::Bad {
                        self.fail(Kind::UnexpectedBad, format!("BAD to {}: {text}", p.origin));
                    }
                    let lost = self.view.as_ref().is_some_and(|v| v.lost);
                    return Ok(Done {
                        status,
                        code,
                        text,
                        p,
                        lost,
                    });
                }
                Resp::Tagged { tag: t, .. } => bail!("tagged response for unknown tag {t}"),
                Resp::Cont => match literal.take() {
                    Some(bytes) => {
                        let mut data = bytes.to_vec();
                        data.extend_from_slice(b"\r\n");
                        let shown = format!("<{} bytes of message>", bytes.len());
                        if let Some(w) = self.wire.as_mut() {
                            w.send_raw(&data, &shown).await?;
                        }
                    }
                    None => bail!("unexpected continuation request"),
                },
                r => {
                    if let Some(view) = self.view.as_mut() {
                        view.apply(&r, &mut p, &self.env.reg);
                    } else if let Resp::Cond {
                        status: Status::Bye,
                        ..
                    } = r
                    {
                        p.bye = true;
                    }
                    self.settle(&mut p);
                }
            }
        }
    }

    /// Records what `p` collected: violations, tolerated deviations, NIL answers.
    pub fn settle(&self, p: &mut Pending) {
        let v = std::mem::take(&mut p.violations);
        self.report(v);
        for n in p.notes.drain(..) {
            self.env.counters.race(n);
        }
        for (uid, item) in p.nils.drain(..) {
            let exchange = self
                .wire
                .as_ref()
                .map(|w| w.exchange.clone())
                .unwrap_or_default();
            self.env
                .reg
                .nil(&self.mailbox, uid, &item, &self.name, exchange);
        }
    }

    /// [`Session::exec`] for a command that must answer OK.
    pub async fn exec_ok(&mut self, text: &str, p: Pending) -> anyhow::Result<Done> {
        let d = self.exec(text, None, p).await?;
        if d.status == Status::No {
            self.refused(text, &d);
        }
        Ok(d)
    }

    /// Records a NO to a command that cannot fail by a race: a server failure when the server
    /// says so (RFC 5530 SERVERBUG, UNAVAILABLE, LIMIT), else an unexpected NO.
    pub fn refused(&self, cmd: &str, d: &Done) {
        let failure = matches!(&d.code, Some(Code::Other(c))
            if ["SERVERBUG", "UNAVAILABLE", "LIMIT"].iter().any(|x| c.eq_ignore_ascii_case(x)));
        let kind = if failure {
            Kind::ServerFailure
        } else {
            Kind::UnexpectedNo
        };
        let verb = cmd.split(" {").next().unwrap_or(cmd);
        self.fail(kind, format!("NO to `{verb}`: {}", d.text));
    }

    /// Records an error that ended the connection.
    fn broken(&self, context: &str, e: &anyhow::Error) {
        let text = format!("{context}{e:#}");
        let kind = if text.contains("connection closed") || text.contains("BYE") {
            Kind::ServerFailure
        } else {
            Kind::Protocol
        };
        self.fail(kind, text);
    }

    pub fn pending(&self, what: &str, no_expunge: bool) -> Pending {
        Pending::new(format!("{} `{what}`", self.name), no_expunge)
    }

    /// Connects, logs in, enables the session's extensions and selects its mailbox.
    pub async fn connect(&mut self) -> anyhow::Result<()> {
        self.view = None;
        self.wire = Some(
            Wire::connect(
                self.env.target.imap_for(self.id),
                &self.name,
                self.env.trace.clone(),
            )
            .await?,
        );
        let login = format!(
            "LOGIN \"{}\" \"{}\"",
            self.env.target.user, self.env.target.pass
        );
        let d = self
            .exec(&login, None, self.pending("LOGIN", false))
            .await?;
        if !d.ok() {
            bail!("LOGIN refused: {}", d.text);
        }
        self.count("LOGIN");
        let enable = match self.flavor {
            Flavor::Plain => None,
            Flavor::Condstore => Some("ENABLE CONDSTORE"),
            Flavor::Qresync => Some("ENABLE QRESYNC"),
        };
        if let Some(e) = enable {
            self.exec_ok(e, self.pending("ENABLE", false)).await?;
            self.count("ENABLE");
        }
        self.select().await
    }

    /// SELECT: a new view, built from the SELECT's responses.
    pub async fn select(&mut self) -> anyhow::Result<()> {
        let condstore = self.flavor != Flavor::Plain;
        self.view = Some(View::new(&self.mailbox, condstore, &self.env.reg));
        let cmd = format!("SELECT \"{}\"", self.mailbox);
        let d = self.exec_ok(&cmd, self.pending("SELECT", false)).await?;
        if !d.ok() {
            bail!("SELECT refused: {}", d.text);
        }
        self.count("SELECT");
        Ok(())
    }

    /// The session's loop until the deadline, then the final checkpoint and LOGOUT.
    pub async fn run(mut self) {
        let env = self.env.clone();
        env.cp.join();
        while Instant::now() < env.deadline {
            if let Some(e) = self.pause_requested() {
                self.checkpoint(e).await;
                continue;
            }
            let step = async {
                if self.wire.is_none() {
                    self.connect().await?;
                }
                self.step().await
            };
            if let Err(e) = step.await {
                self.broken("", &e);
                self.wire = None;
                self.view = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if env.cfg.checkpoint > 0 {
            // The final checkpoint: the coordinator pauses everyone once the deadline passed.
            let wait = Instant::now() + Duration::from_secs(120);
            while Instant::now() < wait {
                if let Some(e) = self.pause_requested() {
                    self.checkpoint(e).await;
                    break;
                }
                if env.cp.finished() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if self.wire.is_some() {
            let _ = self
                .exec("LOGOUT", None, self.pending("LOGOUT", false))
                .await;
        }
        env.cp.leave();
    }

    fn pause_requested(&self) -> Option<u64> {
        match self.env.cp.phase() {
            Phase::Pause(e) if e > self.last_checkpoint => Some(e),
            _ => None,
        }
    }

    /// Takes part in checkpoint `e`: arrive, wait for the drain, drain (NOOP, learn UIDs,
    /// one SEARCH), report the view, wait for the restart.
    async fn checkpoint(&mut self, e: u64) {
        self.last_checkpoint = e;
        let env = self.env.clone();
        let cp = &env.cp;
        cp.arrive();
        if !cp
            .wait_for(|ph| matches!(ph, Phase::Drain(x) if x == e) || ph == Phase::Running)
            .await
        {
            return;
        }
        if cp.phase() == Phase::Running {
            return;
        }
        let report = match self.drain().await {
            Ok(r) => r,
            Err(err) => {
                self.broken(&format!("during checkpoint {e}: "), &err);
                self.wire = None;
                self.view = None;
                None
            }
        };
        cp.report(report);
        cp.wait_for(|ph| ph == Phase::Running || !matches!(ph, Phase::Drain(x) if x == e))
            .await;
    }

    async fn drain(&mut self) -> anyhow::Result<Option<Report>> {
        if self.wire.is_none() {
            return Ok(None);
        }
        self.exec_ok("NOOP", self.pending("NOOP (checkpoint)", false))
            .await?;
        if self.view.as_ref().is_some_and(|v| v.lost) {
            self.select().await?;
        }
        let noop = self
            .wire
            .as_ref()
            .map(|w| w.exchange.lines())
            .unwrap_or_default();
        self.learn_unknown().await?;
        self.checkpoint_search().await?;
        Ok(self.view.clone().map(|view| Report {
            session: self.name.clone(),
            flavor: self.flavor,
            view,
            exchange: noop,
        }))
    }
}

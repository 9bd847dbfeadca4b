//! MAIL (RFC 5321 §4.1.1.2), RCPT (§4.1.1.3), DATA (§4.1.1.4) and BDAT (RFC 3030 §2):
//! sender policy, recipient policy (local / relay / capture), size and recipient limits,
//! then delivery.

use net::LineError;
use smtp_proto::{MailFrom, RcptTo};

use crate::codes::{self, Reply};
use crate::data::{self, Content};
use crate::deliver::{self, Origin, Recipient};
use crate::dsn;
use crate::session::{Chunks, Fault, Sender, Session, State, MAX_RECIPIENTS};
use crate::{Outbound, Role};

impl Session {
    pub(crate) fn mail(&mut self, from: MailFrom<String>) -> Reply {
        // RFC 6409 §4.3, RFC 4954 §6: submission needs AUTH first.
        if self.role != Role::Inbound && self.account.is_none() {
            return codes::AUTH_REQUIRED.reply();
        }
        // RFC 1870 §6: refuse early when the declared size is already too big.
        let size = from.size as u64;
        if size > self.ctx.max_message_size {
            return codes::TOO_BIG.reply();
        }
        let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        let address = from.address;
        if !address.is_ascii() && !smtputf8 {
            // RFC 6531 §3.5.
            return codes::NEEDS_SMTPUTF8.reply();
        }
        if address.is_empty() {
            // RFC 5321 §4.5.5: the null sender is for notifications, which only arrive inbound.
            if self.role != Role::Inbound {
                return codes::SENDER_NOT_OWNED
                    .with("Null sender <> is only accepted for inbound mail");
            }
        } else if let Some(account) = &self.account {
            // docs/spec.md §6: the sender must be one of the account's addresses.
            if !self.ctx.auth.may_send_as(account, &address) {
                return codes::SENDER_NOT_OWNED.with(format!(
                    "<{address}>: sender address not owned by user {}",
                    account.address
                ));
            }
        }
        self.state = State::Mail {
            from: Sender {
                address,
                size,
                smtputf8,
                binary: from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0,
                dsn: dsn::Envelope::from_mail(from.flags, from.env_id),
            },
        };
        codes::SENDER_OK.reply()
    }

    pub(crate) fn rcpt(&mut self, to: RcptTo<String>) -> Reply {
        let (from, count) = match &self.state {
            State::Mail { from } => (from.clone(), 0),
            State::Rcpt { from, to, .. } => (from.clone(), to.len()),
            _ => return codes::BAD_SEQUENCE.reply(),
        };
        if count >= MAX_RECIPIENTS {
            return codes::TOO_MANY_RECIPIENTS.reply();
        }
        if !to.address.is_ascii() && !from.smtputf8 {
            return codes::NEEDS_SMTPUTF8.reply();
        }
        let Ok(rcpt_dsn) = dsn::Rcpt::from_rcpt(to.flags, to.orcpt) else {
            // RFC 3461 §4.1.
            return codes::SYNTAX.with("NOTIFY=NEVER cannot be combined with other values");
        };
        let recipient = match self.recipient(&to.address, from.size) {
            Ok(Ok(r)) => r,
            Ok(Err(reply)) => return reply,
            Err(e) => {
                tracing::error!("recipient lookup failed: {e}");
                return codes::LOCAL_ERROR.reply();
            }
        };
        match &mut self.state {
            State::Rcpt { to, dsn, .. } => {
                to.push(recipient);
                dsn.push(rcpt_dsn);
            }
            _ => {
                self.state = State::Rcpt {
                    from,
                    to: vec![recipient],
                    dsn: vec![rcpt_dsn],
                }
            }
        }
        codes::RECIPIENT_OK.reply()
    }

    /// Recipient policy: local accounts and aliases; never relay; outbound capture.
    fn recipient(&self, raw: &str, declared: u64) -> store::Result<Result<Recipient, Reply>> {
        let store = self.ctx.auth.store();
        let address = if raw.is_empty() {
            // smtp-proto maps <postmaster> to "": RFC 5321 §4.5.1 postmaster of a local domain.
            let domains = store.domains()?;
            match domains
                .iter()
                .find_map(|d| store.resolve(&format!("postmaster@{d}")).ok().flatten())
            {
                Some(a) => {
                    return Ok(Ok(Recipient::Local {
                        address: "postmaster".into(),
                        account: a.id,
                    }))
                }
                None => {
                    return Ok(Err(
                        codes::NO_SUCH_USER.with("<postmaster>: no such user here")
                    ))
                }
            }
        } else {
            match ::auth::normalize_address(raw) {
                Ok(a) => a,
                Err(_) => return Ok(Err(codes::BAD_RECIPIENT_SYNTAX.reply())),
            }
        };
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        // docs/spec.md §7.2: under accept-any every domain is local (`create_recipient` made
        // the account).
        if matches!(self.ctx.outbound, Outbound::AcceptAny) || store.is_local_domain(domain)? {
            let Some(account) = store.resolve(&address)? else {
                return Ok(Err(
                    codes::NO_SUCH_USER.with(format!("<{address}>: no such user here"))
                ));
            };
            if deliver::over_quota(store, account.id, declared)? {
                return Ok(Err(
                    codes::OVER_QUOTA.with(format!("<{address}>: mailbox full"))
                ));
            }
            return Ok(Ok(Recipient::Local {
                address,
                account: account.id,
            }));
        }
        if self.account.is_none() {
            // docs/spec.md §3: inbound never relays.
            return Ok(Err(
                codes::RELAY_DENIED.with(format!("<{address}>: relaying denied"))
            ));
        }
        Ok(match &self.ctx.outbound {
            Outbound::Reject => Err(codes::RELAY_DENIED.with(format!(
                "<{address}>: relaying denied (this server does not send mail out)"
            ))),
            Outbound::Capture(_) => Ok(Recipient::Captured { address }),
            // Handled as local above.
            Outbound::AcceptAny => Err(codes::LOCAL_ERROR.reply()),
        })
    }

    pub(crate) async fn data(&mut self) -> Result<(), LineError> {
        // RFC 5321 §4.1.1.4: 354, then the content.
        self.reply(codes::START_DATA.reply());
        self.conn.flush().await?;
        let content = data::read_data(&mut self.conn, self.ctx.max_message_size).await?;
        let reply = match content {
            Content::Message(body) => self.end_of_data(&body).await?,
            Content::TooBig => Some(codes::TOO_BIG.reply()),
            Content::BareLineEnding => Some(codes::BARE_LINE_ENDING.reply()),
            Content::LineTooLong => {
                Some(codes::LINE_TOO_LONG.with("Line too long in message data"))
            }
        };
        // RFC 5321 §4.1.1.4: the transaction ends whatever the outcome.
        self.reset();
        if let Some(reply) = reply {
            self.reply(reply);
        }
        Ok(())
    }

    pub(crate) async fn bdat(&mut self, size: usize, last: bool) -> Result<(), LineError> {
        let have = self.chunks.as_ref().map_or(0, |c| c.data.len());
        if have as u64 + size as u64 > self.ctx.max_message_size {
            // RFC 3030 §2: read the chunk anyway; RFC 1870 §6: 552 5.3.4. The transaction is
            // over, so later pipelined chunks get 503.
            data::discard(&mut self.conn, size).await?;
            self.reset();
            self.reply(codes::TOO_BIG.reply());
            return Ok(());
        }
        let chunk = self.conn.read_exact(size).await?;
        let chunks = self.chunks.get_or_insert_with(Chunks::default);
        chunks.data.extend_from_slice(&chunk);
        if !last {
            self.reply(codes::OK.with(format!("{size} octets received")));
            return Ok(());
        }
        let body = self.chunks.take().map(|c| c.data).unwrap_or_default();
        let reply = self.end_of_data(&body).await?;
        self.reset();
        if let Some(reply) = reply {
            self.reply(reply);
        }
        Ok(())
    }

    /// The end of the message data: the fault rules first (docs/spec.md §7.7), then
    /// [`Session::finish`]. `Ok(None)`: an injected reply was written already; `Err`: drop
    /// the connection without an answer (nothing is delivered either way).
    async fn end_of_data(&mut self, body: &[u8]) -> Result<Option<Reply>, LineError> {
        Ok(match self.fault("END-OF-DATA", None).await {
            Fault::None => Some(self.finish(body).await),
            Fault::Answered => None,
            Fault::Drop => return Err(LineError::Closed),
            Fault::Blackhole => {
                tracing::info!(
                    bytes = body.len(),
                    "message accepted and discarded (injected fault)"
                );
                Some(codes::QUEUED.reply())
            }
        })
    }

    /// Delivers the message of the current transaction.
    async fn finish(&mut self, body: &[u8]) -> Reply {
        let State::Rcpt { from, to, dsn } = &self.state else {
            return codes::BAD_SEQUENCE.reply();
        };
        let helo = self
            .helo
            .as_ref()
            .map(|h| h.0.as_str())
            .unwrap_or("unknown");
        let capture = match &self.ctx.outbound {
            Outbound::Capture(addr) => Some(addr.as_str()),
            Outbound::Reject | Outbound::AcceptAny => None,
        };
        let origin = Origin {
            helo,
            peer: self.conn.peer.ip(),
            hostname: &self.ctx.service.hostname,
            with: self.protocol(),
            session_id: self.id,
            capture,
            account: self.account.as_ref(),
        };
        let captured: Vec<(&str, &dsn::Rcpt)> = to
            .iter()
            .zip(dsn)
            .filter(|(r, _)| matches!(r, Recipient::Captured { .. }))
            .map(|(r, d)| (r.address(), d))
            .collect();
        let trace = deliver::DsnTrace {
            local: dsn::trace_header(&from.dsn, &[]),
            captured: dsn::trace_header(&from.dsn, &captured),
        };
        let store = self.ctx.auth.store();
        let arrival = deliver::now_secs();
        let delivery = deliver::deliver(store, &origin, &from.address, to, body, &trace).await;
        if delivery.reply.code != codes::QUEUED {
            return delivery.reply;
        }
        tracing::info!(
            from = from.address,
            rcpts = to.len(),
            bytes = body.len(),
            "message accepted"
        );
        // RFC 3461 §6.2: never a report about a report (null sender).
        if !from.address.is_empty() {
            let rows = to
                .iter()
                .zip(dsn)
                .zip(&delivery.outcomes)
                .map(|((r, d), outcome)| dsn::Row {
                    address: r.address(),
                    dsn: d,
                    outcome,
                })
                .collect();
            let rows = dsn::Report::wanted(rows);
            if !rows.is_empty() {
                let report = dsn::Report {
                    hostname: &self.ctx.service.hostname,
                    envelope: &from.dsn,
                    to: &from.address,
                    arrival,
                    rows,
                    original: body,
                    id: format!("{arrival:x}.{:x}", self.id),
                };
                deliver::deliver_report(store, &from.address, &report.render()).await;
            }
        }
        delivery.reply
    }
}

/// docs/spec.md §7.2, accept-any: makes an account for a recipient that has none, with a
/// random password nobody knows (the REST API reads its mail, or sets a password). Run
/// before [`Session::rcpt`]; a failure is logged and `rcpt` then answers as usual. Takes
/// its own handle so the session (not `Sync`) is not held across the argon2 await.
pub(crate) async fn create_recipient(ctx: crate::Ctx, raw: String) {
    if !matches!(ctx.outbound, Outbound::AcceptAny) || raw.is_empty() {
        return;
    }
    let Ok(address) = ::auth::normalize_address(&raw) else {
        return;
    };
    match ctx.auth.store().resolve(&address) {
        Ok(None) => {}
        Ok(Some(_)) => return,
        Err(e) => {
            tracing::error!("recipient lookup failed: {e}");
            return;
        }
    }
    let password = match ::auth::random_token(16) {
        Ok(p) => ::auth::Secret::new(p),
        Err(e) => {
            tracing::error!("no random password for {address}: {e}");
            return;
        }
    };
    match ctx.auth.add_user(&address, &password, None).await {
        Ok(_) => tracing::info!(account = %address, "accept-any: account created at RCPT"),
        // Another session created it meanwhile.
        Err(::auth::AuthError::Store(store::Error::AccountExists)) => {}
        Err(e) => tracing::error!("accept-any: cannot create {address}: {e}"),
    }
}

//! `GET /api/openapi.json`: the OpenAPI 3.0 description of every route, written by hand (the
//! route table in `lib.rs`/`api.rs` is small; a test checks that both list the same routes).

use axum::Json;
use serde_json::{json, Value};

/// Every (method, path) the router serves, as the OpenAPI document names them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/.well-known/autoconfig/mail/config-v1.1.xml"),
    ("get", "/mail/config-v1.1.xml"),
    ("post", "/autodiscover/autodiscover.xml"),
    ("post", "/Autodiscover/Autodiscover.xml"),
    ("get", "/apple/mailstack.mobileconfig"),
    ("post", "/api/password"),
    ("get", "/api/openapi.json"),
    ("get", "/api/accounts"),
    ("post", "/api/accounts"),
    ("get", "/api/accounts/{addr}"),
    ("patch", "/api/accounts/{addr}"),
    ("delete", "/api/accounts/{addr}"),
    ("get", "/api/accounts/{addr}/mailboxes"),
    ("get", "/api/accounts/{addr}/messages"),
    ("post", "/api/accounts/{addr}/messages"),
    ("delete", "/api/accounts/{addr}/messages/{uid}"),
    ("get", "/api/accounts/{addr}/messages/{uid}/raw"),
    ("post", "/api/accounts/{addr}/purge"),
    ("get", "/api/accounts/{addr}/export"),
    ("post", "/api/accounts/{addr}/import"),
    ("get", "/api/captured"),
    ("post", "/api/aliases"),
    ("delete", "/api/aliases/{alias}"),
    ("get", "/api/domains"),
    ("post", "/api/domains"),
    ("get", "/api/faults"),
    ("post", "/api/faults"),
    ("delete", "/api/faults"),
    ("delete", "/api/faults/{id}"),
];

pub(crate) async fn document() -> Json<Value> {
    Json(spec())
}

/// Every route, the Sieve ones included.
pub fn routes() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    ROUTES.iter().chain(crate::openapi_sieve::ROUTES)
}

pub(crate) fn err(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": {
        "schema": { "$ref": "#/components/schemas/Error" } } } })
}

pub(crate) fn json_ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn xml_ok(description: &str) -> Value {
    json!({ "description": description, "content": { "application/xml": { "schema": { "type": "string" } } } })
}

/// What the server takes as an address (auth::normalize_address accepts more; this is the
/// documented contract: a local part and a dotted domain).
pub(crate) const ADDRESS: &str =
    "^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,40}(\\.[A-Za-z0-9-]{1,40}){1,3}$";
/// A domain name.
const DOMAIN: &str = "^[A-Za-z0-9-]{1,40}(\\.[A-Za-z0-9-]{1,40}){1,3}$";
/// A password or secret: printable, no control characters, at most 1024 bytes.
const SECRET: &str = "^[^\\x00-\\x1f\\x7f]{1,256}$";
/// Largest unsigned 64-bit number (quota bytes, rule ids).
const U64_MAX: u64 = u64::MAX;

fn address_schema() -> Value {
    json!({ "type": "string", "pattern": ADDRESS })
}

/// A query parameter holding an address.
fn address_query(name: &str, description: &str, required: bool) -> Value {
    json!({ "name": name, "in": "query", "required": required, "description": description,
            "schema": address_schema() })
}

fn query(name: &str, description: &str, required: bool) -> Value {
    json!({ "name": name, "in": "query", "required": required, "description": description,
            "schema": { "type": "string" } })
}

pub(crate) fn addr() -> Value {
    json!({ "name": "addr", "in": "path", "required": true,
            "description": "account address (or alias), e.g. alice@example.test",
            "schema": address_schema() })
}

fn uid() -> Value {
    json!({ "name": "uid", "in": "path", "required": true,
            "schema": { "type": "integer", "minimum": 1, "maximum": 4294967295u64 } })
}

fn mailbox() -> Value {
    mailbox_param("mailbox name (default INBOX, case-insensitive); 404 when the account has none of that name")
}

fn mailbox_param(description: &str) -> Value {
    json!({ "name": "mailbox", "in": "query", "required": false, "description": description,
            "schema": { "type": "string",
                "description": "levels separated by /, none empty; no NUL, CR, LF, * or %",
                "pattern": "^[^\\x00\\r\\n*%/]{1,100}(/[^\\x00\\r\\n*%/]{1,100}){0,8}$" } })
}

/// The parameters of `POST /api/accounts/{addr}/purge` (docs/spec.md §7.8).
fn purge_params() -> Vec<Value> {
    vec![
        addr(),
        mailbox_param("only this mailbox (404 when the account has none of that name); every mailbox when absent"),
        json!({ "name": "older_than", "in": "query", "required": false,
                "description": "only messages whose INTERNALDATE is older: a number and h, d or w (90d, 12h, 2w)",
                "schema": { "type": "string", "pattern": "^[0-9]{1,6}[hdw]$" } }),
        json!({ "name": "larger_than", "in": "query", "required": false,
                "description": "only messages larger than this: bytes or a number with a unit (5MiB, 500KB; KB/MB/GB count in 1000s, KiB/MiB/GiB in 1024s)",
                "schema": { "type": "string", "pattern": "^[0-9]{1,10}(\\.[0-9]{1,3})?(B|KB|MB|GB|KiB|MiB|GiB)?$" } }),
        json!({ "name": "dry_run", "in": "query", "required": false,
                "description": "list what would be removed and remove nothing",
                "schema": { "type": "boolean" } }),
    ]
}

/// Admin operation: bearer token, 401 and 404 documented.
pub(crate) fn admin(
    summary: &str,
    params: Vec<Value>,
    body: Option<Value>,
    ok: (&str, Value),
) -> Value {
    let mut op = json!({
        "summary": summary,
        "tags": ["admin"],
        "security": [{ "bearer": [] }],
        "parameters": params,
        "responses": {
            ok.0: ok.1,
            "400": err("malformed input"),
            "401": err("missing or wrong admin token"),
            "404": err("no such account, mailbox or message"),
        },
    });
    if let Some(b) = body {
        op["requestBody"] = b;
    }
    op
}

fn json_body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": {
        "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn list_params() -> Vec<Value> {
    vec![
        mailbox(),
        json!({ "name": "wait", "in": "query", "required": false,
                "description": "long-poll until a matching message exists: 10s, 500ms, 2m (max 120s; longer is shortened)",
                "schema": { "type": "string", "pattern": "^[0-9]{1,6}(ms|s|m)?$" } }),
        query(
            "subject",
            "substring of the Subject header (case-insensitive)",
            false,
        ),
        query("from", "substring of the From header", false),
        query("to", "substring of the To header", false),
        json!({ "name": "after_uid", "in": "query", "required": false,
                "description": "only messages with a higher UID (with wait: wait for any new message)",
                "schema": { "type": "integer", "minimum": 0, "maximum": 4294967295u64 } }),
    ]
}

/// `POST /api/accounts/{addr}/import`: its mailbox names are those the store creates (at most
/// 1000 bytes, so fewer and shorter levels than the other routes look up).
fn import_op() -> Value {
    let mut op = admin(
        "Import an mbox file (what export writes): flags, keywords and INTERNALDATE restored, messages the mailbox already holds skipped (max 128 MiB; 507 when over quota)",
        vec![addr(), json!({ "name": "mailbox", "in": "query", "required": false,
            "description": "mailbox to import into (default INBOX); created when missing",
            "schema": { "type": "string", "description": "levels separated by /, none empty; no control characters, * or %",
                "pattern": "^[^\\x00-\\x1f\\x7f*%/]{1,30}(/[^\\x00-\\x1f\\x7f*%/]{1,30}){0,3}$" } })],
        Some(json!({ "required": true, "content": { "application/mbox": { "schema": {
            "type": "string", "description": "empty, or starting with a From_ line (RFC 4155 §2)", "pattern": "^From " } } } })),
        ("200", json_ok("counts", schema_ref("ImportResult"))),
    );
    op["responses"]["400"] = err("not an mbox file, or a bad mailbox name");
    op["responses"]["413"] = err("body over 128 MiB");
    op["responses"]["507"] = err("over quota: the error says how many messages went in before");
    op
}

/// The document.
pub fn spec() -> Value {
    let autoconfig = json!({ "get": {
        "summary": "Mozilla autoconfig (Thunderbird)", "tags": ["autoconfig"],
        "parameters": [address_query("emailaddress", "address whose domain to describe", false)],
        "responses": { "200": xml_ok("clientConfig v1.1"), "400": err("emailaddress is not an address"),
                       "404": err("not a local domain") } } });
    let autodiscover = json!({ "post": {
        "summary": "Microsoft Autodiscover (POX)", "tags": ["autoconfig"],
        "requestBody": { "required": true, "content": { "text/xml": { "schema": { "type": "string",
            "description": "Outlook's POX request; its <EMailAddress> is read",
            "pattern": "<EMailAddress>[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,40}(\\.[A-Za-z0-9-]{1,40}){1,3}</EMailAddress>" } } } },
        "responses": { "200": xml_ok("Autodiscover response"), "400": err("no EMailAddress"),
                       "404": err("not a local domain") } } });
    let msgs = schema_ref("Message");
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "mailstack HTTP API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Client autoconfiguration, password change (Roundcube httpapi) and an admin API for tests." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"],
                           "properties": { "error": { "type": "string" } } },
                "Account": { "type": "object", "properties": {
                    "address": { "type": "string" }, "aliases": { "type": "array", "items": { "type": "string" } },
                    "quota_bytes": { "type": "integer", "nullable": true },
                    "quota_messages": { "type": "integer", "nullable": true },
                    "pop3_policy": { "type": "string", "enum": ["keep", "delete", "mark-seen"] },
                    "save_sent": { "type": "boolean" }, "created": { "type": "integer" },
                    "used_bytes": { "type": "integer" }, "used_messages": { "type": "integer" } } },
                "NewAccount": { "type": "object", "required": ["address", "password"], "additionalProperties": false,
                    "properties": { "address": { "type": "string", "pattern": ADDRESS, "description": "full address in a local domain (`domains`; 422 otherwise)" },
                                    "password": { "type": "string", "pattern": SECRET, "description": "under `serve --ephemeral` any non-empty password; otherwise also the policy of docs/spec.md §4.3 (at least 12 characters, not containing the user name: 400 otherwise)" },
                                    "quota": { "type": "integer", "minimum": 0, "maximum": U64_MAX, "description": "bytes; 0 = unlimited" } } },
                "AccountChange": { "type": "object", "additionalProperties": false, "properties": {
                    "password": { "type": "string", "pattern": SECRET, "description": "as in NewAccount" },
                    "quota": { "type": "integer", "minimum": 0, "maximum": U64_MAX },
                    "pop3_policy": { "type": "string", "enum": ["keep", "delete", "mark-seen"] },
                    "save_sent": { "type": "boolean" } } },
                "Mailbox": { "type": "object", "properties": {
                    "name": { "type": "string" }, "special_use": { "type": "string", "nullable": true },
                    "messages": { "type": "integer" }, "unseen": { "type": "integer" }, "bytes": { "type": "integer" },
                    "uidvalidity": { "type": "integer" }, "uidnext": { "type": "integer" },
                    "subscribed": { "type": "boolean" } } },
                "FaultRule": { "type": "object", "required": ["stage", "action"], "additionalProperties": false,
                    "description": "docs/spec.md §7.7: a fault injection rule",
                    "properties": {
                        "protocol": { "type": "string", "enum": ["smtp", "imap", "pop3"], "description": "required unless listener is given" },
                        "listener": { "type": "string", "enum": ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"] },
                        "account": { "type": "string", "description": "logged-in user; in SMTP also the envelope sender and recipients" },
                        "stage": { "type": "string", "description": "CONNECT; SMTP EHLO, HELO, STARTTLS, AUTH, MAIL, RCPT, DATA, BDAT, END-OF-DATA, RSET, NOOP, QUIT; an IMAP or POP3 command name (FETCH also matches UID FETCH); * for every command" },
                        "action": { "type": "string", "enum": ["reply", "delay", "drop", "blackhole"], "description": "blackhole: SMTP END-OF-DATA only (250, never delivered)" },
                        "reply": { "type": "string", "maxLength": 512, "description": "SMTP 4yz/5yz reply, IMAP NO/BAD/BYE …, POP3 -ERR …; default: a temporary failure" },
                        "delay_ms": { "type": "integer", "minimum": 0, "maximum": 600000, "description": "required for delay" },
                        "probability": { "type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 1 },
                        "times": { "type": "integer", "minimum": 1, "maximum": 4294967295u64, "description": "removed after firing this often" } } },
                "FaultRuleInForce": { "type": "object", "required": ["id", "protocol", "stage", "action", "fired"],
                    "description": "a rule as the server keeps it: normalised (protocol filled in, names in one case, the default reply written out), with its id and how often it fired",
                    "properties": {
                        "id": { "type": "integer" }, "fired": { "type": "integer" },
                        "protocol": { "type": "string", "enum": ["smtp", "imap", "pop3"] },
                        "listener": { "type": "string", "enum": ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"] },
                        "account": { "type": "string" }, "stage": { "type": "string" },
                        "action": { "type": "string", "enum": ["reply", "delay", "drop", "blackhole"] },
                        "reply": { "type": "string" }, "delay_ms": { "type": "integer" },
                        "probability": { "type": "number" }, "times": { "type": "integer" } } },
                "ImportResult": { "type": "object", "required": ["account", "mailbox", "imported", "skipped"], "properties": {
                    "account": { "type": "string" }, "mailbox": { "type": "string" },
                    "imported": { "type": "integer" },
                    "skipped": { "type": "integer", "description": "messages whose bytes the mailbox already held (a second import of one file adds nothing)" } } },
                "PurgeResult": { "type": "object", "required": ["dry_run", "count", "deleted", "bytes", "messages"], "properties": {
                    "dry_run": { "type": "boolean" },
                    "count": { "type": "integer", "description": "messages removed (or, dry, that would be)" },
                    "deleted": { "type": "integer", "description": "messages removed (0 in a dry run)" },
                    "bytes": { "type": "integer" },
                    "messages": { "type": "array", "items": { "type": "object", "properties": {
                        "mailbox": { "type": "string" }, "uid": { "type": "integer" },
                        "received": { "type": "integer", "description": "INTERNALDATE, unix seconds" },
                        "size": { "type": "integer" }, "subject": { "type": "string", "nullable": true } } } } } },
                "Message": { "type": "object", "properties": {
                    "uid": { "type": "integer" }, "mailbox": { "type": "string" },
                    "flags": { "type": "array", "items": { "type": "string" } },
                    "from": { "type": "string", "nullable": true }, "to": { "type": "string", "nullable": true },
                    "subject": { "type": "string", "nullable": true }, "date": { "type": "string", "nullable": true },
                    "size": { "type": "integer" }, "received": { "type": "integer" } } },
            },
        },
        "paths": {
            "/.well-known/autoconfig/mail/config-v1.1.xml": autoconfig,
            "/mail/config-v1.1.xml": autoconfig,
            "/autodiscover/autodiscover.xml": autodiscover,
            "/Autodiscover/Autodiscover.xml": autodiscover,
            "/apple/mailstack.mobileconfig": { "get": {
                "summary": "Apple configuration profile", "tags": ["autoconfig"],
                "parameters": [address_query("email", "the account's address", true)],
                "responses": { "200": { "description": "profile", "content": {
                    "application/x-apple-aspen-config": { "schema": { "type": "string" } } } },
                    "400": err("missing or invalid email"), "404": err("not a local domain") } } },
            "/api/password": { "post": {
                "summary": "Change a password (Roundcube password plugin, httpapi driver)", "tags": ["user"],
                "requestBody": { "required": true, "content": { "application/x-www-form-urlencoded": { "schema": {
                    "type": "object", "required": ["user", "curpass", "newpass"], "properties": {
                        "user": address_schema(), "curpass": { "type": "string", "pattern": SECRET },
                        "newpass": { "type": "string", "pattern": SECRET } } } } } },
                "responses": {
                    "200": { "description": "changed", "content": { "text/plain": { "schema": { "type": "string", "enum": ["ok\n"] } } } },
                    "400": { "description": "password policy or malformed form" },
                    "403": { "description": "wrong user name or password" },
                    "429": { "description": "too many failed attempts (Retry-After)" } } } },
            "/api/openapi.json": { "get": { "summary": "This document", "tags": ["meta"],
                "responses": { "200": json_ok("OpenAPI 3 document", json!({ "type": "object" })) } } },
            "/api/accounts": {
                "get": admin("List accounts", vec![], None,
                    ("200", json_ok("accounts", json!({ "type": "array", "items": schema_ref("Account") })))),
                "post": {
                    "summary": "Create an account (INBOX, Sent, Drafts, Trash, Junk, Archive)", "tags": ["admin"],
                    "security": [{ "bearer": [] }], "requestBody": json_body("NewAccount"),
                    "responses": { "201": json_ok("created", schema_ref("Account")),
                        "400": err("malformed input, invalid address or password policy"),
                        "401": err("missing or wrong admin token"), "409": err("account exists"),
                        "422": err("the address's domain is not local: the error names the domain and the \
                                    configuration key `domains` to add it to (any domain is local under \
                                    `serve --ephemeral --accept-any`)") } },
            },
            "/api/accounts/{addr}": {
                "get": admin("Show an account", vec![addr()], None, ("200", json_ok("account", schema_ref("Account")))),
                "patch": admin("Change password, quota, POP3 policy or save_sent", vec![addr()],
                    Some(json_body("AccountChange")), ("200", json_ok("updated", schema_ref("Account")))),
                "delete": admin("Delete an account and all its mail", vec![addr()], None,
                    ("204", json!({ "description": "deleted" }))),
            },
            "/api/accounts/{addr}/mailboxes": {
                "get": admin("List mailboxes", vec![addr()], None,
                    ("200", json_ok("mailboxes", json!({ "type": "array", "items": schema_ref("Mailbox") })))),
            },
            "/api/accounts/{addr}/messages": {
                "get": admin("List messages; with wait, long-poll until one matches", [vec![addr()], list_params()].concat(),
                    None, ("200", json_ok("messages (possibly empty after a wait)", json!({ "type": "array", "items": msgs })))),
                "post": admin("Inject a raw message (max 50 MiB; 507 when over quota)", vec![addr(), mailbox()],
                    Some(json!({ "required": true, "content": { "message/rfc822": { "schema": { "type": "string", "format": "binary" } } } })),
                    ("201", json_ok("stored", json!({ "type": "object", "properties": {
                        "account": { "type": "string" }, "mailbox": { "type": "string" }, "uid": { "type": "integer" }, "uidvalidity": { "type": "integer" } } })))),
            },
            "/api/accounts/{addr}/messages/{uid}": {
                "delete": admin("Delete (expunge) a message", vec![addr(), uid(), mailbox()], None,
                    ("204", json!({ "description": "deleted" }))),
            },
            "/api/accounts/{addr}/messages/{uid}/raw": {
                "get": admin("Download the raw message", vec![addr(), uid(), mailbox()], None,
                    ("200", json!({ "description": "RFC 5322 message", "content": {
                        "message/rfc822": { "schema": { "type": "string", "format": "binary" } } } }))),
            },
            "/api/accounts/{addr}/purge": {
                "post": admin("Delete messages: those matching every criterion given (older_than, larger_than), of one mailbox or all; with dry_run only list them. Without parameters: every message of every mailbox",
                    purge_params(), None, ("200", json_ok("what was (or would be) removed", schema_ref("PurgeResult")))),
            },
            "/api/accounts/{addr}/export": {
                "get": admin("Export: one mailbox as mbox (RFC 4155, mboxrd, flags in Status/X-Status/X-Keywords); every mailbox, or Maildir, as a tar archive",
                    vec![addr(), mailbox_param("only this mailbox (404 when the account has none of that name); every mailbox when absent"),
                         json!({ "name": "format", "in": "query", "required": false,
                                 "description": "mbox (default) or maildir (Maildir++ for every mailbox)",
                                 "schema": { "type": "string", "enum": ["mbox", "maildir"] } })],
                    None, ("200", json!({ "description": "the mbox file, or a tar archive of mbox files or maildirs", "content": {
                        "application/mbox": { "schema": { "type": "string", "format": "binary" } },
                        "application/x-tar": { "schema": { "type": "string", "format": "binary" } } } }))),
            },
            "/api/accounts/{addr}/import": {
                "post": import_op(),
            },
            "/api/aliases": {
                "post": {
                    "summary": "Add an alias (at most 10 per account; receives mail, usable as sender)", "tags": ["admin"],
                    "security": [{ "bearer": [] }],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "type": "object", "required": ["alias", "address"], "additionalProperties": false,
                        "properties": { "alias": address_schema(), "address": address_schema() } } } } },
                    "responses": { "201": json_ok("added", json!({ "type": "object", "properties": {
                            "alias": { "type": "string" }, "address": { "type": "string" } } })),
                        "400": err("malformed input or invalid address"),
                        "401": err("missing or wrong admin token"), "404": err("no such account"),
                        "409": err("the address is in use, or the account has 10 aliases"),
                        "422": err("the alias's domain is not local") } },
            },
            "/api/aliases/{alias}": {
                "delete": admin("Remove an alias", vec![json!({ "name": "alias", "in": "path", "required": true,
                        "schema": address_schema() })], None, ("204", json!({ "description": "removed" }))),
            },
            "/api/domains": {
                "get": admin("Local domains (configured and added)", vec![], None,
                    ("200", json_ok("domains", json!({ "type": "array", "items": { "type": "string" } })))),
                "post": admin("Make a domain local (kept in the store)", vec![],
                    Some(json!({ "required": true, "content": { "application/json": { "schema": {
                        "type": "object", "required": ["domain"], "additionalProperties": false,
                        "properties": { "domain": { "type": "string", "pattern": DOMAIN } } } } } })),
                    ("201", json_ok("the local domains", json!({ "type": "array", "items": { "type": "string" } })))),
            },
            "/api/faults": {
                "get": admin("Fault injection rules in force (docs/spec.md §7.7)", vec![], None,
                    ("200", json_ok("rules", json!({ "type": "array", "items": schema_ref("FaultRuleInForce") })))),
                "post": {
                    "summary": "Add a fault injection rule", "tags": ["admin"],
                    "security": [{ "bearer": [] }], "requestBody": json_body("FaultRule"),
                    "responses": { "201": json_ok("added", schema_ref("FaultRuleInForce")),
                        "400": err("malformed JSON or an unknown field"),
                        "401": err("missing or wrong admin token"),
                        "422": err("the rule is refused; the error starts with the field at fault") } },
                "delete": admin("Remove every rule", vec![], None,
                    ("200", json_ok("count", json!({ "type": "object", "properties": { "removed": { "type": "integer" } } })))),
            },
            "/api/faults/{id}": {
                "delete": admin("Remove one rule", vec![json!({ "name": "id", "in": "path", "required": true,
                        "schema": { "type": "integer", "minimum": 0, "maximum": U64_MAX } })], None,
                    ("200", json_ok("count", json!({ "type": "object", "properties": { "removed": { "type": "integer" } } })))),
            },
            "/api/captured": {
                "get": admin("Captured outbound mail (outbound = \"capture\")", list_params(), None,
                    ("200", json_ok("messages", json!({ "type": "array", "items": schema_ref("Message") })))),
            },
        },
    });
    if let Some(p) = doc["paths"].as_object_mut() {
        p.extend(crate::openapi_sieve::paths());
    }
    if let Some(s) = doc["components"]["schemas"].as_object_mut() {
        s.extend(crate::openapi_sieve::schemas());
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        let doc = super::spec();
        for (method, path) in super::routes() {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing"
            );
        }
        let documented: usize = doc["paths"]
            .as_object()
            .map(|p| {
                p.values()
                    .map(|ops| ops.as_object().map_or(0, |o| o.len()))
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(documented, super::routes().count());
    }
}

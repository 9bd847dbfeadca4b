//! The OpenAPI description of the Sieve routes (`sieve.rs`), merged into `openapi::spec`.

use serde_json::{json, Map, Value};

use crate::openapi::{addr, admin, err, json_ok};

/// The Sieve routes, as the OpenAPI document names them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/accounts/{addr}/sieve"),
    ("post", "/api/accounts/{addr}/deliver"),
    ("get", "/api/accounts/{addr}/sieve/{name}"),
    ("put", "/api/accounts/{addr}/sieve/{name}"),
    ("delete", "/api/accounts/{addr}/sieve/{name}"),
    ("put", "/api/accounts/{addr}/sieve-active"),
    ("get", "/api/accounts/{addr}/forward"),
    ("put", "/api/accounts/{addr}/forward"),
    ("delete", "/api/accounts/{addr}/forward"),
    ("get", "/api/accounts/{addr}/vacation"),
    ("put", "/api/accounts/{addr}/vacation"),
    ("delete", "/api/accounts/{addr}/vacation"),
];

/// A script name (RFC 5804 §1.6 allows more; this is the documented contract).
const NAME: &str = "^[A-Za-z0-9._-]{1,64}$";
/// YYYY-MM-DD with a real month and a day of 01–31.
const DATE: &str = "^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
/// Printable text of a reply (no control characters but line breaks).
const TEXT: &str = "^[^\\x00-\\x09\\x0b\\x0c\\x0e-\\x1f\\x7f]{1,4000}$";

fn name() -> Value {
    json!({ "name": "name", "in": "path", "required": true, "description": "script name",
            "schema": { "type": "string", "pattern": NAME } })
}

/// Adds a status to an operation's responses.
fn with(mut op: Value, status: &str, description: &str) -> Value {
    op["responses"][status] = err(description);
    op
}

fn settings() -> Value {
    json!({ "$ref": "#/components/schemas/SieveSettings" })
}

/// The schemas of the Sieve routes.
pub fn schemas() -> Map<String, Value> {
    let forward = json!({ "type": "object", "required": ["to"], "additionalProperties": false,
        "properties": {
            "to": { "type": "string", "pattern": crate::openapi::ADDRESS },
            "keep_copy": { "type": "boolean", "description": "keep a copy in INBOX (redirect :copy)" } } });
    let vacation = json!({ "type": "object", "required": ["message"], "additionalProperties": false,
        "properties": {
            "from": { "type": "string", "pattern": DATE, "description": "first day replies are sent (UTC)" },
            "until": { "type": "string", "pattern": DATE, "description": "last day replies are sent (UTC); 422 when before from" },
            "subject": { "type": "string", "pattern": "^[^\\x00-\\x1f\\x7f]{1,200}$" },
            "message": { "type": "string", "pattern": TEXT },
            "internal_message": { "type": "string", "pattern": TEXT,
                "description": "the text for senders in the local domains" },
            "days": { "type": "integer", "minimum": 1, "maximum": 365,
                "description": "one reply per sender per this many days (default 1)" } } });
    let settings = json!({ "type": "object", "properties": {
        "forward": { "nullable": true, "allOf": [{ "$ref": "#/components/schemas/Forward" }] },
        "vacation": { "nullable": true, "allOf": [{ "$ref": "#/components/schemas/Vacation" }] },
        "active": { "type": "boolean", "description": "whether the script \"mailstack\" is the active one" } } });
    let mut m = Map::new();
    m.insert("Forward".into(), forward);
    m.insert("Vacation".into(), vacation);
    m.insert("SieveSettings".into(), settings);
    m
}

/// The paths of the Sieve routes.
pub fn paths() -> Map<String, Value> {
    let body = |schema: &str| {
        json!({ "required": true, "content": { "application/json": {
        "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
    };
    let script_body = json!({ "required": true, "content": { "text/plain": {
        "schema": { "type": "string" } } } });
    let done = || ("204", json!({ "description": "done" }));
    let mut m = Map::new();
    m.insert("/api/accounts/{addr}/sieve".into(), json!({
        "get": admin("Sieve scripts of an account and its forward/vacation settings", vec![addr()], None,
            ("200", json_ok("scripts and settings", json!({ "type": "object", "properties": {
                "account": { "type": "string" },
                "scripts": { "type": "array", "items": { "type": "object", "properties": {
                    "name": { "type": "string" }, "active": { "type": "boolean" },
                    "bytes": { "type": "integer" } } } },
                "settings": settings() } })))),
    }));
    m.insert(
        "/api/accounts/{addr}/sieve/{name}".into(),
        json!({
            "get": admin("A script's text", vec![addr(), name()], None,
                ("200", json!({ "description": "the script", "content": { "text/plain": {
                    "schema": { "type": "string" } } } }))),
            "put": with(with(with(admin("Store a script (checked like ManageSieve PUTSCRIPT)",
                vec![addr(), name(), json!({ "name": "activate", "in": "query", "required": false,
                    "schema": { "type": "boolean" } })], Some(script_body), done()),
                "422", "the script does not parse (the error names the line)"),
                "507", "too many scripts (32) or too large (128 KiB)"),
            "413", "body over the route's limit"),
            "delete": with(admin("Delete a script", vec![addr(), name()], None, done()),
                "409", "the script is the active one"),
        }),
    );
    m.insert("/api/accounts/{addr}/deliver".into(), json!({
        "post": with(admin("Deliver a message as SMTP would (through the account's active Sieve script)",
            vec![addr()], Some(json!({ "required": true, "content": { "message/rfc822": {
                "schema": { "type": "string", "format": "binary" } } } })),
            ("202", json_ok("delivered through the script", json!({ "type": "object", "properties": {
                "account": { "type": "string" }, "delivered": { "type": "boolean" } } })))),
            "507", "the mailbox is full"),
    }));
    if let Some(r) = m["/api/accounts/{addr}/deliver"]["post"]["responses"].as_object_mut() {
        r.insert(
            "201".into(),
            json_ok(
                "no active script: stored in INBOX",
                json!({ "type": "object",
            "properties": { "account": { "type": "string" }, "mailbox": { "type": "string" },
                "uid": { "type": "integer" }, "uidvalidity": { "type": "integer" } } }),
            ),
        );
    }
    m.insert("/api/accounts/{addr}/sieve-active".into(), json!({
        "put": admin("Make a script active (name null: none)", vec![addr()],
            Some(json!({ "required": true, "content": { "application/json": { "schema": {
                "type": "object", "required": ["name"], "additionalProperties": false,
                "properties": { "name": { "type": "string", "pattern": NAME, "nullable": true } } } } } })),
            done()),
    }));
    for (kind, what) in [("forward", "Forward"), ("vacation", "Vacation")] {
        m.insert(format!("/api/accounts/{{addr}}/{kind}"), json!({
            "get": admin(&format!("The {kind} setting (null when off)"), vec![addr()], None,
                ("200", json_ok("settings", settings()))),
            "put": with(admin(&format!("Set the {kind} (writes the Sieve script \"mailstack\" and activates it)"),
                vec![addr()], Some(body(what)), ("200", json_ok("settings", settings()))),
                "422", "refused: the error says why"),
            "delete": with(admin(&format!("Turn the {kind} off"), vec![addr()], None, done()),
                "422", "the script no longer parses"),
        }));
    }
    m
}

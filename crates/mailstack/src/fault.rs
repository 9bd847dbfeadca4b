//! `mailstack fault …`: the fault rules of the running server (docs/spec.md §7.7), through its
//! admin API (`crate::live`). Rules live in the server's memory, so every verb needs it running.

use anyhow::bail;
use serde_json::Value;

use crate::cli::FaultVerb;
use crate::config::Config;
use crate::live::{error_text, Live};

pub async fn run(config: &Config, verb: FaultVerb) -> anyhow::Result<()> {
    let live = Live::find(config)?;
    match verb {
        FaultVerb::Add {
            protocol,
            listener,
            account,
            stage,
            action,
            reply,
            delay_ms,
            probability,
            times,
            json,
        } => {
            let action = action
                .unwrap_or_else(|| if delay_ms.is_some() { "delay" } else { "reply" }.to_string());
            let mut rule = serde_json::Map::new();
            rule.insert("stage".into(), stage.into());
            rule.insert("action".into(), action.into());
            let optional = [
                ("protocol", protocol.map(Value::from)),
                ("listener", listener.map(Value::from)),
                ("account", account.map(Value::from)),
                ("reply", reply.map(Value::from)),
                ("delay_ms", delay_ms.map(Value::from)),
                ("probability", probability.map(Value::from)),
                ("times", times.map(Value::from)),
            ];
            for (k, v) in optional {
                if let Some(v) = v {
                    rule.insert(k.into(), v);
                }
            }
            let (status, body) = live
                .call("POST", "/api/faults", Some(Value::Object(rule)))
                .await?;
            if status != 201 {
                bail!("rule refused: {}", error_text(&body));
            }
            if json {
                println!("{body}");
            } else {
                println!("added {}", describe(&body));
            }
        }
        FaultVerb::List { json } => {
            let (status, body) = live.call("GET", "/api/faults", None).await?;
            if status != 200 {
                bail!("cannot list rules: {}", error_text(&body));
            }
            if json {
                println!("{body}");
            } else {
                let rules = body.as_array().cloned().unwrap_or_default();
                if rules.is_empty() {
                    println!("no fault rules");
                }
                for r in &rules {
                    println!("{}", describe(r));
                }
            }
        }
        FaultVerb::Del { id } => {
            let (status, body) = live
                .call("DELETE", &format!("/api/faults/{id}"), None)
                .await?;
            if status != 200 {
                bail!("{}", error_text(&body));
            }
            println!("removed rule {id}");
        }
        FaultVerb::Clear => {
            let (status, body) = live.call("DELETE", "/api/faults", None).await?;
            if status != 200 {
                bail!("{}", error_text(&body));
            }
            println!("removed {} rule(s)", body["removed"].as_u64().unwrap_or(0));
        }
    }
    Ok(())
}

/// `#3 smtp RCPT (account bob@example.test): reply "452 …", 1 time left, fired 0`.
fn describe(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    let mut out = format!("#{} {}", r["id"], s("protocol"));
    if let Some(l) = r["listener"].as_str() {
        out.push_str(&format!(" on {l}"));
    }
    out.push_str(&format!(" {}", s("stage")));
    if let Some(a) = r["account"].as_str() {
        out.push_str(&format!(" (account {a})"));
    }
    out.push_str(&format!(": {}", s("action")));
    if let Some(reply) = r["reply"].as_str() {
        out.push_str(&format!(" {reply:?}"));
    }
    if let Some(ms) = r["delay_ms"].as_u64() {
        out.push_str(&format!(" {ms} ms"));
    }
    if let Some(p) = r["probability"].as_f64() {
        out.push_str(&format!(", probability {p}"));
    }
    if let Some(t) = r["times"].as_u64() {
        out.push_str(&format!(", {t} time(s)"));
    }
    out.push_str(&format!(", fired {}", r["fired"].as_u64().unwrap_or(0)));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn describe_names_every_field() {
        let r = serde_json::json!({"id": 3, "protocol": "smtp", "stage": "RCPT",
            "account": "bob@example.test", "action": "reply", "reply": "452 4.2.2 Full",
            "times": 1, "fired": 0});
        assert_eq!(
            super::describe(&r),
            "#3 smtp RCPT (account bob@example.test): reply \"452 4.2.2 Full\", 1 time(s), fired 0"
        );
    }
}

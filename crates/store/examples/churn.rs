//! Measures disk use under churn: rounds of "append N messages of S KiB, expunge them all".
//! `cargo run --release -p store --example churn -- DIR ROUNDS N KIB`; with `LAT=1` it first
//! measures the latency of 200 sequential durable appends.
#![allow(clippy::unwrap_used)]

fn du(p: &std::path::Path) -> u64 {
    let mut t = 0;
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        t += if m.is_dir() { du(&e.path()) } else { m.len() };
    }
    t
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&a[1]);
    let rounds: usize = a[2].parse().unwrap();
    let n: usize = a[3].parse().unwrap();
    let kib: usize = a[4].parse().unwrap();
    let store = store::Store::open(&dir).unwrap();
    let acct = match store.account("churn@example.test").unwrap() {
        Some(a) => a,
        None => store
            .create_account("churn@example.test", "x", None)
            .await
            .unwrap(),
    };
    let inbox = store.mailbox(acct.id, "INBOX").unwrap().unwrap();
    if std::env::var("LAT").is_ok() {
        let b = format!("Subject: x\r\n\r\n{}\r\n", "x".repeat(kib * 1024));
        let t = std::time::Instant::now();
        for _ in 0..200 {
            store
                .append(
                    acct.id,
                    inbox.id,
                    store::AppendRequest {
                        bytes: b.as_bytes(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
        println!(
            "sequential append latency: {:.2} ms",
            t.elapsed().as_secs_f64() * 1000.0 / 200.0
        );
    }
    let body = format!("Subject: churn\r\n\r\n{}\r\n", "x".repeat(kib * 1024));
    for r in 0..rounds {
        let t = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (s, b) = (store.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..n / 16 {
                    s.append(
                        acct.id,
                        inbox.id,
                        store::AppendRequest {
                            bytes: b.as_bytes(),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let full = du(&dir);
        let uids: Vec<store::Uid> = store
            .messages(inbox.id)
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect();
        store.expunge(acct.id, inbox.id, &uids).await.unwrap();
        store.sync().await.unwrap();
        let c = store.compact_now().unwrap();
        println!("compacted: {c:?}");
        println!(
            "round {r}: {} msgs in {:.1}s; full {} MiB; after expunge {} MiB",
            uids.len(),
            t.elapsed().as_secs_f64(),
            full >> 20,
            du(&dir) >> 20
        );
    }
    drop(store);
    println!("closed: {} MiB", du(&dir) >> 20);
}

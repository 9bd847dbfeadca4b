//! The sled backend's generations (`backend/sled.rs`, docs/architecture.md §5.4): a rewrite
//! keeps every record and the id sequence, survives a reopen, runs under concurrent writers,
//! and a folder left by a rewrite that stopped half-way is cleaned up.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::sled::SledBackend;
use super::TreeId;

fn key(i: u32) -> [u8; 4] {
    i.to_be_bytes()
}

/// Writes and deletes until sled's files are well over the records they hold.
fn churn(b: &SledBackend, rounds: u32) {
    for r in 0..rounds {
        for i in 0..500 {
            b.insert(
                TreeId::Messages,
                &key(r * 500 + i),
                &[r.to_be_bytes()[3]; 100],
            )
            .expect("insert");
        }
        for i in 0..500 {
            if r + 1 < rounds {
                b.remove(TreeId::Messages, &key(r * 500 + i))
                    .expect("remove");
            }
        }
    }
    b.flusher().expect("flusher").flush().expect("flush");
}

/// A backend opened in `dir` with one record, checked by [`assert_alice`].
fn with_alice(dir: &Path) -> SledBackend {
    let b = SledBackend::open(dir).expect("open");
    b.insert(TreeId::Accounts, b"alice", b"record")
        .expect("insert");
    b
}

/// The record every test starts with is there.
fn assert_alice(b: &SledBackend) {
    assert_eq!(
        b.get(TreeId::Accounts, b"alice").expect("get").as_deref(),
        Some(&b"record"[..])
    );
}

/// Writer `w`'s `n`th key.
fn wkey(w: u8, n: u32) -> [u8; 4] {
    let b = n.to_be_bytes();
    [w, b[1], b[2], b[3]]
}

/// Records in the messages tree.
fn count(b: &SledBackend) -> usize {
    let mut it = b.scan_prefix(TreeId::Messages, b"");
    let mut n = 0;
    while let Some(kv) = it.next() {
        kv.expect("scan");
        n += 1;
    }
    n
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn rewrite_keeps_records_and_ids_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = with_alice(dir.path());
    churn(&b, 20);
    let last_id = (0..10)
        .map(|_| b.generate_id().expect("id"))
        .max()
        .expect("ids");
    assert_eq!(b.generation(), 0);
    b.set_rewrite_floor(0);
    assert!(b.maintain().expect("maintain"), "expected a rewrite");
    assert_eq!(b.generation(), 1);
    assert!(b.generate_id().expect("id") > last_id, "ids go on above");
    assert_alice(&b);
    assert_eq!(count(&b), 500, "the last round's records");
    // The old generation's files go once nothing refers to it (the next pass).
    b.maintain().expect("maintain");
    let files = names(dir.path());
    assert!(files.contains(&"sled.1".to_string()), "{files:?}");
    assert!(files.contains(&"sled.current".to_string()), "{files:?}");
    assert!(
        !files.contains(&"db".to_string()),
        "old files left: {files:?}"
    );
    assert!(!files.iter().any(|f| f.starts_with("snap.")), "{files:?}");
    // Writes after the switch are flushed in the new generation and survive a reopen.
    b.insert(TreeId::Accounts, b"bob", b"later")
        .expect("insert");
    let id = b.generate_id().expect("id");
    b.flusher().expect("flusher").flush().expect("flush");
    b.close();
    drop(b);
    let again = SledBackend::open(dir.path()).expect("reopen");
    assert_eq!(again.generation(), 1);
    assert_eq!(
        again.get(TreeId::Accounts, b"bob").expect("get").as_deref(),
        Some(&b"later"[..])
    );
    assert_eq!(count(&again), 500);
    assert!(again.generate_id().expect("id") > id, "ids never repeat");
}

#[test]
fn writers_during_a_rewrite_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = SledBackend::open(dir.path()).expect("open");
    churn(&b, 10);
    b.set_rewrite_floor(0);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u8)
        .map(|w| {
            let (b, stop) = (b.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) || n < 200 {
                    let k = wkey(w, n);
                    // Half plain writes, half transactions.
                    if n.is_multiple_of(2) {
                        b.insert(TreeId::Usage, &k, b"v").expect("insert");
                    } else {
                        b.transact(|v| v.tree(TreeId::Usage).insert(k, b"v"))
                            .expect("transact");
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut rewrites = 0;
    for _ in 0..3 {
        churn(&b, 4);
        if b.maintain().expect("maintain") {
            rewrites += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u32> = writers
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    assert!(rewrites >= 1, "expected a rewrite while writing");
    for (w, n) in counts.iter().enumerate() {
        for i in 0..*n {
            let k = wkey(u8::try_from(w).expect("writer"), i);
            assert!(
                b.get(TreeId::Usage, &k).expect("get").is_some(),
                "writer {w}'s write {i} of {n} lost"
            );
        }
    }
}

#[test]
fn a_rewrite_that_stopped_half_way_is_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let b = with_alice(dir.path());
        b.flusher().expect("flusher").flush().expect("flush");
        b.close();
    }
    // What a crash before `sled.current` was written leaves: a folder nothing points at.
    std::fs::create_dir(dir.path().join("sled.1")).expect("mkdir");
    std::fs::write(dir.path().join("sled.1").join("db"), b"half").expect("write");
    let b = SledBackend::open(dir.path()).expect("reopen");
    assert_eq!(b.generation(), 0);
    assert!(!dir.path().join("sled.1").exists(), "leftover kept");
    assert_alice(&b);
}

#[test]
fn a_bad_pointer_is_reported_not_replaced_by_an_empty_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sled.current"), "elsewhere\n").expect("write");
    match SledBackend::open(dir.path()) {
        Err(crate::Error::Corrupt(m)) => assert!(m.contains("elsewhere"), "{m}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got a store"),
    }
}

#[test]
fn files_of_the_replaced_generation_are_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let b = with_alice(dir.path());
        b.set_rewrite_floor(0);
        churn(&b, 5);
        assert!(b.maintain().expect("maintain"));
        b.close();
    }
    // What a crash right after the switch leaves: the old generation's files next to it.
    std::fs::write(dir.path().join("db"), b"old").expect("write");
    std::fs::write(dir.path().join("snap.0000000000001234"), b"old").expect("write");
    std::fs::create_dir_all(dir.path().join("blobs")).expect("mkdir");
    std::fs::write(dir.path().join("keep-me"), b"not sled's").expect("write");
    let b = SledBackend::open(dir.path()).expect("reopen");
    assert_eq!(b.generation(), 1);
    let files = names(dir.path());
    assert_eq!(
        files,
        [
            "keep-me",
            "mailstack.pid",
            "sled.1",
            "sled.current",
            "store.lock"
        ],
        "only sled's old files go"
    );
    assert_alice(&b);
}

#[test]
fn the_folder_lock_tells_whether_a_store_has_it_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(!super::folder_in_use(dir.path()), "never opened");
    let b = SledBackend::open(dir.path()).expect("open");
    assert!(super::folder_in_use(dir.path()), "open");
    // Asking does not take the lock away from the store.
    assert!(super::folder_in_use(dir.path()), "still open");
    b.close();
    drop(b);
    assert!(!super::folder_in_use(dir.path()), "closed");
}

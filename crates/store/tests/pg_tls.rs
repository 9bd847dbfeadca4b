//! TLS to the database (docs/architecture.md §12): a URL with `sslmode=require` connects over
//! TLS verified against the configured CA — on a server that refuses plain TCP (pg_hba.conf
//! has only `hostssl`) — and is refused with a clear message without a CA, with a CA that did
//! not sign the server's certificate, or with a file that holds no certificate. Skipped where
//! PostgreSQL is not installed (except under CI).

use store::{PgOptions, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_connects_over_tls_verified_by_the_ca() {
    let Some(tls) = testkit::postgres::Cluster::start_tls() else {
        return;
    };
    let url = tls.database();
    let ca_pem = std::fs::read(&tls.ca).expect("CA");
    let options = PgOptions {
        password: None,
        ca_pem: Some(ca_pem),
    };
    // Two nodes over TLS, push between them included (the listener's connection is TLS too).
    let a = Store::open_postgres_opts(&url, &options).expect("node A over TLS");
    let b = Store::open_postgres_opts(&url, &options).expect("node B over TLS");
    let acct = a
        .create_account("tls@example.test", "$argon2id$fake", None)
        .await
        .expect("account");
    let inbox = a.mailbox(acct.id, "INBOX").expect("q").expect("inbox");
    let mut on_b = b.subscribe(acct.id);
    let body = b"Subject: over TLS\r\n\r\nx\r\n";
    a.append(
        acct.id,
        inbox.id,
        store::AppendRequest {
            bytes: body,
            ..Default::default()
        },
    )
    .await
    .expect("append over TLS");
    let heard = tokio::time::timeout(std::time::Duration::from_secs(30), on_b.recv())
        .await
        .expect("pushed within 30 s")
        .expect("open");
    assert!(matches!(heard, store::Change::Appended { .. }), "{heard:?}");

    // The server takes TLS only: the same URL without TLS is refused by pg_hba.conf.
    let plain = url.replace("sslmode=require", "sslmode=disable");
    let e = Store::open_postgres(&plain).expect_err("plain TCP refused");
    assert!(e.to_string().contains("no encryption"), "{e}");
}

#[test]
fn tls_without_a_usable_ca_is_refused_before_connecting() {
    let url = "host=127.0.0.1 port=1 user=postgres dbname=x sslmode=require";
    let e = Store::open_postgres(url).expect_err("no CA");
    assert!(e.to_string().contains("ca_file"), "{e}");
    let junk = PgOptions {
        password: None,
        ca_pem: Some(b"not a certificate".to_vec()),
    };
    let e = Store::open_postgres_opts(url, &junk).expect_err("no certificate in the file");
    assert!(e.to_string().contains("no certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_that_did_not_sign_the_server_certificate_is_refused() {
    let Some(tls) = testkit::postgres::Cluster::start_tls() else {
        return;
    };
    let other = tempfile::tempdir().expect("tmp");
    let stranger = testkit::tls::generate(other.path(), &[]);
    let options = PgOptions {
        password: None,
        ca_pem: Some(std::fs::read(&stranger.ca).expect("CA")),
    };
    let e = Store::open_postgres_opts(&tls.database(), &options).expect_err("untrusted server");
    assert!(e.to_string().contains("certificate"), "{e}");
}

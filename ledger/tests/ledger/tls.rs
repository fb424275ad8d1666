//! The ledger on PostgreSQL over TLS: a throwaway cluster started with `ssl=on` and a
//! certificate from a CA made by the test. libpq's `sslmode` and `sslrootcert` in the URL
//! decide: `verify-full` checks the CA and the host name, `verify-ca` the CA only, `require`
//! encrypts without checking, `disable` does not encrypt; a certificate from another CA is
//! refused.

use propledger_ledger::Ledger;
use sqlx::{Connection, PgConnection};

use propledger_testkit::{Postgres, tls::TestCa};

/// An error with its causes, as the node reports it.
fn described(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// Whether the session of `url` is encrypted, as the server sees it.
async fn encrypted(url: &str) -> bool {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_ssl");
    conn.close().await.expect("close");
    ssl
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_checks_the_ca_and_the_host_name() {
    let ca = TestCa::new("PropLedger test CA");
    // The server's certificate names `localhost` only.
    let cert = ca.server_cert(&["localhost"]);
    let cluster = Postgres::start_tls(&cert.cert_pem, &cert.key_pem);
    let root = ca.ca_file();
    let url = |host: &str, mode: &str, root: Option<&std::path::Path>| {
        let mut url = format!(
            "postgres://postgres@{host}:{}/postgres?sslmode={mode}",
            cluster.port()
        );
        if let Some(root) = root {
            url.push_str(&format!("&sslrootcert={}", root.display()));
        }
        url
    };

    // verify-full with the CA: the ledger opens on an encrypted session.
    let full = url("localhost", "verify-full", Some(&root));
    let ledger = Ledger::connect(&full).await.expect("verify-full");
    ledger.close().await;
    assert!(encrypted(&full).await);

    // verify-full also checks the name: 127.0.0.1 is not in the certificate...
    let e = Ledger::connect(&url("127.0.0.1", "verify-full", Some(&root)))
        .await
        .expect_err("a name the certificate does not carry");
    let e = described(&e);
    assert!(
        e.contains("certificate not valid for name \"127.0.0.1\""),
        "{e}"
    );
    // ...which verify-ca does not.
    assert!(encrypted(&url("127.0.0.1", "verify-ca", Some(&root))).await);

    // A certificate from another CA is refused, whatever the name.
    let other = TestCa::new("Another CA");
    for mode in ["verify-full", "verify-ca"] {
        let e = Ledger::connect(&url("localhost", mode, Some(&other.ca_file())))
            .await
            .expect_err("a server certificate from another CA");
        let e = described(&e);
        assert!(
            e.contains("invalid peer certificate: UnknownIssuer"),
            "{mode}: {e}"
        );
    }
    // Without sslrootcert, Mozilla's roots do not know the test CA either.
    assert!(
        Ledger::connect(&url("localhost", "verify-full", None))
            .await
            .is_err()
    );

    // require encrypts without checking; disable does not encrypt; prefer (the default)
    // encrypts when the server can.
    assert!(encrypted(&url("127.0.0.1", "require", None)).await);
    assert!(!encrypted(&url("127.0.0.1", "disable", None)).await);
    assert!(encrypted(&url("127.0.0.1", "prefer", None)).await);
}

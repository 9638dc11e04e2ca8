//! A month and a half offline without a password (issue 15): an officer queues work, the phone stays
//! offline for 45 days, and when it comes back the access token, and then the refresh token (30
//! days), have expired; the install's key signs in, the queued work lands, and nobody types a
//! password. The server runs under libfaketime 45 days ahead, its scheduled jobs on (the catch-up
//! of the months it "missed" runs as it starts). A revoked install is then refused at once.

mod process;

use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig, ClientError};
use lantian_domain::reference::DEMO_PASSWORD;
use process::{free_port, lantian, run_ok, start, start_with};

/// Where Debian puts libfaketime (the `libfaketime` package, which `scripts/test` installs).
fn libfaketime() -> String {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("libfaketime is required for this test: apt-get install libfaketime")
    .to_owned()
}

fn config(port: u16) -> ClientConfig {
    let mut c = ClientConfig::new(format!("http://127.0.0.1:{port}"));
    c.backoff_base = Duration::from_millis(20);
    c.backoff_cap = Duration::from_millis(200);
    c
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn queued_work_syncs_after_45_days_offline_without_a_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let port = free_port();

    // Day 0: the officer signs in once (the install makes its key), pulls, and goes offline.
    let server = start(&data, port, &log).await;
    let client = Client::open(&dir.path().join("officer.db"), config(port)).expect("client");
    client
        .login("demo_inspector", DEMO_PASSWORD)
        .await
        .expect("login");
    client.pull().await.expect("first pull");
    let mut rng = Rng(45);
    let queued = sim::queue_inspections(&client, &mut rng, 12).expect("queue");
    assert_eq!(client.pending().expect("pending"), queued.len() as i64);
    stop(server);

    // Day 45: the server's clock, and the phone's, are 45 days on.
    let lib = libfaketime();
    let server = start_with(
        &data,
        port,
        &log,
        &[
            ("LD_PRELOAD", lib.as_str()),
            ("FAKETIME", "+45d"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("LANTIAN_JOBS__ENABLED", "true"),
        ],
    )
    .await;
    client.set_clock_offset_ms(45 * 24 * 3600 * 1000);
    let (pushed, _) = client
        .sync()
        .await
        .expect("the queued work syncs with the install's key");
    assert_eq!(pushed.applied as usize, queued.len(), "{pushed:?}");
    assert_eq!(client.pending().expect("pending"), 0);
    let outbox = client.outbox().expect("outbox");
    assert!(
        outbox
            .iter()
            .all(|q| q.status.as_deref() == Some("applied")),
        "{outbox:?}"
    );

    let install = client.client_id();
    let listed = run_ok(
        {
            let mut c = lantian(&data);
            c.args(["client", "list", "--user", "demo_inspector"]);
            c
        },
        "client list",
    );
    assert!(
        listed.contains(&install.to_string()) && listed.contains("key:yes"),
        "{listed}"
    );

    // Revoked from the command line: refused at once, key and sync alike.
    run_ok(
        {
            let mut c = lantian(&data);
            c.args([
                "client",
                "revoke",
                "--user",
                "demo_inspector",
                &install.to_string(),
            ]);
            c
        },
        "client revoke",
    );
    match client.key_sign_in().await {
        Err(ClientError::Server { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (403, "client_revoked"));
        }
        other => panic!("a revoked install signed in: {other:?}"),
    }
    let pulled = client
        .pull()
        .await
        .expect_err("a revoked install does not pull");
    assert!(pulled.to_string().contains("client_revoked"), "{pulled}");
    stop(server);

    // What landed is in the database, once each.
    let db = rusqlite::Connection::open(data.join("lantian.db")).expect("db");
    let landed: i64 = db
        .query_row(
            "SELECT count(*) FROM inspections i JOIN users u ON u.id = i.user_id WHERE u.username = 'demo_inspector'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(landed as usize, queued.len());
    // The server's clock really was 45 days on, for the sign-in and for the catch-up of the
    // scheduled jobs that ran as it started.
    let late: String = db
        .query_row(
            "SELECT max(at) FROM audit_log WHERE action = 'auth.install_sign_in'",
            [],
            |r| r.get(0),
        )
        .expect("a key sign-in was audited");
    let at = chrono::DateTime::parse_from_rfc3339(&late).expect("time");
    assert!(
        at.with_timezone(&chrono::Utc) > chrono::Utc::now() + chrono::Duration::days(44),
        "the key sign-in happened at {late}, not 45 days on"
    );
    let jobs: i64 = db
        .query_row(
            "SELECT count(*) FROM job_runs WHERE started_at > ?1",
            [(chrono::Utc::now() + chrono::Duration::days(44)).to_rfc3339()],
            |r| r.get(0),
        )
        .expect("job runs");
    assert!(jobs > 0, "no scheduled job ran on the server's later clock");
}

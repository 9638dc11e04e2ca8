//! Several `lantian` nodes on one PostgreSQL database (issue 19): two servers in this process,
//! each with its own writer, readers and jobs, sharing one database. What one process kept to
//! itself (the order of the change log, the scheduled jobs) must hold across them. On the SQLite
//! half of the suite these tests say so and end: one SQLite file has one node.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::reference::DEMO_PASSWORD;
use lantian_store::sync::Group;
use lantian_tests::{TestApp, client_view, server_view, spawn_app, spawn_app_with};

/// A second node on `first`'s database, or `None` (and a note) on SQLite.
async fn second_node(first: &TestApp) -> Option<TestApp> {
    if first.postgres_only("several nodes on one database") {
        return None;
    }
    let url = first.config.database_url.clone()?;
    Some(spawn_app_with(move |c| c.database_url = Some(url), true).await)
}

async fn officer(base: &str, dir: &Path, name: &str) -> Client {
    let mut cfg = ClientConfig::new(base);
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_cap = Duration::from_millis(100);
    cfg.max_attempts = 4;
    let c = Client::open(&dir.join(format!("{name}.db")), cfg).expect("client opens");
    c.login("demo_inspector", DEMO_PASSWORD)
        .await
        .expect("login");
    c.pull().await.expect("first pull");
    c
}

/// With concurrent transactions a change-log number is taken before its transaction commits: a
/// pull served past a higher number committed first would skip the lower one for good. Node A
/// holds a transaction open that logged a change in an officer's unit; meanwhile the officer
/// pushes through node B. B's commit waits for A's (every write takes the deployment's write
/// lock first), a pull meanwhile sees neither, and afterwards each client holds both, in the
/// order of their numbers, without a repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_committed_while_a_lower_one_is_open_on_another_node_is_never_skipped() {
    let a = spawn_app().await;
    let Some(b) = second_node(&a).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pusher = Arc::new(officer(&b.base, dir.path(), "pusher").await);
    let watcher = officer(&b.base, dir.path(), "watcher").await;
    let unit = b
        .store
        .read(|c| lantian_store::identity::user_by_username(c, "demo_inspector"))
        .await
        .expect("read")
        .expect("officer")
        .unit;

    // Node A: a change in the officer's unit, logged, and the transaction held open.
    let (inside_tx, inside_rx) = tokio::sync::oneshot::channel::<i64>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let a_store = a.store.clone();
    let held = tokio::spawn(async move {
        a_store
            .write(move |c| {
                let u = lantian_store::org::unit_by_code(c, &unit)?.expect("unit");
                lantian_store::org::publish_unit(c, Group::new(), &u.unit)?;
                let seq = lantian_store::sync::head(c)?;
                let _ = inside_tx.send(seq);
                // Bounded: the test releases it within seconds.
                let _ = go_rx.recv_timeout(Duration::from_secs(30));
                Ok(seq)
            })
            .await
    });
    let a_seq = tokio::time::timeout(Duration::from_secs(10), inside_rx)
        .await
        .expect("node A is inside its transaction")
        .expect("seq");

    // Node B: the officer's push, whose change would take the next number.
    sim::queue_inspections(&pusher, &mut Rng(7), 1).expect("queued");
    let push = {
        let p = Arc::clone(&pusher);
        tokio::spawn(async move { p.sync().await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !push.is_finished(),
        "node B committed while node A's lower number was still open"
    );
    let during = watcher.pull().await.expect("a pull meanwhile");
    assert_eq!(during.changes, 0, "nothing uncommitted is served");

    go_tx.send(()).expect("release node A");
    assert_eq!(held.await.expect("joined").expect("A commits"), a_seq);
    let (pushed, _) = tokio::time::timeout(Duration::from_secs(20), push)
        .await
        .expect("node B commits once A has")
        .expect("joined")
        .expect("push");
    assert_eq!(pushed.applied, 1);

    // Both changes, in number order: A's first.
    let order: Vec<(i64, String)> = a
        .store
        .read(move |c| {
            Ok(c.raw()
                .prepare("SELECT seq, entity FROM changes WHERE seq >= ?1 ORDER BY seq")?
                .query_map([a_seq], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("log");
    assert_eq!(order.first().map(|o| o.1.as_str()), Some("unit"));
    assert!(
        order.iter().any(|(s, e)| e == "inspection" && *s > a_seq),
        "{order:?}"
    );
    let after = watcher.pull().await.expect("pull after");
    assert!(
        after.changes >= 2,
        "the watcher receives both changes: {after:?}"
    );
    assert!(
        after.repaired.is_empty() && after.diverged.is_empty(),
        "{after:?}"
    );
    let (_, last) = pusher.sync().await.expect("sync");
    assert!(
        last.repaired.is_empty() && last.diverged.is_empty(),
        "{last:?}"
    );
    let server = server_view(&b, "demo_inspector").await;
    assert_eq!(client_view(&watcher), server);
    assert_eq!(client_view(&pusher), server);
}

/// The scheduled jobs run once across the nodes: two nodes catching up at the same moment run each
/// job once between them. A node that holds the jobs' lock and dies (its connection to the
/// database gone) lets the other take over, which then runs what is still due.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_jobs_run_once_across_nodes_and_another_takes_over_from_a_dead_one() {
    let a = spawn_app().await;
    let Some(b) = second_node(&a).await else {
        return;
    };
    let s = lantian::config::JobSettings::default().schedule();
    let now = lantian::jobs::shanghai(2026, 11, 29, 12).expect("time");
    let (ra, rb) = tokio::join!(
        lantian::jobs::catch_up(&a.config, &a.store, now, &s),
        lantian::jobs::catch_up(&b.config, &b.store, now, &s)
    );
    let mut ran: Vec<String> = ra.expect("node A").into_iter().collect();
    ran.extend(rb.expect("node B"));
    ran.sort();
    assert_eq!(
        ran,
        [
            "photos.verify 2026-11-29",
            "rollup.official 2026-10",
            "rollup.provisional 2026-11-29"
        ],
        "each job once, on one node or the other"
    );
    let runs: Vec<(String, i64)> = a
        .store
        .read(|c| {
            Ok(c.raw()
                .prepare(
                    "SELECT job, count(*) FROM job_runs WHERE job NOT IN ('uploads.expiry', 'rectification.overdue')
                     GROUP BY job ORDER BY job",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("runs");
    assert!(runs.iter().all(|(_, n)| *n == 1), "{runs:?}");

    // Node A holds the lock and dies: its connection goes, and node B, waiting, takes over.
    let held = a
        .store
        .try_job_lock(lantian::jobs::SCHEDULED_JOBS)
        .await
        .expect("lock")
        .expect("free");
    let next_day = lantian::jobs::shanghai(2026, 11, 30, 12).expect("time");
    let (bc, bs) = (b.config.clone(), b.store.clone());
    let waiting =
        tokio::spawn(async move { lantian::jobs::catch_up(&bc, &bs, next_day, &s).await });
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        !waiting.is_finished(),
        "node B waits while A holds the jobs"
    );
    drop(held);
    let ran = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("node B takes over")
        .expect("joined")
        .expect("catch up");
    assert_eq!(
        ran,
        ["rollup.provisional 2026-11-30", "photos.verify 2026-11-30"]
    );
}

/// The two engines have one schema: the same tables with the same columns, at the same migration.
#[tokio::test]
async fn both_engines_have_the_same_tables_and_columns_at_the_same_migration() {
    let last = |m: &[(u32, &str, &str)]| m.last().map(|(v, n, _)| (*v, n.to_string()));
    assert_eq!(
        last(lantian_store::MIGRATIONS),
        last(lantian_store::PG_MIGRATIONS)
    );
    let app = spawn_app().await;
    if app.postgres_only("comparing the two engines' schemas") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("schema.db");
    lantian_store::migrate_file(&file).expect("sqlite");
    let sqlite = rusqlite::Connection::open(&file).expect("open");
    let mut sqlite_columns: Vec<(String, String)> = sqlite
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2",
        )
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    sqlite_columns.sort();
    let mut pg_columns: Vec<(String, String)> = app
        .store
        .read(|c| {
            Ok(c.raw()
                .prepare(
                    "SELECT table_name, column_name FROM information_schema.columns
                     WHERE table_schema = current_schema() ORDER BY 1, 2",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .expect("columns");
    pg_columns.sort();
    assert_eq!(pg_columns, sqlite_columns);
}

/// `lantian copy` of a SQLite deployment into PostgreSQL: the copy verifies (chain and seals), the
/// logins made before go on working, photos read back byte-exact, and a phone that synced before
/// the move keeps its cursor: it pushes and pulls on without a reset and ends equal to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_deployment_copied_into_postgres_keeps_its_chain_seals_logins_and_cursors() {
    let Some(admin) = lantian_tests::postgres_admin_url() else {
        eprintln!("on SQLite: `lantian copy` needs a PostgreSQL server to copy into; not run");
        return;
    };
    use lantian_domain::user::Role;
    use lantian_tests::photos;
    let app = spawn_app_with(|c| c.database_url = None, true).await;
    let o = photos::officer(&app, "copy_officer", Role::Inspector, "dongchangfu").await;
    let (s, expected) = photos::submitted(&o, 51).await;
    let mut sent = Vec::new();
    for (i, photo) in expected.iter().enumerate() {
        let bytes = lantian_media::testing::jpeg(320 + 8 * i as u32, 240, None);
        let r = photos::upload(&app, &o.token, s.inspection_id, *photo, &bytes, 16 * 1024).await;
        assert_eq!(r.status, reqwest::StatusCode::NO_CONTENT, "{:?}", r.body);
        sent.push((*photo, bytes));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let phone = officer(&app.base, dir.path(), "phone").await;
    sim::queue_inspections(&phone, &mut Rng(11), 3).expect("queued");
    let (pushed, _) = phone.sync().await.expect("sync");
    assert_eq!(pushed.applied, 3);
    let supervisor = app.demo_token(Role::Supervisor).await;
    let before: i64 = count(&app, "SELECT count(*) FROM audit_log").await;
    let (data, config) = app.stop().await;

    let url = lantian_tests::fresh_database(&admin);
    let copied = lantian::copy::run(&config, &url, None, |_| {})
        .await
        .expect("copied");
    assert!(copied.audit.ok());
    assert!(copied.rows.rows() > 1_000, "{:?}", copied.rows);
    // Run again (as after a copy that failed while sending photos), it goes on from where the
    // target stands: the rows are this deployment's, so none is copied twice, and it verifies.
    let again = lantian::copy::run(&config, &url, None, |_| {})
        .await
        .expect("resumed");
    assert!(
        again.rows.resumed && again.rows.rows() == 0,
        "{:?}",
        again.rows
    );
    assert!(again.audit.ok());
    // Once the server has run on the source again, the copy is of an earlier state: refused.
    let source = lantian_tests::start_in(data, config, true).await;
    source.demo_token(Role::Assessor).await;
    let (data, config) = source.stop().await;
    let outdated = lantian::copy::run(&config, &url, None, |_| {})
        .await
        .expect_err("not over an earlier state");
    assert!(outdated.to_string().contains("earlier state"), "{outdated}");

    let target = lantian::copy::target_config(&config, &url, None);
    let app = lantian_tests::start_in(data, target, true).await;
    assert!(app.on_postgres());
    assert!(count(&app, "SELECT count(*) FROM audit_log").await >= before);
    // Logins made before the move go on.
    assert_eq!(app.get("/v1/me", &supervisor).await.status, 200);
    for (photo, bytes) in &sent {
        let r = app
            .client
            .get(format!("{}/v1/photos/{photo}/original", app.base))
            .bearer_auth(&o.token)
            .send()
            .await
            .expect("original");
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        assert_eq!(r.bytes().await.expect("bytes").as_ref(), &bytes[..]);
    }
    // The phone, pointed at the moved deployment, goes on from its cursor.
    let mut cfg = ClientConfig::new(&app.base);
    cfg.max_attempts = 4;
    let phone = Client::open(&dir.path().join("phone.db"), cfg).expect("reopen");
    sim::queue_inspections(&phone, &mut Rng(12), 2).expect("queued");
    let (pushed, pulled) = phone.sync().await.expect("sync after the move");
    assert_eq!(pushed.applied, 2, "new ids after the copied ones");
    assert!(pulled.resets.is_empty(), "{pulled:?}");
    assert!(pulled.repaired.is_empty() && pulled.diverged.is_empty());
    assert_eq!(
        client_view(&phone),
        server_view(&app, "demo_inspector").await
    );
    // A database that holds a deployment not copied from this one is refused as well.
    app.store
        .write(|c| {
            Ok(c.raw()
                .execute("DELETE FROM meta WHERE key = 'copy:source'", [])?)
        })
        .await
        .expect("unmarked");
    let (_data, config) = app.stop().await;
    let config = lantian::config::Config {
        database_url: None,
        ..config
    };
    let taken = lantian::copy::run(&config, &url, None, |_| {})
        .await
        .expect_err("not into a deployment");
    assert!(taken.to_string().contains("holds a deployment"), "{taken}");
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.store
        .read(move |c| Ok(c.raw().query_row(sql, [], |r| r.get(0))?))
        .await
        .expect("count")
}

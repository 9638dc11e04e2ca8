//! A seeded randomized run of officers through the fault-injecting proxy: dropped responses,
//! resets, requests and responses cut at random bytes, stalls and slow trickles, on pushes, pulls
//! and photo uploads alike, with installs killed between rounds. When the network heals, the
//! server must hold exactly the acknowledged inspections, once each, and every photo byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::reference::DEMO_PASSWORD;
use lantian_domain::user::Role;
use lantian_tests::proxy::{Fault, Proxy};
use lantian_tests::{photos::sha256_hex, spawn_app};
use reqwest::StatusCode;
use uuid::Uuid;

const UNITS: [&str; 8] = [
    "dongchangfu",
    "dongchangfu_gulou",
    "yanggu",
    "shenxian",
    "linqing",
    "econ_dev_zone",
    "guanxian",
    "dong_e",
];

/// Queues `n` inspections of `client`'s pulled subjects with a distinct JPEG for every photo each
/// expects; returns (inspection id, [(photo id, sha256)]).
fn queue_with_photos(
    client: &Client,
    rng: &mut Rng,
    n: usize,
    scratch: &std::path::Path,
) -> Vec<sim::QueuedWithPhotos> {
    // Sizes vary so chunks, cuts and trickles land at different places in each file.
    sim::queue_with_photos(client, rng, n, scratch, |rng| {
        lantian_media::testing::jpeg(64 + rng.below(400) as u32, 48 + rng.below(300) as u32, None)
    })
    .expect("queued")
}

/// The seeds to run: `FAULT_SEEDS` (comma-separated; for the long run in docs/reliability.md), or
/// one fixed seed.
pub fn seeds(default: u64) -> Vec<u64> {
    std::env::var("FAULT_SEEDS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| vec![default])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_through_random_network_faults_end_equal_to_what_was_acknowledged() {
    for seed in seeds(2019) {
        one_run(seed).await;
    }
}

async fn one_run(seed: u64) {
    let app = spawn_app().await;
    for (i, unit) in UNITS.iter().enumerate() {
        app.add_user(&format!("net_{i}"), Role::Inspector, unit, DEMO_PASSWORD)
            .await;
    }
    let proxy = Proxy::start(
        app.base
            .trim_start_matches("http://")
            .parse()
            .expect("addr"),
        seed,
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scratch = dir.path().join("camera");
    std::fs::create_dir_all(&scratch).expect("camera folder");
    // Even installs open a connection per request; odd ones keep connections alive, so a fault
    // can also kill a connection in the middle of a run of requests.
    let cfg = |i: usize| {
        let mut c = ClientConfig::new(proxy.url());
        c.fresh_connections = i.is_multiple_of(2);
        c.max_attempts = 2;
        c.backoff_base = Duration::from_millis(5);
        c.backoff_cap = Duration::from_millis(50);
        c.request_timeout = Duration::from_secs(4);
        c.upload_chunk = 24 * 1024;
        c
    };
    let open =
        |i: usize| Client::open(&dir.path().join(format!("net_{i}.db")), cfg(i)).expect("open");
    // Log in and take the first pull on a clean network.
    let mut clients: Vec<Option<Client>> = Vec::new();
    for i in 0..UNITS.len() {
        let c = open(i);
        c.login(&format!("net_{i}"), DEMO_PASSWORD)
            .await
            .expect("login");
        c.pull().await.expect("first pull");
        clients.push(Some(c));
    }

    proxy.chaos(35);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut queued: BTreeSet<Uuid> = BTreeSet::new();
    let mut photos: BTreeMap<Uuid, String> = BTreeMap::new();
    const ROUNDS: usize = 5;
    for _round in 0..ROUNDS {
        for (i, slot) in clients.iter_mut().enumerate() {
            let c = slot.get_or_insert_with(|| open(i));
            let n = 1 + rng.below(2);
            for (id, ph) in queue_with_photos(c, &mut rng, n, &scratch) {
                queued.insert(id);
                photos.extend(ph);
            }
            // Any of these may fail: faults are the point. Nothing is retried by hand.
            let _ = c.sync().await;
            let _ = c.upload_photos().await;
            let _ = c.pull().await;
            if rng.chance(20) {
                *slot = None; // the app is killed; it reopens from its disk next round
            }
        }
    }
    let faults = proxy.faults();
    proxy.chaos(0);

    // The network heals: every install syncs and uploads until nothing is left (bounded).
    for (i, slot) in clients.iter_mut().enumerate() {
        let c = slot.take().unwrap_or_else(|| open(i));
        for _ in 0..6 {
            c.sync().await.expect("sync on a healed network");
            c.upload_photos()
                .await
                .expect("uploads on a healed network");
            let (_, pull) = c.sync().await.expect("sync");
            assert!(pull.diverged.is_empty(), "officer {i}: {:?}", pull.diverged);
            let local = c.photos().expect("photos");
            if c.pending().expect("pending") == 0 && local.iter().all(|p| p.state == "verified") {
                break;
            }
        }
        assert_eq!(
            c.pending().expect("pending"),
            0,
            "officer {i}'s queue is empty"
        );
        let stuck: Vec<_> = c
            .photos()
            .expect("photos")
            .into_iter()
            .filter(|p| p.state != "verified")
            .map(|p| (p.photo_id, p.state, p.code))
            .collect();
        assert!(
            stuck.is_empty(),
            "officer {i}: photos not verified: {stuck:?}"
        );
    }

    // Exactly the acknowledged inspections, each once.
    let on_server: Vec<Uuid> = app
        .store
        .read(|c| {
            let mut st = c.raw().prepare("SELECT uuid FROM inspections")?;
            let ids = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })
        .await
        .expect("read")
        .into_iter()
        .map(|s| s.parse().expect("uuid"))
        .collect();
    assert_eq!(on_server.len(), queued.len(), "nothing applied twice");
    assert_eq!(
        on_server.into_iter().collect::<BTreeSet<_>>(),
        queued,
        "nothing lost"
    );

    // Every photo byte for byte, read back through the API.
    let admin = app.demo_token(Role::Admin).await;
    let mut checked = 0;
    for (photo, sha) in &photos {
        let resp = app
            .client
            .get(format!("{}/v1/photos/{photo}/original", app.base))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK, "photo {photo}");
        let bytes = resp.bytes().await.expect("body");
        assert_eq!(&sha256_hex(&bytes), sha, "photo {photo} is byte-identical");
        checked += 1;
    }
    let total: usize = faults.iter().sum();
    println!(
        "network faults, seed {seed}: {} inspections, {checked} photos, {total} faults injected: {}",
        queued.len(),
        Fault::NAMES
            .iter()
            .zip(faults)
            .map(|(n, c)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        faults.iter().all(|&n| n > 0),
        "every kind of fault was injected: {faults:?}"
    );
}

/// Found by the run above: a push whose answer was lost, followed by a pull, moved the install's
/// `server_last_mid` past mutations whose outcome it never heard, so their photos waited forever.
#[tokio::test]
async fn a_lost_push_answer_followed_by_a_pull_is_still_learned() {
    let app = spawn_app().await;
    let proxy = Proxy::start(
        app.base
            .trim_start_matches("http://")
            .parse()
            .expect("addr"),
        1,
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ClientConfig::new(proxy.url());
    cfg.fresh_connections = true;
    cfg.max_attempts = 1;
    let c = Client::open(&dir.path().join("lost.db"), cfg).expect("open");
    c.login("demo_inspector", DEMO_PASSWORD)
        .await
        .expect("login");
    c.pull().await.expect("first pull");
    let queued = queue_with_photos(&c, &mut Rng(5), 1, dir.path());
    proxy.drop_next_responses(1);
    assert!(c.push().await.is_err(), "the answer was lost");
    c.pull().await.expect("pull");
    assert_eq!(
        c.pending().expect("pending"),
        1,
        "the outcome is still unknown"
    );
    c.sync().await.expect("sync");
    c.upload_photos().await.expect("uploads");
    c.sync().await.expect("sync");
    let outbox = c.outbox().expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].status.as_deref(), Some("applied"));
    let photos = c.photos().expect("photos");
    assert_eq!(photos.len(), queued[0].1.len());
    assert!(photos.iter().all(|p| p.state == "verified"), "{photos:?}");
}

/// One lost answer logs nobody out (issue 15): the answer of every call is lost once on the way
/// back (sign-in, registration, refresh, challenge, key sign-in, push and pull alike) and the client
/// retries. The officer signs in with the password once, at the start; the access token then
/// expires, and later the whole login, and the work still goes up without a password.
#[tokio::test]
async fn every_answer_lost_once_and_nobody_signs_in_again() {
    let app = spawn_app().await;
    let proxy = Proxy::start(
        app.base
            .trim_start_matches("http://")
            .parse()
            .expect("addr"),
        3,
    )
    .await;
    proxy.drop_every_first_answer("/v1/");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ClientConfig::new(proxy.url());
    cfg.fresh_connections = true;
    cfg.max_attempts = 4;
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_cap = Duration::from_millis(50);
    let c = Client::open(&dir.path().join("lossy.db"), cfg).expect("open");
    c.login("demo_inspector", DEMO_PASSWORD)
        .await
        .expect("login despite lost answers");
    c.pull().await.expect("first pull");
    let signed_in = audited(&app, "auth.login").await;

    // The access token expires: refreshed, though the refresh's answer is lost once.
    sim::queue_inspections(&c, &mut Rng(8), 3).expect("queue");
    expire_access_token(&app, &c).await;
    c.sync().await.expect("sync after the access token expired");
    assert_eq!(c.pending().expect("pending"), 0);

    // The whole login ends (a month offline): the install's key signs in, though the answers of
    // the challenge and of the sign-in are lost once each.
    app.end_every_login().await;
    sim::queue_inspections(&c, &mut Rng(9), 2).expect("queue");
    expire_access_token(&app, &c).await;
    c.sync().await.expect("sync after the login ended");
    assert_eq!(c.pending().expect("pending"), 0);
    let outbox = c.outbox().expect("outbox");
    assert_eq!(outbox.len(), 5);
    assert!(
        outbox
            .iter()
            .all(|q| q.status.as_deref() == Some("applied")),
        "{outbox:?}"
    );

    assert_eq!(
        audited(&app, "auth.login").await,
        signed_in,
        "nobody signed in with a password again"
    );
    assert!(audited(&app, "auth.install_sign_in").await >= 1);
    assert!(proxy.dropped() >= 8, "{} answers dropped", proxy.dropped());
}

async fn audited(app: &lantian_tests::TestApp, action: &'static str) -> i64 {
    app.store
        .read(move |c| {
            Ok(c.raw().query_row(
                "SELECT count(*) FROM audit_log WHERE action = ?1",
                [action],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("count")
}

/// Puts an access token that expired a minute ago, signed by the server's key, in the client's
/// store: its next request is answered `token_expired`, as after a quarter of an hour offline.
async fn expire_access_token(app: &lantian_tests::TestApp, c: &Client) {
    let key = app.signing_key().await;
    let user = app
        .store
        .read(|c| lantian_store::identity::user_by_username(c, "demo_inspector"))
        .await
        .expect("read")
        .expect("user")
        .uuid
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let token = lantian_tests::tokens::sign(
        jsonwebtoken::Algorithm::HS256,
        &key,
        Some(&lantian_tests::tokens::kid_of(&key)),
        &lantian_tests::tokens::claims(&user, now - 120, now - 60),
    );
    c.local_sql(&format!(
        "UPDATE meta SET value = '{token}' WHERE key = 'access_token'"
    ))
    .expect("expired token stored");
}

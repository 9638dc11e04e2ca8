//! Two `lantian serve` processes on one PostgreSQL database and one S3 bucket (moto's server), a
//! fault proxy in front of each and a balancer in front of both that sends each new connection to
//! either node at random (skipping one that refuses), as a load balancer without health checks
//! does. Simulated officers push, upload photos and pull through it while one node or the other is
//! SIGKILLed and restarted. At the end the network heals and every queue drains; then:
//! - every acknowledged mutation is on record once, each install's record gapless, one inspection
//!   per applied submit;
//! - every acknowledged photo is recorded once with its bytes' hash, and its original is in the
//!   bucket (`lantian audit photos`);
//! - no pull ever needed a repair (a cursor served past a row committed later would have skipped
//!   it: the scope checksums would differ), and every phone ends equal to the server;
//! - `lantian audit verify` passes: one hash chain, every seal.
//!
//! Needs `TEST_POSTGRES_URL` (an administrator's URL) and moto from the tools venv; without them it
//! says so and ends (scripts/test runs it in its PostgreSQL half). `NODES_CYCLES` (default 6) sets
//! the number of kills, `NODES_SEED` the seed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lantian_client::sim::{self, Rng};
use lantian_client::{Client, ClientConfig};
use lantian_domain::reference::DEMO_PASSWORD;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use uuid::Uuid;

mod process;
use process::{env_u64, free_port, lantian, run_ok, start_with};

#[path = "../../../tests/support/proxy.rs"]
#[allow(dead_code)]
mod proxy;

const INSTALLS: usize = 4;

/// Where the nodes keep their records and photos.
struct Shared {
    database_url: String,
    moto: tokio::process::Child,
    endpoint: String,
}

impl Shared {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LANTIAN_DATABASE_URL", self.database_url.clone()),
            ("LANTIAN_MEDIA_URL", "s3://lantian-nodes/city".into()),
            ("LANTIAN_S3__ENDPOINT", self.endpoint.clone()),
            ("LANTIAN_S3__ALLOW_HTTP", "true".into()),
            ("LANTIAN_S3__REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "lantian-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "lantian-test-secret".into()),
        ]
    }

    fn command(&self, data: &Path) -> std::process::Command {
        let mut c = lantian(data);
        for (k, v) in self.env() {
            c.env(k, v);
        }
        c
    }
}

/// A fresh database and a bucket, or `None` (and why) when this machine lacks either.
async fn shared() -> Option<Shared> {
    let Some(admin) = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("no TEST_POSTGRES_URL: several nodes need PostgreSQL; not run");
        return None;
    };
    let moto_server =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools-venv/bin/moto_server");
    if !moto_server.exists() {
        eprintln!(
            "{} is missing (scripts/test installs moto[server]); not run",
            moto_server.display()
        );
        return None;
    }
    let database_url = lantian_store::testing::fresh_postgres_database(&admin, "lantian_test");
    let port = free_port();
    let moto = tokio::process::Command::new(moto_server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = http.put(format!("{endpoint}/lantian-nodes")).send().await
            && r.status().is_success()
        {
            return Some(Shared {
                database_url,
                moto,
                endpoint,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto_server did not answer within 10 s");
}

/// Sends each connection to one of `upstreams` at random, the next one if it refuses.
async fn balancer(
    upstreams: Vec<SocketAddr>,
    seed: u64,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut rng = Rng(seed | 1);
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let first = rng.below(upstreams.len());
            let order: Vec<SocketAddr> = (0..upstreams.len())
                .map(|i| upstreams[(first + i) % upstreams.len()])
                .collect();
            tokio::spawn(async move {
                for up in order {
                    if let Ok(mut outbound) = TcpStream::connect(up).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

struct Node {
    data: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    async fn start(&mut self, shared: &Shared) {
        let env = shared.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.child = Some(start_with(&self.data, self.port, &self.log, &env).await);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reaped");
        }
    }
}

/// What the load was told was stored, and what its pulls reported.
#[derive(Default)]
struct Seen {
    photos: BTreeMap<Uuid, String>,
    queued: BTreeSet<Uuid>,
    /// Scopes a pull found differing from the server's checksum.
    repaired: Vec<String>,
    pulls: u64,
}

async fn officer_loop(
    c: Arc<Client>,
    seed: u64,
    camera: PathBuf,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed | 1);
    // Bounded; the cycle's stop flag ends it sooner.
    for _ in 0..10_000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let queued = sim::queue_with_photos(&c, &mut rng, 1, &camera, |rng| {
            lantian_media::testing::jpeg(
                64 + rng.below(200) as u32,
                48 + rng.below(150) as u32,
                None,
            )
        })
        .expect("queued");
        {
            let mut s = seen.lock().await;
            for (inspection, photos) in queued {
                s.queued.insert(inspection);
                s.photos.extend(photos);
            }
        }
        if let Ok((_, pull)) = c.sync().await {
            let mut s = seen.lock().await;
            s.pulls += 1;
            s.repaired.extend(pull.repaired);
            s.repaired.extend(pull.diverged);
        }
        let _ = c.upload_photos().await;
        tokio::time::sleep(Duration::from_millis(rng.below(30) as u64)).await;
    }
}

fn client_config(base: &str) -> ClientConfig {
    let mut c = ClientConfig::new(base);
    c.max_attempts = 2;
    c.backoff_base = Duration::from_millis(5);
    c.backoff_cap = Duration::from_millis(20);
    c.request_timeout = Duration::from_secs(5);
    c.upload_chunk = 16 * 1024;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_killed_in_turn_behind_fault_proxies_lose_double_and_skip_nothing() {
    let Some(shared) = shared().await else {
        return;
    };
    let cycles = env_u64("NODES_CYCLES", 6);
    let seed = env_u64("NODES_SEED", 2019);
    let dir = tempfile::tempdir().expect("tempdir");
    let camera = dir.path().join("camera");
    std::fs::create_dir_all(&camera).expect("camera");
    let mut nodes: Vec<Node> = ["a", "b"]
        .iter()
        .map(|n| Node {
            data: dir.path().join(format!("node-{n}")),
            port: free_port(),
            log: dir.path().join(format!("node-{n}.log")),
            child: None,
        })
        .collect();
    // Started one after the other: the first migrates and loads the demo, the second finds both.
    for n in &mut nodes {
        n.start(&shared).await;
    }
    let mut proxies = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let upstream: SocketAddr = format!("127.0.0.1:{}", n.port).parse().expect("addr");
        let p = proxy::Proxy::start(upstream, seed ^ (i as u64 + 1)).await;
        p.chaos(15);
        proxies.push(p);
    }
    let (front, _balancer) = balancer(proxies.iter().map(|p| p.addr).collect(), seed).await;
    let base = format!("http://{front}");
    let mut clients = Vec::new();
    for i in 0..INSTALLS {
        let c = Client::open(
            &dir.path().join(format!("phone-{i}.db")),
            client_config(&base),
        )
        .expect("open");
        // The faults may take a first attempt or two.
        let mut logged = false;
        for _ in 0..20 {
            if c.login("demo_inspector", DEMO_PASSWORD).await.is_ok() {
                logged = true;
                break;
            }
        }
        assert!(logged, "install {i} logs in through the faults");
        clients.push(Arc::new(c));
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    for _ in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                tokio::spawn(officer_loop(
                    c.clone(),
                    rng.next_u64() ^ i as u64,
                    camera.clone(),
                    seen.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(600 + rng.below(1_200) as u64)).await;
        // One node dies; the load goes on through the other, then it comes back.
        let victim = rng.below(nodes.len());
        nodes[victim].kill();
        tokio::time::sleep(Duration::from_millis(300 + rng.below(600) as u64)).await;
        nodes[victim].start(&shared).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("the load stops")
                .expect("the load did not panic");
        }
    }

    // The network heals: every queue drains, every photo is verified.
    for p in &proxies {
        p.chaos(0);
    }
    for c in &clients {
        sim::drain(c, 10).await;
        assert_eq!(c.pending().expect("pending"), 0, "the queue drained");
        let stuck: Vec<_> = c
            .photos()
            .expect("photos")
            .into_iter()
            .filter(|p| p.state != "verified")
            .map(|p| (p.photo_id, p.state))
            .collect();
        assert!(stuck.is_empty(), "photos not verified: {stuck:?}");
        let pull = c.pull().await.expect("a last pull");
        let mut s = seen.lock().await;
        s.repaired.extend(pull.repaired);
        s.repaired.extend(pull.diverged);
    }

    // The record, read by a store of this test on the same database.
    let mut config = lantian_store::StoreConfig::new(dir.path().join("unused.db"));
    config.database_url = Some(shared.database_url.clone());
    let store = lantian_store::Store::open(&config).expect("the database");
    let s = seen.lock().await;
    assert!(
        s.repaired.is_empty(),
        "no pull may find a scope differing (a skipped row): {:?}",
        s.repaired
    );
    let (inspections, photos): (BTreeSet<String>, BTreeMap<String, String>) = store
        .read(|c| {
            let ids = c
                .raw()
                .prepare("SELECT uuid FROM inspections")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<BTreeSet<String>, _>>()?;
            let photos = c
                .raw()
                .prepare("SELECT uuid, sha256 FROM photos")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<BTreeMap<String, String>, _>>()?;
            Ok((ids, photos))
        })
        .await
        .expect("read");
    let queued: BTreeSet<String> = s.queued.iter().map(Uuid::to_string).collect();
    assert_eq!(inspections, queued, "every inspection ever queued, once");
    let attached: BTreeMap<String, String> = s
        .photos
        .iter()
        .map(|(id, sha)| (id.to_string(), sha.clone()))
        .collect();
    assert_eq!(
        photos, attached,
        "every photo ever attached, with its bytes"
    );
    for (i, c) in clients.iter().enumerate() {
        let client_id = c.client_id().to_string();
        let (n, last): (i64, i64) = store
            .read(move |t| {
                Ok(t.raw().query_row(
                    "SELECT (SELECT count(*) FROM mutations m WHERE m.client_row = c.id), c.last_mutation_id
                     FROM clients c WHERE c.client_id = ?1",
                    [client_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .await
            .expect("install");
        assert_eq!(n, last, "install {i}: its record is gapless");
        // The phone holds what the server holds for it.
        let user = store
            .read(|t| lantian_store::identity::user_by_username(t, "demo_inspector"))
            .await
            .expect("user")
            .expect("exists");
        let scopes = store
            .read(move |t| lantian_store::pull::scopes_for(t, &user))
            .await
            .expect("scopes");
        let server: BTreeMap<(String, String), String> = store
            .read(move |t| {
                Ok(lantian_store::sync::current(t, &scopes)?
                    .into_iter()
                    .map(|(entity, id, _, data)| ((entity, id), data))
                    .collect())
            })
            .await
            .expect("server view");
        let phone: BTreeMap<(String, String), String> = c
            .dump()
            .expect("dump")
            .into_iter()
            .map(|(e, id, _, data)| ((e, id), data))
            .collect();
        assert_eq!(phone, server, "install {i} equals the server");
    }
    drop(store);
    for n in &mut nodes {
        n.kill();
    }
    let mut verify = shared.command(&nodes[0].data);
    verify.args(["audit", "verify"]);
    let v = run_ok(verify, "lantian audit verify");
    let mut photo_check = shared.command(&nodes[0].data);
    photo_check.args(["audit", "photos"]);
    let p = run_ok(photo_check, "lantian audit photos");
    let faults: Vec<usize> = proxies
        .iter()
        .map(|p| p.faults().iter().sum::<usize>())
        .collect();
    println!(
        "two nodes, seed {seed}: {cycles} kills, {} inspections, {} photos, {} pulls, faults per proxy {faults:?}; \
         0 lost, 0 duplicated, 0 repairs\n{}\n{}",
        queued.len(),
        attached.len(),
        s.pulls,
        v.lines().next().unwrap_or_default(),
        p.lines().next().unwrap_or_default()
    );
    drop(shared.moto);
}

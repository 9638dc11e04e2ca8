//! A fault-injecting TCP proxy between a client and a server on 127.0.0.1. Per connection it can
//! forward faithfully or let the request through and then drop the response (the server applied
//! it; the client never hears), or cut a connection after a number of request bytes (an upload
//! dies mid-way). With [`Proxy::chaos`] every connection instead draws one [`Fault`] from a
//! seeded generator: reset, cut at a byte either way, stall, or a slow trickle. Use with clients
//! that open one connection per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub addr: SocketAddr,
    /// Drop the responses of this many coming connections.
    drop_next: Arc<AtomicUsize>,
    /// Otherwise drop a response with this probability in percent (seeded).
    drop_percent: Arc<AtomicU64>,
    dropped: Arc<AtomicUsize>,
    /// Cut a coming connection after this many request bytes (0: no cut)...
    cut_next: Arc<AtomicU64>,
    /// ...once this many more connections have passed untouched.
    cut_skip: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
    /// Percent of connections that get a random [`Fault`] (0: off).
    chaos_percent: Arc<AtomicU64>,
    /// Faults applied so far, by kind (index = [`Fault::index`]).
    faults: Arc<[AtomicUsize; FAULT_KINDS]>,
    /// Requests whose path starts with this prefix: the answer of the first, third, fifth... of
    /// each path is dropped (see [`Proxy::drop_every_first_answer`]).
    alternate: Arc<std::sync::Mutex<Alternate>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Alternate {
    prefix: Option<String>,
    seen: std::collections::HashMap<String, usize>,
}

/// One connection's fault, drawn by [`Proxy::chaos`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request reaches the server; the response is dropped unseen.
    DropResponse,
    /// The connection is reset (RST) after this many request bytes.
    Reset(u64),
    /// The request is cut (FIN both ways) after this many bytes.
    CutRequest(u64),
    /// The response is cut after this many bytes.
    CutResponse(u64),
    /// Nothing passes for this many milliseconds, then the connection proceeds.
    Stall(u64),
    /// Both directions trickle in chunks of this many bytes, one chunk per millisecond.
    Slow(usize),
}

pub const FAULT_KINDS: usize = 6;

impl Fault {
    pub fn index(self) -> usize {
        match self {
            Fault::DropResponse => 0,
            Fault::Reset(_) => 1,
            Fault::CutRequest(_) => 2,
            Fault::CutResponse(_) => 3,
            Fault::Stall(_) => 4,
            Fault::Slow(_) => 5,
        }
    }

    pub const NAMES: [&'static str; FAULT_KINDS] = [
        "drop response",
        "reset",
        "cut request",
        "cut response",
        "stall",
        "slow",
    ];

    fn draw(rng: &mut lantian_client::sim::Rng) -> Fault {
        // Cut points spread over request heads, small bodies and the middle of photo chunks.
        let at = |rng: &mut lantian_client::sim::Rng| match rng.below(3) {
            0 => rng.below(200) as u64,
            1 => 200 + rng.below(2_000) as u64,
            _ => 2_000 + rng.below(80_000) as u64,
        };
        match rng.below(FAULT_KINDS) {
            0 => Fault::DropResponse,
            1 => Fault::Reset(at(rng)),
            2 => Fault::CutRequest(at(rng)),
            3 => Fault::CutResponse(rng.below(600) as u64),
            4 => Fault::Stall(200 + rng.below(1_500) as u64),
            _ => Fault::Slow(64 + rng.below(4_000)),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("addr");
        let drop_next = Arc::new(AtomicUsize::new(0));
        let drop_percent = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let cut_next = Arc::new(AtomicU64::new(0));
        let cut_skip = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let chaos_percent = Arc::new(AtomicU64::new(0));
        let faults: Arc<[AtomicUsize; FAULT_KINDS]> = Arc::new(Default::default());
        let alternate: Arc<std::sync::Mutex<Alternate>> = Arc::default();
        let alt = alternate.clone();
        let (dn, dp, dr) = (drop_next.clone(), drop_percent.clone(), dropped.clone());
        let (cn, cs, cc) = (cut_next.clone(), cut_skip.clone(), cuts.clone());
        let (chaos, counts) = (chaos_percent.clone(), faults.clone());
        let task = tokio::spawn(async move {
            let mut rng = lantian_client::sim::Rng(seed);
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let watching = alt.lock().map(|a| a.prefix.clone()).unwrap_or_default();
                if let Some(prefix) = watching {
                    tokio::spawn(alternating(
                        inbound,
                        upstream,
                        prefix,
                        alt.clone(),
                        dr.clone(),
                    ));
                    continue;
                }
                if rng.next_u64() % 100 < chaos.load(Ordering::Relaxed) {
                    let fault = Fault::draw(&mut rng);
                    counts[fault.index()].fetch_add(1, Ordering::SeqCst);
                    if fault == Fault::DropResponse {
                        dr.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(relay(inbound, upstream, true));
                    } else {
                        tokio::spawn(faulty(inbound, upstream, fault));
                    }
                    continue;
                }
                let forced = dn
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let drop_it = forced || rng.next_u64() % 100 < dp.load(Ordering::Relaxed);
                if drop_it {
                    dr.fetch_add(1, Ordering::SeqCst);
                }
                let waiting = cs
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let cut = if waiting {
                    0
                } else {
                    cn.swap(0, Ordering::SeqCst)
                };
                if cut > 0 {
                    cc.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(cut_after(inbound, upstream, cut));
                    continue;
                }
                tokio::spawn(relay(inbound, upstream, drop_it));
            }
        });
        Proxy {
            addr,
            drop_next,
            drop_percent,
            dropped,
            cut_next,
            cut_skip,
            cuts,
            chaos_percent,
            faults,
            alternate,
            task,
        }
    }

    /// From now on, the answer of every call whose path starts with `prefix` is dropped once: of
    /// the requests to one path, the 1st, 3rd, 5th... lose their answer and the 2nd, 4th... (the
    /// client's retries) pass. Other requests pass untouched.
    pub fn drop_every_first_answer(&self, prefix: &str) {
        if let Ok(mut a) = self.alternate.lock() {
            a.prefix = Some(prefix.to_owned());
            a.seen.clear();
        }
    }

    /// From now on, `percent` of connections get a random [`Fault`] (0 turns it off).
    pub fn chaos(&self, percent: u64) {
        self.chaos_percent.store(percent.min(100), Ordering::SeqCst);
    }

    /// Random faults applied so far, by kind, in the order of [`Fault::NAMES`].
    pub fn faults(&self) -> [usize; FAULT_KINDS] {
        std::array::from_fn(|i| self.faults[i].load(Ordering::SeqCst))
    }

    /// After `skip` more connections pass untouched, the next forwards `bytes` of its request and
    /// then both sides are cut.
    pub fn cut_after(&self, skip: usize, bytes: u64) {
        self.cut_skip.store(skip, Ordering::SeqCst);
        self.cut_next.store(bytes, Ordering::SeqCst);
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn drop_next_responses(&self, n: usize) {
        self.drop_next.store(n, Ordering::SeqCst);
    }

    pub fn drop_percent(&self, p: u64) {
        self.drop_percent.store(p.min(100), Ordering::SeqCst);
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

async fn relay(inbound: TcpStream, upstream: SocketAddr, drop_response: bool) {
    relay_after(inbound, upstream, &[], drop_response).await;
}

/// Relays a connection of which `head` (the first bytes of the request) was already read.
async fn relay_after(inbound: TcpStream, upstream: SocketAddr, head: &[u8], drop_response: bool) {
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    if outbound.write_all(head).await.is_err() {
        return;
    }
    let (mut ri, mut wi) = inbound.into_split();
    let (mut ro, mut wo) = outbound.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut ri, &mut wo).await;
        let _ = wo.shutdown().await;
    });
    if drop_response {
        // Wait until the server starts answering (it has handled the request), then cut both sides
        // without passing a byte on.
        let mut buf = [0u8; 1];
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), ro.read(&mut buf)).await;
        up.abort();
        drop(wi);
        return;
    }
    let _ = tokio::io::copy(&mut ro, &mut wi).await;
    let _ = wi.shutdown().await;
    up.abort();
}

/// Reads the request line, decides by its path, and relays (dropping the answer or not).
async fn alternating(
    mut inbound: TcpStream,
    upstream: SocketAddr,
    prefix: String,
    alt: Arc<std::sync::Mutex<Alternate>>,
    dropped: Arc<AtomicUsize>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 16 * 1024 {
        match inbound.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
    let drop_it = path.starts_with(&prefix)
        && alt.lock().is_ok_and(|mut a| {
            let n = a.seen.entry(path.clone()).or_insert(0);
            *n += 1;
            *n % 2 == 1
        });
    if drop_it {
        dropped.fetch_add(1, Ordering::SeqCst);
    }
    relay_after(inbound, upstream, &head, drop_it).await;
}

async fn cut_after(inbound: TcpStream, upstream: SocketAddr, bytes: u64) {
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    let (ri, _wi) = inbound.into_split();
    let (_ro, mut wo) = outbound.into_split();
    let mut limited = ri.take(bytes);
    let _ = tokio::io::copy(&mut limited, &mut wo).await;
    // Both sockets close here without a response: the client sees its connection die mid-request.
}

/// Copies `from` to `to` with `fault` applied to this direction; returns when either side ends.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    limit: Option<u64>,
    trickle: Option<usize>,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    let mut passed = 0u64;
    loop {
        let room = limit.map_or(buf.len() as u64, |l| (l - passed).min(buf.len() as u64));
        if room == 0 {
            return true; // the limit was reached: the caller cuts
        }
        let Ok(n) = from.read(&mut buf[..room as usize]).await else {
            return false;
        };
        if n == 0 {
            let _ = to.shutdown().await;
            return false;
        }
        match trickle {
            Some(step) => {
                for chunk in buf[..n].chunks(step) {
                    if to.write_all(chunk).await.is_err() {
                        return false;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            None => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return false;
                }
            }
        }
        passed += n as u64;
    }
}

async fn faulty(inbound: TcpStream, upstream: SocketAddr, fault: Fault) {
    if let Fault::Stall(ms) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    let (req_limit, resp_limit, trickle) = match fault {
        Fault::Reset(n) | Fault::CutRequest(n) => (Some(n), None, None),
        Fault::CutResponse(n) => (None, Some(n), None),
        Fault::Slow(step) => (None, None, Some(step)),
        Fault::Stall(_) | Fault::DropResponse => (None, None, None),
    };
    if matches!(fault, Fault::Reset(_)) {
        // SO_LINGER 0: closing sends RST instead of FIN.
        let _ = inbound.set_zero_linger();
        let _ = outbound.set_zero_linger();
    }
    let (ri, wi) = inbound.into_split();
    let (ro, wo) = outbound.into_split();
    let up = pump(ri, wo, req_limit, trickle);
    let down = pump(ro, wi, resp_limit, trickle);
    // Whichever direction ends first (normally, or at its cut) ends the connection, as a cut
    // does; a normal exchange ends when the server has answered and the client closes.
    tokio::pin!(up, down);
    tokio::select! {
        cut = &mut up => {
            if !cut {
                // The request side closed normally: let the response finish.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), down).await;
            }
        }
        _ = &mut down => {}
    }
}

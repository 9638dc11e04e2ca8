//! A fault-injecting TCP proxy between a client and a server on 127.0.0.1. Per connection it can
//! forward faithfully or let the request through and then drop the response (the server applied
//! it; the client never hears), or cut a connection after a number of request bytes (an upload
//! dies mid-way). Use with clients that open one connection per request.

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
    task: tokio::task::JoinHandle<()>,
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
        let (dn, dp, dr) = (drop_next.clone(), drop_percent.clone(), dropped.clone());
        let (cn, cs, cc) = (cut_next.clone(), cut_skip.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            let mut rng = lantian_client::sim::Rng(seed);
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
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
            task,
        }
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
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return;
    };
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

//! A large JPEG is decoded on the decode pool's threads alone: `jpeg-decoder` starts no threads
//! of its own (it did, one per colour component, for every image past 128 x 128), so decoding
//! never takes more threads than `decode_threads` grants. Its own test binary: the count of the
//! process's threads is not disturbed by other tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_jpeg_is_decoded_on_the_pool_threads_alone() {
    let (w, h) = (2048u16, 1536u16);
    let pixels: Vec<u8> = (0..u32::from(w) * u32::from(h))
        .flat_map(|i| {
            let (x, y) = (i % u32::from(w), i / u32::from(w));
            [(x % 251) as u8, (y % 241) as u8, ((x ^ y) % 239) as u8]
        })
        .collect();
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 90)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encoded");

    let pool = lantian_media::pool::Pool::start(1).expect("pool");
    // The pool's thread is up before the count is taken.
    assert_eq!(pool.run(|| 1).await.ok(), Some(1));
    let (done, most) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let watcher = {
        let (done, most) = (Arc::clone(&done), Arc::clone(&most));
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(30);
            while !done.load(Ordering::Relaxed) && Instant::now() < end {
                most.fetch_max(threads(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    let before = threads();
    for _ in 0..3 {
        let bytes = bytes.clone();
        let decoded = pool
            .run(move || {
                let mut d = jpeg_decoder::Decoder::new(&bytes[..]);
                d.decode().map(|p| p.len())
            })
            .await
            .expect("ran")
            .expect("decodes");
        assert_eq!(decoded, pixels.len());
    }
    done.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    assert_eq!(
        most.load(Ordering::Relaxed),
        before,
        "threads were started while decoding"
    );
}

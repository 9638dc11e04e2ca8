//! Passwords: argon2id hashes, checked in constant time, computed on a fixed pool of threads. The
//! server's login and the CLI's `user add` both hash here.
//!
//! argon2id needs 19 MiB of working memory per hash. Run on tokio's blocking pool, successive hashes
//! land on different threads, each with its own malloc arena that keeps its 19 MiB: 40 concurrent
//! logins were measured at 750 MB of RSS. A few dedicated threads reuse their own memory, so the
//! cost stays at about 19 MiB per thread, and the thread count is also the concurrency limit that
//! keeps a login burst from taking every core.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub struct Hasher {
    tx: Mutex<mpsc::Sender<Job>>,
}

impl Hasher {
    pub fn start(threads: usize) -> std::io::Result<Hasher> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("lantian-hash-{i}"))
                .spawn(move || {
                    loop {
                        // Ends when the pool (the sender) is dropped.
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hasher { tx: Mutex::new(tx) })
    }

    /// Runs `f` on a hashing thread and waits for its result without blocking the async runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.tx.lock().ok()?.send(job).ok()?;
        result.await.ok()
    }
}

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes). Slow on purpose: call
/// it off the async threads (on a [`Hasher`], or a blocking thread in the CLI).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::PasswordHasher;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// What a login with a username that does not exist is verified against, so that a miss costs
/// what a hit costs: an argon2id hash with the parameters of [`hash`], of a password nobody has.
/// A constant rather than a hash made at start: making one took 19 MiB and 20 ms of every start.
pub const NO_SUCH_USER: &str = "$argon2id$v=19$m=19456,t=2,p=1$Bt5ym9IkZLp777hItHhH7w$BCYx4AD9bEp9KvDFl8VWKK7tkaJU6ceHn6HBg0jVIow";

thread_local! {
    /// argon2's working memory, kept by each hashing thread and reused for every verification:
    /// allocating 19 MiB per login leaves freed chunks in malloc arenas (measured: RSS held at
    /// ~110 MB after a few logins), reusing one buffer per thread keeps it at 19 MiB per thread.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks a password against a stored PHC string, in constant time over the output. Any malformed
/// hash is a mismatch.
pub fn verify(password: &str, phc: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    let ctx = argon2::Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = BLOCKS.with(|cell| {
        let mut memory = cell.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::new());
        }
        ctx.hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..blocks],
        )
    });
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_in_for_a_missing_user_costs_what_a_real_hash_costs() {
        let real = argon2::PasswordHash::new(&hash("anything at all").expect("hash"))
            .expect("parses")
            .params
            .to_string();
        let stand_in = argon2::PasswordHash::new(NO_SUCH_USER)
            .expect("parses")
            .params
            .to_string();
        assert_eq!(real, stand_in, "the same argon2 parameters");
        assert!(verify("lantian-no-such-user", NO_SUCH_USER));
        assert!(!verify("", NO_SUCH_USER));
    }

    #[test]
    fn the_demo_users_hash_is_the_demo_password_with_every_accounts_parameters() {
        use lantian_domain::reference::{DEMO_PASSWORD, DEMO_PASSWORD_HASH};
        assert!(verify(DEMO_PASSWORD, DEMO_PASSWORD_HASH));
        let real = argon2::PasswordHash::new(&hash(DEMO_PASSWORD).expect("hash"))
            .expect("parses")
            .params
            .to_string();
        let demo = argon2::PasswordHash::new(DEMO_PASSWORD_HASH)
            .expect("parses")
            .params
            .to_string();
        assert_eq!(real, demo);
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
        // The same password against a hash whose output was altered.
        let last = h.chars().last().expect("non-empty");
        let altered = format!(
            "{}{}",
            &h[..h.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        );
        assert!(!verify("correct horse", &altered));
        // Agrees with the crate's own verifier on a hash made with other parameters.
        use argon2::PasswordHasher;
        let other = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 3, 1, None).expect("params"),
        )
        .hash_password(b"correct horse")
        .expect("hash")
        .to_string();
        assert!(verify("correct horse", &other));
    }
}

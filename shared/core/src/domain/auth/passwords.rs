//! Password hashes: Argon2id, on a small pool of threads of their own.
//!
//! # Why a pool of its own
//! One Argon2id hash (OWASP's parameters: 19 MiB, two passes) takes tens of milliseconds of CPU
//! and 19 MiB of memory. Run on tokio's blocking pool, as many hashes ran at once as logins
//! arrived (up to 512 threads), each allocating its 19 MiB, and the allocator kept those arenas
//! per thread: a flood of 200 logins left the server at 3.9 GB, never given back. So:
//!
//! * hashes run on a [`PasswordPool`]'s threads (about one per core, [`default_workers`]: more
//!   would only queue for the CPU),
//!   each reusing one arena for every hash it computes, allocated on its first hash; the memory
//!   of hashing is bounded at `workers × 19 MiB` whatever the load;
//! * at most [`QUEUE_PER_WORKER`] hashes per worker wait their turn; past that, a login or a
//!   registration is refused at once with [`Error::Unavailable`] (503 with `Retry-After`), rather
//!   than queueing work nobody will wait for. The per-address limits on login and registration
//!   keep one client from filling the queue.
//!
//! An unknown username is checked against a dummy hash, so the answer takes as long as a wrong
//! password's and timing does not tell which usernames exist.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;

use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// Hashes that may wait per worker before new ones are refused: at tens of milliseconds a hash,
/// the last in line waits a few seconds, about as long as anyone waits for a login.
pub const QUEUE_PER_WORKER: usize = 128;

/// How many threads hash by default: the number of cores.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

enum Work {
    Hash(String),
    /// A password and the hash to check it against (`None`: the dummy).
    Verify(String, Option<String>),
}

/// What a worker answers: the PHC string of a hash; for a check, non-empty when it matched.
type Answer = Result<String>;

/// The threads that hash passwords, and the queue in front of them. Dropping the pool stops
/// its threads once they finish what they were given.
pub struct PasswordPool {
    queue: SyncSender<(Work, oneshot::Sender<Answer>)>,
}

impl PasswordPool {
    /// A pool of `workers` threads (at least one), each with `queue_per_worker` places in line
    /// ([`QUEUE_PER_WORKER`] in production).
    pub fn new(workers: usize, queue_per_worker: usize) -> Self {
        let workers = workers.max(1);
        let (queue, jobs) = sync_channel(workers * queue_per_worker);
        let jobs = std::sync::Arc::new(parking_lot::Mutex::new(jobs));
        for n in 0..workers {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    let mut worker = Worker::default();
                    loop {
                        let next: std::result::Result<(Work, oneshot::Sender<Answer>), _> =
                            jobs.lock().recv();
                        let Ok((work, reply)) = next else { return };
                        let _ = reply.send(worker.run(work));
                    }
                })
                .expect("spawn a password-hashing thread");
        }
        Self { queue }
    }

    /// The Argon2id hash of `password` with a fresh salt, as a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(Work::Hash(password)).await
    }

    /// Whether `password` matches `hash`; with no hash (an unknown user) it is checked against
    /// a dummy one and fails, taking as long as a real check.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let verified = self.run(Work::Verify(password, hash)).await?;
        Ok(!verified.is_empty())
    }

    async fn run(&self, work: Work) -> Answer {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send((work, reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Error::Unavailable(
                    "too many sign-ins at once; try again in a moment".into(),
                ))
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::Internal("password hashing stopped".into()))
            }
        }
        answer
            .await
            .map_err(|_| Error::Internal("password hashing stopped".into()))?
    }
}

/// One hashing thread's state: its arena, allocated on first use and reused ever after.
#[derive(Default)]
struct Worker {
    arena: Vec<Block>,
}

impl Worker {
    fn run(&mut self, work: Work) -> Answer {
        match work {
            Work::Hash(password) => self.hash(&password),
            Work::Verify(password, hash) => {
                let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
                Ok(if self.matches(&password, &hash) {
                    "ok".into()
                } else {
                    String::new()
                })
            }
        }
    }

    fn hash(&mut self, password: &str) -> Answer {
        let params = Params::default();
        let salt = SaltString::generate(&mut OsRng);
        let mut raw = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let salt_bytes = salt_bytes(&salt)?;
        self.compute(&params, password.as_bytes(), &salt_bytes, &mut raw)?;
        let output = Output::new(&raw).map_err(internal)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params).try_into().map_err(internal)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` hashes to `phc` (a hash this server wrote: Argon2id).
    fn matches(&mut self, password: &str, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(expected), Some(salt), Ok(params)) =
            (parsed.hash, parsed.salt, Params::try_from(&parsed))
        else {
            return false;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return false;
        }
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let mut raw = vec![0u8; expected.len()];
        if self
            .compute(&params, password.as_bytes(), salt, &mut raw)
            .is_err()
        {
            return false;
        }
        // `Output`'s equality is constant-time.
        Output::new(&raw).is_ok_and(|actual| actual == expected)
    }

    fn compute(
        &mut self,
        params: &Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let blocks = params.block_count();
        if self.arena.len() < blocks {
            self.arena.resize(blocks, Block::default());
        }
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password, salt, out, &mut self.arena[..blocks])
            .map_err(internal)
    }
}

fn salt_bytes(salt: &SaltString) -> Result<Vec<u8>> {
    let mut buf = [0u8; 64];
    salt.as_salt()
        .decode_b64(&mut buf)
        .map(<[u8]>::to_vec)
        .map_err(internal)
}

fn internal(error: impl std::fmt::Display) -> Error {
    Error::Internal(format!("password hash: {error}"))
}

/// Argon2id hash of a random password nobody knows, computed once.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        Worker::default()
            .hash(&uuid::Uuid::new_v4().to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only_and_reads_as_a_standard_argon2id_string() {
        let pool = PasswordPool::new(2, QUEUE_PER_WORKER);
        let phc = pool.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let verify = |password: &str, hash: Option<&str>| {
            pool.verify(password.into(), hash.map(str::to_string))
        };
        assert!(verify("correct horse", Some(&phc)).await.unwrap());
        assert!(!verify("correct horsf", Some(&phc)).await.unwrap());
        assert!(!verify("correct horse", None).await.unwrap());
        assert!(!verify("x", Some("not a hash")).await.unwrap());
        // Hashes written by the argon2 crate's own hasher (accounts made before the pool) verify.
        use argon2::password_hash::PasswordHasher as _;
        let salt = SaltString::generate(&mut OsRng);
        let older = Argon2::default()
            .hash_password(b"older account", &salt)
            .unwrap()
            .to_string();
        assert!(verify("older account", Some(&older)).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_waiting() {
        let queue = 4;
        let pool = PasswordPool::new(1, queue);
        // More hashes than the worker and its queue hold, all at once.
        let burst = queue + 8;
        let answers =
            futures::future::join_all((0..burst).map(|i| pool.hash(format!("password {i}")))).await;
        let refused = answers
            .iter()
            .filter(|a| matches!(a, Err(Error::Unavailable(_))))
            .count();
        let hashed = answers.iter().filter(|a| a.is_ok()).count();
        assert!(refused > 0, "the overflow is refused");
        assert_eq!(hashed + refused, burst, "every request is answered");
        assert!(hashed >= queue, "{hashed} hashed");
    }
}

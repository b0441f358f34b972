//! How a store is opened: durability, group commit, caches.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The environment variable a deployment reads [`Durability`] from (`process-safe`, the
/// default, or `power-safe`).
pub const DURABILITY_ENV: &str = "TACOS_DURABILITY";

/// What an acknowledged write survives. Both settings keep the database consistent through any
/// crash (SQLite's write-ahead log is atomic); they differ in which acknowledged writes a power
/// loss can take back. See docs/storage.md for the measured cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A write is acknowledged once its commit is in the write-ahead log, in the operating
    /// system's hands: a crash of the process (SIGKILL, panic, out of memory) loses nothing
    /// acknowledged. The log is flushed to the disk every [`SqliteOptions::sync_interval`], so a
    /// power loss or kernel crash can take back the writes of about that long (1 s by default).
    #[default]
    ProcessSafe,
    /// A write is acknowledged only after its commit is flushed to the disk (`fsync`), once per
    /// group of concurrent commits: a power loss loses nothing acknowledged either, at the price
    /// of one disk flush per group commit.
    PowerSafe,
}

impl Durability {
    /// Reads [`DURABILITY_ENV`]; unset means the default.
    pub fn from_env() -> Result<Self, UnknownDurability> {
        match std::env::var(DURABILITY_ENV) {
            Ok(value) => value.parse(),
            Err(_) => Ok(Self::default()),
        }
    }

    /// SQLite's `synchronous` setting for it (in WAL mode, NORMAL syncs only at checkpoints,
    /// FULL syncs the log at every commit).
    pub(crate) fn synchronous(self) -> &'static str {
        match self {
            Self::ProcessSafe => "NORMAL",
            Self::PowerSafe => "FULL",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ProcessSafe => "process-safe",
            Self::PowerSafe => "power-safe",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown durability {0:?} (expected \"process-safe\" or \"power-safe\")")]
pub struct UnknownDurability(pub String);

impl FromStr for Durability {
    type Err = UnknownDurability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "process-safe" => Ok(Self::ProcessSafe),
            "power-safe" => Ok(Self::PowerSafe),
            other => Err(UnknownDurability(other.to_string())),
        }
    }
}

/// How [`SqliteStore::open`](crate::SqliteStore::open) sets up a store; `Default` is what a
/// deployment should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// How often the write-ahead log is checkpointed into the database file and flushed to
    /// disk, off the writer thread. Under [`Durability::ProcessSafe`] it bounds what a power
    /// loss can take back.
    pub sync_interval: Duration,
    /// Most transactions committed together by the writer thread (group commit): each has its
    /// own outcome, and all are acknowledged after the one `COMMIT`.
    pub max_batch: usize,
    /// Read-only connections kept open between reads (each with its page cache and prepared
    /// statements). Reads run on the calling thread and never wait for one another: a read that
    /// finds none idle opens one, closed after if this many are already kept. The default, the
    /// machine's threads (at least 4), covers a runtime's workers reading at once.
    pub readers: usize,
    /// Page cache of each connection, in MiB.
    pub cache_mib: u32,
    /// Whether `open` runs SQLite's `quick_check` over the whole file to refuse a corrupted one
    /// before serving from it (linear in the file's size: about a second per few hundred MB).
    pub check_on_open: bool,
    /// Items kept in memory as stored (their JSON text) after they are written or read, so that
    /// reading one again skips SQLite (`recent.rs`); 0 keeps none. The default, 16,384, holds
    /// what the last second or two of a rush at 1,000 purchases a second wrote (a few MB).
    pub recent_items: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            sync_interval: Duration::from_secs(1),
            max_batch: 128,
            readers: std::thread::available_parallelism().map_or(4, |n| n.get().max(4)),
            cache_mib: 16,
            check_on_open: true,
            recent_items: 16_384,
        }
    }
}

impl SqliteOptions {
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_reads_its_two_names_and_refuses_others() {
        assert_eq!("process-safe".parse(), Ok(Durability::ProcessSafe));
        assert_eq!(" power-safe\n".parse(), Ok(Durability::PowerSafe));
        assert_eq!(
            "fsync".parse::<Durability>(),
            Err(UnknownDurability("fsync".into()))
        );
        for durability in [Durability::ProcessSafe, Durability::PowerSafe] {
            assert_eq!(durability.to_string().parse(), Ok(durability));
        }
        assert_eq!(Durability::default(), Durability::ProcessSafe);
    }
}

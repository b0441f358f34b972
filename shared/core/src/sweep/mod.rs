//! The sweep: timed work that AWS lost is found and done.
//!
//! On AWS every timer is a one-shot EventBridge Scheduler schedule invoking a function
//! asynchronously. Scheduler deletes the schedule once it has handed the invocation to Lambda, and
//! Lambda tries a failing invocation three times in all before sending it to the function's
//! on-failure destination. So an `expire` that fails three times (DynamoDB throttled mid-rush), a
//! schedule deleted by hand, or a webhook delivery that never gets through would leave a hold on
//! its seats, or an approved payment unreported, for good: nothing would ever run the job again.
//!
//! The sweep closes that gap with two halves:
//!
//! * [`LedgeredScheduler`] wraps the deployment's scheduler and, before setting each timer,
//!   writes the job into a **ledger** of due work: one item per job in the partition of the
//!   minute it is due (sharded, so a rush's holds spread over [`ledger::SHARDS`] partitions).
//!   Scheduling a job again writes it again under its new minute; cancelling a job leaves its
//!   entry, which the sweep then finds already done (every job is idempotent).
//! * [`Sweeper::sweep`], run every minute (the `sweeper` function, on a scheduled EventBridge
//!   rule), reads the minutes that have passed since the last sweep, from a cursor item, and runs
//!   each job found there through the same [`JobHandler`](crate::ports::JobHandler) the timers
//!   call: a hold past its expiry is released, a payment settled, a webhook delivered again (the
//!   platform recognises a redelivery by its id and ignores it). A minute is swept once it ended
//!   [`sweeper::SETTLE_MS`] ago, so the timer itself comes first; a lost timer's work is done
//!   within two minutes of when it was due. A job that fails in the sweep is written again under
//!   the current minute (which the sweep reads a minute or two later) with its attempts counted,
//!   and logged as an error each time: it is never dropped, and never silent.
//!
//! The embedded server does not need this: its timers are journaled in its own store
//! ([`crate::in_process::Journal`]) and retried until they succeed.
//!
//! Cost on DynamoDB: one more write per timer set (a hold, a settlement, a webhook's retry after
//! a failed post),
//! one query per shard per minute, and one run of each job (a hold already confirmed costs one
//! read). Ledger items carry a TTL of a week.

pub mod ledger;
pub mod sweeper;

pub use ledger::{Ledger, LedgeredScheduler};
pub use sweeper::{SweepReport, Sweeper};

//! Combinators over futures: asyncio's `gather`, `as_completed`, `wait`, plus `select`,
//! `race` and `retry`. (`wait_for` is [`time::timeout`](crate::time::timeout).)
//!
//! These run their futures concurrently *inside the calling task* (no task is spawned),
//! so the futures need not be `'static`. To run work as separate tasks, spawn it (see
//! [`task::JoinSet`](crate::task::JoinSet)) and combine the handles.
//!
//! What is here has asyncio's semantics, which futures-util's namesakes do not share:
//! `join_all` gives each future its own waker (a wake-up polls only the future that was
//! woken, at any size), `select` drops the loser instead of handing it back, and
//! `join_all_settled`, `as_completed` and `retry` have no futures-util counterpart. Every
//! future and stream here is an ordinary `Future`/`Stream`, so futures-util's combinators
//! (re-exported for streams in [`stream`](crate::stream)) apply to them as well.

mod as_completed;
mod children;
mod join;
mod join_macros;
mod join_pair;
mod maybe_done;
mod retry;
mod select;
mod select_macro;

pub use as_completed::{AsCompleted, as_completed};
pub use join::{
    CatchPanic, JoinAll, Panicked, TryJoinAll, join_all, join_all_settled, try_join_all,
};
pub use join_pair::{Join, Join3, join, join3};
pub use retry::{Backoff, RetryPolicy, retry, retry_if};
pub use select::{Either, SelectAll, race, select, select_all};

/// Support for the `join!`, `try_join!` and `select!` macros: public so that their
/// expansions in other crates can name it, not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use super::maybe_done::{MaybeDone, output, select_start};
}

//! Async iteration (asyncio's `async for`): every ringcore stream implements
//! [`futures_core::Stream`] ([`fs::Lines`](crate::fs::Lines),
//! [`time::Interval`](crate::time::Interval), [`future::as_completed`](crate::future::as_completed)).
//!
//! Make a stream with [`generate()`] (an async generator, ringcore's own) or [`unfold`];
//! consume one with [`StreamExt::next`] in a `while let` loop, or [`StreamExt::collect`].
//!
//! [`StreamExt`], [`unfold`] and their types are futures-util's, re-exported: importing
//! `futures::StreamExt` next to `ringcore::stream::StreamExt` names the same trait, so the
//! two never clash, and ringcore streams work with every futures-util combinator.
//!
//! # Examples
//!
//! ```
//! use ringcore::stream::{StreamExt, unfold};
//!
//! ringcore::block_on(async {
//!     let countdown = unfold(3u32, |n| async move { (n > 0).then(|| (n, n - 1)) });
//!     let v: Vec<u32> = countdown.collect().await;
//!     assert_eq!(v, [3, 2, 1]);
//! });
//! ```

mod generate;

pub use futures_core::Stream;
pub use futures_util::stream::{Collect, Map, Next, StreamExt, Take, Unfold, unfold};
pub use generate::{Generate, Yielder, generate};

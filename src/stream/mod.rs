//! Async iteration (asyncio's `async for`): every ringcore stream implements
//! [`futures_core::Stream`] ([`fs::Lines`](crate::fs::Lines),
//! [`time::Interval`](crate::time::Interval), [`future::as_completed`](crate::future::as_completed)).
//!
//! Make a stream with [`generate`] (an async generator) or [`unfold`]; consume one with
//! [`StreamExt::next`] in a `while let` loop, or [`StreamExt::collect`].

mod ext;
mod generate;
mod unfold;

pub use ext::{Map, Next, StreamExt, Take};
pub use futures_core::Stream;
pub use generate::{Generate, Yielder, generate};
pub use unfold::{Unfold, unfold};

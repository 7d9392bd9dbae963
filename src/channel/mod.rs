//! Cross-core communication: a bounded multi-producer channel ([`channel`]) and running
//! work on another core ([`submit_to`], [`spawn_on`]).
//!
//! Cores share nothing but what goes through here. Both halves of a channel are `Send`, so
//! they can be moved to any core (or plain thread); a task waiting on a channel is woken
//! through its own core's remote queue and eventfd, which costs one eventfd write per park
//! of that core however many messages arrive meanwhile.
//!
//! Every atomic and lock used here (and by the runtime's stop signal for worker cores)
//! comes from one module (`sync`), so the handshakes can be model-checked with loom by
//! swapping that module.

mod bounded;
mod error;
pub(crate) mod submit;
pub(crate) mod sync;

pub use bounded::{Receiver, RecvFuture, SendFuture, Sender, channel};
pub use error::{SendError, TryRecvError, TrySendError};
pub use submit::{CoreJoinHandle, SubmitError, spawn_on, submit_to};

//! Cross-core communication: a bounded multi-producer channel ([`channel`]) and running
//! work on another core ([`submit_to`], [`spawn_on`]).
//!
//! Cores share nothing but what goes through here. Both halves of a channel are `Send`, so
//! they can be moved to any core (or plain thread); a task waiting on a channel is woken
//! through its own core's remote queue and eventfd, which costs one eventfd write per park
//! of that core however many messages arrive meanwhile.
//!
//! Every atomic and lock used here comes from `crate::loom`, so the handshakes can be
//! model-checked (docs/style.md, habit 10).

mod bounded;
mod error;

pub use crate::runtime::submit::{
    CoreJoinHandle, EachCore, SubmitError, run_on_each_core, spawn_on, submit_to,
};
pub use bounded::{Receiver, RecvFuture, SendFuture, Sender, channel};
pub use error::{SendError, TryRecvError, TrySendError};

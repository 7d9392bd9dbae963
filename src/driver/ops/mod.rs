//! One file per opcode family. Each type owns what its SQE points to and says what a late
//! CQE means (see `OpCode`).

pub(crate) mod fs;
pub(crate) mod multishot;
pub(crate) mod net;
pub(crate) mod rw;

/// The old path of `driver::orphans`, which `net::socket` still names (the net side of the
/// renames is another change of issue 27; then this goes).
pub(crate) use super::orphans as stash;

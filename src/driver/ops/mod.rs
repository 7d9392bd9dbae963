//! One file per opcode family. Each type owns what its SQE points to and says what a late
//! CQE means (see `OpCode`).

pub(crate) mod fs;
pub(crate) mod multishot;
pub(crate) mod net;
pub(crate) mod rw;

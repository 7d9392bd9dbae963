//! The contract as a checker: a model of what each key may hold, fed with what clients
//! sent, what was acknowledged and what was read, that reports the first violation.
//!
//! The workload it models: every key has exactly one writer, which sets it to the values
//! `1, 2, 3, ...` in order, one SET at a time (the value's text is the number, see
//! [`value_text`]). For each key the model keeps
//!
//! - `acked`: the highest value whose SET was answered `OK`;
//! - `sent`: the highest value whose SET was sent (it may be applied or lost);
//! - `seen`: the highest value a GET returned.
//!
//! A GET answer `got` (0 for `NOTFOUND`) is correct when `max(acked, seen) <= got <= sent`,
//! taking `acked` and `seen` from before the GET was sent and `sent` from when the answer
//! arrived:
//!
//! - `got < acked`: an acknowledged write was lost (`--bug ack-before-fsync` after a crash);
//! - `got < seen`: a read went back in time (`--bug apply-before-log` after a crash);
//! - `got > sent`: the store invented a value.
//!
//! The model must be the only writer of its keys: [`Model::new`] takes a prefix for
//! their names. One model spans the server's crashes and restarts: durability is exactly that the
//! bounds hold across them. The checks need no clock, so they hold under a simulation's
//! virtual time as under real time.

use std::collections::BTreeMap;
use std::fmt;

/// What the model knows of one key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct KeyState {
    acked: u64,
    sent: u64,
    seen: u64,
}

/// A violation of the contract, with what the model knew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The key read.
    pub(crate) key: String,
    /// The value read (0 for `NOTFOUND`).
    pub(crate) got: u64,
    /// The highest acknowledged value before the read.
    pub(crate) acked: u64,
    /// The highest value read before.
    pub(crate) seen: u64,
    /// The highest value sent when the answer came.
    pub(crate) sent: u64,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.got < self.acked {
            "an acknowledged write was lost"
        } else if self.got < self.seen {
            "a read went back in time"
        } else {
            "a value that was never written"
        };
        write!(
            f,
            "{what}: GET {} gave {} (acknowledged {}, read before {}, sent {})",
            self.key, self.got, self.acked, self.seen, self.sent
        )
    }
}

/// The model of every key (see the module header).
#[derive(Debug, Default)]
pub(crate) struct Model {
    /// Put before every key name, so runs against one store do not meet.
    prefix: String,
    keys: BTreeMap<String, KeyState>,
}

/// The lower bound a GET's answer must meet, taken when the GET is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadFloor {
    acked: u64,
    seen: u64,
}

impl Model {
    /// A model whose key names start with `prefix`. The model must be the only writer of
    /// its keys: a store that already holds one of them (from an earlier run) reads as a
    /// value never written, so each run against a kept store needs a prefix of its own.
    pub(crate) fn new(prefix: impl Into<String>) -> Model {
        Model {
            prefix: prefix.into(),
            keys: BTreeMap::new(),
        }
    }

    /// The name of client `client`'s key in `slot`, generation `generation`.
    pub(crate) fn key_name(&self, client: u32, slot: u32, generation: u32) -> String {
        format!("{}c{client}-s{slot}-g{generation}", self.prefix)
    }

    /// The next value the key's writer should send: one past the highest sent.
    pub(crate) fn next_value(&self, key: &str) -> u64 {
        self.keys.get(key).map_or(0, |k| k.sent) + 1
    }

    /// Whether a SET of `key` was ever sent.
    pub(crate) fn knows(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// Every key a SET was sent for, in order.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Records that a SET of `key` to `value` is about to be sent.
    pub(crate) fn sent(&mut self, key: &str, value: u64) {
        let k = self.keys.entry(key.to_string()).or_default();
        k.sent = k.sent.max(value);
    }

    /// Records that the SET of `key` to `value` was answered `OK`.
    pub(crate) fn acked(&mut self, key: &str, value: u64) {
        let k = self.keys.entry(key.to_string()).or_default();
        k.acked = k.acked.max(value);
    }

    /// The floor for a GET of `key` about to be sent.
    pub(crate) fn read_floor(&self, key: &str) -> ReadFloor {
        let k = self.keys.get(key).copied().unwrap_or_default();
        ReadFloor {
            acked: k.acked,
            seen: k.seen,
        }
    }

    /// Checks a GET's answer (`None` for `NOTFOUND`, or the value's text) against the
    /// floor taken when it was sent, and records it as seen.
    ///
    /// # Errors
    ///
    /// The [`Violation`] if the answer breaks the contract; a value that is not a
    /// number is reported as a value never written.
    pub(crate) fn read(
        &mut self,
        key: &str,
        floor: ReadFloor,
        answer: Option<&str>,
    ) -> Result<(), Violation> {
        let sent = self.keys.get(key).map_or(0, |k| k.sent);
        let got = match answer {
            None => Some(0),
            Some(text) => parse_value(text),
        };
        let ok = got.is_some_and(|g| floor.acked.max(floor.seen) <= g && g <= sent);
        let got = got.unwrap_or(u64::MAX);
        if !ok {
            return Err(Violation {
                key: key.to_string(),
                got,
                acked: floor.acked,
                seen: floor.seen,
                sent,
            });
        }
        if got > 0 {
            let k = self.keys.entry(key.to_string()).or_default();
            k.seen = k.seen.max(got);
        }
        Ok(())
    }
}

/// The text a writer stores for value `n`: the number, padded so records have some size.
pub(crate) fn value_text(n: u64) -> String {
    format!("{n}-{}", "v".repeat(24))
}

/// The number in a value's text, if it is one [`value_text`] made.
fn parse_value(text: &str) -> Option<u64> {
    text.split_once('-')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_lost_write_and_a_read_back_in_time() {
        let mut m = Model::default();
        m.sent("a", 1);
        m.acked("a", 1);
        m.sent("a", 2);
        let floor = m.read_floor("a");
        // Not yet acknowledged: 1 or 2 are both fine.
        assert!(m.read("a", floor, Some(&value_text(2))).is_ok());
        // 2 was seen: reading 1 now goes back in time.
        let floor = m.read_floor("a");
        let v = m.read("a", floor, Some(&value_text(1))).unwrap_err();
        assert!(v.to_string().starts_with("a read went back in time"), "{v}");
        // NOTFOUND after an acknowledged write is a lost write.
        let v = m.read("a", floor, None).unwrap_err();
        assert!(v.to_string().starts_with("an acknowledged write"), "{v}");
        // A value never sent.
        let v = m.read("a", floor, Some(&value_text(3))).unwrap_err();
        assert!(v.to_string().starts_with("a value that was never"), "{v}");
        assert_eq!(m.next_value("a"), 3);
        assert!(m.read("b", m.read_floor("b"), None).is_ok());
    }
}

//! A client workload that checks the contract as it goes: the same code drives the real
//! server in tests/example_kv_store.rs (while it is killed and restarted) and the
//! simulated one.
//!
//! Each client owns `slots` keys and does `ops` operations, one at a time, each chosen by
//! the caller's random source: a SET of the next value of one of its own keys, or a GET
//! of any client's key, checked by the shared [`Model`]. A request that fails (the server
//! crashed, the connection was reset or timed out) leaves its SET in doubt: the client
//! drops the connection, and that slot moves on to a fresh key name, because an in-doubt
//! SET still in flight on the old connection could land after a later SET of the same key
//! and the model's single-writer order would no longer hold. Connecting again is retried
//! after a pause, each failure counting as an operation, so the workload always ends.

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use super::check::{Model, Violation, value_text};
use super::client::Client;

/// How long a request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause before connecting again after a failure.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// What a workload did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// SETs answered `OK`.
    pub(crate) acked: u64,
    /// GETs answered and checked.
    pub(crate) reads: u64,
    /// Requests or connects that failed (server down, reset, timeout, `ERR`).
    pub(crate) failures: u64,
}

/// Runs client number `client`'s workload against `addr` (see the module header):
/// `ops` operations over `slots` keys of its own, reading the keys of clients
/// `0..clients`; `random` gives the choices (a simulation passes its seeded generator).
///
/// # Errors
///
/// The first [`Violation`] of the contract a GET found.
///
/// # Cancel safety
///
/// Dropping the future closes its connection; the model keeps what was sent and
/// acknowledged, so a later check on the same model stays correct.
pub(crate) async fn run_client(
    addr: &str,
    client: u32,
    clients: u32,
    slots: u32,
    ops: u64,
    model: &RefCell<Model>,
    random: &mut dyn FnMut() -> u64,
) -> Result<Counts, Violation> {
    let mut counts = Counts::default();
    let mut generations = vec![0u32; slots as usize];
    let mut conn: Option<Client> = None;
    for _ in 0..ops {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match ringcore::time::timeout(REQUEST_TIMEOUT, Client::connect(addr)).await {
                Ok(Ok(c)) => conn.insert(c),
                _ => {
                    counts.failures += 1;
                    ringcore::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        let slot = (random() % u64::from(slots)) as u32;
        if random().is_multiple_of(2) {
            let key = model
                .borrow()
                .key_name(client, slot, generations[slot as usize]);
            let value = model.borrow().next_value(&key);
            model.borrow_mut().sent(&key, value);
            match request(c.set(&key, &value_text(value))).await {
                Ok(()) => {
                    model.borrow_mut().acked(&key, value);
                    counts.acked += 1;
                }
                Err(_) => {
                    generations[slot as usize] += 1;
                    conn = None;
                    counts.failures += 1;
                }
            }
        } else {
            let owner = (random() % u64::from(clients.max(1))) as u32;
            let key = read_key(model, owner, slot);
            let floor = model.borrow().read_floor(&key);
            match request(c.get(&key)).await {
                Ok(answer) => {
                    model.borrow_mut().read(&key, floor, answer.as_deref())?;
                    counts.reads += 1;
                }
                Err(_) => {
                    conn = None;
                    counts.failures += 1;
                }
            }
        }
    }
    Ok(counts)
}

/// Checks every key the model knows with one fresh connection (after the last restart).
///
/// # Errors
///
/// The first [`Violation`]; `Ok(false)` if the server could not be reached or a GET
/// failed (nothing checked beyond that point).
///
/// # Cancel safety
///
/// Dropping the future closes its connection.
pub(crate) async fn check_all(addr: &str, model: &RefCell<Model>) -> Result<bool, Violation> {
    let Ok(Ok(mut c)) = ringcore::time::timeout(REQUEST_TIMEOUT, Client::connect(addr)).await
    else {
        return Ok(false);
    };
    let keys = model.borrow().keys();
    for key in keys {
        let floor = model.borrow().read_floor(&key);
        let Ok(answer) = request(c.get(&key)).await else {
            return Ok(false);
        };
        model.borrow_mut().read(&key, floor, answer.as_deref())?;
    }
    Ok(true)
}

/// The key to read in `owner`'s `slot`: its newest generation the model knows, or
/// generation 0.
fn read_key(model: &RefCell<Model>, owner: u32, slot: u32) -> String {
    let model = model.borrow();
    let mut generation = 0;
    while model.knows(&model.key_name(owner, slot, generation + 1)) {
        generation += 1;
    }
    model.key_name(owner, slot, generation)
}

/// A request with the workload's timeout; a timeout is an error of kind `TimedOut`.
async fn request<T>(f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    ringcore::time::timeout(REQUEST_TIMEOUT, f).await?
}

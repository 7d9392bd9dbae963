//! One listener per core, started and stopped together: the start-up and shutdown
//! handshake the sharded example servers (echo_server, http_server) share.
//!
//! Every core binds its own listener on the same address (SO_REUSEPORT when there is more
//! than one core) and reports the outcome to core 0. Core 0 waits until every core has
//! reported; if one failed, it returns that error, and dropping its stop senders stops the
//! others. When core 0 is told to stop (its signal), it drops the senders, and every
//! other core's [`Stop::stopped`] returns.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use ringcore::CoreId;
use ringcore::channel::{Receiver, Sender, channel};
use ringcore::net::{ListenOptions, TcpListener};

/// The channels of the handshake, shared by every core (`Arc<Shards>`).
pub(crate) struct Shards {
    cores: usize,
    ready: Sender<io::Result<SocketAddr>>,
    ready_rx: Mutex<Option<Receiver<io::Result<SocketAddr>>>>,
    stop_txs: Mutex<Vec<Sender<()>>>,
    stop_rxs: Mutex<Vec<Option<Receiver<()>>>>,
}

/// How one core learns it should stop, and, on core 0, how it tells the others.
pub(crate) struct Stop {
    /// Core 0's senders: dropping them stops the other cores.
    senders: Vec<Sender<()>>,
    /// The other cores' receiver.
    receiver: Option<Receiver<()>>,
}

/// What [`Shards::listen`] gives one core.
pub(crate) struct Listening {
    /// This core's listener, or why it could not bind (core 0 returns the first failure
    /// of any core as an error instead).
    pub(crate) listener: io::Result<TcpListener>,
    /// On core 0: the address the cores listen on.
    pub(crate) addr: Option<SocketAddr>,
    /// This core's stop signal.
    pub(crate) stop: Stop,
}

impl Shards {
    /// The handshake for `cores` cores.
    pub(crate) fn new(cores: usize) -> Self {
        let (ready, ready_rx) = channel(cores);
        let mut stop_txs = Vec::new();
        let mut stop_rxs = vec![None];
        for _ in 1..cores {
            let (tx, rx) = channel(1);
            stop_txs.push(tx);
            stop_rxs.push(Some(rx));
        }
        Self {
            cores,
            ready,
            ready_rx: Mutex::new(Some(ready_rx)),
            stop_txs: Mutex::new(stop_txs),
            stop_rxs: Mutex::new(stop_rxs),
        }
    }

    /// Binds this core's listener on `addr` and reports it; on core 0, also waits until
    /// every core has reported.
    ///
    /// # Errors
    ///
    /// On core 0 only: the first bind error of any core (its stop senders are dropped, so
    /// the other cores stop).
    ///
    /// # Panics
    ///
    /// If core 0 calls it twice.
    pub(crate) async fn listen(&self, core: CoreId, addr: &str) -> io::Result<Listening> {
        let options = ListenOptions::new().reuse_port(self.cores > 1);
        let listener = TcpListener::bind_with(addr, &options);
        let reported = match &listener {
            Ok(l) => l.local_addr(),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        let _ = self.ready.send(reported).await;
        let receiver = self.stop_rxs.lock().unwrap()[core.index()].take();
        if core.index() != 0 {
            let stop = Stop {
                senders: Vec::new(),
                receiver,
            };
            return Ok(Listening {
                listener,
                addr: None,
                stop,
            });
        }
        // Taken first: returning early drops them, which stops the other cores.
        let senders = std::mem::take(&mut *self.stop_txs.lock().unwrap());
        let mut ready_rx = self
            .ready_rx
            .lock()
            .unwrap()
            .take()
            .expect("core 0 listens once");
        let mut first = None;
        for _ in 0..self.cores {
            match ready_rx.recv().await {
                Some(Ok(a)) => first = Some(a),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        Ok(Listening {
            listener,
            addr: first,
            stop: Stop { senders, receiver },
        })
    }
}

impl Stop {
    /// Core 0: tells every other core to stop.
    pub(crate) fn stop_others(self) {
        drop(self.senders);
    }

    /// The other cores: returns once core 0 stops them (or has gone).
    pub(crate) async fn stopped(&mut self) {
        if let Some(rx) = &mut self.receiver {
            rx.recv().await;
        }
    }
}

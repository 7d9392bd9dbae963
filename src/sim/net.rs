//! The simulated network's state (feature `sim`): TCP, UDP and Unix sockets of simulated
//! hosts (Unix ones: src/driver/sim/unix.rs and unix_dgram.rs),
//! the TCP connections between them as two byte queues, and the links' latencies and
//! partitions. A UDP datagram is a message of its own, with no order kept, lost or
//! duplicated by the probabilities `Sim::udp_faults` sets.
//! The SQEs on these sockets are performed in src/driver/sim/net.rs; the socket calls
//! ringcore makes without an SQE (bind, listen, getsockname, setsockopt, shutdown) reach
//! [`call`] through one line in src/sys/socket.rs.
//!
//! - **Addresses.** Host `i` (in the order hosts were added) is `10.0.x.y` with
//!   `x.y = i + 1`; `127.0.0.1` is the host itself. [`resolve`] maps a host's name
//!   (`"db"` in `"db:5432"`) to its address, for `lookup_host` and `TcpStream::connect`.
//! - **Connections.** A connect sends a SYN over the link; the listener's host queues the
//!   connection for `accept` and answers; the connect completes a round trip after it
//!   started (`ECONNREFUSED` when nothing listens, `ETIMEDOUT` after [`CONNECT_TIMEOUT`]
//!   when no answer comes). Each direction carries data, FIN (a close or a write
//!   shutdown: the reader sees end of file) and RST (the peer crashed, or data came to a
//!   closed socket: the reader sees `ECONNRESET`) in order: an event's arrival is never
//!   before the previous one's on the same direction. Send buffers are unbounded.
//! - **Links.** Each pair of hosts has a base latency drawn once from the seed in the
//!   network's latency range; each message takes the base plus up to a quarter more. A
//!   partition between two sets of hosts holds every message between them until healed;
//!   a host's messages to itself are never held. With a bandwidth range set
//!   (`Sim::net_bandwidth`), each pair of hosts draws its bandwidth once from the seed, and
//!   each direction sends one message at a time: a message of `n` bytes leaves when the
//!   ones before it in that direction have, takes `n / bandwidth` to leave, then its
//!   latency to arrive, so a transfer takes virtual time proportional to its size.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;
use std::time::Duration;

/// How long a connect waits for an answer before it fails with `ETIMEDOUT` (virtual).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// First ephemeral port of a host.
const EPHEMERAL: u16 = 40_000;

/// The address of host `i`.
pub(crate) fn host_ip(i: usize) -> Ipv4Addr {
    let n = (i + 1) as u32;
    Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8)
}

/// The host at `ip`, seen from host `from` (`127.0.0.1` and `0.0.0.0` are `from`).
pub(crate) fn host_of(ip: IpAddr, from: usize, hosts: usize) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() || v4.is_unspecified() => Some(from),
        IpAddr::V4(v4) => {
            let [a, b, x, y] = v4.octets();
            let n = (usize::from(x) << 8) | usize::from(y);
            (a == 10 && b == 0 && n >= 1 && n <= hosts).then(|| n - 1)
        }
        IpAddr::V6(v6) if v6.is_loopback() || v6.is_unspecified() => Some(from),
        IpAddr::V6(_) => None,
    }
}

/// What a simulated socket is.
#[derive(Debug)]
pub(crate) enum State {
    /// Created, maybe bound.
    Fresh,
    /// Listening: connections waiting for `accept`, oldest first.
    Listening(VecDeque<u64>),
    /// A connect in flight (the connection's client end).
    Connecting(u64),
    /// One end (`side`: 0 client, 1 server) of connection `conn`.
    Stream { conn: u64, side: usize },
    /// A UDP socket: datagrams arrived and not read (sender, bytes), and the peer it is
    /// connected to, if any.
    Datagram {
        rx: VecDeque<(SocketAddr, Vec<u8>)>,
        peer: Option<SocketAddr>,
    },
    /// A Unix datagram socket (src/driver/sim/unix_dgram.rs): datagrams arrived and not
    /// read (sender's path, bytes), and the socket it is connected to.
    UnixDatagram {
        rx: VecDeque<(Vec<u8>, Vec<u8>)>,
        peer: Peer,
    },
}

/// The socket a Unix datagram socket is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Not connected.
    None,
    /// Connected to the socket of this fd.
    Fd(RawFd),
    /// Connected to a socket that was closed since.
    Gone,
}

/// Datagrams a UDP socket holds before it drops new ones (as a full receive buffer does).
pub(crate) const UDP_QUEUE: usize = 256;

/// A simulated socket.
#[derive(Debug)]
pub(crate) struct Sock {
    pub(crate) host: usize,
    pub(crate) state: State,
    /// The bound address, if bound.
    pub(crate) local: Option<SocketAddr>,
    /// For a Unix socket, its path (`sun_path` bytes; empty while unbound); `None` for TCP
    /// and UDP.
    pub(crate) unix: Option<Vec<u8>>,
}

/// One end of a connection.
#[derive(Debug)]
pub(crate) struct End {
    pub(crate) host: usize,
    pub(crate) addr: SocketAddr,
    /// The socket of this end, while it is open (`None` also before the server's end is
    /// accepted).
    pub(crate) fd: Option<RawFd>,
    /// This end's socket was closed (or its host crashed): data reaching it resets the
    /// sender. Data for a server end not accepted yet waits in `rx`, as in a kernel's
    /// accept queue.
    pub(crate) closed: bool,
    /// Bytes arrived and not read yet.
    pub(crate) rx: VecDeque<u8>,
    /// The peer's FIN arrived.
    pub(crate) eof: bool,
    /// A RST arrived.
    pub(crate) reset: bool,
    /// This end sent its FIN (closed or shut down for writing).
    pub(crate) fin_sent: bool,
    /// When the last message towards this end arrives (messages keep their order).
    pub(crate) last_arrival: Duration,
}

/// A connection: its two ends, and the connect op waiting for it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) ends: [End; 2],
    /// The client's CONNECT (host, user_data) until it completes.
    pub(crate) connect_op: Option<(usize, u64)>,
    /// The handshake finished.
    pub(crate) established: bool,
    /// For a Unix connection, its ends' paths (client first; empty: unnamed).
    pub(crate) unix: Option<[Vec<u8>; 2]>,
}

/// A message on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Msg {
    /// A connection request towards the server end (side 1).
    Syn,
    /// The server's answer towards the client end (side 0).
    SynAck,
    /// Nothing listens: towards the client end.
    Refused,
    /// Bytes (in `Net::payloads`) towards end `to`.
    Data,
    /// End of the stream towards end `to`.
    Fin,
    /// Reset towards end `to`.
    Rst,
    /// The connect's deadline (local, never held).
    ConnectTimeout,
    /// A UDP datagram (in `Packet::dgram`).
    Datagram,
}

/// A message in flight: to end `to` of `conn`.
#[derive(Debug, Clone)]
pub(crate) struct Packet {
    pub(crate) conn: u64,
    pub(crate) to: usize,
    pub(crate) msg: Msg,
    pub(crate) bytes: Vec<u8>,
    /// For a datagram: (sender, destination) addresses; `conn` is unused then.
    pub(crate) dgram: Option<(SocketAddr, SocketAddr)>,
}

/// A host's registered receive pool (IORING_REGISTER_PBUF_RING; performed in
/// src/driver/sim/multishot.rs).
#[derive(Debug)]
pub(crate) struct Pool {
    /// Address of the ring's entries (`io_uring_buf` each; the tail in entry 0).
    pub(crate) ring: u64,
    /// Ring entries (a power of two).
    pub(crate) entries: u16,
    /// The consumer's head: the next entry to take.
    pub(crate) head: u16,
}

/// The network; see the module docs.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) socks: BTreeMap<RawFd, Sock>,
    /// Listening sockets by (host, port).
    pub(crate) listeners: BTreeMap<(usize, u16), RawFd>,
    /// Bound UDP sockets by (host, port).
    pub(crate) udp: BTreeMap<(usize, u16), RawFd>,
    /// Bound Unix sockets by (host, path): src/driver/sim/unix.rs.
    pub(crate) unix_paths: BTreeMap<(usize, Vec<u8>), RawFd>,
    /// Probability that a datagram is lost, and that one is delivered twice.
    pub(crate) udp_loss: f64,
    pub(crate) udp_duplicate: f64,
    pub(crate) conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    next_port: BTreeMap<usize, u16>,
    /// Partitioned pairs of hosts (smaller index first).
    pub(crate) cut: BTreeSet<(usize, usize)>,
    /// Messages held by a partition: (from host, to host, packet).
    pub(crate) held: Vec<(usize, usize, Packet)>,
    /// Each link's base latency, drawn at its first message.
    pub(crate) base: BTreeMap<(usize, usize), Duration>,
    /// The range links' base latencies are drawn from.
    pub(crate) latency: (Duration, Duration),
    /// Each host's registered receive pool.
    pub(crate) pools: BTreeMap<(usize, usize), Pool>,
    /// The range links' bandwidths are drawn from, bytes per virtual second (`None`:
    /// unlimited).
    pub(crate) bandwidth: Option<(u64, u64)>,
    /// Each link's bandwidth, drawn at its first message.
    pub(crate) link_bandwidth: BTreeMap<(usize, usize), u64>,
    /// When each direction of a link (from, to) has sent what is queued on it.
    pub(crate) busy: BTreeMap<(usize, usize), Duration>,
}

impl Default for Net {
    fn default() -> Self {
        Self {
            socks: BTreeMap::new(),
            listeners: BTreeMap::new(),
            udp: BTreeMap::new(),
            unix_paths: BTreeMap::new(),
            udp_loss: 0.0,
            udp_duplicate: 0.0,
            conns: BTreeMap::new(),
            next_conn: 0,
            next_port: BTreeMap::new(),
            cut: BTreeSet::new(),
            held: Vec::new(),
            base: BTreeMap::new(),
            latency: (Duration::from_micros(50), Duration::from_millis(2)),
            pools: BTreeMap::new(),
            bandwidth: None,
            link_bandwidth: BTreeMap::new(),
            busy: BTreeMap::new(),
        }
    }
}

/// A pair of hosts, smaller index first.
pub(crate) fn link(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Net {
    /// How long a message of `bytes` sent now from host `from` to `to` waits and takes to
    /// leave (before its latency): it queues behind what was sent before it in that
    /// direction, then takes `bytes / bandwidth`. Zero when bandwidth is unlimited (no
    /// draw then, so runs without it keep their traces) and between a host and itself.
    pub(crate) fn transmit(
        &mut self,
        rng: &mut fastrand::Rng,
        (from, to): (usize, usize),
        bytes: usize,
        now: Duration,
    ) -> Duration {
        let Some((lo, hi)) = self.bandwidth else {
            return Duration::ZERO;
        };
        if from == to {
            return Duration::ZERO;
        }
        let bw = *self
            .link_bandwidth
            .entry(link(from, to))
            .or_insert_with(|| rng.u64(lo..=hi));
        let busy = self.busy.entry((from, to)).or_default();
        let start = (*busy).max(now);
        let nanos = (bytes as u128 * 1_000_000_000).div_ceil(u128::from(bw.max(1)));
        *busy = start + Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64);
        *busy - now
    }

    /// A free ephemeral port of `host`.
    pub(crate) fn ephemeral(&mut self, host: usize) -> u16 {
        let next = self.next_port.entry(host).or_insert(EPHEMERAL);
        loop {
            let port = *next;
            *next = if *next == u16::MAX {
                EPHEMERAL
            } else {
                *next + 1
            };
            if !self.listeners.contains_key(&(host, port)) && !self.udp.contains_key(&(host, port))
            {
                return port;
            }
        }
    }

    /// A new connection from `client` to `server`.
    pub(crate) fn connect(
        &mut self,
        client: (usize, SocketAddr, RawFd),
        server: (usize, SocketAddr),
        op: (usize, u64),
    ) -> u64 {
        let id = self.next_conn;
        self.next_conn += 1;
        let end = |host, addr, fd| End {
            host,
            addr,
            fd,
            closed: false,
            rx: VecDeque::new(),
            eof: false,
            reset: false,
            fin_sent: false,
            last_arrival: Duration::ZERO,
        };
        self.conns.insert(
            id,
            Conn {
                ends: [
                    end(client.0, client.1, Some(client.2)),
                    end(server.0, server.1, None),
                ],
                connect_op: Some(op),
                established: false,
                unix: None,
            },
        );
        id
    }

    /// The connection end of socket `fd`, if it is a stream.
    pub(crate) fn end_of(&self, fd: RawFd) -> Option<(u64, usize)> {
        match self.socks.get(&fd)?.state {
            State::Stream { conn, side } => Some((conn, side)),
            _ => None,
        }
    }
}

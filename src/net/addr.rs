//! Name lookup: [`lookup_host`], the [`ToSocketAddrs`] argument of the connecting calls,
//! and [`ResolveError`].

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// An address to connect or send to: a [`SocketAddr`] (or a slice of them), an IP and a
/// port, or a host name and a port, as `"localhost:8080"`, `"[::1]:80"`,
/// `("example.com", 80)` or a `String`.
///
/// The argument of [`TcpStream::connect`](super::TcpStream::connect),
/// [`UdpSocket::connect`](super::UdpSocket::connect),
/// [`UdpSocket::send_to`](super::UdpSocket::send_to) and [`lookup_host`]. Like tokio's
/// `ToSocketAddrs`, it takes the types [`std::net::ToSocketAddrs`] does (plus arrays and
/// `Vec`s of `SocketAddr`), but a host name is resolved on the core's blocking pool
/// ([`spawn_blocking`](crate::offload::spawn_blocking)) instead of on the calling thread,
/// so a slow DNS server does not stall the core. Numeric addresses are parsed on the spot
/// and never touch the pool.
///
/// The trait is sealed: the set of implementors is the crate's.
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use std::net::SocketAddr;

    /// How an argument becomes addresses: at once, or by a lookup.
    #[allow(unreachable_pub)] // Public in a private module: the sealed-trait pattern.
    pub trait Sealed {
        fn to_lookup(&self) -> Lookup;
    }

    /// A [`ToSocketAddrs`](super::ToSocketAddrs) argument, taken apart without borrowing it.
    #[derive(Debug)]
    #[allow(unreachable_pub)]
    pub enum Lookup {
        /// Numeric: the addresses are known.
        Ready(Vec<SocketAddr>),
        /// `host:port`, to resolve with getaddrinfo(3).
        Name(String),
        /// A host and a port, to resolve with getaddrinfo(3).
        HostPort(String, u16),
    }
}

pub(crate) use sealed::Lookup;

/// A host name that could not be resolved: the inner error of the `io::Error` that
/// [`lookup_host`], [`TcpStream::connect`](super::TcpStream::connect),
/// [`UdpSocket::connect`](super::UdpSocket::connect) and
/// [`UdpSocket::send_to`](super::UdpSocket::send_to) return when getaddrinfo(3) fails or
/// finds no address.
///
/// That `io::Error` has kind `InvalidInput` if the argument was malformed (no port, a
/// port out of range) and `Other` otherwise (no such name, no DNS reachable, a lookup
/// that found nothing); get at this value with `get_ref()` and `downcast_ref`:
///
/// ```
/// use ringcore::net::{ResolveError, TcpStream};
///
/// ringcore::block_on(async {
///     // .invalid is reserved (RFC 6761): it never resolves.
///     let err = TcpStream::connect("nonexistent.invalid:80").await.unwrap_err();
///     let resolve = err.get_ref().and_then(|e| e.downcast_ref::<ResolveError>()).unwrap();
///     assert_eq!(resolve.host(), "nonexistent.invalid");
/// });
/// ```
#[derive(Debug, thiserror::Error)]
#[error("failed to resolve `{host}`: {source}")]
pub struct ResolveError {
    host: String,
    #[source]
    source: io::Error,
}

impl ResolveError {
    /// The host name that did not resolve (without the port; the whole argument if it
    /// could not be split into a host and a port).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The resolver's own error (std's getaddrinfo error, with gai_strerror(3)'s text).
    pub fn resolver_error(&self) -> &io::Error {
        &self.source
    }

    /// The host name and the resolver's error.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn into_parts(self) -> (String, io::Error) {
        (self.host, self.source)
    }

    fn into_io(host: String, source: io::Error) -> io::Error {
        let kind = match source.kind() {
            io::ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, ResolveError { host, source })
    }
}

impl Lookup {
    /// The addresses, found on the calling thread: numeric ones and the special-use names
    /// (`localhost`, `.invalid`) at once, as [`resolve`](Lookup::resolve) does; in a
    /// simulation, the simulated host of a name (`NotFound` for a name that is none, never a DNS
    /// query); otherwise getaddrinfo(3) through std, which blocks this thread while it
    /// runs (what `bind` did before it took this trait: binding names a local address,
    /// which rarely needs DNS).
    pub(crate) fn resolve_now(self) -> io::Result<Vec<SocketAddr>> {
        let (host, port) = match &self {
            Lookup::Ready(addrs) => return Ok(addrs.clone()),
            Lookup::Name(s) => match s.rsplit_once(':') {
                Some((host, port)) => (
                    host.trim_start_matches('[').trim_end_matches(']'),
                    port.parse::<u16>().ok(),
                ),
                None => (s.as_str(), None),
            },
            Lookup::HostPort(host, port) => (host.as_str(), Some(*port)),
        };
        if let Some(port) = port {
            match special_use(host) {
                Some(SpecialUse::Localhost) => {
                    return Ok(vec![
                        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
                        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
                    ]);
                }
                Some(SpecialUse::Invalid) => {
                    return Err(ResolveError::into_io(
                        host.to_owned(),
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            "names under .invalid never resolve (RFC 6761)",
                        ),
                    ));
                }
                None => {}
            }
        }
        #[cfg(feature = "sim")]
        if let Some(res) = crate::driver::sim::net::resolve(host, port) {
            return res.map_err(|source| {
                let kind = source.kind();
                io::Error::new(
                    kind,
                    ResolveError {
                        host: host.to_owned(),
                        source,
                    },
                )
            });
        }
        let _ = port;
        let addrs = match &self {
            Lookup::Name(s) => std::net::ToSocketAddrs::to_socket_addrs(s.as_str()),
            Lookup::HostPort(h, p) => std::net::ToSocketAddrs::to_socket_addrs(&(&**h, *p)),
            Lookup::Ready(_) => unreachable!("numeric addresses returned above"),
        };
        addrs
            .map(Iterator::collect)
            .map_err(|e| ResolveError::into_io(host.to_owned(), e))
    }

    /// The addresses, looking the name up on the blocking pool if there is one.
    ///
    /// # Panics
    ///
    /// For a name, outside a ringcore runtime (the pool is the core's).
    pub(crate) async fn resolve(self) -> io::Result<Vec<SocketAddr>> {
        let (host, port, query) = match self {
            Lookup::Ready(addrs) => return Ok(addrs),
            Lookup::Name(s) => {
                let (host, port) = match s.rsplit_once(':') {
                    Some((host, port)) => (
                        host.trim_start_matches('[').trim_end_matches(']'),
                        port.parse::<u16>().ok(),
                    ),
                    None => (s.as_str(), None),
                };
                (host.to_owned(), port, Lookup::Name(s))
            }
            Lookup::HostPort(host, port) => {
                (host.clone(), Some(port), Lookup::HostPort(host, port))
            }
        };
        // The special-use names of RFC 6761 that have a fixed answer, decided here for
        // every caller without asking the resolver (only for a well-formed `host:port`;
        // a malformed one goes on to getaddrinfo(3)'s error).
        if let Some(port) = port {
            match special_use(&host) {
                Some(SpecialUse::Localhost) => {
                    return Ok(vec![
                        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
                        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
                    ]);
                }
                Some(SpecialUse::Invalid) => {
                    return Err(ResolveError::into_io(
                        host,
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            "names under .invalid never resolve (RFC 6761)",
                        ),
                    ));
                }
                None => {}
            }
        }
        // In a deterministic simulation, names are the simulated hosts' (src/sim/net.rs).
        #[cfg(feature = "sim")]
        if let Some(res) = crate::driver::sim::net::resolve(&host, port) {
            return res.map_err(|source| {
                let kind = source.kind();
                io::Error::new(kind, ResolveError { host, source })
            });
        }
        let job = crate::offload::spawn_blocking(move || {
            let addrs = match &query {
                Lookup::Name(s) => std::net::ToSocketAddrs::to_socket_addrs(s.as_str()),
                Lookup::HostPort(h, p) => std::net::ToSocketAddrs::to_socket_addrs(&(&**h, *p)),
                Lookup::Ready(_) => unreachable!("numeric addresses are not looked up"),
            };
            addrs.map(Iterator::collect::<Vec<_>>)
        });
        match job.await {
            Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
            Ok(Ok(_)) => Err(ResolveError::into_io(
                host,
                io::Error::other("the name resolved to no addresses"),
            )),
            Ok(Err(e)) => Err(ResolveError::into_io(host, e)),
            Err(join) => Err(ResolveError::into_io(
                host,
                io::Error::other(join.to_string()),
            )),
        }
    }
}

/// A special-use domain name (RFC 6761) whose answer is fixed.
#[derive(Debug, PartialEq, Eq)]
enum SpecialUse {
    /// `localhost` and names under `.localhost`: the loopback addresses.
    Localhost,
    /// `invalid` and names under `.invalid`: never resolve.
    Invalid,
}

/// Which special-use name `host` is, if any (case-insensitive, a trailing dot ignored).
fn special_use(host: &str) -> Option<SpecialUse> {
    let lower = host.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    let under = |tld: &str| name == tld || name.strip_suffix(tld).is_some_and(|s| s.ends_with('.'));
    if under("localhost") {
        Some(SpecialUse::Localhost)
    } else if under("invalid") {
        Some(SpecialUse::Invalid)
    } else {
        None
    }
}

/// Resolves `host` (a [`ToSocketAddrs`]: `"example.com:443"`, `("localhost", 8080)`, a
/// `SocketAddr`...) to its socket addresses, in getaddrinfo(3)'s order, as tokio's
/// `lookup_host`. Names are looked up with getaddrinfo(3) (std's
/// [`ToSocketAddrs`](std::net::ToSocketAddrs)) on the core's blocking pool; numeric
/// addresses are returned at once. Two special-use names of RFC 6761 are answered here
/// without a lookup, for this and every connecting call: `localhost` and names under
/// `.localhost` are `127.0.0.1` then `::1`, and names under `.invalid` fail at once.
///
/// # Errors
///
/// An `io::Error` whose inner error is a [`ResolveError`] naming the host: kind
/// `InvalidInput` for a malformed argument (e.g. no port), `Other` when the name does
/// not resolve or resolves to nothing.
///
/// # Panics
///
/// If a name has to be looked up and the future is polled outside a ringcore runtime.
///
/// # Cancel safety
///
/// Cancel-safe: dropping the future detaches the lookup, which finishes on its pool
/// thread (getaddrinfo(3) cannot be interrupted) and whose result is dropped.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let addrs: Vec<_> = ringcore::net::lookup_host("localhost:8080").await?.collect();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    Ok(host.to_lookup().resolve().await?.into_iter())
}

/// Takes `addr` apart into an owned [`Lookup`] (so the caller's future need not borrow it).
pub(crate) fn lookup_of(addr: &(impl ToSocketAddrs + ?Sized)) -> Lookup {
    addr.to_lookup()
}

/// Resolves `lookup` and runs `attempt` on each address in turn until one succeeds, as
/// std's `connect` does; returns the last attempt's error if none does.
pub(crate) async fn try_each<T, F, Fut>(lookup: Lookup, mut attempt: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in lookup.resolve().await? {
        match attempt(addr).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to try")))
}

/// The first address `lookup` resolves to (for `send_to`, which sends one datagram).
pub(crate) async fn first(lookup: Lookup) -> io::Result<SocketAddr> {
    let addrs = lookup.resolve().await?;
    addrs
        .first()
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to try"))
}

macro_rules! ready_impls {
    ($($t:ty => |$s:ident| $addrs:expr),+ $(,)?) => {$(
        impl sealed::Sealed for $t {
            fn to_lookup(&self) -> Lookup {
                let $s = self;
                Lookup::Ready($addrs)
            }
        }
        impl ToSocketAddrs for $t {}
    )+};
}

ready_impls!(
    SocketAddr => |a| vec![*a],
    SocketAddrV4 => |a| vec![SocketAddr::V4(*a)],
    SocketAddrV6 => |a| vec![SocketAddr::V6(*a)],
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)],
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)],
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)],
    [SocketAddr] => |a| a.to_vec(),
    Vec<SocketAddr> => |a| a.clone(),
);

impl<const N: usize> sealed::Sealed for [SocketAddr; N] {
    fn to_lookup(&self) -> Lookup {
        Lookup::Ready(self.to_vec())
    }
}
impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {}

impl sealed::Sealed for str {
    fn to_lookup(&self) -> Lookup {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Lookup::Ready(vec![addr]),
            Err(_) => Lookup::Name(self.to_owned()),
        }
    }
}
impl ToSocketAddrs for str {}

impl sealed::Sealed for String {
    fn to_lookup(&self) -> Lookup {
        self.as_str().to_lookup()
    }
}
impl ToSocketAddrs for String {}

impl sealed::Sealed for (&str, u16) {
    fn to_lookup(&self) -> Lookup {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Lookup::Ready(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => Lookup::HostPort(self.0.to_owned(), self.1),
        }
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl sealed::Sealed for (String, u16) {
    fn to_lookup(&self) -> Lookup {
        (self.0.as_str(), self.1).to_lookup()
    }
}
impl ToSocketAddrs for (String, u16) {}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn to_lookup(&self) -> Lookup {
        (**self).to_lookup()
    }
}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

#[cfg(test)]
mod tests {
    use super::sealed::Sealed as _;
    use super::*;

    #[test]
    fn numeric_arguments_need_no_lookup() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:443".parse().unwrap();
        let ready = |l: Lookup| match l {
            Lookup::Ready(a) => a,
            other => panic!("needs a lookup: {other:?}"),
        };
        assert_eq!(ready("127.0.0.1:80".to_lookup()), [v4]);
        assert_eq!(ready(String::from("[::1]:443").to_lookup()), [v6]);
        assert_eq!(ready(("::1", 443).to_lookup()), [v6]);
        assert_eq!(ready((Ipv4Addr::LOCALHOST, 80).to_lookup()), [v4]);
        assert_eq!(ready([v4, v6].to_lookup()), [v4, v6]);
        assert_eq!(ready((&&v4).to_lookup()), [v4]);
        assert!(matches!("localhost:80".to_lookup(), Lookup::Name(s) if s == "localhost:80"));
        assert!(matches!(
            (String::from("example.com"), 80).to_lookup(),
            Lookup::HostPort(h, 80) if h == "example.com"
        ));
    }

    #[test]
    fn special_use_names_are_told_apart() {
        for host in ["localhost", "LOCALHOST.", "a.localhost"] {
            assert_eq!(special_use(host), Some(SpecialUse::Localhost), "{host}");
        }
        for host in ["invalid", "gone.invalid", "x.Invalid."] {
            assert_eq!(special_use(host), Some(SpecialUse::Invalid), "{host}");
        }
        for host in [
            "example.com",
            "notlocalhost",
            "myinvalid",
            "localhost.example",
        ] {
            assert_eq!(special_use(host), None, "{host}");
        }
    }
}

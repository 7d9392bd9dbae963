//! tonic, unmodified (features `transport`, `router`, `codegen`; the prost codec from
//! tonic-prost), inside ringcore tasks on the per-core tokio context (feature
//! `tokio-context`): a gRPC server started with tonic's own
//! `Server::builder().add_service(..).serve_with_shutdown(addr, ..)` and a client over
//! tonic's `Channel`, with a unary call, a bidirectional stream whose replies interleave
//! with the requests, a `Status` error, an unknown method, a refused connect, and a
//! graceful shutdown. Runs on both drivers (`RINGCORE_DRIVER=epoll` for the readiness
//! driver).
//!
//! No protoc at build time: the messages are written by hand with `#[derive(prost::Message)]`
//! and the service with tonic's generic plumbing (`tonic::server::Grpc`,
//! `tonic::client::Grpc`), the code tonic-build would generate from
//!
//! ```text
//! service Echo {
//!   rpc Say (EchoRequest) returns (EchoReply);
//!   rpc Chat (stream EchoRequest) returns (stream EchoReply);
//! }
//! ```

#[path = "support/eco.rs"]
mod eco;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{BoxFuture, BoxStream, Context, Poll, Service, StdError, http};
use tonic::server::NamedService;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

#[derive(Clone, PartialEq, prost::Message)]
struct EchoRequest {
    #[prost(string, tag = "1")]
    text: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EchoReply {
    #[prost(string, tag = "1")]
    text: String,
    /// The ringcore core that answered.
    #[prost(uint32, tag = "2")]
    core: u32,
}

fn reply(req: EchoRequest) -> Result<EchoReply, Status> {
    if req.text == "fail" {
        return Err(Status::invalid_argument("asked to fail"));
    }
    Ok(EchoReply {
        text: req.text.to_uppercase(),
        core: ringcore::current_core().index() as u32,
    })
}

/// The unary method `Say`.
struct Say;

impl Service<Request<EchoRequest>> for Say {
    type Response = Response<EchoReply>;
    type Error = Status;
    type Future = BoxFuture<Response<EchoReply>, Status>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<EchoRequest>) -> Self::Future {
        Box::pin(async move {
            // A tokio timer in the handler.
            tokio::time::sleep(Duration::from_millis(1)).await;
            reply(req.into_inner()).map(Response::new)
        })
    }
}

/// The bidirectional method `Chat`: one reply per request, as each arrives.
struct Chat;

impl Service<Request<Streaming<EchoRequest>>> for Chat {
    type Response = Response<BoxStream<EchoReply>>;
    type Error = Status;
    type Future = BoxFuture<Self::Response, Status>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Streaming<EchoRequest>>) -> Self::Future {
        let inbound = req.into_inner();
        let out = futures::stream::unfold(inbound, |mut inbound| async move {
            match inbound.message().await {
                Ok(Some(m)) => Some((reply(m), inbound)),
                Ok(None) => None,
                Err(e) => Some((Err(e), inbound)),
            }
        });
        Box::pin(async move { Ok(Response::new(Box::pin(out) as BoxStream<EchoReply>)) })
    }
}

/// The `eco.Echo` service: routes by path, as tonic-build's generated server does.
#[derive(Clone)]
struct EchoServer;

impl NamedService for EchoServer {
    const NAME: &'static str = "eco.Echo";
}

impl<B> Service<http::Request<B>> for EchoServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match req.uri().path() {
            "/eco.Echo/Say" => Box::pin(async move {
                let codec = ProstCodec::<EchoReply, EchoRequest>::default();
                Ok(tonic::server::Grpc::new(codec).unary(Say, req).await)
            }),
            "/eco.Echo/Chat" => Box::pin(async move {
                let codec = ProstCodec::<EchoReply, EchoRequest>::default();
                Ok(tonic::server::Grpc::new(codec).streaming(Chat, req).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// The client half, as tonic-build would generate it.
struct EchoClient(tonic::client::Grpc<Channel>);

impl EchoClient {
    async fn say(&mut self, text: &str) -> Result<EchoReply, Status> {
        self.0
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let req = Request::new(EchoRequest { text: text.into() });
        let path = PathAndQuery::from_static("/eco.Echo/Say");
        let codec = ProstCodec::<EchoRequest, EchoReply>::default();
        Ok(self.0.unary(req, path, codec).await?.into_inner())
    }

    async fn chat(
        &mut self,
        requests: impl futures::Stream<Item = EchoRequest> + Send + 'static,
    ) -> Result<Streaming<EchoReply>, Status> {
        self.0
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let path = PathAndQuery::from_static("/eco.Echo/Chat");
        let codec = ProstCodec::<EchoRequest, EchoReply>::default();
        Ok(self
            .0
            .streaming(Request::new(requests), path, codec)
            .await?
            .into_inner())
    }

    async fn call_path(&mut self, path: &'static str) -> Result<EchoReply, Status> {
        self.0
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let req = Request::new(EchoRequest { text: "x".into() });
        let codec = ProstCodec::<EchoRequest, EchoReply>::default();
        Ok(self
            .0
            .unary(req, PathAndQuery::from_static(path), codec)
            .await?
            .into_inner())
    }
}

/// Starts the server with tonic's `serve_with_shutdown` on a free loopback port in a
/// tokio task on this core; returns its address, the shutdown trigger and the task.
fn start_server() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let addr: SocketAddr = ([127, 0, 0, 1], eco::free_port()).into();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(EchoServer)
            .serve_with_shutdown(addr, async move {
                let _ = stopped.await;
            }),
    );
    (addr, stop, server)
}

/// Connects to `addr`, retrying for up to 5 s while the server comes up.
async fn connect(addr: SocketAddr) -> EchoClient {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            Ok(channel) => return EchoClient(tonic::client::Grpc::new(channel)),
            Err(e) => {
                assert!(Instant::now() < deadline, "no gRPC server at {addr}: {e:?}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[test]
fn unary_and_bidirectional_streaming() {
    ringcore::Runtime::new().unwrap().block_on(async {
        let (addr, stop, server) = start_server();
        let mut client = connect(addr).await;

        let r = client.say("hello ring").await.unwrap();
        assert_eq!(r.text, "HELLO RING");
        assert_eq!(r.core, 0, "the server answered on this core");

        // Ping-pong on one stream: each request is sent only after the previous reply
        // came back, so the replies interleave with the requests.
        let (mut tx, rx) = futures::channel::mpsc::channel::<EchoRequest>(1);
        let mut replies = client.chat(rx).await.unwrap();
        for i in 0..50 {
            tx.send(EchoRequest {
                text: format!("msg {i}"),
            })
            .await
            .unwrap();
            let r = replies.message().await.unwrap().expect("a reply");
            assert_eq!(r.text, format!("MSG {i}"));
        }
        drop(tx);
        assert!(
            replies.message().await.unwrap().is_none(),
            "the server ends its half after the client's"
        );

        // A whole stream at once: replies in order.
        let requests = futures::stream::iter((0..200).map(|i| EchoRequest {
            text: format!("s{i}"),
        }));
        let got: Vec<String> = client
            .chat(requests)
            .await
            .unwrap()
            .map(|r| r.unwrap().text)
            .collect()
            .await;
        assert_eq!(got, (0..200).map(|i| format!("S{i}")).collect::<Vec<_>>());

        // Graceful shutdown: the server future returns Ok.
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    });
}

#[test]
fn status_errors_are_typed() {
    ringcore::Runtime::new().unwrap().block_on(async {
        let (addr, stop, server) = start_server();
        let mut client = connect(addr).await;
        let status = client.say("fail").await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "asked to fail");
        let status = client.call_path("/eco.Echo/Nope").await.unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
        // In a stream: the error item ends nothing else.
        let requests = futures::stream::iter(["a", "fail"].map(|t| EchoRequest { text: t.into() }));
        let mut replies = client.chat(requests).await.unwrap();
        assert_eq!(replies.message().await.unwrap().unwrap().text, "A");
        let status = replies.message().await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        // The client still works.
        assert_eq!(client.say("ok").await.unwrap().text, "OK");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn a_refused_connect_is_a_transport_error() {
    let port = eco::free_port();
    ringcore::Runtime::new().unwrap().block_on(async move {
        let start = Instant::now();
        let err = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        let chain = format!("{err:?}");
        assert!(chain.contains("ConnectionRefused"), "{chain}");
    });
}

/// A server and a client on each of two cores: every answer comes from the core that
/// asked.
#[test]
fn a_server_and_client_on_each_core() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let out = rt.run_on_each_core(|core| {
        move || async move {
            let (addr, stop, server) = start_server();
            let mut client = connect(addr).await;
            let mut cores = Vec::new();
            for i in 0..20 {
                let r = client.say(&format!("c{i}")).await.unwrap();
                cores.push(r.core);
            }
            stop.send(()).unwrap();
            server.await.unwrap().unwrap();
            (core.index() as u32, cores)
        }
    });
    for (core, cores) in out {
        assert!(cores.iter().all(|&c| c == core), "core {core}: {cores:?}");
    }
}

//! `hyper_rt::serve` answered by `hyper_rt::Client`, with only ringcore's re-exports:
//! HTTP/1.1 and h2c on one port, a JSON round trip, the client's typed errors (a malformed
//! URI, an https URI, a refused port), and a graceful shutdown that finishes an in-flight
//! slow request (and one whose grace period cuts a slower one off).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::hyper_rt::body::Incoming;
use ringcore::hyper_rt::{
    Body, Client, ClientError, Method, Protocol, RecvBody, Request, Response, Served, StatusCode,
    header, serve, service_fn,
};
use ringcore::net::TcpListener;
use ringcore::sync::Event;

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Point {
    x: i64,
    y: i64,
    label: String,
}

/// `GET /` answers `hello over HTTP/x`; `POST /mirror` answers the JSON `Point` it was
/// sent with x and y swapped; `GET /slow` answers after `slow`.
async fn routes(req: Request<Incoming>, slow: Duration) -> Result<Response<Body>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(Body::from(format!("hello over {:?}", req.version()))),
        (&Method::POST, "/mirror") => match RecvBody::from(req.into_body()).json::<Point>().await {
            Ok(p) => {
                let swapped = Point {
                    x: p.y,
                    y: p.x,
                    label: p.label,
                };
                let mut r = Response::new(Body::json(&swapped).unwrap());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                r
            }
            Err(e) => {
                let mut r = Response::new(Body::from(e.to_string()));
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
        },
        (&Method::GET, "/slow") => {
            ringcore::time::sleep(slow).await;
            Response::new(Body::from("slowly"))
        }
        _ => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(response)
}

/// A server on a loopback port with a grace period; set the event to stop it.
fn start(
    slow: Duration,
    grace: Duration,
) -> (
    SocketAddr,
    Rc<Event>,
    ringcore::JoinHandle<(Served, Instant)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Rc::new(Event::new());
    let signal = stop.clone();
    let server = serve(listener, service_fn(move |req| routes(req, slow)))
        .grace_period(grace)
        .with_graceful_shutdown(async move { signal.wait().await });
    let done = ringcore::spawn(async move { (server.await, Instant::now()) });
    (addr, stop, done)
}

#[test]
fn serve_answers_the_client_over_http1_and_h2c_with_json_both_ways() {
    ringcore::block_on(async {
        let (addr, stop, done) = start(Duration::ZERO, Duration::from_secs(5));
        for (protocol, version) in [(Protocol::Http1, "HTTP/1.1"), (Protocol::Http2, "HTTP/2.0")] {
            let client = Client::builder().protocol(protocol).build();
            let resp = client.get(format!("http://{addr}/")).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(
                resp.into_body().text().await.unwrap(),
                format!("hello over {version}")
            );

            let sent = Point {
                x: 1,
                y: -2,
                label: "ünïcode ✓".into(),
            };
            let resp = client
                .post_json(format!("http://{addr}/mirror"), &sent)
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
            let back: Point = resp.into_body().json().await.unwrap();
            assert_eq!(
                back,
                Point {
                    x: -2,
                    y: 1,
                    label: sent.label.clone()
                }
            );

            // Not JSON: the server's RecvBody::json says so, and the client reads the 400.
            let resp = client
                .post(format!("http://{addr}/mirror"), "{not json")
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
            assert!(resp.into_body().text().await.unwrap().contains("JSON"));
            // A JSON answer that is not the asked type is a typed body error.
            let resp = client.get(format!("http://{addr}/")).await.unwrap();
            let err = resp.into_body().json::<Point>().await.unwrap_err();
            assert!(
                matches!(err, ringcore::hyper_rt::BodyError::Json(_)),
                "{err:?}"
            );
        }
        stop.set();
        let (served, _) = done.await.unwrap();
        assert_eq!(served.cut_off, 0);
        // One HTTP/1.1 connection reused for four requests, one h2c connection.
        assert_eq!(served.accepted, 2);
    });
}

#[test]
fn malformed_https_and_refused_uris_are_typed_errors() {
    ringcore::block_on(async {
        let client = Client::new();
        match client.get("http://exa mple.com/").await {
            Err(ClientError::InvalidUri { uri, .. }) => assert_eq!(uri, "http://exa mple.com/"),
            other => panic!("{other:?}"),
        }
        match client.get("/just/a/path").await {
            Err(ClientError::InvalidUri { uri, reason }) => {
                assert_eq!(uri, "/just/a/path");
                assert!(reason.contains("absolute"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let err = client.get("https://127.0.0.1:1/").await.unwrap_err();
        match &err {
            ClientError::UnsupportedScheme { uri, scheme } => {
                assert_eq!(
                    (uri.as_str(), scheme.as_str()),
                    ("https://127.0.0.1:1/", "https")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("no TLS"), "{err}");
        assert!(!err.is_connect());

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = client
            .post(format!("http://127.0.0.1:{port}/x"), "body")
            .await
            .unwrap_err();
        match &err {
            ClientError::Connect {
                host,
                port: p,
                source,
                ..
            } => {
                assert_eq!((host.as_str(), *p), ("127.0.0.1", port));
                assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert!(err.is_connect());

        match client.get("http://gone.invalid/").await {
            Err(ClientError::Resolve { host, .. }) => assert_eq!(host, "gone.invalid"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn graceful_shutdown_finishes_an_in_flight_slow_request_then_returns() {
    ringcore::block_on(async {
        let slow = Duration::from_millis(600);
        let (addr, stop, done) = start(slow, Duration::from_secs(10));
        let h1 = Client::new();
        let h2 = Client::builder().protocol(Protocol::Http2).build();
        let url = format!("http://{addr}/slow");
        let start = Instant::now();
        let in_flight = ringcore::spawn({
            let (h1, h2, url) = (h1.clone(), h2.clone(), url.clone());
            async move {
                let a = ringcore::spawn(async move { h1.get(&url).await });
                let b = h2.get(format!("http://{addr}/slow")).await;
                let a = a.await.unwrap().unwrap().into_body().text().await.unwrap();
                let b = b.unwrap().into_body().text().await.unwrap();
                (a, b)
            }
        });
        ringcore::time::sleep(Duration::from_millis(150)).await;
        stop.set();
        let (served, returned) = done.await.unwrap();
        assert_eq!((served.accepted, served.cut_off), (2, 0));
        let (a, b) = in_flight.await.unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("slowly", "slowly"));
        // The server returned only after the slow requests were answered.
        assert!(returned - start >= slow, "{:?}", returned - start);
        // And it no longer listens.
        let err = Client::new()
            .get(format!("http://{addr}/"))
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
    });
}

#[test]
fn grace_period_closes_connections_still_open_at_its_end() {
    ringcore::block_on(async {
        let (addr, stop, done) = start(Duration::from_secs(30), Duration::from_millis(200));
        let client = Client::new();
        let stuck = ringcore::spawn(async move { client.get(format!("http://{addr}/slow")).await });
        ringcore::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        stop.set();
        let (served, _) = done.await.unwrap();
        assert_eq!((served.accepted, served.cut_off), (1, 1));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        // The cut-off connection closed without an answer.
        let err = stuck.await.unwrap().unwrap_err();
        assert!(matches!(err, ClientError::Http(_)), "{err:?}");
    });
}

//! A TLS round trip with tokio-rustls (ring crypto provider) over ringcore TCP streams,
//! with a self-signed certificate made here with rcgen.
#![cfg(feature = "tokio-io")]

mod support;

use std::sync::Arc;

use ringcore::net::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

#[test]
fn tls_round_trip_with_tokio_rustls() {
    let (server_cfg, client_cfg) = configs();
    ringcore::block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server_cfg);
        // The server echoes everything it decrypts, then closes with close_notify.
        let server = ringcore::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp.into_poll_io()).await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut total = 0;
            loop {
                let n = tls.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).await.unwrap();
                total += n;
            }
            tls.shutdown().await.unwrap();
            total
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let connector = TlsConnector::from(client_cfg);
        let name = ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp.into_poll_io()).await.unwrap();
        let (_, conn) = tls.get_ref();
        assert!(conn.protocol_version().is_some(), "handshake finished");
        let (mut rd, mut wr) = tokio::io::split(tls);
        let data = support::random_bytes(1 << 20, 3);
        let to_send = data.clone();
        let writer = ringcore::spawn(async move {
            for chunk in to_send.chunks(30_000) {
                wr.write_all(chunk).await.unwrap();
            }
            // Sends close_notify and shuts the TCP write side down.
            wr.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        rd.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data, "TLS echo differs");
        assert_eq!(server.await.unwrap(), data.len());
    });
}

#[test]
fn tls_rejects_a_certificate_for_another_name() {
    let (server_cfg, client_cfg) = configs();
    ringcore::block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(server_cfg);
        let server = ringcore::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp.into_poll_io()).await.map(drop)
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("example.com").unwrap();
        let err = TlsConnector::from(client_cfg)
            .connect(name, tcp.into_poll_io())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        // The server sees the client's alert as an error too, not a hang.
        assert!(server.await.unwrap().is_err());
    });
}

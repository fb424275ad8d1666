//! TLS endpoints made by a test: a certificate authority generated on the spot (rcgen), server
//! certificates it signs, and a TLS-terminating proxy that puts `https://`/`wss://` in front of
//! a plain endpoint (a chain's JSON-RPC port). Nothing here is trusted by anything but the
//! test that made it.
//!
//! ```no_run
//! # async fn demo(chain: std::net::SocketAddr) {
//! use propledger_testkit::tls::{TestCa, TlsProxy};
//!
//! let ca = TestCa::new("test CA");
//! let proxy = TlsProxy::start(&ca, chain).await;
//! // A client trusting `ca.ca_file()` reaches the chain at `proxy.https_url()`.
//! # let _ = proxy.wss_url();
//! # }
//! ```
//!
//! The proxy forwards bytes both ways after the handshake, like a load balancer terminating
//! TLS. Its reads from the upstream acknowledge at once (`TCP_QUICKACK`), as the indexer's own
//! client does, so a server that leaves Nagle's algorithm on (anvil) is not held back by
//! delayed acknowledgements on the proxy's side either.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// A certificate authority, its certificate written as `ca.pem` in its own directory.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

/// A server certificate and its key, as PEM.
pub struct ServerCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS #8).
    pub key_pem: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), issuer.pem()).expect("write ca.pem");
        TestCa { issuer, dir }
    }

    /// The PEM file of the CA's certificate (what a client is told to trust).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for `names` (host names or IP addresses), signed by this CA.
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// A TLS server configuration presenting a certificate for `127.0.0.1` and `localhost`.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let cert = self.server_cert(&["127.0.0.1", "localhost"]);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert.der.clone()], key)
                .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ServerCert {
    /// Writes the certificate and key into `dir` as `server.crt` and `server.key` (the key
    /// readable by its owner only, as PostgreSQL requires).
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        std::fs::write(&cert, &self.cert_pem).expect("write certificate");
        std::fs::write(&key, &self.key_pem).expect("write key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        (cert, key)
    }
}

/// A TLS-terminating proxy on a loopback port, forwarding to `upstream`; stopped on drop.
/// Without TLS ([`TlsProxy::start_plain`]) it is the same hop in plain TCP, to tell what TLS
/// costs from what the extra hop costs.
pub struct TlsProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

/// Forwards bytes both ways between a client and the upstream until either side closes.
async fn forward(mut client: impl AsyncRead + AsyncWrite + Unpin, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let mut server = QuickAck(server);
    let _ =
        tokio::io::copy_bidirectional_with_sizes(&mut client, &mut server, 64 * 1024, 64 * 1024)
            .await;
}

impl TlsProxy {
    /// Starts a proxy presenting a certificate of `ca` in front of `upstream`.
    pub async fn start(ca: &TestCa, upstream: SocketAddr) -> TlsProxy {
        Self::serve(
            Some(tokio_rustls::TlsAcceptor::from(ca.server_config())),
            upstream,
        )
        .await
    }

    /// Starts the same proxy without TLS.
    pub async fn start_plain(upstream: SocketAddr) -> TlsProxy {
        Self::serve(None, upstream).await
    }

    async fn serve(acceptor: Option<tokio_rustls::TlsAcceptor>, upstream: SocketAddr) -> TlsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = client.set_nodelay(true);
                    let client = QuickAck(client);
                    match acceptor {
                        // A client that refuses the certificate ends here.
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(client).await {
                                forward(tls, upstream).await;
                            }
                        }
                        None => forward(client, upstream).await,
                    }
                });
            }
        });
        TlsProxy { addr, task }
    }

    /// `http://` URL of the proxy (one started without TLS).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://` URL of the proxy.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `wss://` URL of the proxy.
    pub fn wss_url(&self) -> String {
        format!("wss://{}", self.addr)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP stream that acknowledges what it reads at once.
struct QuickAck(TcpStream);

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

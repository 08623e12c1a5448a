//! Company networks: a proxy that opens CONNECT tunnels, a TLS server whose certificate only
//! `SSL_CERT_FILE` makes trusted, `NO_PROXY`, loopback, proxy credentials, and variables that
//! cannot be read. Every server here is started by its test on 127.0.0.1 and stopped by it;
//! the proxy opens tunnels to loopback only.
//!
//! The TLS server's certificate names `intercom.test`, which does not resolve: only the proxy
//! knows it (as 127.0.0.1). A request that goes direct is tested on `0.0.0.0`, which the kernel
//! connects to this machine and which the certificate names too: a name would need a DNS
//! lookup, which a test must not make (the matching of names in `NO_PROXY` is unit-tested
//! beside the one function that decides, `http::proxy::Routes::route`).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use fake_intercom::FakeIntercom;
use serde_json::json;

use crate::support::{Run, Tap, fake, ids, meltano_catalog, requests_to, world_ids};

/// The name the TLS server's certificate is for; only the test proxy resolves it.
const NAME: &str = "intercom.test";
/// Streams of a quick sync: a list, a list with pages of its own, and a search (POST).
const STREAMS: &[&str] = &["admins", "tags", "contacts"];
/// The proxy's user and password, as a proxy URL carries them (percent-encoded).
const USER_INFO: &str = "tap-user:s3cret%3Ap%40ss%2Fword";
/// `Basic` and base64 of `tap-user:s3cret:p@ss/word`: the header the proxy expects.
const AUTHORIZATION: &str = "Basic dGFwLXVzZXI6czNjcmV0OnBAc3Mvd29yZA==";

/// A sync of [`STREAMS`] against `fake`, with the config's `base_url` set to `base_url`.
fn sync_of(fake: &FakeIntercom, base_url: &str) -> Tap {
    Tap::against(fake)
        .set("base_url", json!(base_url))
        .catalog(meltano_catalog(STREAMS, &[]))
}

/// The run wrote every record of [`STREAMS`] the fake holds, each once.
#[track_caller]
fn exact(run: &Run, fake: &FakeIntercom) {
    run.ok();
    let world = fake.world();
    assert_eq!(ids(run, "contacts"), world_ids(&world, "contacts"));
    assert_eq!(run.records("contacts").len(), world.contacts.len());
    assert_eq!(run.records("admins").len(), world.admins.len());
    assert_eq!(run.records("tags").len(), world.tags.len());
}

#[test]
fn a_sync_goes_through_the_proxy_to_a_server_only_ssl_cert_file_makes_trusted() {
    let fake = fake();
    let front = TlsFront::start(&fake);
    let proxy = TestProxy::start(None);
    let tap = sync_of(&fake, &front.url(NAME));
    let ca = front.ca_file(&tap);
    let run = tap.env("HTTPS_PROXY", &proxy.url()).env("SSL_CERT_FILE", &ca).run();
    exact(&run, &fake);
    let asked = proxy.asked();
    assert!(!asked.is_empty(), "no tunnel through the proxy");
    for seen in &asked {
        assert_eq!(seen.line, format!("CONNECT {NAME}:{} HTTP/1.1", front.port()));
        assert_eq!(seen.authorization, None);
    }
    // Tunnels are kept and reused: far fewer than the requests.
    assert!(
        asked.len() < fake.requests().len(),
        "{} tunnels for {} requests",
        asked.len(),
        fake.requests().len()
    );
    assert!(
        run.stderr.contains(&format!(
            "requests to https://{NAME}:{} go through the proxy {} (HTTPS_PROXY)",
            front.port(),
            proxy.url()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("from SSL_CERT_FILE"), "{}", run.stderr);
}

#[test]
fn without_ssl_cert_file_the_server_is_not_trusted_and_the_failure_names_the_request() {
    let fake = fake();
    let front = TlsFront::start(&fake);
    let proxy = TestProxy::start(None);
    let run = sync_of(&fake, &front.url(NAME)).env("HTTPS_PROXY", &proxy.url()).run();
    let line = run.failure_line();
    assert_eq!(run.code, Some(1));
    assert!(line.contains("GET /me failed: TLS failed"), "{line}");
    assert!(
        line.contains("UnknownIssuer") && line.contains("SSL_CERT_FILE"),
        "{line}"
    );
    assert!(
        line.contains(&format!("through the proxy {} (HTTPS_PROXY)", proxy.url())),
        "{line}"
    );
    // A certificate that is not trusted is not retried, and nothing reached Intercom.
    assert_eq!(proxy.asked().len(), 1);
    assert!(requests_to(&fake, "/").is_empty());
    assert!(run.records("admins").is_empty());
}

#[test]
fn hosts_in_no_proxy_go_direct() {
    let fake = fake();
    let front = TlsFront::start(&fake);
    let proxy = TestProxy::start(None);
    let port = front.port();
    let direct = [
        "0.0.0.0".to_owned(),
        format!("example.com, 0.0.0.0:{port}"),
        "10.0.0.0/8,0.0.0.0/8".to_owned(),
        "*".to_owned(),
    ];
    for no_proxy in &direct {
        let tap = sync_of(&fake, &front.url("0.0.0.0"));
        let ca = front.ca_file(&tap);
        let run = tap
            .env("HTTPS_PROXY", &proxy.url())
            .env("NO_PROXY", no_proxy)
            .env("SSL_CERT_FILE", &ca)
            .run();
        exact(&run, &fake);
        assert!(proxy.asked().is_empty(), "NO_PROXY={no_proxy}: {:?}", proxy.asked());
        assert!(
            run.stderr.contains("go direct: its host is in NO_PROXY"),
            "{}",
            run.stderr
        );
    }
    // Entries that do not match (another port, another address, a name) leave the proxy in use.
    let tap = sync_of(&fake, &front.url("0.0.0.0"));
    let ca = front.ca_file(&tap);
    let run = tap
        .env("https_proxy", &proxy.url())
        .env("no_proxy", "0.0.0.0:1,0.0.0.1,zero.example")
        .env("SSL_CERT_FILE", &ca)
        .run();
    exact(&run, &fake);
    let asked = proxy.asked();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|s| s.line == format!("CONNECT 0.0.0.0:{port} HTTP/1.1"))
    );
}

#[test]
fn loopback_is_direct_whatever_the_proxy_variables_say() {
    let fake = fake();
    let proxy = TestProxy::start(None);
    let port = fake.url().rsplit(':').next().unwrap().to_owned();
    for base_url in [fake.url(), format!("http://localhost:{port}")] {
        let mut tap = sync_of(&fake, &base_url);
        for name in [
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "https_proxy",
            "http_proxy",
            "all_proxy",
        ] {
            tap = tap.env(name, &proxy.url());
        }
        let run = tap.run();
        exact(&run, &fake);
        assert!(proxy.asked().is_empty(), "{base_url}: {:?}", proxy.asked());
        assert_eq!(proxy.connections(), 0, "{base_url}");
        assert!(
            run.stderr.contains("go direct: loopback never goes through a proxy"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_proxy_gets_its_credentials_and_no_output_shows_them() {
    let fake = fake();
    let front = TlsFront::start(&fake);
    let proxy = TestProxy::start(Some(AUTHORIZATION));
    let with = |user_info: &str| format!("http://{user_info}@{}", proxy.addr);

    let tap = sync_of(&fake, &front.url(NAME));
    let ca = front.ca_file(&tap);
    let run = tap
        .env("HTTPS_PROXY", &with(USER_INFO))
        .env("SSL_CERT_FILE", &ca)
        .env("TAP_INTERCOM_LOG_LEVEL", "debug")
        .run();
    exact(&run, &fake);
    let asked = proxy.asked();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|s| s.authorization.as_deref() == Some(AUTHORIZATION)),
        "{asked:?}"
    );
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains("s3cret") && !text.contains(USER_INFO),
            "credentials shown"
        );
    }
    assert!(run.stderr.contains("with its user and password"), "{}", run.stderr);

    // A wrong password: the proxy refuses (407), the run stops at once and says why, without it.
    let tap = sync_of(&fake, &front.url(NAME));
    let ca = front.ca_file(&tap);
    let run = tap
        .env("HTTPS_PROXY", &with("tap-user:s3cret-but-wrong"))
        .env("SSL_CERT_FILE", &ca)
        .run();
    let line = run.failure_line();
    assert!(
        line.contains("GET /me failed: the proxy refused the tunnel: HTTP 407 Proxy Authentication Required"),
        "{line}"
    );
    // Credentials the proxy refuses are not tried again.
    assert_eq!(proxy.asked().len(), asked.len() + 1);
    assert!(
        line.contains(&format!("through the proxy http://{} (HTTPS_PROXY)", proxy.addr)),
        "{line}"
    );
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"));
}

#[test]
fn a_proxy_url_or_certificate_file_that_cannot_be_read_is_named() {
    let fake = fake();
    for (name, value, problem) in [
        (
            "HTTPS_PROXY",
            "http://tap-user:s3cret-pass@127.0.0.1:notaport",
            "the port \"notaport\"",
        ),
        (
            "all_proxy",
            "socks5://tap-user:s3cret-pass@127.0.0.1:1080",
            "SOCKS proxies are not supported",
        ),
        ("HTTP_PROXY", "http://tap-user:s3cret-pass@:3128", "it has no host"),
    ] {
        let run = Tap::against(&fake).env(name, value).run();
        let line = run.only_line();
        assert_eq!(run.code, Some(2), "{line}");
        assert!(line.contains(&format!("{name}: \"")), "{line}");
        assert!(
            line.contains("cannot be read as a proxy URL") && line.contains(problem),
            "{line}"
        );
        assert!(!line.contains("s3cret"), "{line}");
    }

    let tap = Tap::against(&fake);
    let missing = tap.file("placeholder", "").with_file_name("missing.pem");
    let not_pem = tap.file("not.pem", "this is not a certificate\n");
    for (path, problem) in [(&missing, "cannot read the file"), (&not_pem, "holds no certificate")] {
        let run = Tap::against(&fake).env("SSL_CERT_FILE", path.to_str().unwrap()).run();
        let line = run.only_line();
        assert_eq!(run.code, Some(2), "{line}");
        assert!(line.contains("SSL_CERT_FILE: ") && line.contains(problem), "{line}");
        assert!(line.contains(&path.display().to_string()), "{line}");
    }
    assert!(requests_to(&fake, "/").is_empty());
}

/// What the proxy was asked on one connection.
#[derive(Debug, Clone)]
struct Seen {
    /// The request line: `CONNECT host:port HTTP/1.1`.
    line: String,
    authorization: Option<String>,
}

/// An HTTP proxy that opens CONNECT tunnels to 127.0.0.1 (for [`NAME`], `0.0.0.0` and
/// `127.0.0.1`; any other host gets a 502), and wants `authorization` when it is set.
struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Server,
}

impl TestProxy {
    fn start(authorization: Option<&'static str>) -> TestProxy {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = Arc::clone(&seen);
        let server = Server::start(move |client, open| tunnel(client, &log, authorization, open));
        TestProxy {
            addr: server.addr,
            seen,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Each connection's request, in order.
    fn asked(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// Connections accepted, whatever they asked.
    fn connections(&self) -> usize {
        self.server.open.accepted.load(Ordering::SeqCst)
    }
}

fn tunnel(mut client: TcpStream, seen: &Mutex<Vec<Seen>>, authorization: Option<&str>, open: &Open) {
    let Some(head) = read_head(&mut client) else { return };
    let mut lines = head.lines();
    let line = lines.next().unwrap_or_default().to_owned();
    let found = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    lock(seen).push(Seen {
        line: line.clone(),
        authorization: found.clone(),
    });
    let answer = |client: &mut TcpStream, status: &str| {
        let _ = write!(
            client,
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    if authorization.is_some() && found.as_deref() != authorization {
        let _ = write!(
            client,
            "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n"
        );
        return;
    }
    let mut words = line.split(' ');
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        return answer(&mut client, "405 Method Not Allowed");
    };
    let Some((host, port)) = target.rsplit_once(':') else {
        return answer(&mut client, "400 Bad Request");
    };
    let (true, Ok(port)) = ([NAME, "0.0.0.0", "127.0.0.1"].contains(&host), port.parse::<u16>()) else {
        return answer(&mut client, "502 Bad Gateway");
    };
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
        return answer(&mut client, "502 Bad Gateway");
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    open.track(&upstream);
    let (Ok(mut client_in), Ok(mut upstream_out)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Write);
    });
    let (mut upstream_in, mut client_out) = (upstream, client);
    let _ = std::io::copy(&mut upstream_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// The request's head, read byte by byte so that nothing after it is taken from the tunnel.
fn read_head(client: &mut TcpStream) -> Option<String> {
    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || client.read_exact(&mut byte).is_err() {
            return None;
        }
        head.push(byte[0]);
    }
    let _ = client.set_read_timeout(None);
    String::from_utf8(head).ok()
}

/// A TLS server with a certificate for [`NAME`] and `0.0.0.0`, signed by a CA made here, that
/// passes each connection on to the fake Intercom.
struct TlsFront {
    ca_pem: String,
    server: Server,
}

impl TlsFront {
    fn start(fake: &FakeIntercom) -> TlsFront {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let upstream: SocketAddr = fake.url().trim_start_matches("http://").parse().unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "tap-intercom test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![NAME.to_owned(), "0.0.0.0".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let config = Arc::new(config);
        let server = Server::start(move |client, open| forward(client, &config, upstream, open));
        TlsFront { ca_pem, server }
    }

    fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// `https://host:port` of this server under `host`.
    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port())
    }

    /// Writes the CA's certificate into the run's directory, for `SSL_CERT_FILE`.
    fn ca_file(&self, tap: &Tap) -> String {
        let path: PathBuf = tap.file("test-ca.pem", &self.ca_pem);
        path.to_str().unwrap().to_owned()
    }
}

/// Passes one connection's bytes on, both ways, until either side closes or the server stops:
/// TLS on the client's side, plain HTTP to the fake. Short read timeouts let one thread take
/// turns between the two directions.
fn forward(client: TcpStream, config: &Arc<rustls::ServerConfig>, upstream: SocketAddr, open: &Open) {
    let tick = Some(Duration::from_millis(2));
    let (Ok(conn), Ok(mut fake)) = (
        rustls::ServerConnection::new(Arc::clone(config)),
        TcpStream::connect(upstream),
    ) else {
        return;
    };
    open.track(&fake);
    let _ = client.set_read_timeout(tick);
    let _ = fake.set_read_timeout(tick);
    let mut tls = rustls::StreamOwned::new(conn, client);
    let waiting = |err: &std::io::Error| {
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    let mut buf = vec![0u8; 16 * 1024];
    while !open.stopping.load(Ordering::SeqCst) {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if fake.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(err) if waiting(&err) => {}
            Err(_) => break,
        }
        match fake.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    break;
                }
            }
            Err(err) if waiting(&err) => {}
            Err(_) => break,
        }
    }
}

/// The connections a server has open (and has opened), shut when it stops.
#[derive(Default)]
struct Open {
    streams: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
    stopping: AtomicBool,
}

impl Open {
    fn track(&self, stream: &TcpStream) {
        if let Ok(copy) = stream.try_clone() {
            lock(&self.streams).push(copy);
        }
    }
}

/// A server on a free port of 127.0.0.1 that handles each connection on a thread of its own,
/// stopped (its connections shut) when dropped.
struct Server {
    addr: SocketAddr,
    open: Arc<Open>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    fn start(handle: impl Fn(TcpStream, &Open) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on loopback");
        let addr = listener.local_addr().unwrap();
        let open: Arc<Open> = Arc::default();
        let handle = Arc::new(handle);
        let shared = Arc::clone(&open);
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                shared.track(&stream);
                let (handle, open) = (Arc::clone(&handle), Arc::clone(&shared));
                thread::spawn(move || handle(stream, &open));
            }
        });
        Server {
            addr,
            open,
            acceptor: Some(acceptor),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.open.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor, blocked in accept().
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in lock(&self.open.streams).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

//! The real wire: `ureq` agents with keep-alive connections, built once with their timeouts,
//! user agent and trusted certificates ([`trust`]): one that goes direct, and one for each
//! proxy the environment sets ([`proxy`]), which picks the agent of each request. HTTP
//! statuses are answers, not errors (`http_status_as_error(false)`).

use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::error::Error;
use crate::http::proxy::{self, Routes};
use crate::http::{Answer, BODY_LIMIT, Method, RateHeaders, Transport, WireError, trust};
use crate::info;

/// Each connection's input buffer, which also bounds the response headers.
const BUFFER: usize = 16 * 1024;

pub struct Ureq {
    direct: ureq::Agent,
    proxied: Routes<Via>,
    /// How long a name lookup, and then a connection, may take (`connect_timeout`).
    connect: Duration,
}

/// A proxy's agent.
struct Via {
    agent: ureq::Agent,
    /// `the proxy http://host:port (HTTPS_PROXY)`, for messages.
    name: String,
}

impl Ureq {
    /// The agents, from the settings and the environment's proxies and certificates: a proxy
    /// URL or certificate file that cannot be read is an error that names its variable.
    pub fn new(settings: &Settings) -> Result<Ureq, Error> {
        let env = |name: &str| std::env::var_os(name);
        let routes = Routes::from_env(&env)?;
        let roots = ureq::tls::RootCerts::Specific(Arc::new(trust::roots(&env)?));
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        if let Some(way) = routes.explain(&settings.base_url) {
            info!("{way}");
        }
        Ok(Ureq {
            direct: agent(settings, tls.clone(), None),
            proxied: routes.map(|proxy: proxy::Proxy| Via {
                name: proxy.describe(),
                agent: agent(settings, tls.clone(), Some(proxy.ureq)),
            }),
            connect: settings.connect_timeout.min(settings.request_timeout),
        })
    }
}

/// An agent that goes through `proxy`, or direct (ureq's own reading of the proxy variables
/// is replaced by [`proxy`]'s).
fn agent(settings: &Settings, tls: ureq::tls::TlsConfig, proxy: Option<ureq::Proxy>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(proxy)
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(settings.request_timeout))
        // A host that drops packets, or DNS that does not answer, would otherwise hold a
        // request for all of request_timeout: a connection takes far less than this.
        .timeout_resolve(Some(settings.connect_timeout.min(settings.request_timeout)))
        .timeout_connect(Some(settings.connect_timeout.min(settings.request_timeout)))
        .user_agent(settings.user_agent.as_str())
        .max_idle_connections_per_host(settings.max_concurrency + 2)
        .max_idle_connections(settings.max_concurrency + 2)
        // ureq keeps two 128 kB buffers per connection, and the tap keeps a connection per
        // request in flight: at a hundred in flight that alone was 25 MB. Intercom's
        // headers are a few kB and bodies stream through the buffer, so smaller ones do.
        .input_buffer_size(BUFFER)
        .max_response_header_size(BUFFER)
        .output_buffer_size(BUFFER / 4)
        .build()
        .into()
}

impl Transport for Ureq {
    fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, WireError> {
        let via = self.proxied.via(url);
        let agent = via.map_or(&self.direct, |via| &via.agent);
        let sent = match method {
            Method::Get => {
                let mut request = agent.get(url);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request.call()
            }
            Method::Post => {
                let mut request = agent.post(url);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request.send(body.unwrap_or_default())
            }
        };
        let mut response = sent.map_err(|err| WireError {
            detail: match via {
                Some(via) => format!("{} (through {})", describe(&err, self.connect), via.name),
                None => describe(&err, self.connect),
            },
            lasting: lasting(&err),
        })?;
        let status = response.status().as_u16();
        let rate = rate_headers(response.headers());
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|err| describe(&err, self.connect));
        Ok(Answer { status, rate, body })
    }

    /// A download's body is copied to `sink` through ureq's buffer as it arrives: an export
    /// of any size takes no more memory than the buffer.
    fn download(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        sink: &mut dyn std::io::Write,
    ) -> Result<Answer, WireError> {
        let mut response = self.call_get(url, headers)?;
        let status = response.status().as_u16();
        let rate = rate_headers(response.headers());
        let body = if (200..300).contains(&status) {
            let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
            std::io::copy(&mut reader, sink)
                .map(|_| Vec::new())
                .map_err(|err| format!("the download stopped: {err}"))
        } else {
            response
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()
                .map_err(|err| describe(&err, self.connect))
        };
        Ok(Answer { status, rate, body })
    }
}

impl Ureq {
    /// The request, through the proxy for its URL, and that proxy's name for messages.
    fn call_get(&self, url: &str, headers: &[(&str, &str)]) -> Result<ureq::http::Response<ureq::Body>, WireError> {
        let via = self.proxied.via(url);
        let agent = via.map_or(&self.direct, |via| &via.agent);
        let mut request = agent.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.call().map_err(|err| WireError {
            detail: match via {
                Some(via) => format!("{} (through {})", describe(&err, self.connect), via.name),
                None => describe(&err, self.connect),
            },
            lasting: lasting(&err),
        })
    }
}

fn describe(err: &ureq::Error, connect: Duration) -> String {
    if let Some(tls) = tls_error(err) {
        return match tls {
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => format!(
                "TLS failed: {tls} (no authority the tap trusts signed the server's certificate; a proxy or gateway that inspects TLS needs its CA certificate in the system's store or in SSL_CERT_FILE)"
            ),
            other => format!("TLS failed: {other}"),
        };
    }
    match err {
        ureq::Error::ConnectProxyFailed(reason) => match proxy_status(reason) {
            Some(407) => "the proxy refused the tunnel: HTTP 407 Proxy Authentication Required (the proxy URL needs a user and password the proxy accepts: http://user:password@host:port)".into(),
            Some(status) => format!(
                "the proxy refused the tunnel: HTTP {status} {}",
                ureq::http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or_default()
            )
            .trim_end()
            .to_owned(),
            None => format!("the proxy did not open a tunnel: {reason}"),
        },
        ureq::Error::Timeout(ureq::Timeout::Resolve) => {
            format!("the name lookup did not answer within {}s", connect.as_secs_f64())
        }
        ureq::Error::Timeout(ureq::Timeout::Connect) => format!(
            "no connection within {}s (the host does not answer)",
            connect.as_secs_f64()
        ),
        ureq::Error::Timeout(_) => "timed out (request_timeout)".into(),
        ureq::Error::Io(io) => format!("connection error: {io}"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        other => other.to_string(),
    }
}

/// Whether a failure will be the same on the next attempt: the host is unknown or refuses
/// connections, TLS failed, a proxy wants credentials, or the request itself cannot be written.
fn lasting(err: &ureq::Error) -> bool {
    match err {
        // A name that does not resolve comes as an uncategorised I/O error from getaddrinfo;
        // a failed TLS handshake as an I/O error too.
        ureq::Error::Io(io) => {
            matches!(
                io.kind(),
                std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::InvalidInput
            ) || io.to_string().contains("lookup address")
                || tls_error(err).is_some()
        }
        // At the check, a host that does not let a connection through within the connect
        // timeout is as good as unreachable (other requests retry).
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect)
        | ureq::Error::HostNotFound
        | ureq::Error::Http(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::TlsRequired => true,
        ureq::Error::ConnectProxyFailed(reason) => proxy_status(reason) == Some(407),
        _ => false,
    }
}

/// The TLS error of a failed handshake, which ureq passes on inside an I/O error.
fn tls_error(err: &ureq::Error) -> Option<&rustls::Error> {
    match err {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// The status a proxy refused a tunnel with, from ureq's `proxy server responded 407/...`.
fn proxy_status(reason: &str) -> Option<u16> {
    reason.split_once("responded ")?.1.split('/').next()?.parse().ok()
}

fn rate_headers(headers: &ureq::http::HeaderMap) -> RateHeaders {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    RateHeaders {
        limit: number("x-ratelimit-limit"),
        remaining: number("x-ratelimit-remaining"),
        reset: number("x-ratelimit-reset"),
    }
}

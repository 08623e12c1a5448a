//! Which way a request goes: straight to its host, or through a company's proxy.
//!
//! The variables are curl's: `https_proxy` or `HTTPS_PROXY` for https URLs (a CONNECT tunnel),
//! `http_proxy` or `HTTP_PROXY` for http ones, `all_proxy` or `ALL_PROXY` for either when its own
//! is not set (the lower-case form first, an empty value as unset), and `no_proxy` or `NO_PROXY`
//! for the hosts that bypass them: host names that also match their subdomains (`example.com`,
//! `.example.com` and `*.example.com` alike), IP addresses and ranges (`10.0.0.0/8`), each with
//! an optional `:port`, and `*` for every host. Loopback (`localhost`, 127.0.0.0/8, `::1`) is
//! always reached directly, as Go's net/http does, so that a local Intercom and a company-wide
//! proxy live together. [`Routes::route`] is the one place that decides.
//!
//! ureq reads these variables itself (`Proxy::try_from_env`), but it takes `ALL_PROXY` before the
//! others and one proxy for every scheme, matches `example.com` in `NO_PROXY` for that host only,
//! knows no ports or ranges there, and sends loopback through the proxy: so the tap reads them
//! here, gives each proxy its agent, and keeps ureq's own reading off.

use std::ffi::OsString;
use std::net::IpAddr;

use crate::error::{Error, quote};

/// Reads a variable of the environment (`std::env::var_os`, or a table in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

const HTTPS_PROXY: [&str; 2] = ["https_proxy", "HTTPS_PROXY"];
const HTTP_PROXY: [&str; 2] = ["http_proxy", "HTTP_PROXY"];
const ALL_PROXY: [&str; 2] = ["all_proxy", "ALL_PROXY"];
const NO_PROXY: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// A proxy read from a variable.
#[derive(Clone)]
pub struct Proxy {
    /// The variable it came from, as it was spelled (`HTTPS_PROXY`, `all_proxy`).
    pub variable: &'static str,
    /// `http://host:port`: how messages name it, never with its user or password.
    pub shown: String,
    /// Whether it has a user and password (sent as `Proxy-Authorization: Basic`).
    pub credentials: bool,
    pub ureq: ureq::Proxy,
}

impl Proxy {
    /// `the proxy http://host:port (HTTPS_PROXY)`, as messages name it.
    pub fn describe(&self) -> String {
        format!("the proxy {} ({})", self.shown, self.variable)
    }
}

/// Why a request goes straight to its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direct {
    /// No proxy is set for the URL's scheme.
    NoProxySet,
    /// The host is loopback: never through a proxy.
    Loopback,
    /// The host is in `NO_PROXY`.
    NoProxy,
}

/// The way of one request.
pub enum Route<'a, T> {
    Direct(Direct),
    Via(&'a T),
}

/// The proxy of each scheme, and the hosts that bypass them. `T` is a [`Proxy`] as read, then
/// whatever the wire keeps for it (an agent that talks through it).
#[derive(Debug, Clone, Default)]
pub struct Routes<T> {
    https: Option<T>,
    http: Option<T>,
    no_proxy: NoProxy,
}

impl Routes<Proxy> {
    /// Reads the proxy variables. A proxy URL that cannot be read is an error that names its
    /// variable and shows the value without its user and password.
    pub fn from_env(env: Env<'_>) -> Result<Routes<Proxy>, Error> {
        let read = |names: [&'static str; 2]| -> Result<Option<Proxy>, Error> {
            set(env, names)?
                .map(|(variable, value)| read_proxy(variable, &value))
                .transpose()
        };
        let all = read(ALL_PROXY)?;
        let https = read(HTTPS_PROXY)?.or_else(|| all.clone());
        let http = read(HTTP_PROXY)?.or(all);
        let no_proxy = set(env, NO_PROXY)?.map_or_else(NoProxy::default, |(_, list)| NoProxy::parse(&list));
        Ok(Routes { https, http, no_proxy })
    }

    /// The way requests to `url` go, as the log says it when a proxy is set.
    pub fn explain(&self, url: &str) -> Option<String> {
        match self.route(url) {
            Route::Via(proxy) => Some(format!(
                "requests to {url} go through {}{}",
                proxy.describe(),
                if proxy.credentials {
                    ", with its user and password"
                } else {
                    ""
                }
            )),
            Route::Direct(Direct::Loopback) => Some(format!(
                "requests to {url} go direct: loopback never goes through a proxy"
            )),
            Route::Direct(Direct::NoProxy) => Some(format!("requests to {url} go direct: its host is in NO_PROXY")),
            Route::Direct(Direct::NoProxySet) => None,
        }
    }
}

impl<T> Routes<T> {
    /// The way to `url`: direct for loopback hosts, hosts in `NO_PROXY` and schemes without a
    /// proxy; else through the scheme's proxy.
    pub fn route(&self, url: &str) -> Route<'_, T> {
        let Some(target) = Target::of(url) else {
            // Not a URL: ureq refuses it whatever the way.
            return Route::Direct(Direct::NoProxySet);
        };
        let proxy = match target.scheme {
            Scheme::Https => self.https.as_ref(),
            Scheme::Http => self.http.as_ref(),
        };
        match proxy {
            None => Route::Direct(Direct::NoProxySet),
            Some(_) if target.is_loopback() => Route::Direct(Direct::Loopback),
            Some(_) if self.no_proxy.matches(&target.host, target.port) => Route::Direct(Direct::NoProxy),
            Some(proxy) => Route::Via(proxy),
        }
    }

    /// The proxy a request to `url` goes through, if any.
    pub fn via(&self, url: &str) -> Option<&T> {
        match self.route(url) {
            Route::Via(proxy) => Some(proxy),
            Route::Direct(_) => None,
        }
    }

    /// The same routes with each proxy turned into what `f` makes of it.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Routes<U> {
        Routes {
            https: self.https.map(&mut f),
            http: self.http.map(&mut f),
            no_proxy: self.no_proxy,
        }
    }
}

/// The first of `names` that is set and not blank, with its value.
fn set(env: Env<'_>, names: [&'static str; 2]) -> Result<Option<(&'static str, String)>, Error> {
    for name in names {
        let Some(value) = env(name) else { continue };
        let value = value.into_string().map_err(|_| Error::Network {
            variable: name,
            problem: "is not valid UTF-8".into(),
        })?;
        if !value.trim().is_empty() {
            return Ok(Some((name, value.trim().to_owned())));
        }
    }
    Ok(None)
}

/// Reads `http://[user:password@]host[:port]` (`https://` for TLS to the proxy; no scheme
/// means http, as curl reads it; a path is ignored). The password is registered as a secret.
fn read_proxy(variable: &'static str, value: &str) -> Result<Proxy, Error> {
    let bad = |problem: &str| Error::Network {
        variable,
        problem: format!("{} cannot be read as a proxy URL: {problem}", quote(&redact(value))),
    };
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), value),
    };
    match scheme.as_str() {
        "http" | "https" => {}
        s if s.starts_with("socks") => {
            return Err(bad(
                "SOCKS proxies are not supported; use an HTTP proxy (http://host:port)",
            ));
        }
        s if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) => {
            return Err(bad(&format!(
                "{} is not a proxy scheme; use http:// or https://",
                quote(s)
            )));
        }
        _ => return Err(bad("expected http://[user:password@]host:port")),
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| bad("a '[' without its ']' (an IPv6 address is written as in http://[::1]:3128)"))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(bad("it has no host"));
    }
    if let Some(port) = port {
        if crate::config::port_number(port).is_none() {
            return Err(bad(&format!(
                "the port {} is not a number from 1 to 65535",
                quote(port)
            )));
        }
    }
    let proxy = ureq::Proxy::new(&format!("{scheme}://{authority}")).map_err(|_| {
        bad("expected http://[user:password@]host:port (a user or password with @, : or / in it is percent-encoded)")
    })?;
    for secret in [proxy.password(), userinfo].into_iter().flatten() {
        crate::log::register_secret(secret);
    }
    Ok(Proxy {
        variable,
        shown: format!("{scheme}://{host_port}"),
        credentials: userinfo.is_some(),
        ureq: proxy,
    })
}

/// A proxy URL as messages show it: whatever comes before its last `@` (a user and password)
/// as `***`, but for a scheme.
fn redact(value: &str) -> String {
    let Some((before, after)) = value.rsplit_once('@') else {
        return value.to_owned();
    };
    match before.split_once("://") {
        Some((scheme, _)) if scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) => {
            format!("{scheme}://***@{after}")
        }
        _ => format!("***@{after}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
}

/// Where a request goes: its scheme, host (lower case, without brackets or a final dot) and
/// port (the scheme's when the URL has none).
struct Target {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Target {
    fn of(url: &str) -> Option<Target> {
        let uri: ureq::http::Uri = url.parse().ok()?;
        let scheme = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            _ => return None,
        };
        let host = normal_host(uri.host()?);
        let port = uri.port_u16().unwrap_or(match scheme {
            Scheme::Https => 443,
            Scheme::Http => 80,
        });
        Some(Target { scheme, host, port })
    }

    /// `localhost`, or an address in 127.0.0.0/8 or `::1` (also as `::ffff:127.x.y.z`).
    fn is_loopback(&self) -> bool {
        self.host == "localhost" || ip(&self.host).is_some_and(|ip| ip.is_loopback())
    }
}

/// A host as it is compared: lower case, without IPv6 brackets or a final dot.
fn normal_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The host as an IP address, IPv4-mapped IPv6 addresses as IPv4.
fn ip(host: &str) -> Option<IpAddr> {
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The hosts of `NO_PROXY`, read as curl and Go read them.
#[derive(Debug, Clone, Default)]
pub struct NoProxy {
    /// `*`: no host goes through a proxy.
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    pattern: Pattern,
    /// Only requests to this port bypass the proxy.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// The name and its subdomains.
    Domain(String),
    Ip(IpAddr),
    /// An address range: the address and the number of leading bits that count.
    Net(IpAddr, u8),
}

impl NoProxy {
    /// A comma-separated list (spaces around entries allowed). An entry that is none of the
    /// forms in the module's description (a range with a wrong length, a port that is not a
    /// number) is left out, as curl and Go leave it.
    pub fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.all = true;
            } else if let Some(entry) = Entry::parse(&entry.to_ascii_lowercase()) {
                no_proxy.entries.push(entry);
            }
        }
        no_proxy
    }

    /// Whether a request to `host` (as [`normal_host`] makes it) and `port` goes direct.
    fn matches(&self, host: &str, port: u16) -> bool {
        self.all || self.entries.iter().any(|e| e.matches(host, port))
    }
}

impl Entry {
    fn parse(entry: &str) -> Option<Entry> {
        if let Some((address, bits)) = entry.split_once('/') {
            let address = ip(address.trim_start_matches('[').trim_end_matches(']'))?;
            let bits: u8 = bits.parse().ok()?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            // A v4 range written as a mapped v6 one counts its bits from the v4 part.
            let bits = if address.is_ipv4() && entry.contains(':') {
                bits.checked_sub(96)?
            } else {
                bits
            };
            return (bits <= max).then_some(Entry {
                pattern: Pattern::Net(address, bits),
                port: None,
            });
        }
        let (host, port) = if let Some(inner) = entry.strip_prefix('[') {
            let (host, after) = inner.split_once(']')?;
            (host, after.strip_prefix(':'))
        } else if ip(entry).is_some() {
            // A bare IPv6 address: its colons are not a port's.
            (entry, None)
        } else {
            match entry.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        let port = match port {
            Some(port) => Some(port.parse::<u16>().ok().filter(|&p| p != 0)?),
            None => None,
        };
        let host = normal_host(host);
        let host = host
            .strip_prefix("*.")
            .or_else(|| host.strip_prefix('.'))
            .unwrap_or(&host);
        if host.is_empty() {
            return None;
        }
        let pattern = match ip(host) {
            Some(address) => Pattern::Ip(address),
            None => Pattern::Domain(host.to_owned()),
        };
        Some(Entry { pattern, port })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.pattern, ip(host)) {
            (Pattern::Domain(domain), None) => {
                host == domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            (Pattern::Ip(address), Some(host)) => *address == host,
            (Pattern::Net(address, bits), Some(host)) => in_range(host, *address, *bits),
            _ => false,
        }
    }
}

/// Whether `host` is in the range of `bits` leading bits of `address` (same family only).
fn in_range(host: IpAddr, address: IpAddr, bits: u8) -> bool {
    let prefix = |a: u128, b: u128, width: u32| {
        let bits = u32::from(bits);
        bits == 0 || (a ^ b) >> (width - bits.min(width)) == 0
    };
    match (host, address) {
        (IpAddr::V4(h), IpAddr::V4(a)) => prefix(u128::from(u32::from(h)), u128::from(u32::from(a)), 32),
        (IpAddr::V6(h), IpAddr::V6(a)) => prefix(u128::from(h), u128::from(a), 128),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
    }

    fn routes(vars: &[(&str, &str)]) -> Routes<Proxy> {
        Routes::from_env(&env(vars)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The variable of the proxy a request to `url` goes through, or `direct`.
    fn way(routes: &Routes<Proxy>, url: &str) -> &'static str {
        routes.via(url).map_or("direct", |p| p.variable)
    }

    /// Why a request to `url` goes direct, or `None` when it goes through a proxy.
    fn direct(routes: &Routes<Proxy>, url: &str) -> Option<Direct> {
        match routes.route(url) {
            Route::Direct(why) => Some(why),
            Route::Via(_) => None,
        }
    }

    fn bypassed(no_proxy: &str, host: &str, port: u16) -> bool {
        NoProxy::parse(no_proxy).matches(&normal_host(host), port)
    }

    #[test]
    fn each_scheme_has_its_proxy_and_all_proxy_fills_in() {
        let both = routes(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("HTTP_PROXY", "http://plain:3128"),
            ("ALL_PROXY", "http://all:3128"),
        ]);
        assert_eq!(way(&both, "https://api.intercom.io/me"), "HTTPS_PROXY");
        assert_eq!(way(&both, "http://api.intercom.io/me"), "HTTP_PROXY");
        assert_eq!(both.via("https://x.io").unwrap().shown, "http://secure:3128");

        let https_only = routes(&[("HTTPS_PROXY", "http://secure:3128")]);
        assert_eq!(way(&https_only, "https://api.intercom.io/me"), "HTTPS_PROXY");
        assert_eq!(way(&https_only, "http://api.intercom.io/me"), "direct");
        assert_eq!(
            direct(&https_only, "http://api.intercom.io/me"),
            Some(Direct::NoProxySet)
        );

        let all = routes(&[("ALL_PROXY", "http://all:3128"), ("HTTP_PROXY", "http://plain:3128")]);
        assert_eq!(way(&all, "https://api.intercom.io/me"), "ALL_PROXY");
        assert_eq!(way(&all, "http://api.intercom.io/me"), "HTTP_PROXY");

        assert_eq!(way(&routes(&[]), "https://api.intercom.io/me"), "direct");
    }

    #[test]
    fn lower_case_comes_first_and_blank_is_unset() {
        let r = routes(&[("https_proxy", "http://lower:1"), ("HTTPS_PROXY", "http://upper:1")]);
        assert_eq!(way(&r, "https://api.intercom.io"), "https_proxy");
        let r = routes(&[("https_proxy", "  "), ("HTTPS_PROXY", "http://upper:1")]);
        assert_eq!(way(&r, "https://api.intercom.io"), "HTTPS_PROXY");
        let r = routes(&[("all_proxy", "http://a:1")]);
        assert_eq!(way(&r, "https://api.intercom.io"), "all_proxy");
        // NO_PROXY's lower-case form wins as well.
        let r = routes(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("no_proxy", "intercom.io"),
            ("NO_PROXY", "example.com"),
        ]);
        assert_eq!(way(&r, "https://api.intercom.io"), "direct");
        assert_eq!(way(&r, "https://example.com"), "HTTPS_PROXY");
    }

    #[test]
    fn loopback_is_always_direct() {
        let r = routes(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("HTTP_PROXY", "http://p:1"),
            ("ALL_PROXY", "http://p:1"),
        ]);
        for url in [
            "http://127.0.0.1:8080/me",
            "http://127.1.2.3/me",
            "https://localhost:8443",
            "http://LOCALHOST./x",
            "http://[::1]:8080/me",
            "https://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(direct(&r, url), Some(Direct::Loopback), "{url}");
        }
        // Near misses go through the proxy.
        for url in [
            "https://localhost.example.com",
            "https://mylocalhost",
            "https://128.0.0.1",
            "https://0.0.0.0:8443",
            "https://[::2]",
        ] {
            assert_eq!(way(&r, url), "HTTPS_PROXY", "{url}");
        }
    }

    #[test]
    fn no_proxy_names_match_the_host_and_its_subdomains() {
        for list in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
            " other.org , example.com ",
        ] {
            assert!(bypassed(list, "example.com", 443), "{list}: example.com");
            assert!(bypassed(list, "api.example.com", 443), "{list}: api.example.com");
            assert!(bypassed(list, "a.b.Example.COM.", 443), "{list}: a.b.example.com");
            assert!(!bypassed(list, "notexample.com", 443), "{list}: notexample.com");
            assert!(
                !bypassed(list, "example.com.evil.io", 443),
                "{list}: example.com.evil.io"
            );
            assert!(!bypassed(list, "example.org", 443), "{list}: example.org");
        }
        assert!(bypassed("*", "anything.io", 443));
        assert!(bypassed("a.io,*", "anything.io", 443));
        assert!(!bypassed("", "anything.io", 443));
        assert!(!bypassed(",, ,", "anything.io", 443));
        // `*` only counts alone.
        assert!(!bypassed("*io", "anything.io", 443));
    }

    #[test]
    fn no_proxy_ports_addresses_and_ranges() {
        assert!(bypassed("intercom.test:8443", "intercom.test", 8443));
        assert!(!bypassed("intercom.test:8443", "intercom.test", 443));
        assert!(bypassed("10.1.2.3", "10.1.2.3", 443));
        assert!(!bypassed("10.1.2.3", "10.1.2.4", 443));
        assert!(bypassed("10.1.2.3:443", "10.1.2.3", 443));
        assert!(!bypassed("10.1.2.3:443", "10.1.2.3", 80));
        assert!(bypassed("10.0.0.0/8", "10.200.3.4", 443));
        assert!(!bypassed("10.0.0.0/8", "11.0.0.1", 443));
        assert!(bypassed("192.168.4.0/22", "192.168.7.255", 443));
        assert!(!bypassed("192.168.4.0/22", "192.168.8.0", 443));
        assert!(bypassed("0.0.0.0/0", "8.8.8.8", 443));
        assert!(bypassed("fd00::/8", "[fd12::1]", 443));
        assert!(!bypassed("fd00::/8", "[fe80::1]", 443));
        assert!(bypassed("::2", "[::2]", 443));
        assert!(bypassed("[2001:db8::1]:8443", "[2001:db8::1]", 8443));
        assert!(!bypassed("[2001:db8::1]:8443", "[2001:db8::1]", 443));
        // An address never matches a name, nor a name an address (no lookups).
        assert!(!bypassed("1.1", "10.0.1.1", 443));
        assert!(!bypassed("10.1.2.3", "ten.example.com", 443));
        // Entries that cannot be read are left out; the others still count.
        for bad in ["10.0.0.0/33", "10.0.0.0/x", "host:port", "host:0", "[::1", "."] {
            let list = format!("{bad},example.com");
            assert_eq!(NoProxy::parse(&list).entries.len(), 1, "{bad}");
            assert!(bypassed(&list, "example.com", 443));
        }
    }

    #[test]
    fn no_proxy_decides_per_request() {
        let r = routes(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", ".intercom.test,10.0.0.0/8,api.eu.intercom.io:8443"),
        ]);
        assert_eq!(direct(&r, "https://intercom.test:8443/me"), Some(Direct::NoProxy));
        assert_eq!(direct(&r, "https://a.intercom.test/me"), Some(Direct::NoProxy));
        assert_eq!(direct(&r, "https://10.9.8.7/me"), Some(Direct::NoProxy));
        assert_eq!(way(&r, "https://api.eu.intercom.io/me"), "HTTPS_PROXY");
        assert_eq!(direct(&r, "https://api.eu.intercom.io:8443/me"), Some(Direct::NoProxy));
        assert_eq!(way(&r, "https://api.intercom.io/me"), "HTTPS_PROXY");
    }

    #[test]
    fn proxy_urls_in_the_usual_forms() {
        let p = routes(&[("HTTPS_PROXY", "http://user:pa%40ss@proxy.corp:3128/")])
            .https
            .unwrap();
        assert_eq!(p.shown, "http://proxy.corp:3128");
        assert!(p.credentials);
        assert_eq!(p.ureq.username(), Some("user"));
        assert_eq!(p.ureq.password(), Some("pa@ss"));
        assert_eq!(p.ureq.port(), 3128);
        let r = routes(&[("HTTPS_PROXY", "http://user:pa%40ss-word@proxy.corp:3128/")]);
        assert_eq!(
            r.explain("https://api.intercom.io").unwrap(),
            "requests to https://api.intercom.io go through the proxy http://proxy.corp:3128 (HTTPS_PROXY), with its user and password"
        );
        assert!(r.explain("https://127.0.0.1:8080").unwrap().contains("loopback"));
        assert_eq!(r.explain("http://127.0.0.1:8080"), None, "no proxy for http");
        assert_eq!(routes(&[]).explain("https://api.intercom.io"), None);
        let p = routes(&[("HTTPS_PROXY", "proxy.corp:8080")]).https.unwrap();
        assert_eq!((p.shown.as_str(), p.credentials), ("http://proxy.corp:8080", false));
        assert_eq!(p.ureq.protocol(), ureq::ProxyProtocol::Http);
        let p = routes(&[("HTTPS_PROXY", "HTTPS://[fd00::1]:443")]).https.unwrap();
        assert_eq!(p.ureq.protocol(), ureq::ProxyProtocol::Https);
        assert_eq!(p.shown, "https://[fd00::1]:443");
        let p = routes(&[("HTTPS_PROXY", "http://proxy.corp")]).https.unwrap();
        assert_eq!(p.ureq.port(), 80);
    }

    #[test]
    fn unreadable_proxy_urls_name_the_variable_and_hide_the_password() {
        for (value, problem) in [
            (
                "http://user:hunter2-secret@proxy:99999",
                "the port \"99999\" is not a number",
            ),
            ("http://user:hunter2-secret@proxy:", "the port \"\" is not a number"),
            ("http://user:hunter2-secret@:3128", "it has no host"),
            (
                "socks5://user:hunter2-secret@proxy:1080",
                "SOCKS proxies are not supported",
            ),
            ("ftp://user:hunter2-secret@proxy:21", "\"ftp\" is not a proxy scheme"),
            ("http://user:hunter2-secret@[::1:3128", "a '[' without its ']'"),
            (
                "http://us er:hunter2-secret@proxy:3128",
                "expected http://[user:password@]host:port",
            ),
            (
                "user:hunter2-secret@proxy://x",
                "expected http://[user:password@]host:port",
            ),
        ] {
            let Err(err) = Routes::from_env(&env(&[("https_proxy", value)])) else {
                panic!("{value} accepted");
            };
            let text = err.to_string();
            assert!(text.starts_with("https_proxy: "), "{text}");
            assert!(text.contains(problem), "{value}: {text}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("***@"), "{text}");
            assert!(matches!(
                err,
                Error::Network {
                    variable: "https_proxy",
                    ..
                }
            ));
        }
        // Every variable is read, even one whose scheme has its own proxy.
        let err = Routes::from_env(&env(&[
            ("HTTPS_PROXY", "http://ok:1"),
            ("HTTP_PROXY", "http://ok:1"),
            ("ALL_PROXY", "http://bad:port"),
        ]))
        .err()
        .unwrap();
        assert!(err.to_string().starts_with("ALL_PROXY: \"http://bad:port\""), "{err}");
    }
}

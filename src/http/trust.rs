//! Which certificate authorities TLS connections trust: Mozilla's roots, built in as before,
//! together with the system's store and the PEM certificates named by `SSL_CERT_FILE` (a file)
//! and `SSL_CERT_DIR` (directories, `:`-separated). A company whose proxy or gateway signs
//! the certificates it shows adds its CA to the system's store or names it in `SSL_CERT_FILE`,
//! and Intercom's own certificates still verify.
//!
//! A file or directory the variables name must be readable and hold a certificate: anything
//! else is an error that names it. Certificates that cannot be read in them, or in the
//! system's store, are skipped with one warning line each place.
//!
//! rustls-native-certs reads the system's store, but reads `SSL_CERT_FILE` and `SSL_CERT_DIR`
//! *instead* of it when either is set: the tap then reads the system's certificate
//! directories itself (Linux and the other Unix systems; on macOS and Windows the store is
//! not reached while the variables are set, and they alone add to Mozilla's roots).

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use ureq::tls::Certificate;

use crate::error::Error;
use crate::http::proxy::Env;
use crate::{debug, info, warn};

const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// Every certificate authority to trust, each once.
pub fn roots(env: Env<'_>) -> Result<Vec<Certificate<'static>>, Error> {
    let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|cert| Certificate::from_der(cert.as_ref()))
        .collect();
    let mut sources = vec![format!("{} of Mozilla's (built in)", roots.len())];

    let file = env(SSL_CERT_FILE).filter(|v| !v.is_empty()).map(PathBuf::from);
    let dirs: Vec<PathBuf> = env(SSL_CERT_DIR)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(path) = &file {
        let certs = from_file(path)?;
        sources.push(format!("{} from {SSL_CERT_FILE} {}", certs.len(), path.display()));
        roots.extend(certs);
    }
    for dir in &dirs {
        let certs = from_dir(dir)?;
        sources.push(format!("{} from {SSL_CERT_DIR} {}", certs.len(), dir.display()));
        roots.extend(certs);
    }

    let system = system_store(file.is_some() || !dirs.is_empty());
    let mut skipped = Skipped::default();
    for err in &system.errors {
        skipped.note(err.to_string());
    }
    let certs = usable(system.certs, &mut skipped);
    skipped.warn("the system's certificate store");
    sources.push(format!("{} of the system's", certs.len()));
    roots.extend(certs);

    roots.sort_unstable_by(|a, b| a.der().cmp(b.der()));
    roots.dedup_by(|a, b| a.der() == b.der());
    let summary = format!(
        "trusting {} certificate authorities: {}",
        roots.len(),
        sources.join(", ")
    );
    if file.is_some() || !dirs.is_empty() {
        info!("{summary}");
    } else {
        debug!("{summary}");
    }
    Ok(roots)
}

/// The certificates of `SSL_CERT_FILE`: at least one, or an error that names the file.
fn from_file(path: &Path) -> Result<Vec<Certificate<'static>>, Error> {
    let problem = |problem: String| Error::Network {
        variable: SSL_CERT_FILE,
        problem,
    };
    let bytes =
        std::fs::read(path).map_err(|err| problem(format!("cannot read the file {}: {err}", path.display())))?;
    let mut skipped = Skipped::default();
    let mut found = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        match item {
            Ok(cert) => found.push(cert),
            Err(err) => skipped.note(format!("a PEM block that cannot be read: {err}")),
        }
    }
    let certs = usable(found, &mut skipped);
    if certs.is_empty() {
        return Err(problem(match skipped.first {
            None => format!(
                "the file {} holds no certificate (a PEM block that begins with -----BEGIN CERTIFICATE-----)",
                path.display()
            ),
            Some(first) => format!(
                "none of the {} certificates in the file {} can be read (the first: {first})",
                skipped.count,
                path.display()
            ),
        }));
    }
    skipped.warn(&format!("{SSL_CERT_FILE} {}", path.display()));
    Ok(certs)
}

/// The certificates of one directory of `SSL_CERT_DIR`: at least one, or an error that names
/// the directory. rustls-native-certs reads it as OpenSSL does, each file once.
fn from_dir(dir: &Path) -> Result<Vec<Certificate<'static>>, Error> {
    let problem = |problem: String| Error::Network {
        variable: SSL_CERT_DIR,
        problem,
    };
    std::fs::read_dir(dir).map_err(|err| problem(format!("cannot read the directory {}: {err}", dir.display())))?;
    let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
    let mut skipped = Skipped::default();
    for err in &found.errors {
        skipped.note(err.to_string());
    }
    let certs = usable(found.certs, &mut skipped);
    if certs.is_empty() {
        return Err(problem(format!(
            "the directory {} holds no certificate that can be read (PEM files)",
            dir.display()
        )));
    }
    skipped.warn(&format!("{SSL_CERT_DIR} {}", dir.display()));
    Ok(certs)
}

/// The system's store, whatever `SSL_CERT_FILE` and `SSL_CERT_DIR` say (`named`: either is
/// set, so that rustls-native-certs would read them instead).
fn system_store(named: bool) -> rustls_native_certs::CertificateResult {
    #[cfg(all(unix, not(target_os = "macos")))]
    if named {
        let mut all = rustls_native_certs::CertificateResult::default();
        for dir in openssl_probe::candidate_cert_dirs() {
            let found = rustls_native_certs::load_certs_from_paths(None, Some(dir));
            all.certs.extend(found.certs);
            all.errors.extend(found.errors);
        }
        return all;
    }
    let _ = named;
    rustls_native_certs::load_native_certs()
}

/// The certificates that can be trust anchors, as rustls reads them; the others noted in
/// `skipped`.
fn usable(certs: Vec<CertificateDer<'static>>, skipped: &mut Skipped) -> Vec<Certificate<'static>> {
    let mut store = rustls::RootCertStore::empty();
    let mut good = Vec::with_capacity(certs.len());
    for cert in certs {
        match store.add(CertificateDer::from(cert.as_ref())) {
            Ok(()) => good.push(Certificate::from_der(cert.as_ref()).to_owned()),
            Err(rustls::Error::InvalidCertificate(why)) => skipped.note(format!("not a certificate ({why:?})")),
            Err(err) => skipped.note(format!("not a certificate ({err})")),
        }
    }
    good
}

/// Certificates left out of one place, for its one warning line.
#[derive(Default)]
struct Skipped {
    count: usize,
    first: Option<String>,
}

impl Skipped {
    fn note(&mut self, why: String) {
        self.count += 1;
        self.first.get_or_insert(why);
    }

    fn warn(&self, place: &str) {
        if let Some(first) = &self.first {
            let (count, are) = if self.count == 1 {
                ("1 certificate".to_owned(), "is")
            } else {
                (format!("{} certificates", self.count), "are")
            };
            warn!("{place}: {count} cannot be read and {are} skipped (the first: {first})");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    /// A certificate made for the test, as DER and as PEM.
    fn made(name: &str) -> (Vec<u8>, String) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (made.cert.der().to_vec(), made.cert.pem())
    }

    fn env_with(vars: Vec<(&'static str, OsString)>) -> impl Fn(&str) -> Option<OsString> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_built_in_roots_are_always_trusted() {
        let roots = roots(&env_with(vec![])).unwrap();
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            assert!(roots.iter().any(|r| r.der() == cert.as_ref()));
        }
        // Each once, though the system's store holds many of them too.
        let mut ders: Vec<&[u8]> = roots.iter().map(Certificate::der).collect();
        ders.dedup();
        assert_eq!(ders.len(), roots.len());
    }

    #[test]
    fn a_pem_file_adds_its_certificates_and_skips_what_cannot_be_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.pem");
        let (one, one_pem) = made("one.test");
        let (two, two_pem) = made("two.test");
        let text = format!(
            "some text first\n{one_pem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n{two_pem}"
        );
        std::fs::write(&path, text).unwrap();
        let certs = from_file(&path).unwrap();
        let ders: Vec<&[u8]> = certs.iter().map(Certificate::der).collect();
        assert_eq!(ders, [&one[..], &two[..]]);
        // Trusted besides the built-in roots.
        let roots = roots(&env_with(vec![(SSL_CERT_FILE, path.into())])).unwrap();
        assert!(roots.iter().any(|r| r.der() == one));
        assert!(roots.iter().any(|r| r.der() == two));
        assert!(roots.len() > webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
    }

    #[test]
    fn a_missing_or_empty_cert_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let text = roots(&env_with(vec![(SSL_CERT_FILE, missing.clone().into())]))
            .unwrap_err()
            .to_string();
        assert!(text.starts_with("SSL_CERT_FILE: cannot read the file "), "{text}");
        assert!(text.contains(&missing.display().to_string()), "{text}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let text = from_file(&empty).unwrap_err().to_string();
        assert!(
            text.contains("holds no certificate") && text.contains("empty.pem"),
            "{text}"
        );

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let text = from_file(&broken).unwrap_err().to_string();
        assert!(
            text.contains("none of the 1 certificates in the file") && text.contains("broken.pem"),
            "{text}"
        );

        let text = from_file(dir.path()).unwrap_err().to_string();
        assert!(text.starts_with("SSL_CERT_FILE: cannot read the file "), "{text}");
    }

    #[test]
    fn a_cert_dir_adds_its_certificates_and_must_hold_one() {
        let dir = tempfile::tempdir().unwrap();
        let (der, pem) = made("dir.test");
        std::fs::write(dir.path().join("a.pem"), pem).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a certificate").unwrap();
        let certs = from_dir(dir.path()).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].der(), der);
        let roots = roots(&env_with(vec![(SSL_CERT_DIR, dir.path().into())])).unwrap();
        assert!(roots.iter().any(|r| r.der() == der));

        let empty = tempfile::tempdir().unwrap();
        let text = from_dir(empty.path()).unwrap_err().to_string();
        assert!(text.starts_with("SSL_CERT_DIR: the directory ") && text.contains("holds no certificate"));
        let text = from_dir(&empty.path().join("nowhere")).unwrap_err().to_string();
        assert!(text.starts_with("SSL_CERT_DIR: cannot read the directory "), "{text}");
    }
}

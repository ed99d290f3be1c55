//! The certificate a live server presents, read during a TLS handshake.
//!
//! [`served_certificate`] stops the handshake inside certificate verification, right after the
//! server's chain is seen: it sends no certificate, no password and no command to a server it
//! has not checked, and whether the chain is one rctl trusts is decided afterwards, from the
//! chain itself. A server logs such an abandoned handshake as an error, so a sync or check
//! uses [`served_certificate_as`]: the chain is read the same way, and where it verifies
//! against the trusted CA keys the handshake is finished with rctl's client certificate and
//! the connection closed cleanly (no command sent), which a server logs as nothing at all.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Invalid, Result, ServerError};
use crate::servers::registered::ServerAddr;

/// The DER certificate `addr` presents first in its TLS handshake.
pub fn served_certificate(addr: &ServerAddr, timeout: Duration) -> Result<Vec<u8>> {
    let verifier = Arc::new(Capture::default());
    let config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::crypto_by("TLS configuration", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    handshake(addr, config, &verifier, timeout)
}

/// [`served_certificate`], finishing the handshake as `login`'s first identity when the chain
/// verifies against `login`'s trusted CA certificates (then closed with close_notify, no
/// command sent): a healthy server logs nothing for it.
pub fn served_certificate_as(
    addr: &ServerAddr,
    login: &super::AdminLogin,
    timeout: Duration,
) -> Result<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(login.trusted_pem.as_bytes()).flatten() {
        let _ = roots.add(der);
    }
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        super::provider(),
    )
    .build()
    .ok();
    let verifier = Arc::new(Capture {
        seen: Mutex::default(),
        inner,
    });
    let builder = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::crypto_by("TLS configuration", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let identity = login.identities.first().and_then(|(cert, key)| {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<std::result::Result<_, _>>()
            .ok()?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).ok()?;
        Some((chain, key))
    });
    let config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::crypto_by("TLS configuration", e))?,
        None => builder.with_no_client_auth(),
    };
    handshake(addr, config, &verifier, timeout)
}

/// The handshake of either: the chain `verifier` saw, or why none was seen.
fn handshake(
    addr: &ServerAddr,
    config: rustls::ClientConfig,
    verifier: &Capture,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let name =
        ServerName::try_from(addr.host().to_string()).map_err(|source| Invalid::ServerName {
            addr: addr.to_string(),
            source,
        })?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| Error::crypto_by("TLS configuration", e))?;
    let mut tcp = connect(addr, timeout)?;
    // Runs until the verifier has seen the chain and stopped the handshake, or the server
    // ends it first (plain TCP, another protocol).
    let result = conn.complete_io(&mut tcp);
    if let Some(chain) = verifier.seen.lock().ok().and_then(|mut s| s.take()) {
        if result.is_ok() && !conn.is_handshaking() {
            // A finished handshake is closed as a client that is done closes it.
            conn.send_close_notify();
            let _ = conn.complete_io(&mut tcp);
        }
        return Ok(chain);
    }
    let reason = match result {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the TLS handshake (is TLS on for that port?)"
                .to_string()
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            format!("no TLS handshake ({e}; is TLS on for that port?)")
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            format!(
                "no answer to the TLS handshake within {} (is TLS on for that port?)",
                crate::duration::format_std(timeout)
            )
        }
        Err(e) => e.to_string(),
        Ok(_) => "the server presented no certificate".to_string(),
    };
    Err(ServerError::Handshake {
        addr: addr.to_string(),
        problem: crate::error::shorten(&reason),
    }
    .into())
}

/// A TCP connection to `addr`, each address of its host tried in turn within `timeout`.
pub(crate) fn connect(addr: &ServerAddr, timeout: Duration) -> Result<TcpStream> {
    let fail = |e: io::Error| -> Error {
        ServerError::Connect {
            addr: addr.to_string(),
            source: e,
        }
        .into()
    };
    let target = (addr.host().to_string(), addr.port());
    let mut last = None;
    for socket in target.to_socket_addrs().map_err(fail)? {
        match TcpStream::connect_timeout(&socket, timeout) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(timeout)).map_err(fail)?;
                tcp.set_write_timeout(Some(timeout)).map_err(fail)?;
                return Ok(tcp);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(fail(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "the name has no address")
    })))
}

/// What ends the handshake once the certificate is read.
fn stop<T>() -> std::result::Result<T, rustls::Error> {
    Err(rustls::Error::General("certificate read".to_string()))
}

/// Keeps the server's certificate; then stops the handshake, or, with `inner`, lets it go on
/// where `inner` verifies the chain.
#[derive(Debug, Default)]
struct Capture {
    seen: Mutex<Option<Vec<u8>>>,
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        match &self.inner {
            Some(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => stop(),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match &self.inner {
            Some(inner) => inner.verify_tls12_signature(message, cert, dss),
            None => stop(),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match &self.inner {
            Some(inner) => inner.verify_tls13_signature(message, cert, dss),
            None => stop(),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        super::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

//! The certificate a live server presents: read during a TLS handshake that rctl then abandons.
//!
//! The handshake stops inside certificate verification, right after the server's chain is
//! seen: rctl sends no certificate, no password and no command to a server it has not checked,
//! and whether the chain is one rctl trusts is decided afterwards, from the chain itself.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};
use crate::servers::registered::ServerAddr;

/// The DER certificate `addr` presents first in its TLS handshake.
pub fn served_certificate(addr: &ServerAddr, timeout: Duration) -> Result<Vec<u8>> {
    let verifier = Arc::new(Capture::default());
    let config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Crypto(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(addr.host().to_string())
        .map_err(|e| Error::InvalidArgument(format!("{addr}: {e}")))?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut tcp = connect(addr, timeout)?;
    // Runs until the verifier has seen the chain and stopped the handshake, or the server
    // ends it first (plain TCP, another protocol).
    let result = conn.complete_io(&mut tcp);
    if let Some(chain) = verifier.seen.lock().ok().and_then(|mut s| s.take()) {
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
    Err(Error::Server(format!("{addr}: {reason}")))
}

/// A TCP connection to `addr`, each address of its host tried in turn within `timeout`.
pub(crate) fn connect(addr: &ServerAddr, timeout: Duration) -> Result<TcpStream> {
    let fail = |e: io::Error| Error::Server(format!("cannot connect to {addr}: {e}"));
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

/// Keeps the server's certificate and stops the handshake.
#[derive(Debug, Default)]
struct Capture {
    seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        stop()
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        stop()
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        stop()
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        super::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

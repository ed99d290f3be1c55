//! The host CA and everything it signs.
//!
//! - [`ca`]: the keyring: the CA's keys and certificates, encrypted at rest ([`sealed`]).
//! - [`leaf`]: issuing leaf certificates (server, client, CSR) from the active key.
//! - [`bundle`]: the `--format=redis` bundle a leaf is written as.
//! - [`rotation`]: Teleport's rotation phases and what each does to the keyring.
//! - [`keys`], [`csr`], [`hosts`]: key pairs, certificate signing requests, certificate names.
//! - [`inspect`]: what a certificate says, against the keyring.

pub(crate) mod bundle;
pub(crate) mod ca;
pub(crate) mod csr;
pub(crate) mod formats;
pub(crate) mod hosts;
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod leaf;
pub(crate) mod renewal;
pub(crate) mod rotation;
pub(crate) mod sealed;

//! Files rctl writes outside its state, for servers and clients to read: certificate
//! bundles, users.acl, trust bundles.
//!
//! - [`atomic`]: one file replaced atomically (temp file beside it, fsync, rename), keeping the
//!   owner and mode of the file it replaces; the output folder's checks.
//! - [`fileset`]: several files in one folder replaced as one.

pub(crate) mod atomic;
pub(crate) mod fileset;

//! Files outside rctl's state, which servers and clients read: certificate bundles, users.acl,
//! trust bundles; written by rctl, and read back without trusting what is there.
//!
//! - [`atomic`]: one file replaced atomically (temp file beside it, fsync, rename), keeping the
//!   owner and mode of the file it replaces; the output folder's checks.
//! - [`fileset`]: several files in one folder replaced as one.
//! - [`read`]: such a file read back: a regular file only, never past a limit.
//! - [`owner`]: the owner given to such a file (`USER[:GROUP]`).
//! - [`yaml`]: YAML from outside, its nesting bounded before it is parsed.

pub(crate) mod atomic;
pub(crate) mod fileset;
pub(crate) mod owner;
pub(crate) mod read;
pub(crate) mod yaml;

//! The client side: what people and applications connect with.
//!
//! - [`profile`]: a person's logins to registered servers (`db login`), in a profile folder.
//! - [`output`]: an application's client bundle, registered for `redis sync` to keep renewed.
//! - [`renewal`]: what a client output's files need, against the host CA.
//! - [`hook`]: the reload command run after a client output is written.

pub mod hook;
pub mod output;
pub mod profile;
pub mod renewal;

//! The client side: what people and applications connect with.
//!
//! - [`profile`]: a person's logins to registered servers (`db login`), in a profile folder.

pub mod profile;

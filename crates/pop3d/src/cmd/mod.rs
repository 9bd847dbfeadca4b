//! Command handlers, one file per family. Handlers return [`crate::reply::Reply`] or
//! [`crate::reply::CmdError`]; the session writes them.

pub mod auth;
pub mod capa;
pub mod list;
pub mod retr;
pub mod update;

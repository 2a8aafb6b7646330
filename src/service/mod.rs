//! Operations shared by the command line, the admin API and the inbox.

pub mod actors;
pub mod compose;
pub mod follows;
pub mod interactions;
pub mod posts;

//! Operations shared by the command line, the admin API and (later) the inbox.

pub mod actors;

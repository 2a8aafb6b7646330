//! Operations shared by the command line, the admin API and the inbox.

pub mod actors;
pub mod calendar;
pub mod compose;
pub mod events;
pub mod follows;
pub mod interactions;
pub mod moderation;
pub mod posts;
pub mod served;

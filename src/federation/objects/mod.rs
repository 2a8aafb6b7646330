pub mod actor;
pub mod collection;

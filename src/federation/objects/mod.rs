pub mod actor;
pub mod collection;
pub mod event;
pub mod note;

/// The media type of the ActivityPub documents we send.
pub const AP_MEDIA_TYPE: &str = "application/activity+json";

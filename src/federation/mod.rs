//! ActivityPub: the wire types of our objects and, as federation grows, activities, inbox and delivery.

pub mod activities;
pub mod delivery;
pub mod fetch;
pub mod health;
pub mod html;
pub mod inbox;
pub mod keys;
pub mod objects;
pub mod protocol;
pub mod recent;
pub mod resolve;
pub mod signatures;
pub mod writer;

/// The JSON-LD context of actor documents: ActivityStreams, the security vocabulary (without which a strict
/// JSON-LD reader such as Fedify drops `publicKey`), and the Mastodon/schema.org terms we use.
pub fn actor_context() -> serde_json::Value {
    serde_json::json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {
            "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
            "toot": "http://joinmastodon.org/ns#",
            "featured": {"@id": "toot:featured", "@type": "@id"},
            "discoverable": "toot:discoverable",
            "indexable": "toot:indexable",
            "schema": "http://schema.org#",
            "PropertyValue": "schema:PropertyValue",
            "value": "schema:value"
        }
    ])
}

/// The context of plain ActivityStreams documents (collections, tombstones).
pub const AS_CONTEXT: &str = "https://www.w3.org/ns/activitystreams";

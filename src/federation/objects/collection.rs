//! Ordered collections and their pages, the shape of outbox, followers, following and featured.

use serde_json::{Value, json};

use crate::federation::AS_CONTEXT;

/// Items per collection page.
pub const PAGE_SIZE: i64 = 20;

/// The collection itself: `totalItems` and links to its first and last pages.
pub fn ordered_collection(id: &str, total: i64) -> Value {
    let mut doc = json!({
        "@context": AS_CONTEXT,
        "id": id,
        "type": "OrderedCollection",
        "totalItems": total,
    });
    if total > 0 {
        let last = (total + PAGE_SIZE - 1) / PAGE_SIZE;
        doc["first"] = json!(format!("{id}?page=1"));
        doc["last"] = json!(format!("{id}?page={last}"));
    }
    doc
}

/// Page `page` (from 1) of a collection of `total` items.
pub fn ordered_collection_page(id: &str, page: i64, total: i64, items: Vec<Value>) -> Value {
    let mut doc = json!({
        "@context": AS_CONTEXT,
        "id": format!("{id}?page={page}"),
        "type": "OrderedCollectionPage",
        "partOf": id,
        "totalItems": total,
        "orderedItems": items,
    });
    if page * PAGE_SIZE < total {
        doc["next"] = json!(format!("{id}?page={}", page + 1));
    }
    if page > 1 {
        doc["prev"] = json!(format!("{id}?page={}", page - 1));
    }
    doc
}

/// A small collection with its items inline (like Mastodon's `featured`).
pub fn ordered_collection_inline(id: &str, items: Vec<Value>) -> Value {
    json!({
        "@context": AS_CONTEXT,
        "id": id,
        "type": "OrderedCollection",
        "totalItems": items.len(),
        "orderedItems": items,
    })
}

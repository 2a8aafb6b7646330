//! Reading ActivityStreams JSON the way real servers write it: a property may be a string id, an embedded
//! object with an `id` (or a `Link` with an `href`), or an array of either; `type` may be a string or an array.

use serde_json::Value;

pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// The id a value names: the string itself, or the object's `id` (or a link's `href`). An id with control
/// characters (NUL, say, which PostgreSQL text cannot even hold) is no id at all.
pub fn id_of(v: &Value) -> Option<&str> {
    let id = match v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o
            .get("id")
            .or_else(|| o.get("href"))
            .and_then(Value::as_str),
        _ => None,
    }?;
    (!id.chars().any(char::is_control)).then_some(id)
}

/// An object's own `id`, when it is a usable one (see [`id_of`]).
pub fn own_id(v: &Value) -> Option<&str> {
    v.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.chars().any(char::is_control))
}

/// Every id a property names (one or many).
pub fn ids_of(v: Option<&Value>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a.iter().filter_map(id_of).map(str::to_string).collect(),
        Some(one) => id_of(one).map(|s| vec![s.to_string()]).unwrap_or_default(),
    }
}

/// The first id a property names.
pub fn first_id(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Array(a)) => a.iter().find_map(id_of).map(str::to_string),
        Some(one) => id_of(one).map(str::to_string),
        None => None,
    }
}

/// The `type` of an object (the first one when it is an array).
pub fn type_of(v: &Value) -> Option<&str> {
    match v.get("type")? {
        Value::String(s) => Some(s.as_str()),
        Value::Array(a) => a.iter().find_map(Value::as_str),
        _ => None,
    }
}

/// Whether the object's `type` is (or includes) `t`.
pub fn has_type(v: &Value, t: &str) -> bool {
    match v.get("type") {
        Some(Value::String(s)) => s == t,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(t)),
        _ => false,
    }
}

/// A string property.
pub fn str_prop<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The embedded object of a property, if it is embedded (not a bare id).
pub fn embedded<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v.get(key)? {
        o @ Value::Object(_) => Some(o),
        Value::Array(a) => a.iter().find(|x| x.is_object()),
        _ => None,
    }
}

/// A natural-language property in its plain form or, failing that, from its `…Map` (any language).
pub fn text_prop(v: &Value, key: &str) -> Option<String> {
    if let Some(s) = v.get(key).and_then(Value::as_str) {
        return Some(s.to_string());
    }
    let map = v.get(format!("{key}Map"))?.as_object()?;
    map.values().find_map(Value::as_str).map(str::to_string)
}

/// `Public` in any of its three spellings.
pub fn is_public(id: &str) -> bool {
    id == PUBLIC
        || id == "as:Public"
        || id == "Public"
        || id == "http://www.w3.org/ns/activitystreams#Public"
}

/// How deeply nested JSON may be before we refuse it.
pub const MAX_JSON_DEPTH: usize = 32;

/// The nesting depth of a JSON value.
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_in_every_shape() {
        assert_eq!(ids_of(Some(&json!("https://a/x"))), vec!["https://a/x"]);
        assert_eq!(
            ids_of(Some(&json!({"id": "https://a/x", "type": "Person"}))),
            vec!["https://a/x"]
        );
        assert_eq!(
            ids_of(Some(
                &json!(["https://a/x", {"id": "https://a/y"}, {"type": "Link", "href": "https://a/z"}])
            )),
            vec!["https://a/x", "https://a/y", "https://a/z"]
        );
        assert!(ids_of(None).is_empty());
        assert!(ids_of(Some(&Value::Null)).is_empty());
        assert_eq!(type_of(&json!({"type": ["Note", "Thing"]})), Some("Note"));
        assert!(has_type(&json!({"type": ["Thing", "Note"]}), "Note"));
        assert_eq!(
            text_prop(&json!({"contentMap": {"en": "<p>hi</p>"}}), "content").as_deref(),
            Some("<p>hi</p>")
        );
        assert_eq!(depth(&json!({"a": [{"b": 1}]})), 3);
    }
}

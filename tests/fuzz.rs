//! Property-based fuzzing (proptest) of the parsers that see hostile input first: the HTTP signature parser,
//! the ActivityStreams readers (notes, events, actors, the `protocol` helpers) and the HTML cleaner.
//!
//! A plain `cargo test --test fuzz` runs 256 cases per property. For a longer run:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test fuzz
//! ```
//!
//! (`PROPTEST_CASES` sets the number of cases of every property; failures are shrunk and their seeds written to
//! `tests/fuzz.proptest-regressions`.)

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use aws_lc_rs::rsa::KeyPair;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use placard::federation::keys::{generate_rsa_2048, private_key_from_pem};
use placard::federation::objects::event::EventIn;
use placard::federation::objects::note::NoteIn;
use placard::federation::signatures::{self, RequestParts};
use placard::federation::{html, protocol, resolve};
use proptest::prelude::*;
use serde_json::Value;

const ORIGIN: &str = "https://campaign.example";
const PATH: &str = "/users/alice/inbox";
const KEY_ID: &str = "https://remote.example/users/bob#main-key";

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        // Shrinking of huge inputs can take long; failures are still reported.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

struct Keys {
    private: KeyPair,
    public: aws_lc_rs::signature::ParsedPublicKey,
}

/// One RSA key for the whole run (generating one per case would be slow).
static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let pem = generate_rsa_2048().unwrap();
    Keys {
        private: private_key_from_pem(&pem.private_key_pem).unwrap(),
        public: signatures::parse_public_key_pem(&pem.public_key_pem).unwrap(),
    }
});

/// A fixed "now" the signed requests are made at.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_760_000_000)
}

/// Headers of a genuinely signed POST of `body` to `PATH`, draft-cavage or RFC 9421.
fn signed(body: &[u8], rfc9421: bool) -> HeaderMap {
    let url = url::Url::parse(&format!("{ORIGIN}{PATH}")).unwrap();
    let list = if rfc9421 {
        signatures::sign_rfc9421(
            &KEYS.private,
            KEY_ID,
            &Method::POST,
            &url,
            Some(body),
            now(),
        )
    } else {
        signatures::sign_draft_cavage(
            &KEYS.private,
            KEY_ID,
            &Method::POST,
            &url,
            Some(body),
            Some("application/activity+json"),
            now(),
        )
    }
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("campaign.example"));
    for (n, v) in list {
        headers.insert(n, v);
    }
    headers
}

/// Parses and, if the parse succeeds, verifies with the test key: `true` when the request would be accepted.
fn accepted(method: &Method, headers: &HeaderMap, body: &[u8]) -> bool {
    let target = format!("{ORIGIN}{PATH}");
    let parts = RequestParts {
        method,
        path_and_query: PATH,
        target_uri: &target,
        headers,
        body,
    };
    match signatures::parse_request(&parts, now()) {
        Ok(pending) => pending.verify(&KEYS.public).is_ok(),
        Err(_) => false,
    }
}

/// Header values: arbitrary printable text, fragments of real signature syntax, or mixtures of both.
fn header_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("keyId=\"".to_string()),
        Just(KEY_ID.to_string()),
        Just("\",".to_string()),
        Just("algorithm=\"rsa-sha256\",".to_string()),
        Just("headers=\"(request-target) host date digest\",".to_string()),
        Just("signature=\"".to_string()),
        Just("sig1=".to_string()),
        Just("(\"@method\" \"@target-uri\" \"content-digest\")".to_string()),
        Just(";created=1760000000;keyid=\"".to_string()),
        Just(";alg=\"rsa-v1_5-sha256\"".to_string()),
        Just(":AAAA:".to_string()),
        Just("SHA-256=".to_string()),
        Just("sha-256=:".to_string()),
        Just("Thu, 09 Oct 2025 08:53:20 GMT".to_string()),
        Just(",".to_string()),
        Just(";".to_string()),
        Just("\\".to_string()),
        "[ -~]{0,40}",
        "[A-Za-z0-9+/=]{0,400}",
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|v| v.concat())
}

fn maybe_header() -> impl Strategy<Value = Option<String>> {
    prop::option::of(header_text())
}

/// Any JSON value, bounded in depth and size.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        prop_oneof![
            Just("https://remote.example/users/bob"),
            Just("https://remote.example/notes/1"),
            Just("https://www.w3.org/ns/activitystreams#Public"),
            Just("Note"),
            Just("Event"),
            Just("Person"),
            Just("2025-10-09T08:53:20Z"),
            Just("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
            Just(""),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        let key = prop_oneof![
            Just("id"),
            Just("type"),
            Just("actor"),
            Just("object"),
            Just("attributedTo"),
            Just("content"),
            Just("name"),
            Just("summary"),
            Just("inReplyTo"),
            Just("to"),
            Just("cc"),
            Just("tag"),
            Just("attachment"),
            Just("url"),
            Just("href"),
            Just("published"),
            Just("startTime"),
            Just("endTime"),
            Just("location"),
            Just("geo"),
            Just("latitude"),
            Just("longitude"),
            Just("inbox"),
            Just("endpoints"),
            Just("sharedInbox"),
            Just("publicKey"),
            Just("publicKeyPem"),
            Just("owner"),
            Just("preferredUsername"),
            Just("icon"),
            Just("contentMap"),
            Just("timezone"),
            Just("participantCount"),
            Just("joinMode"),
            Just("ical:status"),
        ]
        .prop_map(str::to_string);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof![key, any::<String>()], inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text mixing fragments of dangerous HTML with arbitrary characters.
fn hostile_html() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("<script>alert(1)</script>"),
        Just("<script"),
        Just("<SCRIPT SRC=//evil/x.js>"),
        Just("</script>"),
        Just("<img src=x onerror=alert(1)>"),
        Just("<a href=\"javascript:alert(1)\">x</a>"),
        Just("<a href='JaVaScRiPt:alert(1)'>"),
        Just("<a href=\"java&#x09;script:alert(1)\">"),
        Just("<a href=\"https://ok.example/\" onclick=\"x()\">"),
        Just("<iframe src=//evil>"),
        Just("<svg onload=alert(1)>"),
        Just("<style>body{}</style>"),
        Just("<p style=\"color:red\">"),
        Just("<math><mi xlink:href=\"javascript:x\">"),
        Just("<!--"),
        Just("-->"),
        Just("<![CDATA["),
        Just("<"),
        Just(">"),
        Just("\""),
        Just("'"),
        Just("="),
        Just(" on"),
        Just("javascript:"),
        Just("&lt;script&gt;"),
        Just("<p>"),
        Just("</p>"),
        Just("<a href=\"https://ok.example/\">"),
        Just("</a>"),
        Just("\0"),
    ]
    .prop_map(str::to_string);
    prop::collection::vec(prop_oneof![fragment, "[ -~]{0,12}", any::<String>()], 0..24)
        .prop_map(|v| v.concat())
}

/// Every `<tag …>` of cleaned HTML: its attribute names.
fn attribute_names(clean: &str) -> Vec<String> {
    let mut names = vec![];
    let mut rest = clean;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start + 1..start + end];
        // Attribute names: a word followed by `=` outside quotes.
        let mut in_quote = None;
        let mut word = String::new();
        for c in tag.chars() {
            match (in_quote, c) {
                (Some(q), c) if c == q => in_quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => in_quote = Some(c),
                (None, '=') => {
                    names.push(word.to_ascii_lowercase());
                    word.clear();
                }
                (None, c) if c.is_whitespace() => word.clear(),
                (None, c) => word.push(c),
            }
        }
        rest = &rest[start + end + 1..];
    }
    names
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary Signature / Signature-Input / Digest / Content-Digest / Date headers and bodies: the parser
    /// never panics, and nothing that was not signed with the key verifies.
    #[test]
    fn signature_parser_never_panics_nor_accepts_forgeries(
        signature in maybe_header(),
        signature_input in maybe_header(),
        digest in maybe_header(),
        content_digest in maybe_header(),
        date in maybe_header(),
        authorization in maybe_header(),
        body in prop::collection::vec(any::<u8>(), 0..256),
        get in any::<bool>(),
    ) {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("campaign.example"));
        for (name, value) in [
            ("signature", signature),
            ("signature-input", signature_input),
            ("digest", digest),
            ("content-digest", content_digest),
            ("date", date),
            ("authorization", authorization),
        ] {
            if let Some(v) = value
                && let Ok(v) = HeaderValue::from_str(&v)
            {
                headers.insert(HeaderName::from_static(name), v);
            }
        }
        let method = if get { Method::GET } else { Method::POST };
        prop_assert!(!accepted(&method, &headers, &body), "a forged request verified: {headers:?}");
    }

    /// A genuinely signed request verifies; once its body, or any one signed header, is changed it does not.
    #[test]
    fn signed_requests_verify_only_unchanged(
        body in prop::collection::vec(any::<u8>(), 0..512),
        other_body in prop::collection::vec(any::<u8>(), 0..512),
        rfc9421 in any::<bool>(),
        replace in 0usize..6,
        junk in header_text(),
    ) {
        let headers = signed(&body, rfc9421);
        prop_assert!(accepted(&Method::POST, &headers, &body), "a real signature was refused");
        if other_body != body {
            prop_assert!(!accepted(&Method::POST, &headers, &other_body), "a swapped body verified");
        }
        let names = ["signature", "signature-input", "digest", "content-digest", "date", "content-type"];
        let name = HeaderName::from_static(names[replace]);
        if let Some(old) = headers.get(&name)
            && let Ok(new) = HeaderValue::from_str(&junk)
            && new != old
        {
            let mut tampered = headers.clone();
            tampered.insert(name.clone(), new);
            prop_assert!(
                !accepted(&Method::POST, &tampered, &body),
                "{name} replaced by {junk:?} still verified"
            );
        }
        prop_assert!(!accepted(&Method::GET, &headers, &body), "a POST signature verified as a GET");
    }

    /// The activity readers never panic on arbitrary JSON (errors are fine).
    #[test]
    fn activity_readers_never_panic(v in json_value()) {
        let _ = NoteIn::parse(&v);
        let _ = EventIn::parse(&v);
        let _ = resolve::parse_actor(&v);
        let _ = protocol::id_of(&v);
        let _ = protocol::type_of(&v);
        let _ = protocol::depth(&v);
        for key in ["id", "type", "actor", "object", "to", "content", "name", "attributedTo", "tag"] {
            let _ = protocol::ids_of(v.get(key));
            let _ = protocol::first_id(v.get(key));
            let _ = protocol::has_type(&v, key);
            let _ = protocol::str_prop(&v, key);
            let _ = protocol::embedded(&v, key);
            let _ = protocol::text_prop(&v, key);
        }
        if let Some(s) = v.as_str() {
            let _ = protocol::is_public(s);
        }
        if let Ok(note) = NoteIn::parse(&v) {
            let _ = note.visibility();
            let _ = note.mentions();
        }
    }

    /// The same readers wrapped in an activity (where real servers embed them).
    #[test]
    fn embedded_objects_never_panic(object in json_value(), actor in json_value()) {
        let activity = serde_json::json!({"type": "Create", "actor": actor, "object": object});
        let _ = protocol::first_id(activity.get("actor"));
        if let Some(o) = protocol::embedded(&activity, "object") {
            let _ = NoteIn::parse(o);
            let _ = EventIn::parse(o);
            let _ = resolve::parse_actor(o);
        }
    }

    /// Cleaned HTML never contains a script, an event handler or a `javascript:` link.
    #[test]
    fn sanitized_html_has_no_script(input in hostile_html()) {
        let clean = html::sanitize(&input);
        let lower = clean.to_ascii_lowercase();
        prop_assert!(!lower.contains("<script"), "{input:?} -> {clean:?}");
        prop_assert!(!lower.contains("<iframe"), "{input:?} -> {clean:?}");
        prop_assert!(!lower.contains("<style"), "{input:?} -> {clean:?}");
        prop_assert!(!lower.contains("<img"), "{input:?} -> {clean:?}");
        prop_assert!(!lower.contains("<svg"), "{input:?} -> {clean:?}");
        for name in attribute_names(&clean) {
            prop_assert!(
                ["href", "rel", "class", "start", "reversed"].contains(&name.as_str()),
                "attribute {name:?} survived: {input:?} -> {clean:?}"
            );
        }
        // No link to anything but http(s): every href of a real tag starts so (escaped text, `&lt;a href=`,
        // is harmless).
        let mut rest = lower.as_str();
        while let Some(i) = rest.find("<a href=\"") {
            rest = &rest[i + 9..];
            prop_assert!(
                rest.starts_with("http://") || rest.starts_with("https://"),
                "a non-http(s) link survived: {input:?} -> {clean:?}"
            );
        }
        // Text outside tags may say "javascript:" harmlessly; inside an attribute it must not.
        prop_assert!(!lower.contains("<a href=\"javascript:"), "{input:?} -> {clean:?}");
        // Cleaning is stable: cleaned output cleans to itself.
        prop_assert_eq!(html::sanitize(&clean), clean.clone());
    }

    /// Remote text (display names, event names and places) made plain never panics. Fails today:
    /// `placard::text::decode_entities` slices `&tail[..12]` on a byte index that may fall inside a character
    /// (`to_text("Rock & Roll ✊")` panics), reachable from a remote actor's `name`.
    #[test]
    fn bug_remote_text_never_panics(input in hostile_html()) {
        let _ = html::strip_tags(&input);
        let _ = html::to_text(&input);
    }
}

//! HTTP signatures: verifying what remote servers send us and signing what we send.
//!
//! Two formats are spoken:
//!
//! - **draft-cavage** (`draft-cavage-http-signatures-12`), the `Signature` header that Mastodon, GoToSocial,
//!   Misskey, Pleroma and Fedify send by default (`rsa-sha256`, `hs2019` accepted), with a `Digest` of the body
//!   (RFC 3230);
//! - **RFC 9421** (HTTP Message Signatures, `Signature-Input` + `Signature`), with `rsa-v1_5-sha256` and a
//!   `Content-Digest` of the body (RFC 9530), which Fedify and newer Mastodon send first.
//!
//! Verification is split in two so that the caller can look the key up in between:
//! [`parse_request`] does every check that needs no key — format, covered components, time window, host, body
//! digest — and returns a [`PendingSignature`] naming the key; [`PendingSignature::verify`] then checks the RSA
//! signature with that key. Nothing here does I/O.
//!
//! All cryptography is aws-lc-rs (RSA PKCS#1 v1.5 with SHA-256, keys of 2048 to 8192 bits). Every input is
//! treated as hostile: no function panics on any header or body, and work is bounded ([`MAX_HEADER_LEN`],
//! [`MAX_COVERED_COMPONENTS`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use url::Url;

/// The oldest a signature may be: its `Date` (or `created`) no more than 12 hours before now.
pub const MAX_AGE: Duration = Duration::from_secs(12 * 60 * 60);

/// The clock skew we tolerate: a `Date` (or `created`) no more than one hour after now.
pub const MAX_FUTURE: Duration = Duration::from_secs(60 * 60);

/// The largest `Signature`, `Signature-Input`, `Authorization`, `Digest` or `Content-Digest` value (all field
/// lines together) we parse.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// The most components (headers and pseudo-headers) one signature may cover.
pub const MAX_COVERED_COMPONENTS: usize = 32;

/// The most RFC 9421 signature labels we look at in one request.
const MAX_LABELS: usize = 8;

/// The only RFC 9421 algorithm we accept (when `alg` is given at all).
const RFC9421_ALG: &str = "rsa-v1_5-sha256";

/// The label of the RFC 9421 signatures we make.
const RFC9421_LABEL: &str = "sig1";

const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
const SIGNATURE: HeaderName = HeaderName::from_static("signature");
const DIGEST: HeaderName = HeaderName::from_static("digest");
const CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");

/// Base64 that accepts a value with or without `=` padding (some servers drop it), and nothing else.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a request's signature was refused (or why a key or a signature could not be made).
///
/// Every variant means "do not trust this request"; they differ only to make logs and tests precise. Only
/// [`SignatureError::BadSignature`] is worth a retry with a freshly fetched key (see
/// [`SignatureError::may_succeed_with_fresh_key`]).
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The request carries no signature at all (no `Signature`, `Signature-Input` or `Authorization: Signature`).
    #[error("the request is not signed")]
    Missing,
    /// A signature header, a parameter or a covered header is malformed or absent.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The signature names an algorithm other than `rsa-sha256`, `hs2019` or `rsa-v1_5-sha256`.
    #[error("unsupported signature algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// A component we require (e.g. `digest`, `host`, `@target-uri`) is not covered by the signature.
    #[error("the signature does not cover {0}")]
    MissingComponent(String),
    /// The body does not match its signed digest.
    #[error("the body does not match its digest")]
    DigestMismatch,
    /// A body digest is required but absent, or offered only with algorithms we do not check.
    #[error("no usable body digest (SHA-256, or SHA-512 for Content-Digest)")]
    DigestMissing,
    /// `Date`, `created` or `expires` lies outside [`MAX_AGE`] / [`MAX_FUTURE`].
    #[error("signature outside the accepted time window: {0}")]
    Expired(String),
    /// The signed `Host` is not our host: the request was signed for another server.
    #[error("the request was signed for another host: {0}")]
    HostMismatch(String),
    /// The signature does not verify with the given key.
    #[error("the signature does not verify")]
    BadSignature,
    /// A key is unusable: not PEM, not RSA, too small, or of the wrong algorithm.
    #[error("unusable key: {0}")]
    BadKey(String),
}

impl SignatureError {
    /// Whether fetching the signer's key again might make this request verify: true only for
    /// [`SignatureError::BadSignature`] (the remote key may have been rotated). Every other error is about the
    /// request itself and a re-fetch would be wasted.
    pub fn may_succeed_with_fresh_key(&self) -> bool {
        matches!(self, SignatureError::BadSignature)
    }
}

fn malformed(message: impl Into<String>) -> SignatureError {
    SignatureError::Malformed(message.into())
}

/// The signature format a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Signature: keyId=…,headers=…,signature=…` (or `Authorization: Signature …`), draft-cavage-12.
    DraftCavage,
    /// `Signature-Input` and `Signature` structured fields, RFC 9421.
    Rfc9421,
}

/// What a request looks like to the verifier.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request target as received, in origin form: the path and, if any, `?` and the query
    /// (`/users/alice/inbox`, `/users/alice/outbox?page=2`).
    pub path_and_query: &'a str,
    /// The absolute URL the client addressed: our public origin (scheme, host, port if not the default; no
    /// trailing slash) followed by `path_and_query`, e.g. `https://campaign.example/users/alice/inbox`.
    /// draft-cavage signatures must sign a `Host` equal to its authority, RFC 9421 ones sign it as
    /// `@target-uri` (or `@authority`).
    pub target_uri: &'a str,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The whole request body (empty for a GET).
    pub body: &'a [u8],
}

/// A parsed, not yet verified signature: all checks that need no key are done — format, required
/// components, time window, signed host, and the body digest recomputed from the body whenever the method is
/// POST or there is a body. What is left is to fetch the key named by [`PendingSignature::key_id`] and call
/// [`PendingSignature::verify`].
#[derive(Debug, Clone)]
pub struct PendingSignature {
    scheme: Scheme,
    key_id: String,
    signature: Vec<u8>,
    /// The exact bytes the signer must have signed.
    base: Vec<u8>,
    /// draft-cavage GET/HEAD with a query only: the same signing string with the query left out of
    /// `(request-target)`, which Fedify and older Mastodon sign (Mastodon accepts both too).
    base_without_query: Option<Vec<u8>>,
}

impl PendingSignature {
    /// The signature format the request used.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The signer's key id (`keyId` / `keyid`), usually `https://host/users/name#main-key`. It is what the
    /// signer claims; whether the key belongs to the activity's actor is for the caller to check.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The signing string (draft-cavage) or signature base (RFC 9421) the signature must cover, for logs.
    pub fn signature_base(&self) -> &[u8] {
        &self.base
    }

    /// Checks the signature with `key`, which must be an RSA key parsed for `RSA_PKCS1_2048_8192_SHA256` (as
    /// [`parse_public_key_pem`] returns).
    pub fn verify(&self, key: &ParsedPublicKey) -> Result<(), SignatureError> {
        if format!("{:?}", key.algorithm()) != format!("{:?}", &RSA_PKCS1_2048_8192_SHA256) {
            return Err(SignatureError::BadKey(
                "the key was not parsed for RSA PKCS#1 v1.5 SHA-256 (2048 to 8192 bits)".into(),
            ));
        }
        if key.verify_sig(&self.base, &self.signature).is_ok() {
            return Ok(());
        }
        if let Some(base) = &self.base_without_query
            && key.verify_sig(base, &self.signature).is_ok()
        {
            return Ok(());
        }
        Err(SignatureError::BadSignature)
    }
}

/// Parses and checks a request's signature as far as possible without the key.
///
/// A request with a `Signature-Input` header is read as RFC 9421; otherwise the `Signature` header (or
/// `Authorization: Signature …`) is read as draft-cavage. See the module documentation and the
/// [`SignatureError`] variants for what is refused.
pub fn parse_request(
    req: &RequestParts,
    now: SystemTime,
) -> Result<PendingSignature, SignatureError> {
    let now = unix_seconds(now);
    let target = Url::parse(req.target_uri)
        .map_err(|e| malformed(format!("target URI {:?}: {e}", req.target_uri)))?;
    if !target.has_host() {
        return Err(malformed(format!(
            "target URI {:?} has no host",
            req.target_uri
        )));
    }
    if req.headers.contains_key(SIGNATURE_INPUT) {
        parse_rfc9421(req, &target, now)
    } else {
        parse_draft_cavage(req, &target, now)
    }
}

/// Parses a PEM public key as published in actor documents: SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1
/// (`RSA PUBLIC KEY`, which some servers publish). Only RSA keys of 2048 to 8192 bits are accepted.
pub fn parse_public_key_pem(pem_text: &str) -> Result<ParsedPublicKey, SignatureError> {
    if pem_text.len() > 64 * 1024 {
        return Err(SignatureError::BadKey("PEM text too long".into()));
    }
    let block = pem::parse(pem_text.trim())
        .map_err(|e| SignatureError::BadKey(format!("not a PEM key: {e}")))?;
    match block.tag() {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
        other => {
            return Err(SignatureError::BadKey(format!(
                "unexpected PEM block {other:?}"
            )));
        }
    }
    // Both DER forms are tried for either tag: a mislabelled but valid RSA key is still that key.
    let rsa = aws_lc_rs::rsa::PublicKey::from_der(block.contents())
        .map_err(|_| SignatureError::BadKey("not an RSA public key".into()))?;
    let modulus = rsa.modulus();
    let modulus = modulus.big_endian_without_leading_zero();
    let bits = match modulus.first() {
        Some(first) => modulus.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    if !(2048..=8192).contains(&bits) {
        return Err(SignatureError::BadKey(format!(
            "RSA key of {bits} bits (2048 to 8192 accepted)"
        )));
    }
    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, block.contents())
        .map_err(|e| SignatureError::BadKey(format!("RSA public key rejected: {e}")))
}

/// Parses a PEM RSA private key: PKCS#8 (`PRIVATE KEY`, what [`super::keys`] writes) or PKCS#1
/// (`RSA PRIVATE KEY`).
pub fn parse_private_key_pem(pem_text: &str) -> Result<KeyPair, SignatureError> {
    let block = pem::parse(pem_text.trim())
        .map_err(|e| SignatureError::BadKey(format!("not a PEM key: {e}")))?;
    let parsed = match block.tag() {
        "PRIVATE KEY" => KeyPair::from_pkcs8(block.contents()),
        "RSA PRIVATE KEY" => KeyPair::from_der(block.contents()),
        other => {
            return Err(SignatureError::BadKey(format!(
                "unexpected PEM block {other:?}"
            )));
        }
    };
    parsed.map_err(|e| SignatureError::BadKey(format!("RSA private key rejected: {e}")))
}

/// The draft-cavage `Digest` value of a body: `SHA-256=` and the base64 SHA-256.
pub fn sha256_digest_header(body: &[u8]) -> String {
    format!(
        "SHA-256={}",
        STANDARD.encode(digest::digest(&digest::SHA256, body))
    )
}

/// The RFC 9530 `Content-Digest` value of a body: `sha-256=:` base64 SHA-256 `:`.
pub fn content_digest_header(body: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        STANDARD.encode(digest::digest(&digest::SHA256, body))
    )
}

/// Signs an outgoing request the Mastodon way (draft-cavage, `rsa-sha256`) and returns the headers to add:
/// `Date`, `Digest` (when there is a body), `Content-Type` (when given: it is signed, so it must be sent
/// exactly so) and `Signature`. Insert them (replacing, not appending).
///
/// Signed: `(request-target) host date` for a request without body, `(request-target) host date digest` with
/// one, plus `content-type` when given. The signed host is `url`'s host, with the port when it is not the
/// default: what reqwest sends as `Host`, so the caller must not override `Host`.
pub fn sign_draft_cavage(
    key: &KeyPair,
    key_id: &str,
    method: &Method,
    url: &Url,
    body: Option<&[u8]>,
    content_type: Option<&str>,
    now: SystemTime,
) -> Result<Vec<(HeaderName, HeaderValue)>, SignatureError> {
    if key_id.is_empty() || key_id.contains(['"', '\\']) {
        return Err(malformed(format!("key id {key_id:?} cannot be quoted")));
    }
    let authority = authority_of(url).ok_or_else(|| malformed(format!("URL {url} has no host")))?;
    let path_and_query = path_and_query_of(url);
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, header_value(&authority)?);
    headers.insert(header::DATE, header_value(&format_http_date(now)?)?);
    let mut names = vec!["(request-target)", "host", "date"];
    if let Some(body) = body {
        headers.insert(DIGEST, header_value(&sha256_digest_header(body))?);
        names.push("digest");
    }
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, header_value(content_type)?);
        names.push("content-type");
    }
    let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    let target_uri = target_uri_of(url);
    let parts = RequestParts {
        method,
        path_and_query: &path_and_query,
        target_uri: &target_uri,
        headers: &headers,
        body: body.unwrap_or_default(),
    };
    let signing_string =
        cavage_signing_string(&parts, &authority, &names, None, None, &path_and_query)?;
    let signature = rsa_sign(key, &signing_string)?;
    let value = format!(
        "keyId=\"{key_id}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{}\"",
        names.join(" "),
        STANDARD.encode(signature)
    );
    let mut out = Vec::new();
    for name in [header::DATE, DIGEST, header::CONTENT_TYPE] {
        if let Some(value) = headers.remove(&name) {
            out.push((name, value));
        }
    }
    out.push((SIGNATURE, header_value(&value)?));
    Ok(out)
}

/// Signs an outgoing request per RFC 9421 with `rsa-v1_5-sha256`, covering `@method`, `@target-uri` and, when
/// there is a body, `content-digest`; the parameters are `created`, `keyid` and `alg`, under the label
/// `sig1`. Returns the headers to add: `Content-Digest` (when there is a body), `Signature-Input` and
/// `Signature`. Used by tests, and ready for sending RFC 9421 first ("double knocking").
pub fn sign_rfc9421(
    key: &KeyPair,
    key_id: &str,
    method: &Method,
    url: &Url,
    body: Option<&[u8]>,
    now: SystemTime,
) -> Result<Vec<(HeaderName, HeaderValue)>, SignatureError> {
    if !url.has_host() {
        return Err(malformed(format!("URL {url} has no host")));
    }
    let mut components = vec!["@method", "@target-uri"];
    let mut headers = HeaderMap::new();
    if let Some(body) = body {
        headers.insert(CONTENT_DIGEST, header_value(&content_digest_header(body))?);
        components.push("content-digest");
    }
    let components: Vec<String> = components.into_iter().map(str::to_owned).collect();
    let params = rfc9421_params(&components, unix_seconds(now), key_id)?;
    let path_and_query = path_and_query_of(url);
    let target_uri = target_uri_of(url);
    let parts = RequestParts {
        method,
        path_and_query: &path_and_query,
        target_uri: &target_uri,
        headers: &headers,
        body: body.unwrap_or_default(),
    };
    let base = rfc9421_signature_base(&parts, url, &components, &params)?;
    let signature = rsa_sign(key, &base)?;
    let mut out = Vec::new();
    if let Some(value) = headers.remove(CONTENT_DIGEST) {
        out.push((CONTENT_DIGEST, value));
    }
    out.push((
        SIGNATURE_INPUT,
        header_value(&format!("{RFC9421_LABEL}={params}"))?,
    ));
    out.push((
        SIGNATURE,
        header_value(&format!("{RFC9421_LABEL}=:{}:", STANDARD.encode(signature)))?,
    ));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------
// draft-cavage

fn parse_draft_cavage(
    req: &RequestParts,
    target: &Url,
    now: i64,
) -> Result<PendingSignature, SignatureError> {
    let raw = cavage_header(req.headers)?;
    let params = parse_cavage_params(raw)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };

    let key_id = param("keyid")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| malformed("no keyId"))?;
    let signature_b64 = param("signature").ok_or_else(|| malformed("no signature"))?;
    // Without `algorithm`, the draft derives it from the key, as `hs2019` does: for us, RSA with SHA-256.
    let hs2019 = match param("algorithm").map(str::to_ascii_lowercase).as_deref() {
        None | Some("hs2019") => true,
        Some("rsa-sha256") => false,
        Some(other) => return Err(SignatureError::UnsupportedAlgorithm(other.to_owned())),
    };
    let created = param("created")
        .map(|v| parse_seconds("created", v))
        .transpose()?;
    let expires = param("expires")
        .map(|v| parse_seconds("expires", v))
        .transpose()?;

    let names: Vec<String> = param("headers")
        .unwrap_or("date")
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    if names.len() > MAX_COVERED_COMPONENTS {
        return Err(malformed(format!("{} covered headers", names.len())));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(malformed(format!("{name} listed twice in headers")));
        }
    }
    let covers = |name: &str| names.iter().any(|n| n == name);

    if !covers("(request-target)") {
        return Err(SignatureError::MissingComponent("(request-target)".into()));
    }
    if !covers("host") {
        return Err(SignatureError::MissingComponent("host".into()));
    }
    let created_instead_of_date = hs2019 && created.is_some() && covers("(created)");
    if !covers("date") && !created_instead_of_date {
        return Err(SignatureError::MissingComponent("date".into()));
    }
    if needs_digest(req) && !covers("digest") {
        return Err(SignatureError::MissingComponent("digest".into()));
    }

    let signature = LENIENT_BASE64
        .decode(signature_b64)
        .map_err(|_| malformed("signature is not base64"))?;
    if signature.is_empty() {
        return Err(malformed("empty signature"));
    }

    // The signed Host must be ours, or a request signed for another server could be replayed to us.
    let authority = authority_of(target).ok_or_else(|| malformed("target URI has no host"))?;
    if let Some(host) = field_value(req.headers, &header::HOST) {
        let host = String::from_utf8_lossy(&host).to_ascii_lowercase();
        if strip_default_port(&host, target.scheme()) != authority {
            return Err(SignatureError::HostMismatch(format!(
                "signed for {host}, we are {authority}"
            )));
        }
    }

    if covers("date") {
        let mut dates = req.headers.get_all(header::DATE).iter();
        let (Some(date), None) = (dates.next(), dates.next()) else {
            return Err(malformed("the signed Date header is absent or repeated"));
        };
        let date = date
            .to_str()
            .ok()
            .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
            .ok_or_else(|| malformed("the Date header is not an HTTP date"))?;
        check_window("Date", unix_seconds(date), now)?;
    }
    if covers("(created)") {
        let created = created.ok_or_else(|| malformed("(created) signed without created"))?;
        check_window("created", created, now)?;
    }
    if covers("(expires)") && expires.is_none() {
        return Err(malformed("(expires) signed without expires"));
    }
    if let Some(expires) = expires {
        check_expires(expires, now)?;
    }

    if covers("digest") {
        check_digest(req)?;
    }

    let base = cavage_signing_string(
        req,
        &authority,
        &names,
        created,
        expires,
        req.path_and_query,
    )?;
    let base_without_query = match req.path_and_query.split_once('?') {
        Some((path, _)) if *req.method == Method::GET || *req.method == Method::HEAD => Some(
            cavage_signing_string(req, &authority, &names, created, expires, path)?,
        ),
        _ => None,
    };
    Ok(PendingSignature {
        scheme: Scheme::DraftCavage,
        key_id: key_id.to_owned(),
        signature,
        base,
        base_without_query,
    })
}

/// The draft-cavage parameter string: the one `Signature` header, else an `Authorization: Signature …`.
fn cavage_header(headers: &HeaderMap) -> Result<&str, SignatureError> {
    let mut lines = headers.get_all(SIGNATURE).iter();
    let value = match (lines.next(), lines.next()) {
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(malformed("several Signature headers")),
        (None, _) => {
            let mut found = None;
            for value in headers.get_all(header::AUTHORIZATION) {
                let bytes = value.as_bytes();
                if bytes.len() > 10 && bytes[..10].eq_ignore_ascii_case(b"signature ") {
                    if found.is_some() {
                        return Err(malformed("several Authorization: Signature headers"));
                    }
                    found = Some(value);
                }
            }
            return match found {
                None => Err(SignatureError::Missing),
                Some(value) => {
                    let text = header_text(value, "Authorization")?;
                    Ok(text.get(10..).unwrap_or_default().trim())
                }
            };
        }
    };
    header_text(value, "Signature").map(str::trim)
}

fn header_text<'a>(value: &'a HeaderValue, name: &str) -> Result<&'a str, SignatureError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(malformed(format!(
            "{name} header longer than {MAX_HEADER_LEN} bytes"
        )));
    }
    value
        .to_str()
        .map_err(|_| malformed(format!("{name} header is not visible ASCII")))
}

/// Parses `name=value` or `name="quoted value"` pairs separated by commas. Names are compared ASCII
/// case-insensitively (returned lowercase); a repeated name is an error.
fn parse_cavage_params(input: &str) -> Result<Vec<(String, String)>, SignatureError> {
    let bytes = input.as_bytes();
    let mut i = 0;
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        skip_ows(bytes, &mut i);
        let start = i;
        while i < bytes.len() && is_tchar(bytes[i]) {
            i += 1;
        }
        if i == start {
            return Err(malformed("expected a parameter name"));
        }
        let name = input[start..i].to_ascii_lowercase();
        skip_ows(bytes, &mut i);
        if bytes.get(i) != Some(&b'=') {
            return Err(malformed(format!("expected '=' after {name}")));
        }
        i += 1;
        skip_ows(bytes, &mut i);
        let value = if bytes.get(i) == Some(&b'"') {
            i += 1;
            let mut value = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return Err(malformed(format!("unterminated value of {name}"))),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let escaped = bytes
                            .get(i + 1)
                            .ok_or_else(|| malformed(format!("unterminated value of {name}")))?;
                        value.push(*escaped);
                        i += 2;
                    }
                    Some(&byte) => {
                        value.push(byte);
                        i += 1;
                    }
                }
            }
            String::from_utf8(value)
                .map_err(|_| malformed(format!("value of {name} is not text")))?
        } else {
            let start = i;
            while i < bytes.len() && is_tchar(bytes[i]) {
                i += 1;
            }
            if i == start {
                return Err(malformed(format!("no value for {name}")));
            }
            input[start..i].to_owned()
        };
        if params.iter().any(|(n, _)| *n == name) {
            return Err(malformed(format!("{name} given twice")));
        }
        if params.len() >= 16 {
            return Err(malformed("too many signature parameters"));
        }
        params.push((name, value));
        skip_ows(bytes, &mut i);
        match bytes.get(i) {
            None => return Ok(params),
            Some(b',') => i += 1,
            Some(_) => return Err(malformed("expected ',' between parameters")),
        }
    }
}

fn skip_ows(bytes: &[u8], i: &mut usize) {
    while matches!(bytes.get(*i), Some(b' ' | b'\t')) {
        *i += 1;
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn parse_seconds(name: &str, value: &str) -> Result<i64, SignatureError> {
    if value.is_empty() || value.len() > 15 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!("{name} is not a number of seconds")));
    }
    value
        .parse()
        .map_err(|_| malformed(format!("{name} is not a number of seconds")))
}

/// The draft-cavage signing string: one `name: value` line per covered header, joined by `\n`.
/// `request_target_path` is what follows the method in `(request-target)`.
fn cavage_signing_string(
    req: &RequestParts,
    authority: &str,
    names: &[String],
    created: Option<i64>,
    expires: Option<i64>,
    request_target_path: &str,
) -> Result<Vec<u8>, SignatureError> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        match name.as_str() {
            "(request-target)" => {
                out.extend_from_slice(req.method.as_str().to_ascii_lowercase().as_bytes());
                out.push(b' ');
                out.extend_from_slice(request_target_path.as_bytes());
            }
            "(created)" => {
                let created =
                    created.ok_or_else(|| malformed("(created) signed without created"))?;
                out.extend_from_slice(created.to_string().as_bytes());
            }
            "(expires)" => {
                let expires =
                    expires.ok_or_else(|| malformed("(expires) signed without expires"))?;
                out.extend_from_slice(expires.to_string().as_bytes());
            }
            pseudo if pseudo.starts_with('(') => {
                return Err(malformed(format!("unknown pseudo-header {pseudo}")));
            }
            field => out.extend_from_slice(&header_component(req, authority, field)?),
        }
    }
    Ok(out)
}

/// Checks a draft-cavage `Digest` header (RFC 3230): a SHA-256 entry is required and must match the body; a
/// SHA-512 entry, if also given, must match too.
fn check_digest(req: &RequestParts) -> Result<(), SignatureError> {
    let raw = field_value(req.headers, &DIGEST).ok_or(SignatureError::DigestMissing)?;
    if raw.len() > MAX_HEADER_LEN {
        return Err(malformed("Digest header too long"));
    }
    let raw = std::str::from_utf8(&raw).map_err(|_| malformed("Digest header is not text"))?;
    let mut sha256_checked = false;
    for entry in raw.split(',') {
        let Some((algorithm, value)) = entry.split_once('=') else {
            return Err(malformed("Digest entry without '='"));
        };
        let (algorithm, is_sha256) = match algorithm.trim().to_ascii_lowercase().as_str() {
            "sha-256" => (&digest::SHA256, true),
            "sha-512" => (&digest::SHA512, false),
            _ => continue,
        };
        let given = LENIENT_BASE64
            .decode(value.trim())
            .map_err(|_| malformed("Digest value is not base64"))?;
        if digest::digest(algorithm, req.body).as_ref() != given.as_slice() {
            return Err(SignatureError::DigestMismatch);
        }
        sha256_checked |= is_sha256;
    }
    if sha256_checked {
        Ok(())
    } else {
        Err(SignatureError::DigestMissing)
    }
}

// ---------------------------------------------------------------------------------------------------------
// RFC 9421

fn parse_rfc9421(
    req: &RequestParts,
    target: &Url,
    now: i64,
) -> Result<PendingSignature, SignatureError> {
    let inputs_raw = field_value(req.headers, &SIGNATURE_INPUT)
        .ok_or_else(|| malformed("no Signature-Input"))?;
    let signatures_raw = field_value(req.headers, &SIGNATURE)
        .ok_or_else(|| malformed("Signature-Input without Signature"))?;
    if inputs_raw.len() > MAX_HEADER_LEN || signatures_raw.len() > MAX_HEADER_LEN {
        return Err(malformed(format!(
            "Signature-Input or Signature longer than {MAX_HEADER_LEN} bytes"
        )));
    }
    let inputs = parse_dictionary(&inputs_raw, "Signature-Input")?;
    let signatures = parse_dictionary(&signatures_raw, "Signature")?;

    // Labels that name our algorithm first, then those that name none; the first that passes every check
    // wins. If none does, the first failure is reported.
    let explicit = |params: &sfv::Parameters| {
        params
            .get(sfv::key_ref("alg"))
            .and_then(|alg| alg.as_string())
            .is_some_and(|alg| alg.as_str() == RFC9421_ALG)
    };
    let mut candidates: Vec<(&str, &sfv::ListEntry)> = Vec::new();
    for pass_explicit in [true, false] {
        for (label, entry) in &inputs {
            let is_explicit = match entry {
                sfv::ListEntry::InnerList(list) => explicit(&list.params),
                sfv::ListEntry::Item(_) => false,
            };
            if is_explicit == pass_explicit {
                candidates.push((label.as_str(), entry));
            }
        }
    }
    let mut first_error = None;
    for (label, entry) in candidates.into_iter().take(MAX_LABELS) {
        match rfc9421_candidate(req, target, now, label, entry, &signatures) {
            Ok(pending) => return Ok(pending),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| malformed("empty Signature-Input")))
}

fn parse_dictionary(raw: &[u8], name: &str) -> Result<sfv::Dictionary, SignatureError> {
    sfv::Parser::new(raw)
        .with_version(sfv::Version::Rfc8941)
        .parse::<sfv::Dictionary>()
        .map_err(|e| malformed(format!("{name} is not a structured dictionary: {e}")))
}

fn rfc9421_candidate(
    req: &RequestParts,
    target: &Url,
    now: i64,
    label: &str,
    entry: &sfv::ListEntry,
    signatures: &sfv::Dictionary,
) -> Result<PendingSignature, SignatureError> {
    let sfv::ListEntry::InnerList(list) = entry else {
        return Err(malformed(format!(
            "Signature-Input {label} is not an inner list"
        )));
    };

    let mut key_id = None;
    let mut created = None;
    let mut expires = None;
    for (name, value) in &list.params {
        let wrong_type = || {
            malformed(format!(
                "parameter {} of {label} has the wrong type",
                name.as_str()
            ))
        };
        match name.as_str() {
            "keyid" => {
                key_id = Some(
                    value
                        .as_string()
                        .ok_or_else(wrong_type)?
                        .as_str()
                        .to_owned(),
                )
            }
            "alg" => {
                let alg = value.as_string().ok_or_else(wrong_type)?.as_str();
                if alg != RFC9421_ALG {
                    return Err(SignatureError::UnsupportedAlgorithm(alg.to_owned()));
                }
            }
            "created" => created = Some(i64::from(value.as_integer().ok_or_else(wrong_type)?)),
            "expires" => expires = Some(i64::from(value.as_integer().ok_or_else(wrong_type)?)),
            "nonce" | "tag" => {
                value.as_string().ok_or_else(wrong_type)?;
            }
            // Other parameters are signed with the rest and otherwise ignored.
            _ => {}
        }
    }
    let key_id = key_id
        .filter(|k| !k.is_empty())
        .ok_or_else(|| malformed(format!("no keyid in {label}")))?;

    if list.items.len() > MAX_COVERED_COMPONENTS {
        return Err(malformed(format!(
            "{} covered components",
            list.items.len()
        )));
    }
    let mut components: Vec<String> = Vec::with_capacity(list.items.len());
    for item in &list.items {
        let name = item
            .bare_item
            .as_string()
            .ok_or_else(|| malformed("a component identifier is not a string"))?
            .as_str();
        if !item.params.is_empty() {
            return Err(malformed(format!(
                "component parameters on {name:?} are not supported"
            )));
        }
        if name.is_empty()
            || name == "@signature-params"
            || name.bytes().any(|b| b.is_ascii_uppercase())
        {
            return Err(malformed(format!("invalid component identifier {name:?}")));
        }
        if components.iter().any(|c| c == name) {
            return Err(malformed(format!("component {name:?} covered twice")));
        }
        components.push(name.to_owned());
    }
    let covers = |name: &str| components.iter().any(|c| c == name);

    if !covers("@method") {
        return Err(SignatureError::MissingComponent("@method".into()));
    }
    if !covers("@target-uri") {
        // `@authority` and `@path` (and `@query` when there is one) pin the target just as well.
        if !(covers("@authority") && covers("@path")) {
            return Err(SignatureError::MissingComponent("@target-uri".into()));
        }
        if req.path_and_query.contains('?') && !covers("@query") {
            return Err(SignatureError::MissingComponent("@query".into()));
        }
    }
    if needs_digest(req) && !covers("content-digest") {
        return Err(SignatureError::MissingComponent("content-digest".into()));
    }

    let created = created.ok_or_else(|| malformed(format!("no created in {label}")))?;
    check_window("created", created, now)?;
    if let Some(expires) = expires {
        check_expires(expires, now)?;
    }

    let signature = signatures
        .iter()
        .find(|(name, _)| name.as_str() == label)
        .and_then(|(_, entry)| match entry {
            sfv::ListEntry::Item(item) => item.bare_item.as_byte_sequence(),
            sfv::ListEntry::InnerList(_) => None,
        })
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| malformed(format!("no signature for {label}")))?
        .to_vec();

    if covers("content-digest") {
        check_content_digest(req)?;
    }

    let params = serialize_inner_list(list)?;
    let base = rfc9421_signature_base(req, target, &components, &params)?;
    Ok(PendingSignature {
        scheme: Scheme::Rfc9421,
        key_id,
        signature,
        base,
        base_without_query: None,
    })
}

/// Checks a `Content-Digest` header (RFC 9530): at least one of `sha-256` and `sha-512` must be given, and
/// each one given must match the body.
fn check_content_digest(req: &RequestParts) -> Result<(), SignatureError> {
    let raw = field_value(req.headers, &CONTENT_DIGEST).ok_or(SignatureError::DigestMissing)?;
    if raw.len() > MAX_HEADER_LEN {
        return Err(malformed("Content-Digest header too long"));
    }
    let digests = parse_dictionary(&raw, "Content-Digest")?;
    let mut checked = false;
    for (name, entry) in &digests {
        let algorithm = match name.as_str() {
            "sha-256" => &digest::SHA256,
            "sha-512" => &digest::SHA512,
            _ => continue,
        };
        let sfv::ListEntry::Item(item) = entry else {
            return Err(malformed(format!(
                "Content-Digest {} is not a byte sequence",
                name.as_str()
            )));
        };
        let given = item.bare_item.as_byte_sequence().ok_or_else(|| {
            malformed(format!(
                "Content-Digest {} is not a byte sequence",
                name.as_str()
            ))
        })?;
        if digest::digest(algorithm, req.body).as_ref() != given {
            return Err(SignatureError::DigestMismatch);
        }
        checked = true;
    }
    if checked {
        Ok(())
    } else {
        Err(SignatureError::DigestMissing)
    }
}

/// The `@signature-params` value: the covered components and their parameters, serialized as an RFC 8941
/// inner list. Signers serialize the same structure canonically, so re-serializing what we parsed gives the
/// bytes they signed.
fn serialize_inner_list(list: &sfv::InnerList) -> Result<String, SignatureError> {
    let mut serializer = sfv::ListSerializer::new();
    {
        let mut inner = serializer.inner_list();
        inner.items(&list.items);
        let _ = inner.finish().parameters(&list.params);
    }
    serializer
        .finish()
        .ok_or_else(|| malformed("cannot serialize the signature parameters"))
}

/// The `@signature-params` of the signatures we make.
fn rfc9421_params(
    components: &[String],
    created: i64,
    key_id: &str,
) -> Result<String, SignatureError> {
    let string = |s: &str| {
        sfv::String::from_string(s.to_owned())
            .map_err(|_| malformed(format!("{s:?} cannot be a structured-field string")))
    };
    let items = components
        .iter()
        .map(|c| string(c).map(sfv::Item::new))
        .collect::<Result<Vec<_>, _>>()?;
    let mut params = sfv::Parameters::new();
    let created = sfv::Integer::try_from(created).map_err(|_| malformed("time out of range"))?;
    params.insert(
        sfv::key_ref("created").to_owned(),
        sfv::BareItem::Integer(created),
    );
    params.insert(
        sfv::key_ref("keyid").to_owned(),
        sfv::BareItem::String(string(key_id)?),
    );
    params.insert(
        sfv::key_ref("alg").to_owned(),
        sfv::BareItem::String(string(RFC9421_ALG)?),
    );
    serialize_inner_list(&sfv::InnerList::with_params(items, params))
}

/// The RFC 9421 §2.5 signature base: `"name": value` per covered component, then `"@signature-params": `
/// and `params` (the serialized inner list).
fn rfc9421_signature_base(
    req: &RequestParts,
    target: &Url,
    components: &[String],
    params: &str,
) -> Result<Vec<u8>, SignatureError> {
    let authority = authority_of(target).ok_or_else(|| malformed("target URI has no host"))?;
    let (path, query) = match req.path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (req.path_and_query, None),
    };
    let mut base = Vec::new();
    for name in components {
        base.push(b'"');
        base.extend_from_slice(name.as_bytes());
        base.extend_from_slice(b"\": ");
        match name.as_str() {
            "@method" => base.extend_from_slice(req.method.as_str().as_bytes()),
            "@target-uri" => base.extend_from_slice(req.target_uri.as_bytes()),
            "@authority" => base.extend_from_slice(authority.as_bytes()),
            "@scheme" => base.extend_from_slice(target.scheme().as_bytes()),
            "@request-target" => base.extend_from_slice(req.path_and_query.as_bytes()),
            "@path" => base.extend_from_slice(if path.is_empty() {
                b"/"
            } else {
                path.as_bytes()
            }),
            "@query" => {
                base.push(b'?');
                base.extend_from_slice(query.unwrap_or_default().as_bytes());
            }
            derived if derived.starts_with('@') => {
                return Err(malformed(format!(
                    "unsupported derived component {derived}"
                )));
            }
            field => base.extend_from_slice(&header_component(req, &authority, field)?),
        }
        base.push(b'\n');
    }
    base.extend_from_slice(b"\"@signature-params\": ");
    base.extend_from_slice(params.as_bytes());
    Ok(base)
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

/// A covered header's value for a signing string or signature base: every field line trimmed, joined with
/// `, `. A `Host` absent from the header map (HTTP/2) is the authority the client addressed.
fn header_component(
    req: &RequestParts,
    authority: &str,
    name: &str,
) -> Result<Vec<u8>, SignatureError> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| malformed(format!("invalid header name {name:?}")))?;
    match field_value(req.headers, &header_name) {
        Some(value) => Ok(value),
        None if header_name == header::HOST => Ok(authority.as_bytes().to_vec()),
        None => Err(malformed(format!("signed header {name} is absent"))),
    }
}

/// All field lines of a header, each trimmed of spaces and tabs, joined with `, `; `None` if absent.
fn field_value(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for value in headers.get_all(name) {
        let out = match &mut out {
            Some(out) => {
                out.extend_from_slice(b", ");
                out
            }
            None => out.insert(Vec::new()),
        };
        out.extend_from_slice(value.as_bytes().trim_ascii());
        if out.len() > 4 * MAX_HEADER_LEN {
            break;
        }
    }
    out
}

/// Whether the body must be covered by a digest: always for POST, and whenever there is a body.
fn needs_digest(req: &RequestParts) -> bool {
    *req.method == Method::POST || !req.body.is_empty()
}

/// `host[:port]` of a URL, the port only when it is not the scheme's default.
fn authority_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

fn strip_default_port<'a>(host: &'a str, scheme: &str) -> &'a str {
    let default = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return host,
    };
    host.strip_suffix(default).unwrap_or(host)
}

fn path_and_query_of(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The URL as it goes on the wire, without user info or fragment.
fn target_uri_of(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn check_window(what: &str, at: i64, now: i64) -> Result<(), SignatureError> {
    if at < now.saturating_sub(MAX_AGE.as_secs() as i64) {
        Err(SignatureError::Expired(format!(
            "{what} is more than 12 hours old"
        )))
    } else if at > now.saturating_add(MAX_FUTURE.as_secs() as i64) {
        Err(SignatureError::Expired(format!(
            "{what} is more than an hour ahead"
        )))
    } else {
        Ok(())
    }
}

fn check_expires(expires: i64, now: i64) -> Result<(), SignatureError> {
    if now > expires {
        Err(SignatureError::Expired("the signature has expired".into()))
    } else {
        Ok(())
    }
}

/// An HTTP date, refusing times that `httpdate` cannot format (before 1970 or after 9999).
fn format_http_date(time: SystemTime) -> Result<String, SignatureError> {
    let seconds = unix_seconds(time);
    if !(0..253_402_300_800).contains(&seconds) {
        return Err(malformed("time out of the HTTP date range"));
    }
    Ok(httpdate::fmt_http_date(time))
}

fn header_value(value: &str) -> Result<HeaderValue, SignatureError> {
    HeaderValue::from_str(value)
        .map_err(|_| malformed(format!("{value:?} is not a valid header value")))
}

fn rsa_sign(key: &KeyPair, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|_| SignatureError::BadKey("RSA signing failed".into()))?;
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    // ----- fixtures -----

    struct TestKey {
        pair: KeyPair,
        public: ParsedPublicKey,
    }

    fn generated_key(slot: &'static OnceLock<TestKey>) -> &'static TestKey {
        slot.get_or_init(|| {
            let pem = crate::federation::keys::generate_rsa_2048().unwrap();
            TestKey {
                pair: parse_private_key_pem(&pem.private_key_pem).unwrap(),
                public: parse_public_key_pem(&pem.public_key_pem).unwrap(),
            }
        })
    }

    fn alice() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        generated_key(&KEY)
    }

    fn mallory() -> &'static TestKey {
        static KEY: OnceLock<TestKey> = OnceLock::new();
        generated_key(&KEY)
    }

    const KEY_ID: &str = "https://remote.example/users/alice#main-key";
    const ORIGIN: &str = "https://placard.example";
    const INBOX: &str = "/users/bob/inbox";
    const BODY: &[u8] = br#"{"type":"Create","actor":"https://remote.example/users/alice"}"#;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn now() -> SystemTime {
        at(1_750_000_000)
    }

    /// An owned request that a test can tamper with before looking at it through [`RequestParts`].
    #[derive(Clone)]
    struct TestRequest {
        method: Method,
        path_and_query: String,
        target_uri: String,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    impl TestRequest {
        fn new(method: Method, origin: &str, path_and_query: &str, body: &[u8]) -> Self {
            let url = Url::parse(&format!("{origin}{path_and_query}")).unwrap();
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, authority_of(&url).unwrap().parse().unwrap());
            TestRequest {
                method,
                path_and_query: path_and_query.to_owned(),
                target_uri: format!("{origin}{path_and_query}"),
                headers,
                body: body.to_vec(),
            }
        }

        fn url(&self) -> Url {
            Url::parse(&self.target_uri).unwrap()
        }

        fn parts(&self) -> RequestParts<'_> {
            RequestParts {
                method: &self.method,
                path_and_query: &self.path_and_query,
                target_uri: &self.target_uri,
                headers: &self.headers,
                body: &self.body,
            }
        }

        fn add(&mut self, signed: Vec<(HeaderName, HeaderValue)>) -> &mut Self {
            for (name, value) in signed {
                self.headers.insert(name, value);
            }
            self
        }

        fn set(&mut self, name: &str, value: &str) -> &mut Self {
            self.headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
            self
        }

        fn parse(&self) -> Result<PendingSignature, SignatureError> {
            parse_request(&self.parts(), now())
        }

        fn parse_and_verify(
            &self,
            key: &ParsedPublicKey,
        ) -> Result<PendingSignature, SignatureError> {
            let pending = self.parse()?;
            pending.verify(key)?;
            Ok(pending)
        }
    }

    fn cavage_post(key: &KeyPair, signed_at: SystemTime) -> TestRequest {
        let mut req = TestRequest::new(Method::POST, ORIGIN, INBOX, BODY);
        let signed = sign_draft_cavage(
            key,
            KEY_ID,
            &req.method,
            &req.url(),
            Some(BODY),
            Some("application/activity+json"),
            signed_at,
        )
        .unwrap();
        req.add(signed);
        req
    }

    fn rfc9421_post(key: &KeyPair, signed_at: SystemTime) -> TestRequest {
        let mut req = TestRequest::new(Method::POST, ORIGIN, INBOX, BODY);
        let signed =
            sign_rfc9421(key, KEY_ID, &req.method, &req.url(), Some(BODY), signed_at).unwrap();
        req.add(signed);
        req
    }

    /// A draft-cavage `Signature` header over `names` of `req`, made with the module's own signing string.
    fn cavage_signature_over(
        req: &TestRequest,
        key: &KeyPair,
        algorithm: &str,
        names: &[&str],
        created: Option<i64>,
        request_target_path: &str,
    ) -> String {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let authority = authority_of(&req.url()).unwrap();
        let string = cavage_signing_string(
            &req.parts(),
            &authority,
            &names,
            created,
            None,
            request_target_path,
        )
        .unwrap();
        let created = created.map(|c| format!(",created={c}")).unwrap_or_default();
        format!(
            "keyId=\"{KEY_ID}\",algorithm=\"{algorithm}\"{created},headers=\"{}\",signature=\"{}\"",
            names.join(" "),
            STANDARD.encode(rsa_sign(key, &string).unwrap())
        )
    }

    /// RFC 9421 `Signature-Input` and `Signature` members over `components` of `req`.
    fn rfc9421_signature_over(
        req: &TestRequest,
        key: &KeyPair,
        label: &str,
        components: &[&str],
        params: &str,
    ) -> (String, String) {
        let components: Vec<String> = components.iter().map(|c| c.to_string()).collect();
        let list = format!(
            "({}){params}",
            components
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let base = rfc9421_signature_base(&req.parts(), &req.url(), &components, &list).unwrap();
        let signature = STANDARD.encode(rsa_sign(key, &base).unwrap());
        (format!("{label}={list}"), format!("{label}=:{signature}:"))
    }

    const DUMMY_SIGNATURE: &str = "c2lnbmF0dXJl";

    fn cavage_header_with(
        req: &mut TestRequest,
        params: &str,
    ) -> Result<PendingSignature, SignatureError> {
        req.set("signature", params);
        req.parse()
    }

    // ----- round trips -----

    #[test]
    fn draft_cavage_post_round_trip() {
        let req = cavage_post(&alice().pair, now());
        let pending = req.parse_and_verify(&alice().public).unwrap();
        assert_eq!(pending.scheme(), Scheme::DraftCavage);
        assert_eq!(pending.key_id(), KEY_ID);
        let base = String::from_utf8(pending.signature_base().to_vec()).unwrap();
        assert_eq!(
            base,
            format!(
                "(request-target): post /users/bob/inbox\nhost: placard.example\ndate: {}\n\
                 digest: {}\ncontent-type: application/activity+json",
                httpdate::fmt_http_date(now()),
                sha256_digest_header(BODY)
            )
        );
        let signature = req.headers.get("signature").unwrap().to_str().unwrap();
        assert!(signature.starts_with(&format!("keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",")));
        assert!(signature.contains("headers=\"(request-target) host date digest content-type\""));
        assert!(!req.headers.contains_key("signature-input"));
    }

    #[test]
    fn draft_cavage_get_round_trip_with_query_and_port() {
        let mut req = TestRequest::new(
            Method::GET,
            "http://localhost:8080",
            "/users/bob/outbox?page=2",
            b"",
        );
        let signed = sign_draft_cavage(
            &alice().pair,
            KEY_ID,
            &Method::GET,
            &req.url(),
            None,
            None,
            now(),
        )
        .unwrap();
        let names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["date", "signature"]);
        req.add(signed);
        let pending = req.parse_and_verify(&alice().public).unwrap();
        assert!(pending.signature_base().starts_with(
            b"(request-target): get /users/bob/outbox?page=2\nhost: localhost:8080\ndate: "
        ));
    }

    #[test]
    fn draft_cavage_in_authorization_header_round_trip() {
        let mut req = cavage_post(&alice().pair, now());
        let signature = req.headers.remove("signature").unwrap();
        let value = format!("Signature {}", signature.to_str().unwrap());
        req.set("authorization", &value);
        req.parse_and_verify(&alice().public).unwrap();
    }

    #[test]
    fn rfc9421_post_round_trip() {
        let req = rfc9421_post(&alice().pair, now());
        let pending = req.parse_and_verify(&alice().public).unwrap();
        assert_eq!(pending.scheme(), Scheme::Rfc9421);
        assert_eq!(pending.key_id(), KEY_ID);
        let created = unix_seconds(now());
        assert_eq!(
            String::from_utf8(pending.signature_base().to_vec()).unwrap(),
            format!(
                "\"@method\": POST\n\"@target-uri\": https://placard.example/users/bob/inbox\n\
                 \"content-digest\": {}\n\"@signature-params\": (\"@method\" \"@target-uri\" \
                 \"content-digest\");created={created};keyid=\"{KEY_ID}\";alg=\"rsa-v1_5-sha256\"",
                content_digest_header(BODY)
            )
        );
        assert_eq!(
            req.headers.get("signature-input").unwrap(),
            &format!(
                "sig1=(\"@method\" \"@target-uri\" \"content-digest\");created={created};keyid=\"{KEY_ID}\";alg=\"rsa-v1_5-sha256\""
            )
        );
    }

    #[test]
    fn rfc9421_get_round_trip() {
        let mut req = TestRequest::new(Method::GET, ORIGIN, "/users/bob?x=1", b"");
        let signed =
            sign_rfc9421(&alice().pair, KEY_ID, &Method::GET, &req.url(), None, now()).unwrap();
        let names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["signature-input", "signature"]);
        req.add(signed);
        let pending = req.parse_and_verify(&alice().public).unwrap();
        assert!(pending.signature_base().starts_with(
            b"\"@method\": GET\n\"@target-uri\": https://placard.example/users/bob?x=1\n"
        ));
    }

    #[test]
    fn pkcs1_keys_sign_and_verify() {
        let private = parse_private_key_pem(RFC9421_TEST_KEY_RSA_PRIVATE).unwrap();
        let public = parse_public_key_pem(RFC9421_TEST_KEY_RSA_PUBLIC).unwrap();
        cavage_post(&private, now())
            .parse_and_verify(&public)
            .unwrap();
        rfc9421_post(&private, now())
            .parse_and_verify(&public)
            .unwrap();
        assert!(matches!(
            cavage_post(&private, now()).parse_and_verify(&alice().public),
            Err(SignatureError::BadSignature)
        ));
    }

    // ----- draft-cavage refusals -----

    #[test]
    fn tampered_body_is_a_digest_mismatch() {
        let mut req = cavage_post(&alice().pair, now());
        req.body = br#"{"type":"Delete"}"#.to_vec();
        assert!(matches!(req.parse(), Err(SignatureError::DigestMismatch)));

        let mut req = rfc9421_post(&alice().pair, now());
        req.body.push(b' ');
        assert!(matches!(req.parse(), Err(SignatureError::DigestMismatch)));
    }

    #[test]
    fn digest_rewritten_to_match_a_new_body_fails_the_signature() {
        let mut req = cavage_post(&alice().pair, now());
        req.body = br#"{"type":"Delete"}"#.to_vec();
        let digest = sha256_digest_header(&req.body);
        req.set("digest", &digest);
        assert!(matches!(
            req.parse_and_verify(&alice().public),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn tampered_date_fails_the_signature_or_the_window() {
        let mut req = cavage_post(&alice().pair, now());
        let later = httpdate::fmt_http_date(now() + Duration::from_secs(60));
        req.set("date", &later);
        assert!(matches!(
            req.parse_and_verify(&alice().public),
            Err(SignatureError::BadSignature)
        ));

        let mut req = cavage_post(&alice().pair, now());
        let stale = httpdate::fmt_http_date(now() - Duration::from_secs(13 * 3600));
        req.set("date", &stale);
        assert!(matches!(req.parse(), Err(SignatureError::Expired(_))));
    }

    #[test]
    fn request_signed_for_another_host() {
        // Replayed to us from the server it was meant for: its Host header no longer matches ours.
        let mut req = cavage_post(&alice().pair, now());
        req.set("host", "other.example");
        assert!(matches!(req.parse(), Err(SignatureError::HostMismatch(_))));

        // Signed for other.example but presented as if signed for us: the signature breaks.
        let mut req = TestRequest::new(Method::POST, "https://other.example", INBOX, BODY);
        let signed = sign_draft_cavage(
            &alice().pair,
            KEY_ID,
            &Method::POST,
            &req.url(),
            Some(BODY),
            None,
            now(),
        )
        .unwrap();
        req.add(signed);
        req.target_uri = format!("{ORIGIN}{INBOX}");
        req.set("host", "placard.example");
        assert!(matches!(
            req.parse_and_verify(&alice().public),
            Err(SignatureError::BadSignature)
        ));

        // An explicit default port is the same host.
        let mut req = cavage_post(&alice().pair, now());
        req.set("host", "placard.example:443");
        assert!(req.parse().is_ok());
    }

    #[test]
    fn signature_by_another_key_fails() {
        let req = cavage_post(&mallory().pair, now());
        let error = req.parse_and_verify(&alice().public).unwrap_err();
        assert!(matches!(error, SignatureError::BadSignature));
        assert!(error.may_succeed_with_fresh_key());

        let req = rfc9421_post(&mallory().pair, now());
        assert!(matches!(
            req.parse_and_verify(&alice().public),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn date_outside_the_window_is_expired() {
        let thirteen_hours_ago = now() - Duration::from_secs(13 * 3600);
        let error = cavage_post(&alice().pair, thirteen_hours_ago)
            .parse()
            .unwrap_err();
        assert!(matches!(error, SignatureError::Expired(_)), "{error}");
        assert!(!error.may_succeed_with_fresh_key());

        let two_hours_ahead = now() + Duration::from_secs(2 * 3600);
        let error = cavage_post(&alice().pair, two_hours_ahead)
            .parse()
            .unwrap_err();
        assert!(matches!(error, SignatureError::Expired(_)), "{error}");

        // Just inside both edges.
        let eleven_hours_ago = now() - Duration::from_secs(11 * 3600 + 59 * 60);
        cavage_post(&alice().pair, eleven_hours_ago)
            .parse_and_verify(&alice().public)
            .unwrap();
        let fifty_minutes_ahead = now() + Duration::from_secs(50 * 60);
        cavage_post(&alice().pair, fifty_minutes_ahead)
            .parse_and_verify(&alice().public)
            .unwrap();
    }

    #[test]
    fn post_without_digest() {
        // Digest header dropped: the signed header is missing.
        let mut req = cavage_post(&alice().pair, now());
        req.headers.remove("digest");
        assert!(matches!(req.parse(), Err(SignatureError::DigestMissing)));

        // Digest not signed at all.
        let mut req = TestRequest::new(Method::POST, ORIGIN, INBOX, BODY);
        req.set("date", &httpdate::fmt_http_date(now()));
        let value = cavage_signature_over(
            &req,
            &alice().pair,
            "rsa-sha256",
            &["(request-target)", "host", "date"],
            None,
            INBOX,
        );
        assert!(matches!(
            cavage_header_with(&mut req, &value),
            Err(SignatureError::MissingComponent(c)) if c == "digest"
        ));

        // Only a digest algorithm we do not check.
        let mut req = cavage_post(&alice().pair, now());
        let sha512 = format!(
            "SHA-512={}",
            STANDARD.encode(digest::digest(&digest::SHA512, BODY))
        );
        req.set("digest", &sha512);
        assert!(matches!(req.parse(), Err(SignatureError::DigestMissing)));

        // An empty POST still needs its (empty) digest signed.
        let mut req = TestRequest::new(Method::POST, ORIGIN, INBOX, b"");
        req.set("date", &httpdate::fmt_http_date(now()));
        let value = cavage_signature_over(
            &req,
            &alice().pair,
            "rsa-sha256",
            &["(request-target)", "host", "date"],
            None,
            INBOX,
        );
        assert!(matches!(
            cavage_header_with(&mut req, &value),
            Err(SignatureError::MissingComponent(c)) if c == "digest"
        ));
    }

    #[test]
    fn several_digests_and_case() {
        let mut req = cavage_post(&alice().pair, now());
        let both = format!(
            "sha-256={}, SHA-512={}",
            STANDARD.encode(digest::digest(&digest::SHA256, BODY)),
            STANDARD.encode(digest::digest(&digest::SHA512, BODY))
        );
        req.set("digest", &both);
        // The Digest value changed, so the signature fails — but only after the digests were accepted.
        assert!(matches!(
            req.parse_and_verify(&alice().public),
            Err(SignatureError::BadSignature)
        ));

        let wrong_512 = format!(
            "SHA-256={},SHA-512={}",
            STANDARD.encode(digest::digest(&digest::SHA256, BODY)),
            STANDARD.encode(digest::digest(&digest::SHA512, b"other"))
        );
        req.set("digest", &wrong_512);
        assert!(matches!(req.parse(), Err(SignatureError::DigestMismatch)));
    }

    #[test]
    fn required_headers_must_be_signed() {
        let cases: [(&[&str], &str); 4] = [
            (&["host", "date", "digest"], "(request-target)"),
            (&["(request-target)", "date", "digest"], "host"),
            (&["(request-target)", "host", "digest"], "date"),
            (&["(request-target)", "host", "date"], "digest"),
        ];
        for (names, missing) in cases {
            let mut req = cavage_post(&alice().pair, now());
            let value = format!(
                "keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{DUMMY_SIGNATURE}\"",
                names.join(" ")
            );
            match cavage_header_with(&mut req, &value) {
                Err(SignatureError::MissingComponent(c)) => assert_eq!(c, missing),
                other => panic!("{names:?}: {other:?}"),
            }
        }
        // Without `headers`, only Date is signed (the draft's default).
        let mut req = cavage_post(&alice().pair, now());
        let value =
            format!("keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",signature=\"{DUMMY_SIGNATURE}\"");
        assert!(matches!(
            cavage_header_with(&mut req, &value),
            Err(SignatureError::MissingComponent(c)) if c == "(request-target)"
        ));
    }

    #[test]
    fn signed_header_absent_from_the_request_is_malformed() {
        let mut req = cavage_post(&alice().pair, now());
        req.headers.remove("content-type");
        assert!(matches!(req.parse(), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn algorithms() {
        let mut req = cavage_post(&alice().pair, now());
        let value = format!(
            "keyId=\"{KEY_ID}\",algorithm=\"hmac-sha256\",headers=\"(request-target) host date digest\",signature=\"{DUMMY_SIGNATURE}\""
        );
        assert!(matches!(
            cavage_header_with(&mut req, &value),
            Err(SignatureError::UnsupportedAlgorithm(a)) if a == "hmac-sha256"
        ));

        // hs2019, and no algorithm at all, are RSA with SHA-256 for us.
        for algorithm in ["hs2019", "HS2019"] {
            let mut req = cavage_post(&alice().pair, now());
            let names = ["(request-target)", "host", "date", "digest"];
            let value = cavage_signature_over(&req, &alice().pair, algorithm, &names, None, INBOX);
            req.set("signature", &value);
            req.parse_and_verify(&alice().public).unwrap();
            let without = value.replace(&format!("algorithm=\"{algorithm}\","), "");
            req.set("signature", &without);
            req.parse_and_verify(&alice().public).unwrap();
        }
    }

    #[test]
    fn hs2019_may_sign_created_instead_of_date() {
        let created = unix_seconds(now()) - 30;
        let mut req = TestRequest::new(Method::POST, ORIGIN, INBOX, BODY);
        req.set("digest", &sha256_digest_header(BODY));
        let names = ["(request-target)", "(created)", "host", "digest"];
        let value =
            cavage_signature_over(&req, &alice().pair, "hs2019", &names, Some(created), INBOX);
        req.set("signature", &value);
        let pending = req.parse_and_verify(&alice().public).unwrap();
        assert!(pending.signature_base().starts_with(
            format!("(request-target): post /users/bob/inbox\n(created): {created}\n").as_bytes()
        ));

        // Not with rsa-sha256, which needs Date.
        let value = cavage_signature_over(
            &req,
            &alice().pair,
            "rsa-sha256",
            &names,
            Some(created),
            INBOX,
        );
        req.set("signature", &value);
        assert!(matches!(req.parse(), Err(SignatureError::MissingComponent(c)) if c == "date"));

        // A stale created is expired.
        let stale = unix_seconds(now()) - 13 * 3600;
        let value =
            cavage_signature_over(&req, &alice().pair, "hs2019", &names, Some(stale), INBOX);
        req.set("signature", &value);
        assert!(matches!(req.parse(), Err(SignatureError::Expired(_))));

        // An expires in the past is expired.
        let value =
            cavage_signature_over(&req, &alice().pair, "hs2019", &names, Some(created), INBOX)
                .replace(",headers=", &format!(",expires={},headers=", created + 10));
        req.set("signature", &value);
        assert!(matches!(req.parse(), Err(SignatureError::Expired(_))));
    }

    #[test]
    fn get_signed_without_its_query_is_accepted_post_is_not() {
        // Fedify and older Mastodon leave the query out of (request-target); Mastodon accepts both.
        let path = "/users/bob/outbox?page=2";
        let mut req = TestRequest::new(Method::GET, ORIGIN, path, b"");
        req.set("date", &httpdate::fmt_http_date(now()));
        let names = ["(request-target)", "host", "date"];
        let value = cavage_signature_over(
            &req,
            &alice().pair,
            "rsa-sha256",
            &names,
            None,
            "/users/bob/outbox",
        );
        req.set("signature", &value);
        req.parse_and_verify(&alice().public).unwrap();

        let mut req = TestRequest::new(Method::POST, ORIGIN, "/users/bob/inbox?x=1", BODY);
        req.set("date", &httpdate::fmt_http_date(now()));
        req.set("digest", &sha256_digest_header(BODY));
        let names = ["(request-target)", "host", "date", "digest"];
        let value = cavage_signature_over(&req, &alice().pair, "rsa-sha256", &names, None, INBOX);
        req.set("signature", &value);
        assert!(matches!(
            req.parse_and_verify(&alice().public),
            Err(SignatureError::BadSignature)
        ));
    }

    #[test]
    fn malformed_signature_headers() {
        let garbage_base64 = format!(
            "keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",headers=\"(request-target) host date digest content-type\",signature=\"not*base64!\""
        );
        let cases = [
            garbage_base64.as_str(),
            "",
            "keyId",
            "keyId=",
            "keyId=\"unterminated",
            "keyId=\"a\" headers=\"b\"",
            "keyId=\"a\",keyId=\"b\",signature=\"c2ln\"",
            "headers=\"(request-target) host date digest\",signature=\"c2ln\"",
            "keyId=\"a\",headers=\"(request-target) host date digest\"",
            "keyId=\"a\",signature=\"c2ln\",",
            "keyId=\"a\",signature=\"\",headers=\"(request-target) host date digest content-type\"",
            "keyId=\"a\",created=soon,signature=\"c2ln\"",
        ];
        for case in cases {
            let mut req = cavage_post(&alice().pair, now());
            match cavage_header_with(&mut req, case) {
                Err(SignatureError::Malformed(_)) => {}
                other => panic!("{case:?}: {other:?}"),
            }
        }
        // Repeated Date lines are ambiguous.
        let mut req = cavage_post(&alice().pair, now());
        let date = req.headers.get("date").unwrap().clone();
        req.headers.append("date", date);
        assert!(matches!(req.parse(), Err(SignatureError::Malformed(_))));
        // Two Signature headers too.
        let mut req = cavage_post(&alice().pair, now());
        let signature = req.headers.get("signature").unwrap().clone();
        req.headers.append("signature", signature);
        assert!(matches!(req.parse(), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn params_parser_accepts_spaces_and_escapes() {
        let params = parse_cavage_params(
            r#"keyId = "a\"b\\c" , Algorithm=hs2019,created=12,  headers="x y""#,
        )
        .unwrap();
        assert_eq!(
            params,
            [
                ("keyid".to_owned(), r#"a"b\c"#.to_owned()),
                ("algorithm".to_owned(), "hs2019".to_owned()),
                ("created".to_owned(), "12".to_owned()),
                ("headers".to_owned(), "x y".to_owned()),
            ]
        );
    }

    #[test]
    fn unsigned_requests_are_missing() {
        let req = TestRequest::new(Method::POST, ORIGIN, INBOX, BODY);
        assert!(matches!(req.parse(), Err(SignatureError::Missing)));
        let mut req = TestRequest::new(Method::GET, ORIGIN, "/users/bob", b"");
        req.set("authorization", "Bearer abc");
        assert!(matches!(req.parse(), Err(SignatureError::Missing)));
    }

    #[test]
    fn work_is_bounded() {
        let mut req = cavage_post(&alice().pair, now());
        let long = format!(
            "keyId=\"{}\",signature=\"c2ln\"",
            "a".repeat(MAX_HEADER_LEN)
        );
        assert!(matches!(
            cavage_header_with(&mut req, &long),
            Err(SignatureError::Malformed(_))
        ));

        let many: Vec<String> = (0..=MAX_COVERED_COMPONENTS)
            .map(|i| format!("x-{i}"))
            .collect();
        let value = format!(
            "keyId=\"a\",headers=\"{}\",signature=\"c2ln\"",
            many.join(" ")
        );
        assert!(matches!(
            cavage_header_with(&mut req, &value),
            Err(SignatureError::Malformed(_))
        ));

        let mut req = rfc9421_post(&alice().pair, now());
        let items: Vec<String> = many.iter().map(|n| format!("\"{n}\"")).collect();
        let input = format!(
            "sig1=({});created={};keyid=\"a\"",
            items.join(" "),
            unix_seconds(now())
        );
        req.set("signature-input", &input);
        assert!(matches!(req.parse(), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let cavage = cavage_post(&alice().pair, now());
        let rfc = rfc9421_post(&alice().pair, now());
        for (req, name) in [
            (&cavage, "signature"),
            (&rfc, "signature-input"),
            (&rfc, "signature"),
        ] {
            let value = req.headers.get(name).unwrap().as_bytes().to_vec();
            for cut in 1..value.len() {
                for variant in [&value[..cut], &value[cut..]] {
                    let mut req = req.clone();
                    if let Ok(v) = HeaderValue::from_bytes(variant) {
                        req.headers
                            .insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
                        assert!(req.parse_and_verify(&alice().public).is_err());
                    }
                }
            }
        }
        // Odd targets, methods and non-ASCII bytes.
        let mut req = cavage.clone();
        req.headers.insert(
            "signature",
            HeaderValue::from_bytes(b"keyId=\"\xff\"").unwrap(),
        );
        assert!(req.parse().is_err());
        let mut req = cavage.clone();
        req.target_uri = "not a url".into();
        assert!(matches!(req.parse(), Err(SignatureError::Malformed(_))));
        let mut req = rfc.clone();
        req.path_and_query = String::new();
        req.method = Method::from_bytes(b"PURGE").unwrap();
        assert!(req.parse_and_verify(&alice().public).is_err());
        assert!(format_http_date(UNIX_EPOCH - Duration::from_secs(1)).is_err());
        assert!(
            parse_public_key_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }

    // ----- RFC 9421 refusals -----

    fn rfc9421_params_at(created: i64) -> String {
        format!(";created={created};keyid=\"{KEY_ID}\";alg=\"rsa-v1_5-sha256\"")
    }

    fn with_rfc9421(
        req: &mut TestRequest,
        input: &str,
        signature: &str,
    ) -> Result<PendingSignature, SignatureError> {
        req.headers.remove("signature-input");
        req.headers.remove("signature");
        req.set("signature-input", input);
        req.set("signature", signature);
        req.parse_and_verify(&alice().public)
    }

    #[test]
    fn rfc9421_required_components() {
        let created = unix_seconds(now());
        let params = rfc9421_params_at(created);
        let mut req = rfc9421_post(&alice().pair, now());

        let (input, sig) = rfc9421_signature_over(
            &req,
            &alice().pair,
            "sig1",
            &["@method", "@target-uri"],
            &params,
        );
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::MissingComponent(c)) if c == "content-digest"
        ));

        let (input, sig) = rfc9421_signature_over(
            &req,
            &alice().pair,
            "sig1",
            &["@target-uri", "content-digest"],
            &params,
        );
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::MissingComponent(c)) if c == "@method"
        ));

        let (input, sig) = rfc9421_signature_over(
            &req,
            &alice().pair,
            "sig1",
            &["@method", "@path", "content-digest"],
            &params,
        );
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::MissingComponent(c)) if c == "@target-uri"
        ));

        // @authority + @path pin the target as well as @target-uri (with @query when there is a query).
        let components = [
            "@method",
            "@authority",
            "@path",
            "content-digest",
            "content-type",
            "host",
        ];
        req.set("content-type", "application/activity+json");
        let (input, sig) =
            rfc9421_signature_over(&req, &alice().pair, "sig1", &components, &params);
        with_rfc9421(&mut req, &input, &sig).unwrap();

        let mut get = TestRequest::new(Method::GET, ORIGIN, "/users/bob/outbox?page=2", b"");
        let (input, sig) = rfc9421_signature_over(
            &get,
            &alice().pair,
            "sig1",
            &["@method", "@authority", "@path"],
            &params,
        );
        assert!(matches!(
            with_rfc9421(&mut get, &input, &sig),
            Err(SignatureError::MissingComponent(c)) if c == "@query"
        ));
        let (input, sig) = rfc9421_signature_over(
            &get,
            &alice().pair,
            "sig1",
            &["@method", "@authority", "@path", "@query"],
            &params,
        );
        with_rfc9421(&mut get, &input, &sig).unwrap();
    }

    #[test]
    fn rfc9421_time_window() {
        let components = ["@method", "@target-uri", "content-digest"];
        let mut req = rfc9421_post(&alice().pair, now());
        for created in [
            unix_seconds(now()) - 13 * 3600,
            unix_seconds(now()) + 2 * 3600,
        ] {
            let (input, sig) = rfc9421_signature_over(
                &req,
                &alice().pair,
                "sig1",
                &components,
                &rfc9421_params_at(created),
            );
            assert!(matches!(
                with_rfc9421(&mut req, &input, &sig),
                Err(SignatureError::Expired(_))
            ));
        }
        let error = rfc9421_post(&alice().pair, now() - Duration::from_secs(13 * 3600))
            .parse()
            .unwrap_err();
        assert!(matches!(error, SignatureError::Expired(_)));

        let created = unix_seconds(now()) - 60;
        let params = format!("{};expires={}", rfc9421_params_at(created), created + 30);
        let (input, sig) =
            rfc9421_signature_over(&req, &alice().pair, "sig1", &components, &params);
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::Expired(_))
        ));
        let params = format!("{};expires={}", rfc9421_params_at(created), created + 300);
        let (input, sig) =
            rfc9421_signature_over(&req, &alice().pair, "sig1", &components, &params);
        with_rfc9421(&mut req, &input, &sig).unwrap();

        let params = format!(";keyid=\"{KEY_ID}\"");
        let (input, sig) =
            rfc9421_signature_over(&req, &alice().pair, "sig1", &components, &params);
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn rfc9421_algorithms_and_labels() {
        let components = ["@method", "@target-uri", "content-digest"];
        let created = unix_seconds(now());
        let mut req = rfc9421_post(&alice().pair, now());
        let pss = format!(";created={created};keyid=\"{KEY_ID}\";alg=\"rsa-pss-sha512\"");
        let (input, sig) = rfc9421_signature_over(&req, &alice().pair, "sig1", &components, &pss);
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::UnsupportedAlgorithm(a)) if a == "rsa-pss-sha512"
        ));

        // No alg is fine: the key decides.
        let bare = format!(";created={created};keyid=\"{KEY_ID}\"");
        let (input, sig) = rfc9421_signature_over(&req, &alice().pair, "sig1", &components, &bare);
        with_rfc9421(&mut req, &input, &sig).unwrap();

        // Several labels: one naming our algorithm wins over an unusable one, wherever it stands.
        let (bad_input, bad_sig) =
            rfc9421_signature_over(&req, &mallory().pair, "other", &components, &pss);
        let (input, sig) = rfc9421_signature_over(
            &req,
            &alice().pair,
            "mine",
            &components,
            &rfc9421_params_at(created),
        );
        let pending = with_rfc9421(
            &mut req,
            &format!("{bad_input}, {input}"),
            &format!("{bad_sig}, {sig}"),
        )
        .unwrap();
        assert_eq!(pending.key_id(), KEY_ID);
        // Split over two field lines, too.
        req.headers.remove("signature-input");
        req.headers.remove("signature");
        for (name, value) in [
            ("signature-input", &bad_input),
            ("signature-input", &input),
            ("signature", &sig),
        ] {
            req.headers
                .append(name, HeaderValue::from_str(value).unwrap());
        }
        req.parse_and_verify(&alice().public).unwrap();

        // A signature under another label does not count.
        let (input, _) = rfc9421_signature_over(&req, &alice().pair, "a", &components, &bare);
        let (_, sig) = rfc9421_signature_over(&req, &alice().pair, "b", &components, &bare);
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::Malformed(_))
        ));

        // Component parameters and unknown derived components are refused.
        let sig = format!("sig1=:{DUMMY_SIGNATURE}:");
        for list in [
            "(\"@method\" \"@target-uri\" \"content-digest\" \"@query-param\";name=\"x\")",
            "(\"@method\" \"@target-uri\" \"content-digest\" \"@status\")",
            "(\"@method\" \"@target-uri\" \"content-digest\" \"@method\")",
            "(\"@method\" \"@target-uri\" \"Content-Digest\")",
        ] {
            let input = format!("sig1={list}{bare}");
            assert!(
                matches!(
                    with_rfc9421(&mut req, &input, &sig),
                    Err(SignatureError::Malformed(_))
                ),
                "{list}"
            );
        }
        // No keyid, or not a dictionary.
        let input =
            format!("sig1=(\"@method\" \"@target-uri\" \"content-digest\");created={created}");
        assert!(matches!(
            with_rfc9421(&mut req, &input, &sig),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            with_rfc9421(&mut req, "sig1=(", &sig),
            Err(SignatureError::Malformed(_))
        ));
        req.headers.remove("signature");
        assert!(matches!(req.parse(), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn rfc9421_content_digest() {
        let mut req = rfc9421_post(&alice().pair, now());
        req.headers.remove("content-digest");
        assert!(matches!(req.parse(), Err(SignatureError::DigestMissing)));

        let mut req = rfc9421_post(&alice().pair, now());
        req.set("content-digest", "md5=:AAAA:");
        assert!(matches!(req.parse(), Err(SignatureError::DigestMissing)));

        let mut req = rfc9421_post(&alice().pair, now());
        let sha512 = format!(
            "sha-512=:{}:",
            STANDARD.encode(digest::digest(&digest::SHA512, b"other"))
        );
        req.set("content-digest", &sha512);
        assert!(matches!(req.parse(), Err(SignatureError::DigestMismatch)));

        let mut req = rfc9421_post(&alice().pair, now());
        req.set("content-digest", "sha-256=not-bytes");
        assert!(matches!(req.parse(), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn keys_are_checked() {
        assert!(matches!(
            parse_public_key_pem("nonsense"),
            Err(SignatureError::BadKey(_))
        ));
        assert!(matches!(
            parse_public_key_pem(DRAFT_CAVAGE_TEST_PUBLIC_KEY),
            Err(SignatureError::BadKey(message)) if message.contains("1024 bits")
        ));
        assert!(matches!(
            parse_private_key_pem(RFC9421_TEST_KEY_RSA_PUBLIC),
            Err(SignatureError::BadKey(_))
        ));
        // A key parsed for another algorithm is refused rather than used.
        let pss = ParsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256,
            alice().public.as_ref(),
        )
        .unwrap();
        let pending = rfc9421_post(&alice().pair, now()).parse().unwrap();
        assert!(matches!(
            pending.verify(&pss),
            Err(SignatureError::BadKey(_))
        ));
        pending.verify(&alice().public).unwrap();
    }

    // ----- known answers -----

    /// draft-cavage-http-signatures-12, Appendix C: the test key (RSA-1024, so only usable with aws-lc-rs's
    /// legacy algorithm; our own verification refuses it as too small).
    const DRAFT_CAVAGE_TEST_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----
";

    fn draft_cavage_test_request() -> TestRequest {
        let mut req = TestRequest::new(
            Method::POST,
            "https://example.com",
            "/foo?param=value&pet=dog",
            br#"{"hello": "world"}"#,
        );
        req.set("date", "Sun, 05 Jan 2014 21:31:40 GMT")
            .set("content-type", "application/json")
            .set(
                "digest",
                "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
            )
            .set("content-length", "18");
        req
    }

    fn legacy_verify(base: &[u8], signature: &[u8]) -> bool {
        let der = pem::parse(DRAFT_CAVAGE_TEST_PUBLIC_KEY).unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            der.contents(),
        )
        .verify(base, signature)
        .is_ok()
    }

    #[test]
    fn draft_cavage_known_answers() {
        let when = at(1_388_957_500); // Sun, 05 Jan 2014 21:31:40 GMT is 1388957500.
        let req = draft_cavage_test_request();
        assert_eq!(
            sha256_digest_header(&req.body),
            "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
        );

        // C.2 Basic Test: our signing string for "(request-target) host date" verifies the published signature.
        // (The test covers no digest, so parse_request refuses it for a POST.)
        let names: Vec<String> = ["(request-target)", "host", "date"]
            .map(String::from)
            .to_vec();
        let basic = cavage_signing_string(
            &req.parts(),
            "example.com",
            &names,
            None,
            None,
            &req.path_and_query,
        )
        .unwrap();
        assert_eq!(
            basic,
            b"(request-target): post /foo?param=value&pet=dog\nhost: example.com\ndate: Sun, 05 Jan 2014 21:31:40 GMT"
        );
        let basic_signature = STANDARD
            .decode(
                "qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEd\
                 KFYRqzic+efkb3nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0=",
            )
            .unwrap();
        assert!(legacy_verify(&basic, &basic_signature));
        let mut signed = req.clone();
        signed.set(
            "signature",
            &format!(
                "keyId=\"Test\",algorithm=\"rsa-sha256\",headers=\"(request-target) host date\",signature=\"{}\"",
                STANDARD.encode(&basic_signature)
            ),
        );
        assert!(matches!(
            parse_request(&signed.parts(), when),
            Err(SignatureError::MissingComponent(c)) if c == "digest"
        ));

        // C.3 All Headers Test, through parse_request. The draft prints this signature with `(created)
        // (expires)` in the list, but it was made over the list without them (a known erratum).
        let mut req = draft_cavage_test_request();
        req.set(
            "authorization",
            "Signature keyId=\"Test\",algorithm=\"rsa-sha256\",\
             headers=\"(request-target) host date content-type digest content-length\",\
             signature=\"vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52L\
             aEUHFv120V01IL+TAD48XaERZFukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE=\"",
        );
        let pending = parse_request(&req.parts(), when + Duration::from_secs(30)).unwrap();
        assert_eq!(pending.key_id(), "Test");
        assert_eq!(
            pending.signature_base(),
            b"(request-target): post /foo?param=value&pet=dog\nhost: example.com\n\
              date: Sun, 05 Jan 2014 21:31:40 GMT\ncontent-type: application/json\n\
              digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\ncontent-length: 18"
        );
        assert!(legacy_verify(pending.signature_base(), &pending.signature));
        assert!(!legacy_verify(&basic, &pending.signature));
        // Twelve hours and a minute later, the same request is stale.
        assert!(matches!(
            parse_request(&req.parts(), when + Duration::from_secs(12 * 3600 + 60)),
            Err(SignatureError::Expired(_))
        ));
    }

    /// RFC 9421 Appendix B.1.1 `test-key-rsa` (PKCS#1, both halves).
    const RFC9421_TEST_KEY_RSA_PUBLIC: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsPBRrw
WEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsdJKFq
MGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75jfZg
kne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKIlE0P
uKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZSFlQ
PSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQAB
-----END RSA PUBLIC KEY-----
";

    const RFC9421_TEST_KEY_RSA_PRIVATE: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEqAIBAAKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsP
BRrwWEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsd
JKFqMGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75
jfZgkne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKI
lE0PuKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZ
SFlQPSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQABAoIBAG/JZuSWdoVHbi56
vjgCgkjg3lkO1KrO3nrdm6nrgA9P9qaPjxuKoWaKO1cBQlE1pSWp/cKncYgD5WxE
CpAnRUXG2pG4zdkzCYzAh1i+c34L6oZoHsirK6oNcEnHveydfzJL5934egm6p8DW
+m1RQ70yUt4uRc0YSor+q1LGJvGQHReF0WmJBZHrhz5e63Pq7lE0gIwuBqL8SMaA
yRXtK+JGxZpImTq+NHvEWWCu09SCq0r838ceQI55SvzmTkwqtC+8AT2zFviMZkKR
Qo6SPsrqItxZWRty2izawTF0Bf5S2VAx7O+6t3wBsQ1sLptoSgX3QblELY5asI0J
YFz7LJECgYkAsqeUJmqXE3LP8tYoIjMIAKiTm9o6psPlc8CrLI9CH0UbuaA2JCOM
cCNq8SyYbTqgnWlB9ZfcAm/cFpA8tYci9m5vYK8HNxQr+8FS3Qo8N9RJ8d0U5Csw
DzMYfRghAfUGwmlWj5hp1pQzAuhwbOXFtxKHVsMPhz1IBtF9Y8jvgqgYHLbmyiu1
mwJ5AL0pYF0G7x81prlARURwHo0Yf52kEw1dxpx+JXER7hQRWQki5/NsUEtv+8RT
qn2m6qte5DXLyn83b1qRscSdnCCwKtKWUug5q2ZbwVOCJCtmRwmnP131lWRYfj67
B/xJ1ZA6X3GEf4sNReNAtaucPEelgR2nsN0gKQKBiGoqHWbK1qYvBxX2X3kbPDkv
9C+celgZd2PW7aGYLCHq7nPbmfDV0yHcWjOhXZ8jRMjmANVR/eLQ2EfsRLdW69bn
f3ZD7JS1fwGnO3exGmHO3HZG+6AvberKYVYNHahNFEw5TsAcQWDLRpkGybBcxqZo
81YCqlqidwfeO5YtlO7etx1xLyqa2NsCeG9A86UjG+aeNnXEIDk1PDK+EuiThIUa
/2IxKzJKWl1BKr2d4xAfR0ZnEYuRrbeDQYgTImOlfW6/GuYIxKYgEKCFHFqJATAG
IxHrq1PDOiSwXd2GmVVYyEmhZnbcp8CxaEMQoevxAta0ssMK3w6UsDtvUvYvF22m
qQKBiD5GwESzsFPy3Ga0MvZpn3D6EJQLgsnrtUPZx+z2Ep2x0xc5orneB5fGyF1P
WtP+fG5Q6Dpdz3LRfm+KwBCWFKQjg7uTxcjerhBWEYPmEMKYwTJF5PBG9/ddvHLQ
EQeNC8fHGg4UXU8mhHnSBt3EA10qQJfRDs15M38eG2cYwB1PZpDHScDnDA0=
-----END RSA PRIVATE KEY-----
";

    /// RFC 9421 Appendix B.1.2 `test-key-rsa-pss`, public half.
    const RFC9421_TEST_KEY_RSA_PSS_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2
+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+
oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq
gDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W
Utzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4
aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI
2wIDAQAB
-----END PUBLIC KEY-----
";

    const RFC9421_CONTENT_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    /// The RFC 9421 Appendix B.2 `test-request`.
    fn rfc9421_test_request() -> TestRequest {
        let mut req = TestRequest::new(
            Method::POST,
            "https://example.com",
            "/foo?param=Value&Pet=dog",
            br#"{"hello": "world"}"#,
        );
        req.set("date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .set("content-type", "application/json")
            .set("content-digest", RFC9421_CONTENT_DIGEST)
            .set("content-length", "18");
        req
    }

    fn pss_verify(base: &[u8], signature_b64: &str) -> bool {
        let der = pem::parse(RFC9421_TEST_KEY_RSA_PSS_PUBLIC).unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA512,
            der.contents(),
        )
        .verify(base, &STANDARD.decode(signature_b64).unwrap())
        .is_ok()
    }

    #[test]
    fn rfc9421_section_2_5_signature_base() {
        // §2.5's example covers @path but not @query, so our policy would refuse it; its base is built directly.
        let req = rfc9421_test_request();
        let components: Vec<String> = [
            "@method",
            "@authority",
            "@path",
            "content-digest",
            "content-length",
            "content-type",
        ]
        .map(String::from)
        .to_vec();
        let list = sfv::Parser::new(
            "sig1=(\"@method\" \"@authority\" \"@path\" \"content-digest\" \"content-length\" \"content-type\");\
             created=1618884473;keyid=\"test-key-rsa-pss\"",
        )
        .parse::<sfv::Dictionary>()
        .unwrap();
        let sfv::ListEntry::InnerList(list) = &list[0] else {
            panic!()
        };
        let params = serialize_inner_list(list).unwrap();
        let base = rfc9421_signature_base(&req.parts(), &req.url(), &components, &params).unwrap();
        let expected = format!(
            "\"@method\": POST\n\"@authority\": example.com\n\"@path\": /foo\n\"content-digest\": {RFC9421_CONTENT_DIGEST}\n\
             \"content-length\": 18\n\"content-type\": application/json\n\"@signature-params\": (\"@method\" \
             \"@authority\" \"@path\" \"content-digest\" \"content-length\" \"content-type\");created=1618884473;\
             keyid=\"test-key-rsa-pss\""
        );
        assert_eq!(String::from_utf8(base.clone()).unwrap(), expected);
        // §3.1's signature of that base (RSA-PSS, checked here with aws-lc-rs directly).
        assert!(pss_verify(
            &base,
            "HIbjHC5rS0BYaa9v4QfD4193TORw7u9edguPh0AW3dMq9WImrlFrCGUDih47vAxi4L2YRZ3XMJc1uOKk/J0ZmZ+wcta4nKIgBkKq0rM9\
             hs3CQyxXGxHLMCy8uqK488o+9jrptQ+xFPHK7a9sRL1IXNaagCNN3ZxJsYapFj+JXbmaI5rtAdSfSvzPuBCh+ARHBmWuNo1UzVVdHXrl\
             8ePL4cccqlazIJdC4QEjrF+Sn4IxBQzTZsL9y9TP5FsZYzHvDqbInkTNigBcE9cKOYNFCn4D/WM7F6TNuZO9EgtzepLWcjTymlHzK7aXq6\
             Am6sfOrpIC49yXjj3ae6HRalVc/g=="
        ));
    }

    #[test]
    fn rfc9421_b_2_1_minimal_params_serialization() {
        let input = sfv::Parser::new(
            "sig-b21=();created=1618884473;keyid=\"test-key-rsa-pss\";nonce=\"b3k2pp5k7z-50gnwp.yemd\"",
        )
        .parse::<sfv::Dictionary>()
        .unwrap();
        let sfv::ListEntry::InnerList(list) = &input[0] else {
            panic!()
        };
        let req = rfc9421_test_request();
        let base = rfc9421_signature_base(
            &req.parts(),
            &req.url(),
            &[],
            &serialize_inner_list(list).unwrap(),
        )
        .unwrap();
        assert_eq!(
            base,
            b"\"@signature-params\": ();created=1618884473;keyid=\"test-key-rsa-pss\";nonce=\"b3k2pp5k7z-50gnwp.yemd\""
        );
        assert!(pss_verify(
            &base,
            "d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXa\
             JMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YC\
             E+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8\
             IU1bLhdxO5Nyt8C8ssinQ98Xw9Q=="
        ));
    }

    #[test]
    fn rfc9421_b_2_3_full_coverage_through_parse_request() {
        let mut req = rfc9421_test_request();
        req.set(
            "signature-input",
            "sig-b23=(\"date\" \"@method\" \"@path\" \"@query\" \"@authority\" \"content-type\" \"content-digest\" \
             \"content-length\");created=1618884473;keyid=\"test-key-rsa-pss\"",
        );
        let signature = "bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp\
                         768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIk\
                         oQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpv\
                         RX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==";
        req.set("signature", &format!("sig-b23=:{signature}:"));
        let pending = parse_request(&req.parts(), at(1_618_884_480)).unwrap();
        assert_eq!(pending.scheme(), Scheme::Rfc9421);
        assert_eq!(pending.key_id(), "test-key-rsa-pss");
        let expected = format!(
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@query\": ?param=Value&Pet=dog\n\
             \"@authority\": example.com\n\"content-type\": application/json\n\"content-digest\": {RFC9421_CONTENT_DIGEST}\n\
             \"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@query\" \"@authority\" \
             \"content-type\" \"content-digest\" \"content-length\");created=1618884473;keyid=\"test-key-rsa-pss\""
        );
        assert_eq!(
            String::from_utf8(pending.signature_base().to_vec()).unwrap(),
            expected
        );
        assert!(pss_verify(pending.signature_base(), signature));
        // It is an RSA-PSS signature: our RSA PKCS#1 v1.5 check refuses it, whatever the key.
        let pss_key = parse_public_key_pem(RFC9421_TEST_KEY_RSA_PSS_PUBLIC).unwrap();
        assert!(matches!(
            pending.verify(&pss_key),
            Err(SignatureError::BadSignature)
        ));
    }

    /// RFC 9421 §4.3: a proxy's `rsa-v1_5-sha256` signature by `test-key-rsa`, next to the client's RSA-PSS one.
    fn rfc9421_section_4_3_request() -> TestRequest {
        let mut req = TestRequest::new(
            Method::POST,
            "https://origin.host.internal.example",
            "/foo",
            br#"{"hello": "world"}"#,
        );
        req.set("date", "Tue, 20 Apr 2021 02:07:56 GMT")
            .set("content-type", "application/json")
            .set("content-length", "18")
            .set("forwarded", "for=192.0.2.123;host=example.com;proto=https")
            .set("content-digest", RFC9421_CONTENT_DIGEST)
            .set(
                "signature-input",
                "sig1=(\"@method\" \"@authority\" \"@path\" \"content-digest\" \"content-length\" \"content-type\");\
                 created=1618884475;keyid=\"test-key-rsa-pss\", proxy_sig=(\"@method\" \"@authority\" \"@path\" \
                 \"content-digest\" \"content-type\" \"content-length\" \"forwarded\");created=1618884480;\
                 keyid=\"test-key-rsa\";alg=\"rsa-v1_5-sha256\";expires=1618884540",
            )
            .set(
                "signature",
                "sig1=:LAH8BjcfcOcLojiuOBFWn0P5keD3xAOuJRGziCLuD8r5MW9S0RoXXLzLSRfGY/3SF8kVIkHjE13SEFdTo4Af/fJ/Pu9whe\
                 qoLVdwXyY/UkBIS1M8Brc8IODsn5DFIrG0IrburbLi0uCc+E2ZIIb6HbUJ+o+jP58JelMTe0QE3IpWINTEzpxjqDf5/Df+InHCAkQCT\
                 uKsamjWXUpyOT1Wkxi7YPVNOjW4MfNuTZ9HdbD2Tr65+BXeTG9ZS/9SWuXAc+BZ8WyPz0QRz//ec3uWXd7bYYODSjRAxHqX+S1ag3L\
                 ZElYyUKaAIjZ8MGOt4gXEwCSLDv/zqxZeWLj/PDkn6w==:, proxy_sig=:S6ZzPXSdAMOPjN/6KXfXWNO/f7V6cHm7BXYUh3YD/fR\
                 ad4BCaRZxP+JH+8XY1I6+8Cy+CM5g92iHgxtRPz+MjniOaYmdkDcnL9cCpXJleXsOckpURl49GwiyUpZ10KHgOEe11sx3G2gxI8S0jn\
                 xQB+Pu68U9vVcasqOWAEObtNKKZd8tSFu7LB5YAv0RAGhB8tmpv7sFnIm9y+7X5kXQfi8NMaZaA8i2ZHwpBdg7a6CMfwnnrtflzvZdXA\
                 sD3LH2TwevU+/PBPv0B6NMNk93wUs/vfJvye+YuI87HU38lZHowtznbLVdp770I6VHR6WfgS9ddzirrswsE1w5o0LV/g==:",
            );
        req
    }

    #[test]
    fn rfc9421_section_4_3_rsa_v1_5_sha256_known_answer() {
        let req = rfc9421_section_4_3_request();
        let key = parse_public_key_pem(RFC9421_TEST_KEY_RSA_PUBLIC).unwrap();
        // The label naming rsa-v1_5-sha256 is chosen over the earlier one that names no algorithm.
        let pending = parse_request(&req.parts(), at(1_618_884_490)).unwrap();
        assert_eq!(pending.key_id(), "test-key-rsa");
        let expected = format!(
            "\"@method\": POST\n\"@authority\": origin.host.internal.example\n\"@path\": /foo\n\
             \"content-digest\": {RFC9421_CONTENT_DIGEST}\n\"content-type\": application/json\n\"content-length\": 18\n\
             \"forwarded\": for=192.0.2.123;host=example.com;proto=https\n\"@signature-params\": (\"@method\" \
             \"@authority\" \"@path\" \"content-digest\" \"content-type\" \"content-length\" \"forwarded\");\
             created=1618884480;keyid=\"test-key-rsa\";alg=\"rsa-v1_5-sha256\";expires=1618884540"
        );
        assert_eq!(
            String::from_utf8(pending.signature_base().to_vec()).unwrap(),
            expected
        );
        pending.verify(&key).unwrap();

        // After `expires`, that label is refused and the RSA-PSS one is left, naming its own key.
        let later = parse_request(&req.parts(), at(1_618_884_600)).unwrap();
        assert_eq!(later.key_id(), "test-key-rsa-pss");
        assert!(matches!(
            later.verify(&key),
            Err(SignatureError::BadSignature)
        ));
        // The body is bound by its SHA-512 Content-Digest.
        let mut tampered = req.clone();
        tampered.body = br#"{"hello": "World"}"#.to_vec();
        assert!(matches!(
            parse_request(&tampered.parts(), at(1_618_884_490)),
            Err(SignatureError::DigestMismatch)
        ));
        // And the proxy signed for origin.host.internal.example, not for us.
        let mut elsewhere = req.clone();
        elsewhere.target_uri = "https://example.com/foo".into();
        let pending = parse_request(&elsewhere.parts(), at(1_618_884_490)).unwrap();
        assert!(matches!(
            pending.verify(&key),
            Err(SignatureError::BadSignature)
        ));
    }
}

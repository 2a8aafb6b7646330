//! RSA key pairs of local actors.
//!
//! Written on aws-lc-rs rather than the pure-Rust `rsa` crate (which `activitypub_federation` uses): on this
//! machine aws-lc-rs generates, signs and verifies several times faster, and signing is on the hot path of
//! delivery.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;

/// A PEM-encoded key pair: SubjectPublicKeyInfo (`PUBLIC KEY`) and PKCS#8 (`PRIVATE KEY`).
#[derive(Clone)]
pub struct PemKeyPair {
    pub public_key_pem: String,
    pub private_key_pem: String,
}

impl std::fmt::Debug for PemKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemKeyPair")
            .field("public_key_pem", &self.public_key_pem)
            .finish_non_exhaustive()
    }
}

/// Makes a new RSA-2048 key pair.
pub fn generate_rsa_2048() -> anyhow::Result<PemKeyPair> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
    let private = pair
        .as_der()
        .map_err(|_| anyhow::anyhow!("cannot encode the private key"))?;
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| anyhow::anyhow!("cannot encode the public key"))?;
    Ok(PemKeyPair {
        public_key_pem: to_pem("PUBLIC KEY", public.as_ref()),
        private_key_pem: to_pem("PRIVATE KEY", private.as_ref()),
    })
}

/// PEM with `\n` line endings, as Mastodon writes it.
fn to_pem(tag: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der.to_vec()), config)
}

/// A verified remote public key, parsed once and kept in memory.
pub struct CachedKey {
    /// The id of the actor that owns the key.
    pub owner: String,
    /// The owner's row in `actors`.
    pub actor_id: i64,
    pub key: aws_lc_rs::signature::ParsedPublicKey,
    /// The owner's row as read at `read_at`: the inbox uses it for [`SIGNER_ROW_TTL`] instead of reading it
    /// again for every activity. Changes this process makes invalidate the entry at once; changes made by
    /// another process (or the command line) are seen within the TTL.
    pub actor: crate::db::actors::ActorRow,
    pub read_at: std::time::Instant,
}

/// How long the inbox trusts the signer's row kept with its key.
pub const SIGNER_ROW_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Parsed remote keys by key id, and parsed local signing keys by actor row id.
pub struct KeyStore {
    pub remote: moka::sync::Cache<String, std::sync::Arc<CachedKey>>,
    /// Keyed by actor row id; the PEM it was parsed from is kept to notice a rotation made by another process.
    pub local: moka::sync::Cache<i64, std::sync::Arc<(String, std::sync::Arc<KeyPair>)>>,
    /// When each actor's key was last re-fetched because a signature failed: at most one re-fetch per actor
    /// per [`REFETCH_INTERVAL`], however many bad signatures arrive.
    pub refetched: moka::sync::Cache<String, ()>,
    /// One lock per key id being fetched, so simultaneous requests of an unknown sender fetch its key once.
    pub fetching: moka::sync::Cache<String, std::sync::Arc<tokio::sync::Mutex<()>>>,
}

pub const REFETCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore {
            remote: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(std::time::Duration::from_secs(24 * 3600))
                .build(),
            local: moka::sync::Cache::builder().max_capacity(10_000).build(),
            refetched: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_live(REFETCH_INTERVAL)
                .build(),
            fetching: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(std::time::Duration::from_secs(60))
                .build(),
        }
    }
}

/// Parses a PKCS#8 private key PEM.
pub fn private_key_from_pem(pem_text: &str) -> anyhow::Result<KeyPair> {
    let parsed = pem::parse(pem_text)?;
    KeyPair::from_pkcs8(parsed.contents()).map_err(|e| anyhow::anyhow!("invalid private key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};

    #[test]
    fn generated_pair_signs_and_verifies_as_pem() {
        let pair = generate_rsa_2048().unwrap();
        assert!(
            pair.public_key_pem
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert!(
            pair.private_key_pem
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert!(!pair.public_key_pem.contains('\r'));
        let private = pem::parse(&pair.private_key_pem).unwrap();
        let key = KeyPair::from_pkcs8(private.contents()).unwrap();
        assert_eq!(key.public_modulus_len() * 8, 2048);
        let mut sig = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            b"hello",
            &mut sig,
        )
        .unwrap();
        // The SPKI public key verifies it after a PEM round trip.
        let spki = pem::parse(&pair.public_key_pem).unwrap();
        let public = aws_lc_rs::signature::ParsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            spki.contents(),
        )
        .unwrap();
        public.verify_sig(b"hello", &sig).unwrap();
        assert!(public.verify_sig(b"hellO", &sig).is_err());
    }
}

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

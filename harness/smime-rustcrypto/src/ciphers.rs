//! Content encryption: AES, Triple DES and RC2 (with its effective key length) in CBC mode
//! with PKCS #7 padding, and AES-GCM for authenticated-enveloped-data.

use cipher::block_padding::Pkcs7;
use cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyIvInit};
use smime::{Cipher, Decryption};

/// Encrypts `plaintext`; key and IV lengths are the caller's to get right.
pub(crate) fn encrypt(cipher: Cipher, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Vec<u8> {
    match cipher {
        Cipher::Aes128Cbc => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plaintext)),
        Cipher::Aes256Cbc => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plaintext)),
        Cipher::DesEde3Cbc => cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, iv)
            .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plaintext)),
        Cipher::Rc2Cbc40 | Cipher::Rc2Cbc64 | Cipher::Rc2Cbc128 => {
            let rc2 = rc2::Rc2::new_with_eff_key_len(key, cipher.key_bits() as usize);
            cbc::Encryptor::<rc2::Rc2>::inner_iv_slice_init(rc2, iv)
                .map(|c| c.encrypt_padded_vec_mut::<Pkcs7>(plaintext))
        }
        // Authenticated ciphers go through `seal_gcm`.
        Cipher::Aes128Gcm | Cipher::Aes256Gcm => return Vec::new(),
    }
    // Lengths come from `Cipher::key_len` and `Cipher::block_len`, which match the algorithms.
    .unwrap_or_default()
}

/// Decrypts `ciphertext`; `None` if the lengths are wrong or the padding is bad.
pub(crate) fn decrypt(cipher: Cipher, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    match cipher {
        Cipher::Aes128Cbc => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .ok(),
        Cipher::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .ok(),
        Cipher::DesEde3Cbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .ok(),
        Cipher::Rc2Cbc40 | Cipher::Rc2Cbc64 | Cipher::Rc2Cbc128 => {
            let rc2 = rc2::Rc2::new_with_eff_key_len(key, cipher.key_bits() as usize);
            cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(rc2, iv)
                .ok()?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
                .ok()
        }
        Cipher::Aes128Gcm | Cipher::Aes256Gcm => None,
    }
}

/// Seals `plaintext` with AES-GCM (RFC 5084) under a 12-byte `nonce`, with no additional
/// authenticated data: the ciphertext and the 16-byte tag, or `None` if the key or nonce has
/// the wrong length or `cipher` is not AES-GCM.
pub(crate) fn seal_gcm(
    cipher: Cipher,
    key: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
) -> Option<(Vec<u8>, Vec<u8>)> {
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::{Aead, KeyInit};
    use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};

    fn seal<C: KeyInit + Aead<NonceSize = U12>>(
        key: &[u8],
        nonce: &[u8],
        plaintext: &[u8],
    ) -> Option<Vec<u8>> {
        C::new_from_slice(key)
            .ok()?
            .encrypt(Nonce::from_slice(nonce), plaintext)
            .ok()
    }

    if nonce.len() != 12 {
        return None;
    }
    let mut sealed = match cipher {
        Cipher::Aes128Gcm => seal::<Aes128Gcm>(key, nonce, plaintext)?,
        Cipher::Aes256Gcm => seal::<Aes256Gcm>(key, nonce, plaintext)?,
        _ => return None,
    };
    let tag = sealed.split_off(sealed.len().checked_sub(smime::assemble::GCM_TAG_LEN)?);
    Some((sealed, tag))
}

/// Opens AES-GCM content (RFC 5084): a 12-byte nonce, a tag of 12 or 16 bytes checked over
/// `aad` and the ciphertext. The error is the verdict: `ContentAltered` when the tag does not
/// match (the content key was right, what it authenticates changed), else why the key could
/// not be used.
pub(crate) fn open_gcm(
    cipher: Cipher,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, Decryption> {
    use aes_gcm::aead::consts::{U12, U16};
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{AesGcm, Nonce};

    fn open<C>(key: &[u8], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Decryption>
    where
        C: KeyInit + Aead<NonceSize = U12>,
    {
        let cipher = C::new_from_slice(key).map_err(|_| Decryption::KeyDoesNotOpen {
            detail: "the content key has the wrong length".into(),
        })?;
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| Decryption::ContentAltered {
                detail: smime::judge::TAG_MISMATCH.into(),
            })
    }

    if nonce.len() != 12 {
        return Err(Decryption::Malformed {
            detail: format!("a GCM nonce of {} bytes", nonce.len()),
        });
    }
    let mut sealed = ciphertext.to_vec();
    sealed.extend_from_slice(tag);
    match (cipher, tag.len()) {
        (Cipher::Aes128Gcm, 16) => open::<AesGcm<aes::Aes128, U12, U16>>(key, nonce, aad, &sealed),
        (Cipher::Aes128Gcm, 12) => open::<AesGcm<aes::Aes128, U12, U12>>(key, nonce, aad, &sealed),
        (Cipher::Aes256Gcm, 16) => open::<AesGcm<aes::Aes256, U12, U16>>(key, nonce, aad, &sealed),
        (Cipher::Aes256Gcm, 12) => open::<AesGcm<aes::Aes256, U12, U12>>(key, nonce, aad, &sealed),
        (_, length) => Err(Decryption::Unsupported {
            detail: format!(
                "{} {length}-byte authentication tag for {cipher} (kmlab reads 12 and 16)",
                smime::structure::UNSUPPORTED
            ),
        }),
    }
}

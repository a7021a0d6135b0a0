//! Content encryption: AES, Triple DES and RC2 (with its effective key length) in CBC mode
//! with PKCS #7 padding.

use cipher::block_padding::Pkcs7;
use cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyIvInit};
use smime::Cipher;

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
    }
}

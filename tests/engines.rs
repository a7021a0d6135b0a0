//! The same conformance tests for every S/MIME engine, and every engine reading what every
//! other one built: a message must mean the same thing whichever implementation made it.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use model::{CertificateDer, PrivateKeyDer, SeededRng, Serial, Timestamp};
use pki::{
    CertificatePurpose, CertificateTemplate, CertificateVersion, Issuer, KeyPool, NameAttribute,
    SignatureHash, build_name, issue_certificate, private_key_der,
};
use smime::structure::{CmsSummary, summarize};
use smime::{
    CallContext, Capability, Cipher, Decryption, Digest, Engine, EnvelopeRequest, IdentifierKind,
    Recipient, SignRequest, SignatureStatus, SignerCredentials,
};

/// Every call happens at the certificates' start, with no authorities: the built-in engines
/// judge nothing about time or trust.
const CONTEXT: CallContext<'static> = CallContext {
    at: Timestamp::DEFAULT_START,
    authorities: &[],
};

struct Party {
    certificate: CertificateDer,
    key: PrivateKeyDer,
}

fn party(name: &str, version: CertificateVersion) -> Party {
    let pool = KeyPool::new(11, Some(kmlab_tests::key_cache()));
    let (ca_key, _) = pool.key("engines:ca", 1024).unwrap();
    let (key, _) = pool.key(&format!("engines:{name}"), 1024).unwrap();
    let ca_name = build_name(&[NameAttribute::CommonName("Engine Test Root")]).unwrap();
    let template = CertificateTemplate {
        host_names: Vec::new(),
        version,
        purpose: CertificatePurpose::SmimeEncryption,
        serial: Serial::from_be_bytes(name.as_bytes()),
        subject: build_name(&[NameAttribute::CommonName(name)]).unwrap(),
        email: Some(format!("{name}@example.test")),
        not_before: Timestamp::DEFAULT_START,
        not_after: Timestamp::DEFAULT_START.plus(model::Duration::years(2)),
        crl_distribution_point: None,
        hash: SignatureHash::Sha256,
    };
    let issuer = Issuer {
        name: &ca_name,
        key: &ca_key,
        key_identifier: None,
    };
    Party {
        certificate: issue_certificate(&template, &key.to_public_key(), issuer).unwrap(),
        key: private_key_der(&key).unwrap(),
    }
}

fn engines() -> Vec<Box<dyn Engine>> {
    vec![
        Box::new(smime_rustcrypto::RustCryptoEngine),
        Box::new(smime_openssl::OpensslEngine::new().unwrap()),
    ]
}

/// Every builder with every reader.
fn pairs() -> Vec<(Box<dyn Engine>, Box<dyn Engine>)> {
    let count = engines().len();
    (0..count * count)
        .map(|n| {
            (
                engines().swap_remove(n / count),
                engines().swap_remove(n % count),
            )
        })
        .collect()
}

#[test]
fn every_cipher_and_identifier_opens_with_every_engine() {
    let alice = party("alice", CertificateVersion::V3);
    let bob = party("bob", CertificateVersion::V3);
    let legacy = party("legacy", CertificateVersion::V1);
    let carol = party("carol", CertificateVersion::V3);
    let uniform_serial = vec![
        Recipient {
            certificate: alice.certificate.clone(),
            identifier: IdentifierKind::IssuerAndSerial,
        },
        Recipient {
            certificate: legacy.certificate.clone(),
            identifier: IdentifierKind::IssuerAndSerial,
        },
    ];
    let uniform_key_id = vec![
        Recipient {
            certificate: alice.certificate.clone(),
            identifier: IdentifierKind::SubjectKeyIdentifier,
        },
        Recipient {
            certificate: bob.certificate.clone(),
            identifier: IdentifierKind::SubjectKeyIdentifier,
        },
    ];
    let mixed = vec![
        Recipient {
            certificate: bob.certificate.clone(),
            identifier: IdentifierKind::SubjectKeyIdentifier,
        },
        Recipient {
            certificate: legacy.certificate.clone(),
            identifier: IdentifierKind::IssuerAndSerial,
        },
    ];
    let content = b"Content-Type: text/plain\r\n\r\nsecret\r\n";
    for (builder, reader) in pairs() {
        for recipients in [&uniform_serial, &uniform_key_id, &mixed] {
            for &cipher in <Cipher as model::Named>::ALL {
                let request = EnvelopeRequest {
                    content,
                    recipients,
                    cipher,
                };
                let der = builder
                    .envelope(&request, &CONTEXT, &mut SeededRng::new(1, "engines"))
                    .unwrap();
                let CmsSummary::Enveloped(summary) = summarize(der.as_bytes()).unwrap() else {
                    panic!("{} built something else", builder.name())
                };
                assert_eq!(summary.cipher, Ok(cipher), "{} built", builder.name());
                let envelope = smime::structure::decode_envelope(der.as_bytes()).unwrap();
                assert_eq!(
                    envelope.authentication.map(|a| a.mac.len()),
                    cipher.is_authenticated().then_some(16),
                    "{} built {cipher:?}",
                    builder.name()
                );
                for (recipient, party) in recipients.iter().zip([&alice, &bob, &legacy]) {
                    let holder = [&alice, &bob, &legacy]
                        .into_iter()
                        .find(|p| p.certificate == recipient.certificate)
                        .unwrap_or(party);
                    assert_eq!(
                        reader.decrypt(der.as_bytes(), &holder.certificate, &holder.key, &CONTEXT),
                        Decryption::Opened {
                            content: content.to_vec()
                        },
                        "{} built, {} read, {cipher:?}, {:?}",
                        builder.name(),
                        reader.name(),
                        recipient.identifier
                    );
                }
                assert_eq!(
                    reader.decrypt(der.as_bytes(), &carol.certificate, &carol.key, &CONTEXT),
                    Decryption::NotARecipient
                );
            }
        }
    }
}

#[test]
fn a_key_that_does_not_match_its_certificate_does_not_open() {
    let alice = party("alice", CertificateVersion::V3);
    let carol = party("carol", CertificateVersion::V3);
    let recipients = [Recipient {
        certificate: alice.certificate.clone(),
        identifier: IdentifierKind::IssuerAndSerial,
    }];
    for (builder, reader) in pairs() {
        let der = builder
            .envelope(
                &EnvelopeRequest {
                    content: b"x\r\n",
                    recipients: &recipients,
                    cipher: Cipher::DesEde3Cbc,
                },
                &CONTEXT,
                &mut SeededRng::new(2, "engines"),
            )
            .unwrap();
        let result = reader.decrypt(der.as_bytes(), &alice.certificate, &carol.key, &CONTEXT);
        assert_eq!(
            result.reason(),
            "key-does-not-open",
            "{} built, {} read: {result:?}",
            builder.name(),
            reader.name()
        );
    }
}

#[test]
fn signatures_verify_with_every_engine_and_tampering_is_named_alike() {
    let alice = party("alice", CertificateVersion::V3);
    let legacy = party("legacy", CertificateVersion::V1);
    let content: &[u8] = b"Content-Type: text/plain\r\n\r\nhello\r\n";
    let tampered: &[u8] = b"Content-Type: text/plain\r\n\r\nhellO\r\n";
    let capabilities = [
        Capability::Cipher(Cipher::DesEde3Cbc),
        Capability::Cipher(Cipher::Rc2Cbc40),
    ];
    for (builder, reader) in pairs() {
        for (signer, digest, identifier, detached) in [
            (&alice, Digest::Sha1, IdentifierKind::IssuerAndSerial, true),
            (
                &alice,
                Digest::Sha256,
                IdentifierKind::SubjectKeyIdentifier,
                false,
            ),
            (
                &legacy,
                Digest::Sha1,
                IdentifierKind::IssuerAndSerial,
                false,
            ),
        ] {
            let credentials = SignerCredentials {
                certificate: signer.certificate.clone(),
                key: signer.key.clone(),
                chain: Vec::new(),
            };
            let request = SignRequest {
                content,
                signer: &credentials,
                digest,
                identifier,
                signing_time: Timestamp::DEFAULT_START,
                detached,
                capabilities: &capabilities,
            };
            let der = builder
                .sign(&request, &CONTEXT, &mut SeededRng::new(1, "s"))
                .unwrap();
            let context = format!("{} built, {} read", builder.name(), reader.name());
            let check = reader.verify(der.as_bytes(), detached.then_some(content), &CONTEXT);
            assert_eq!(check.status, SignatureStatus::Verified, "{context}");
            assert_eq!(
                check.signer.as_ref(),
                Some(&signer.certificate),
                "{context}"
            );
            assert_eq!(check.signing_time, Some(Timestamp::DEFAULT_START));
            assert_eq!(check.digest, Some(digest));
            assert_eq!(check.capabilities, capabilities);
            if detached {
                let changed = reader.verify(der.as_bytes(), Some(tampered), &CONTEXT);
                assert_eq!(changed.status, SignatureStatus::DigestMismatch, "{context}");
            } else {
                assert_eq!(check.content.as_deref(), Some(content), "{context}");
            }
            // A flipped bit in the signature value: the maths fail, not the digest.
            let mut broken = der.as_bytes().to_vec();
            let last = broken.len() - 1;
            broken[last] ^= 0x01;
            let check = reader.verify(&broken, detached.then_some(content), &CONTEXT);
            assert_eq!(check.status, SignatureStatus::SignatureInvalid, "{context}");
        }
    }
}

#[test]
fn the_same_signing_inputs_give_the_same_bytes_from_both_engines() {
    // Signing is deterministic (PKCS #1 v1.5) and the layout is shared, so the engines agree
    // byte for byte; only envelopes carry OpenSSL's own randomness.
    let alice = party("alice", CertificateVersion::V3);
    let credentials = SignerCredentials {
        certificate: alice.certificate.clone(),
        key: alice.key.clone(),
        chain: Vec::new(),
    };
    let request = SignRequest {
        content: b"x\r\n",
        signer: &credentials,
        digest: Digest::Sha256,
        identifier: IdentifierKind::IssuerAndSerial,
        signing_time: Timestamp::DEFAULT_START,
        detached: true,
        capabilities: &[],
    };
    let built: Vec<_> = engines()
        .iter()
        .map(|engine| {
            engine
                .sign(&request, &CONTEXT, &mut SeededRng::new(1, "s"))
                .unwrap()
        })
        .collect();
    assert_eq!(built[0], built[1]);
    assert!(engines().iter().all(|engine| engine.is_deterministic()));
}

#[test]
fn a_v1_certificate_cannot_be_named_by_key_identifier() {
    let old = party("legacy", CertificateVersion::V1);
    let recipients = [Recipient {
        certificate: old.certificate,
        identifier: IdentifierKind::SubjectKeyIdentifier,
    }];
    let request = EnvelopeRequest {
        content: b"x",
        recipients: &recipients,
        cipher: Cipher::Rc2Cbc40,
    };
    for engine in engines() {
        assert!(
            matches!(
                engine.envelope(&request, &CONTEXT, &mut SeededRng::new(1, "m")),
                Err(smime::EngineError::Unusable { .. })
            ),
            "{}",
            engine.name()
        );
    }
}

#[test]
fn a_deterministic_engine_gives_the_same_envelope_for_the_same_generator() {
    let bob = party("bob", CertificateVersion::V3);
    let recipients = [Recipient {
        certificate: bob.certificate,
        identifier: IdentifierKind::IssuerAndSerial,
    }];
    let request = EnvelopeRequest {
        content: b"x",
        recipients: &recipients,
        cipher: Cipher::Aes128Cbc,
    };
    for engine in engines().iter().filter(|engine| engine.is_deterministic()) {
        let a = engine
            .envelope(&request, &CONTEXT, &mut SeededRng::new(3, "m"))
            .unwrap();
        let b = engine
            .envelope(&request, &CONTEXT, &mut SeededRng::new(3, "m"))
            .unwrap();
        assert_eq!(a, b, "{}", engine.name());
    }
}

#[test]
fn both_engines_build_the_same_envelope_from_the_same_generator_for_every_cipher() {
    let bob = party("bob", CertificateVersion::V3);
    let alice = party("alice", CertificateVersion::V3);
    // Recipients named in both ways, and content longer than one block.
    let recipients = [
        Recipient {
            certificate: bob.certificate,
            identifier: IdentifierKind::IssuerAndSerial,
        },
        Recipient {
            certificate: alice.certificate,
            identifier: IdentifierKind::SubjectKeyIdentifier,
        },
    ];
    let content =
        b"Content-Type: text/plain\r\n\r\nthe same bytes from the same seed\r\n".repeat(40);
    for &cipher in <Cipher as model::Named>::ALL {
        let request = EnvelopeRequest {
            content: &content,
            recipients: &recipients,
            cipher,
        };
        // Several seeds, so that some padding draws a zero byte and draws it again.
        for seed in 0..8 {
            let built: Vec<_> = engines()
                .iter()
                .map(|engine| {
                    engine
                        .envelope(&request, &CONTEXT, &mut SeededRng::new(seed, "m"))
                        .unwrap()
                })
                .collect();
            assert_eq!(built[0], built[1], "{cipher}, seed {seed}");
        }
    }
}

#[test]
fn an_altered_gcm_envelope_reads_content_altered_with_every_engine() {
    let bob = party("bob", CertificateVersion::V3);
    let recipients = [Recipient {
        certificate: bob.certificate.clone(),
        identifier: IdentifierKind::SubjectKeyIdentifier,
    }];
    let content = b"Content-Type: text/plain\r\n\r\nsealed with a tag\r\n";
    for cipher in [Cipher::Aes128Gcm, Cipher::Aes256Gcm] {
        for (builder, reader) in pairs() {
            let der = builder
                .envelope(
                    &EnvelopeRequest {
                        content,
                        recipients: &recipients,
                        cipher,
                    },
                    &CONTEXT,
                    &mut SeededRng::new(4, "gcm"),
                )
                .unwrap()
                .into_bytes();
            // The ciphertext sits just before the 16-byte tag and its two-byte header.
            let mut altered = der.clone();
            let in_ciphertext = der.len() - 16 - 2 - 1;
            altered[in_ciphertext] ^= 0x20;
            let context = format!(
                "{} built, {} read, {cipher:?}",
                builder.name(),
                reader.name()
            );
            assert_eq!(
                reader.decrypt(&der, &bob.certificate, &bob.key, &CONTEXT),
                Decryption::Opened {
                    content: content.to_vec()
                },
                "{context}"
            );
            let verdict = reader.decrypt(&altered, &bob.certificate, &bob.key, &CONTEXT);
            assert_eq!(
                verdict.reason(),
                "content-altered",
                "{context}: {verdict:?}"
            );
            // A changed tag is caught the same way.
            let mut retagged = der.clone();
            let last = retagged.len() - 1;
            retagged[last] ^= 0x01;
            let verdict = reader.decrypt(&retagged, &bob.certificate, &bob.key, &CONTEXT);
            assert_eq!(
                verdict.reason(),
                "content-altered",
                "{context}: {verdict:?}"
            );
        }
    }
}

//! Object identifiers S/MIME messages use, named once.

use const_oid::ObjectIdentifier as Oid;

/// id-data
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// id-envelopedData
pub const ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");
/// id-contentType signed attribute
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest signed attribute
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// id-signingTime signed attribute
pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
/// smimeCapabilities signed attribute
pub const SMIME_CAPABILITIES: Oid = Oid::new_unwrap("1.2.840.113549.1.9.15");
/// rsaEncryption, used both as the signature and the key transport algorithm in S/MIME
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// sha1WithRSAEncryption, which some signers put in `SignerInfo.signatureAlgorithm`
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
/// sha256WithRSAEncryption
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// SHA-1
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
/// SHA-256
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// AES-128 in CBC mode
pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
/// AES-256 in CBC mode
pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
/// Triple DES (EDE, three keys) in CBC mode
pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
/// RC2 in CBC mode
pub const RC2_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.2");
/// sha384WithRSAEncryption
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// id-RSASSA-PSS (RFC 4056 for CMS)
pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
/// id-ecPublicKey (RFC 5480): an elliptic-curve public key, its curve in the parameters.
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// The NIST curve P-256 (secp256r1).
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// The NIST curve P-384 (secp384r1).
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
/// The NIST curve P-521 (secp521r1).
pub const SECP521R1: Oid = Oid::new_unwrap("1.3.132.0.35");
/// ECDSA with SHA-1 (RFC 3279).
pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
/// ECDSA with SHA-256, SHA-384 and SHA-512 (RFC 5758, for CMS RFC 5753/5754).
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
/// ECDSA with SHA-384.
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
/// ECDSA with SHA-512.
pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
/// Ed25519 (RFC 8410; in CMS RFC 8419).
pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
/// id-RSAES-OAEP (RFC 3560 for CMS)
pub const RSAES_OAEP: Oid = Oid::new_unwrap("1.2.840.113549.1.1.7");
/// id-mgf1, the mask generation function of PSS and OAEP
pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
/// id-pSpecified, OAEP's label source
pub const P_SPECIFIED: Oid = Oid::new_unwrap("1.2.840.113549.1.1.9");
/// SHA-384
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
/// SHA-512
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
/// SHA-224
pub const SHA224: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.4");
/// id-ct-authEnvelopedData (RFC 5083)
pub const AUTH_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.23");
/// AES-128 in GCM mode (RFC 5084)
pub const AES128_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.6");
/// AES-192 in GCM mode
pub const AES192_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.26");
/// AES-256 in GCM mode
pub const AES256_GCM: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.46");
/// AES-192 in CBC mode
pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
/// single DES in CBC mode (56 key bits)
pub const DES_CBC: Oid = Oid::new_unwrap("1.3.14.3.2.7");

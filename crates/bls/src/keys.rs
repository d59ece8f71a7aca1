//! Secret keys, the two public key forms, signatures and operator ids.

use std::{fmt, sync::LazyLock, sync::OnceLock};

use alloy::primitives::{B256, U256, keccak256};
use ark_bn254::{Bn254, Fr, G1Affine, G2Affine};
use ark_ec::{
    AffineRepr,
    pairing::{Pairing, PairingOutput},
};
use ark_ff::{BigInt, PrimeField, Zero};
use zeroize::{Zeroize, Zeroizing};

use crate::{
    BlsError, G1Point, G2Point,
    encoding::{self, G1_COMPRESSED_LEN, G2_COMPRESSED_LEN},
    hash::hash_to_g1,
    secret_mul,
};

/// `−g2` prepared for the Miller loop once per process: every verification pairs with it.
pub(crate) static NEG_G2_PREPARED: LazyLock<<Bn254 as Pairing>::G2Prepared> =
    LazyLock::new(|| (-G2Affine::generator()).into());

/// A BLS secret key: a non-zero scalar below the group order r.
///
/// Zeroized on drop; `Debug` prints `SecretKey(<redacted>)` and there is no `Display`, so the key
/// cannot end up in a log by accident. Not `Clone`: copies of a secret should be deliberate
/// ([`SecretKey::to_be_bytes`] returns a zeroizing buffer).
pub struct SecretKey(Fr);

impl SecretKey {
    /// Draws a uniformly random key from a cryptographic RNG.
    pub fn random<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        loop {
            // 64 random bytes reduced mod r: statistically uniform (bias < 2^-250).
            let mut wide = Zeroizing::new([0u8; 64]);
            rng.fill_bytes(wide.as_mut_slice());
            let scalar = Fr::from_le_bytes_mod_order(wide.as_slice());
            if !scalar.is_zero() {
                return Self(scalar);
            }
        }
    }

    /// Draws a random key from the operating system's generator (via the thread RNG).
    pub fn generate() -> Self {
        Self::random(&mut rand::rng())
    }

    /// Parses the 32-byte big-endian form (the keystore plaintext). Rejects zero, values `>= r`
    /// and other lengths instead of reducing, so a key is never silently changed.
    pub fn from_be_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        let bytes: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| BlsError::InvalidSecretKey("must be exactly 32 bytes"))?;
        let mut limbs = U256::from_be_bytes(*bytes).into_limbs();
        let scalar = Fr::from_bigint(BigInt(limbs));
        limbs.zeroize();
        match scalar {
            None => Err(BlsError::InvalidSecretKey(
                "not below the BN254 group order r",
            )),
            Some(s) if s.is_zero() => Err(BlsError::InvalidSecretKey("zero is not a key")),
            Some(s) => Ok(Self(s)),
        }
    }

    /// Parses the decimal form EigenLayer's tooling prints and `BlsKeyPair::new` accepts
    /// (only meant for explicitly insecure devnet setups).
    pub fn from_decimal(decimal: &str) -> Result<Self, BlsError> {
        let mut limbs = U256::from_str_radix(decimal.trim(), 10)
            .map_err(|_| BlsError::InvalidSecretKey("not a decimal number below 2^256"))?
            .into_limbs();
        let bytes = Zeroizing::new(U256::from_limbs(limbs).to_be_bytes::<32>());
        limbs.zeroize();
        Self::from_be_bytes(bytes.as_slice())
    }

    /// The 32-byte big-endian form, in a buffer that is wiped when dropped.
    pub fn to_be_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut limbs = self.0.into_bigint();
        let bytes = Zeroizing::new(U256::from_limbs(limbs.0).to_be_bytes::<32>());
        limbs.0.zeroize();
        bytes
    }

    /// The G1 public key `sk·g1` (EigenLayer's `pubkeyG1`, whose hash is the operator id).
    ///
    /// Computed in the same fixed pattern as signing (see [`SecretKey::sign`]).
    pub fn public_key(&self) -> PublicKey {
        PublicKey(secret_mul::mul_g1(&G1Affine::generator(), &self.0))
    }

    /// The G2 public key `sk·g2` (EigenLayer's `pubkeyG2`, the one signatures verify against).
    ///
    /// A fixed-window multiplication whose operations and table reads do not depend on the key
    /// (the G1 caveats of [`SecretKey::sign`] apply).
    pub fn public_key_g2(&self) -> PublicKeyG2 {
        PublicKeyG2::new_unchecked(secret_mul::mul_g2(&G2Affine::generator(), &self.0))
    }

    /// Signs a 32-byte message digest: `sk · hash_to_g1(digest)`.
    ///
    /// The multiplication by the key runs the same sequence of point doublings and additions,
    /// and reads the same table addresses, for every key (GLV split, regular signed 4-bit
    /// windows, masked table selection, complete formulas, Fermat inversion), and wipes what it
    /// derives from the key. The field arithmetic underneath is arkworks', which is not
    /// constant time (its modular reductions branch on the values); the details are in the
    /// `secret_mul` module docs.
    pub fn sign(&self, digest: B256) -> Signature {
        self.sign_g1(&hash_to_g1(digest))
    }

    /// Signs a point that is already on G1, such as the registration message hash that the
    /// RegistryCoordinator's `pubkeyRegistrationMessageHash(operator)` returns.
    pub fn sign_hashed(&self, message_point: &G1Point) -> Result<Signature, BlsError> {
        Ok(self.sign_g1(&message_point.to_affine()?))
    }

    #[cfg(test)]
    fn scalar(&self) -> &Fr {
        &self.0
    }

    fn sign_g1(&self, point: &G1Affine) -> Signature {
        Signature(secret_mul::mul_g1(point, &self.0))
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// An operator's id in EigenLayer: `keccak256(abi.encodePacked(pubkeyG1.X, pubkeyG1.Y))`, the
/// middleware's `BN254.hashG1Point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperatorId(pub B256);

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A G1 public key (never the identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(G1Affine);

impl PublicKey {
    const WHAT: &str = "G1 public key";

    /// Validates an arkworks point as a key (on the curve, not the identity).
    pub fn from_affine(point: G1Affine) -> Result<Self, BlsError> {
        G1Point::from(point).try_into()
    }

    /// The arkworks point.
    pub fn as_affine(&self) -> &G1Affine {
        &self.0
    }

    /// The contract struct `BN254.G1Point`.
    pub fn to_point(&self) -> G1Point {
        self.0.into()
    }

    /// The operator id EigenLayer derives from this key.
    pub fn operator_id(&self) -> OperatorId {
        OperatorId(keccak256(self.to_point().to_packed()))
    }

    /// The 32-byte compressed encoding (see the crate docs for the flag bits).
    pub fn to_bytes(&self) -> [u8; G1_COMPRESSED_LEN] {
        encoding::encode_g1(&self.0)
    }

    /// Strictly decodes the 32-byte compressed encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        encoding::decode_g1(bytes, Self::WHAT).map(Self)
    }
}

impl TryFrom<G1Point> for PublicKey {
    type Error = BlsError;

    fn try_from(point: G1Point) -> Result<Self, BlsError> {
        let affine = point.to_affine().map_err(|e| rename(e, Self::WHAT))?;
        if affine.is_zero() {
            return Err(BlsError::Identity { what: Self::WHAT });
        }
        Ok(Self(affine))
    }
}

/// A G2 public key (never the identity, always in the prime-order subgroup).
///
/// Keeps its Miller-loop preparation once computed, so repeated verifications against the same
/// key (the normal case: one key per operator, many tasks) skip that work.
#[derive(Clone)]
pub struct PublicKeyG2 {
    point: G2Affine,
    prepared: OnceLock<<Bn254 as Pairing>::G2Prepared>,
}

impl PublicKeyG2 {
    const WHAT: &str = "G2 public key";

    /// Wraps a point known to be a valid key (derived from a secret key or a sum of valid keys).
    pub(crate) fn new_unchecked(point: G2Affine) -> Self {
        Self {
            point,
            prepared: OnceLock::new(),
        }
    }

    /// Validates an arkworks point as a key (on the curve, in the subgroup, not the identity).
    pub fn from_affine(point: G2Affine) -> Result<Self, BlsError> {
        G2Point::from(point).try_into()
    }

    /// The arkworks point.
    pub fn as_affine(&self) -> &G2Affine {
        &self.point
    }

    /// The contract struct `BN254.G2Point` (imaginary parts first).
    pub fn to_point(&self) -> G2Point {
        self.point.into()
    }

    /// The 64-byte compressed encoding (see the crate docs for the layout and flag bits).
    pub fn to_bytes(&self) -> [u8; G2_COMPRESSED_LEN] {
        encoding::encode_g2(&self.point)
    }

    /// Strictly decodes the 64-byte compressed encoding, including the subgroup check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        encoding::decode_g2(bytes, Self::WHAT).map(Self::new_unchecked)
    }

    /// The Miller-loop preparation of this key, computed on first use.
    pub(crate) fn prepared(&self) -> &<Bn254 as Pairing>::G2Prepared {
        self.prepared.get_or_init(|| self.point.into())
    }

    /// Verifies `signature` over `digest`: `e(σ, −g2) · e(H(m), pk) == 1`, one two-pair
    /// multi-pairing with both G2 sides prepared.
    pub fn verify(&self, digest: B256, signature: &Signature) -> bool {
        self.verify_g1(&hash_to_g1(digest), signature)
    }

    /// Verifies a signature over a point already on G1 (see [`SecretKey::sign_hashed`]).
    pub fn verify_hashed(&self, message_point: &G1Point, signature: &Signature) -> bool {
        message_point
            .to_affine()
            .is_ok_and(|point| self.verify_g1(&point, signature))
    }

    fn verify_g1(&self, message: &G1Affine, signature: &Signature) -> bool {
        // The identity key would accept the identity signature for every message.
        if self.point.is_zero() {
            return false;
        }
        pairing_product_is_one(
            [signature.0, *message],
            [NEG_G2_PREPARED.clone(), self.prepared().clone()],
        )
    }
}

/// `Π e(g1_i, g2_i) == 1` with one shared final exponentiation.
pub(crate) fn pairing_product_is_one<const N: usize>(
    g1: [G1Affine; N],
    g2: [<Bn254 as Pairing>::G2Prepared; N],
) -> bool {
    pairing_output_is_one(Bn254::final_exponentiation(Bn254::multi_miller_loop(
        g1, g2,
    )))
}

pub(crate) fn pairing_output_is_one(output: Option<PairingOutput<Bn254>>) -> bool {
    output.is_some_and(|o| o.is_zero())
}

impl PartialEq for PublicKeyG2 {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl Eq for PublicKeyG2 {}

impl fmt::Debug for PublicKeyG2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKeyG2").field(&self.point).finish()
    }
}

impl TryFrom<G2Point> for PublicKeyG2 {
    type Error = BlsError;

    fn try_from(point: G2Point) -> Result<Self, BlsError> {
        let affine = point.to_affine().map_err(|e| rename(e, Self::WHAT))?;
        if affine.is_zero() {
            return Err(BlsError::Identity { what: Self::WHAT });
        }
        Ok(Self::new_unchecked(affine))
    }
}

/// A BLS signature: a point on G1.
///
/// Decoded signatures are never the identity; an aggregate may be (for example σ + (−σ)), and
/// then encodes with the infinity flag, which decoding rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub(crate) G1Affine);

impl Signature {
    const WHAT: &str = "signature";

    /// Validates an arkworks point as a signature (on the curve, not the identity).
    pub fn from_affine(point: G1Affine) -> Result<Self, BlsError> {
        G1Point::from(point).try_into()
    }

    /// The arkworks point.
    pub fn as_affine(&self) -> &G1Affine {
        &self.0
    }

    /// The contract struct `BN254.G1Point` (the `sigma` argument of `checkSignatures`).
    pub fn to_point(&self) -> G1Point {
        self.0.into()
    }

    /// The 32-byte compressed wire encoding (see the crate docs for the flag bits).
    pub fn to_bytes(&self) -> [u8; G1_COMPRESSED_LEN] {
        encoding::encode_g1(&self.0)
    }

    /// Strictly decodes the wire encoding: wrong length, non-canonical x, bad flags, points off
    /// the curve and the identity are each rejected with their own error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        encoding::decode_g1(bytes, Self::WHAT).map(Self)
    }
}

impl TryFrom<G1Point> for Signature {
    type Error = BlsError;

    fn try_from(point: G1Point) -> Result<Self, BlsError> {
        let affine = point.to_affine().map_err(|e| rename(e, Self::WHAT))?;
        if affine.is_zero() {
            return Err(BlsError::Identity { what: Self::WHAT });
        }
        Ok(Self(affine))
    }
}

/// Re-labels a point error with the name of the object being built.
fn rename(error: BlsError, what: &'static str) -> BlsError {
    match error {
        BlsError::NonCanonical { reason, .. } => BlsError::NonCanonical { what, reason },
        BlsError::NotOnCurve { .. } => BlsError::NotOnCurve { what },
        BlsError::NotInSubgroup { .. } => BlsError::NotInSubgroup { what },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use ark_ec::CurveGroup;
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn sign_verify_and_reject() {
        let sk = SecretKey::generate();
        let pk = sk.public_key_g2();
        let digest = B256::repeat_byte(7);
        let sig = sk.sign(digest);
        assert!(pk.verify(digest, &sig));
        assert!(!pk.verify(B256::repeat_byte(8), &sig));
        assert!(!SecretKey::generate().public_key_g2().verify(digest, &sig));
    }

    #[test]
    fn public_keys_match_arkworks_multiplication() {
        let mut rng = StdRng::seed_from_u64(0x9b1);
        let r_minus_one = U256::from_limbs(Fr::MODULUS.0) - U256::from(1);
        let keys = [
            SecretKey::from_decimal("1").unwrap(),
            SecretKey::from_decimal("2").unwrap(),
            SecretKey::from_be_bytes(&r_minus_one.to_be_bytes::<32>()).unwrap(),
        ]
        .into_iter()
        .chain((0..24).map(|_| SecretKey::random(&mut rng)));
        for sk in keys {
            let k = *sk.scalar();
            assert_eq!(
                sk.public_key().as_affine(),
                &(G1Affine::generator() * k).into_affine(),
                "k = {k}"
            );
            assert_eq!(
                sk.public_key_g2().as_affine(),
                &(G2Affine::generator() * k).into_affine(),
                "k = {k}"
            );
        }
    }

    #[test]
    fn signatures_match_arkworks_multiplication() {
        let mut rng = StdRng::seed_from_u64(0x51);
        for i in 0..32u8 {
            let sk = SecretKey::random(&mut rng);
            let digest = B256::repeat_byte(i);
            let expected = (hash_to_g1(digest) * sk.scalar()).into_affine();
            assert_eq!(sk.sign(digest).as_affine(), &expected);
        }
    }

    #[test]
    fn secret_key_parsing_is_strict() {
        let r = U256::from_limbs(Fr::MODULUS.0);
        assert!(SecretKey::from_be_bytes(&[0u8; 32]).is_err());
        assert!(SecretKey::from_be_bytes(&r.to_be_bytes::<32>()).is_err());
        assert!(SecretKey::from_be_bytes(&[1u8; 31]).is_err());
        let sk = SecretKey::from_be_bytes(&(r - U256::from(1)).to_be_bytes::<32>()).unwrap();
        assert_eq!(*sk.to_be_bytes(), (r - U256::from(1)).to_be_bytes::<32>());
        let five = SecretKey::from_decimal("5").unwrap();
        assert_eq!(
            five.public_key().as_affine(),
            &(G1Affine::generator() * Fr::from(5u64)).into_affine()
        );
        assert!(SecretKey::from_decimal("0x5").is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let sk = SecretKey::from_decimal("12345").unwrap();
        assert_eq!(format!("{sk:?}"), "SecretKey(<redacted>)");
    }

    #[test]
    fn operator_id_is_keccak_of_packed_coordinates() {
        // pk = 1·g1 = (1, 2): keccak256(uint256(1) ‖ uint256(2)).
        let pk = SecretKey::from_decimal("1").unwrap().public_key();
        let mut packed = [0u8; 64];
        packed[31] = 1;
        packed[63] = 2;
        assert_eq!(pk.operator_id(), OperatorId(keccak256(packed)));
    }

    #[test]
    fn identity_is_rejected_by_every_constructor() {
        assert_eq!(
            Signature::try_from(G1Point::default()),
            Err(BlsError::Identity { what: "signature" })
        );
        assert_eq!(
            PublicKey::from_affine(G1Affine::zero()),
            Err(BlsError::Identity {
                what: "G1 public key"
            })
        );
        assert!(matches!(
            PublicKeyG2::try_from(G2Point::default()),
            Err(BlsError::Identity {
                what: "G2 public key"
            })
        ));
    }
}

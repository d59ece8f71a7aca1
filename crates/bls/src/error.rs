//! Errors of point decoding, key parsing and aggregation.

/// Why a point, key or signature was rejected.
///
/// Every decoding failure has its own variant so that a peer that sends garbage can be told (and
/// logged) precisely what was wrong; `what` names the object being decoded ("signature",
/// "G2 public key", ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    /// The byte string has the wrong length for its encoding.
    #[error("{what}: expected {expected} bytes, got {got}")]
    WrongLength {
        /// What was being decoded.
        what: &'static str,
        /// Length of a valid encoding.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A coordinate is not below the BN254 base field modulus p, or the flag bits are set in a
    /// combination this encoding never produces.
    #[error("{what}: non-canonical encoding ({reason})")]
    NonCanonical {
        /// What was being decoded.
        what: &'static str,
        /// Which rule was broken.
        reason: &'static str,
    },
    /// The coordinates do not satisfy the curve equation.
    #[error("{what}: point is not on the BN254 curve")]
    NotOnCurve {
        /// What was being decoded.
        what: &'static str,
    },
    /// The point is on the curve but outside the prime-order subgroup (only possible on G2:
    /// BN254 G1 has cofactor 1).
    #[error("{what}: point is not in the prime-order subgroup")]
    NotInSubgroup {
        /// What was being decoded.
        what: &'static str,
    },
    /// The identity (point at infinity) is not a valid key or signature.
    #[error("{what}: the identity point (point at infinity) is not allowed")]
    Identity {
        /// What was being decoded.
        what: &'static str,
    },
    /// A secret key is zero, not below the group order r, or not 32 bytes.
    #[error("invalid BLS secret key: {0}")]
    InvalidSecretKey(&'static str),
    /// Aggregation of an empty set was requested.
    #[error("cannot aggregate an empty set of {0}")]
    EmptyAggregate(&'static str),
}

//! Multiplication of a public point by the secret key, in a pattern that does not depend on it.
//!
//! Signing (`sk·H(m)`) and the two public keys (`sk·g1`, `sk·g2`) are the only places where the
//! secret scalar meets curve arithmetic. A double-and-add or w-NAF loop there does work whose
//! amount and order follow the key's bits, which timing, cache and power measurements can pick
//! up; an operator's slashable stake stands behind this key, so these products use the method
//! below instead of arkworks' `*`.
//!
//! # Method
//!
//! * **G1** (signatures, `sk·g1`): the GLV split `k ≡ k1 + k2·λ (mod r)` with `λ·P = φ(P) =
//!   (β·x, y)`, computed with fixed-size limb arithmetic (Babai rounding against precomputed
//!   2^256-scaled constants: the same multiplications, shifts and wrapping subtractions for
//!   every k), giving two halves with `|k1|, |k2| < 2^126.12`. A negative half is handled by
//!   negating the looked-up points, a mask, not a branch.
//! * **G2** (`sk·g2`): the whole 254-bit scalar in one fixed-window pass (it runs when a key is
//!   loaded or registered, so G2's own endomorphism is not worth its code there).
//! * **Recoding.** Each non-negative half is made odd by setting its low bit (adding 1 to an even
//!   value), then written in the regular signed window form `Σ dᵢ·2^(4i)` with *every* digit odd,
//!   `|dᵢ| ≤ 15`: no zero digits to skip, a fixed digit count (32 per G1 half, 64 for G2). The
//!   added 1 is taken back at the end by one addition of `−P` that is always computed and kept
//!   or dropped with a constant-time select.
//! * **Loop.** Four doublings per window, then one mixed addition per half of a point read from
//!   a table of the odd multiples `1·P … 15·P`. Every read scans the whole table and keeps the
//!   wanted entry with [`subtle`]'s masked selection on the coordinates' limbs, so the memory
//!   addresses touched do not depend on the digit; the digit's sign (xor the half's sign)
//!   negates `y` through the same masked select.
//! * **Group law.** Homogeneous projective coordinates with the complete formulas for `a = 0`
//!   short Weierstrass curves (Renes–Costello–Batina 2016: addition 11M for a mixed sum,
//!   doubling 6M + 2S). They have no exceptional cases in an odd-order group (identity inputs,
//!   equal or opposite points), hence no branches; arkworks' Jacobian formulas test for those.
//! * **Back to affine** with `z^(p−2)`, an exponentiation whose exponent is a public constant,
//!   instead of arkworks' inversion (a binary extended Euclid whose step count depends on `z`,
//!   and `z` depends on the key). `z = 0` gives `(0, 0)`, arkworks' encoding of the identity.
//!
//! The point tables are built with arkworks' ordinary (variable-time) arithmetic: they are
//! multiples of the message point or of a generator, which are public.
//!
//! # What is and is not fixed-pattern
//!
//! Fixed for every scalar: the sequence of group operations (the tests record it and compare
//! scalars with very different bit patterns), the table addresses read, and the integer code of
//! the decomposition and recoding (no branches or indexing on secret values).
//!
//! Not fixed, and not claimed: the field arithmetic underneath, which is arkworks'. Its modular
//! addition, doubling and Montgomery multiplication and squaring end with a conditional
//! subtraction of the modulus, and its subtraction starts with a conditional addition of it,
//! each decided by a limb comparison that stops at the first differing limb; negation tests for
//! zero; `Fr::into_bigint` (the secret's conversion out of Montgomery form) ends like a
//! multiplication. Whether those become branches or conditional moves is up to the compiler,
//! and they depend on the values, so the time of each field operation can vary a little with
//! the (secret-derived) coordinates. Removing that needs a constant-time field implementation.
//! Neither the compiler's output nor the CPU's timing of `mul`/`adc` is verified here; [`subtle`]
//! keeps the selection masks opaque to the optimiser, which is the usual best effort in Rust.
//!
//! # Wiping
//!
//! The secret's limbs, the Babai quotients, the GLV halves and the recoded digits are
//! fixed-size arrays and integers that are zeroized once used; so are the accumulator and the
//! selected table entries. Copies the compiler makes in registers or spilled stack slots are
//! beyond this code's reach.

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine, g1, g2};
use ark_ec::{
    AffineRepr, CurveGroup,
    scalar_mul::glv::GLVConfig,
    short_weierstrass::{Affine, Projective, SWCurveConfig},
};
use ark_ff::{AdditiveGroup, Field, PrimeField};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bits per window. 5 would need 12 fewer additions per signature (26 digits per half instead
/// of 32) but a table twice as large to build (15 instead of 7 public additions) and to scan on
/// every read; measured, 5 was no faster than 4, so the smaller table wins.
const WINDOW: u32 = 4;

/// The odd multiples `1·P, 3·P, …, (2^WINDOW − 1)·P`.
const TABLE_LEN: usize = 1 << (WINDOW - 1);

/// Digits per G1 half: the halves are below 2^126.12 (see `ROUND_B2`), so below 2^127 once
/// made odd.
const G1_DIGITS: usize = 127u32.div_ceil(WINDOW) as usize;

/// Digits for a whole scalar: below r < 2^254, and still below 2^254 once made odd (r is odd).
const G2_DIGITS: usize = 254u32.div_ceil(WINDOW) as usize;

/// The GLV lattice basis of BN254's scalar field, as magnitudes: `v1 = (−A1, A2)` and
/// `v2 = (−A2, −B2)`, with `a + b·λ ≡ 0 (mod r)` for both (arkworks' `SCALAR_DECOMP_COEFFS`,
/// checked by a test) and determinant r.
const A1: u128 = 0x6f4d_8248_eeb8_59fc_8211_bbeb_7d4f_1128;
const A2: u128 = 0x89d3_2568_94d2_13e3;
const B2: u128 = 0x6f4d_8248_eeb8_59fd_0be4_e154_1221_250b;

/// `round(2^256·B2 / r)` and `round(2^256·A2 / r)` as little-endian limbs. Multiplying k by these
/// and rounding away 256 bits gives the Babai quotients `m1 ≈ k·B2/r`, `m2 ≈ k·A2/r` within
/// 1/2 + 2^−3 of the exact values (1/2 from rounding, `k/2^257 < 2^−3` from the constants'
/// own rounding), which bounds both halves by `(1/2 + 2^−3)·(A2 + B2) < 2^126.12` (`B2 > A1`).
const ROUND_B2: [u64; 3] = [0x5398_fd03_00ff_6565, 0x4cce_f014_a773_d2d2, 0x2];
const ROUND_A2: [u64; 3] = [0xd91d_232e_c7e0_b3d7, 0x2, 0x0];

/// `p − 2` for Fermat inversion in Fq.
const FQ_MODULUS_MINUS_TWO: [u64; 4] = {
    let mut exponent = <Fq as PrimeField>::MODULUS.0;
    assert!(exponent[0] >= 2);
    exponent[0] -= 2;
    exponent
};

/// `sk·P` on G1 in the fixed pattern described in the module docs.
pub(crate) fn mul_g1(point: &G1Affine, scalar: &Fr) -> G1Affine {
    // The point is public (a message hash or the generator): branching on it leaks nothing.
    if point.is_zero() {
        return G1Affine::identity();
    }
    let mut limbs = scalar.into_bigint().0;
    let mut halves = glv_split(&limbs);
    limbs.zeroize();
    let recoded = halves.map(Recoded::<G1_DIGITS>::from_signed);
    halves.zeroize();
    let table = odd_multiples(point);
    let table_endo = table.map(|p| g1::Config::endomorphism_affine(&p));
    mul_recoded(&[table, table_endo], &recoded)
}

/// `sk·P` on G2 in the fixed pattern described in the module docs.
pub(crate) fn mul_g2(point: &G2Affine, scalar: &Fr) -> G2Affine {
    if point.is_zero() {
        return G2Affine::identity();
    }
    let mut limbs = scalar.into_bigint().0;
    let recoded = Recoded::<G2_DIGITS>::new(&limbs, Choice::from(0));
    limbs.zeroize();
    mul_recoded(&[odd_multiples(point)], &[recoded])
}

/// Splits `k < r` (little-endian limbs) into `k1 + k2·λ ≡ k (mod r)`, both halves in two's
/// complement, `|k1|, |k2| < 2^126.12`.
///
/// The coordinates of `(k, 0)` in the basis `(v1, v2)` are `(−k·B2/r, −k·A2/r)`; rounding them
/// to `(−m1, −m2)` and subtracting that lattice vector leaves `(k1, k2) = (k, 0) + m1·v1 +
/// m2·v2`, i.e. `k1 = k − m1·A1 − m2·A2`, `k2 = m1·A2 − m2·B2`, and `k1 + k2·λ ≡ k` because
/// lattice vectors vanish. Both are below 2^127 in absolute value, so computing them modulo
/// 2^128 (wrapping `u128` arithmetic on the low 128 bits of k) is exact.
fn glv_split(k: &[u64; 4]) -> [u128; 2] {
    let mut m1 = mul_shift_round(k, &ROUND_B2);
    let mut m2 = mul_shift_round(k, &ROUND_A2);
    let mut k_low = u128::from(k[0]) | (u128::from(k[1]) << 64);
    let k1 = k_low
        .wrapping_sub(m1.wrapping_mul(A1))
        .wrapping_sub(m2.wrapping_mul(A2));
    let k2 = m1.wrapping_mul(A2).wrapping_sub(m2.wrapping_mul(B2));
    m1.zeroize();
    m2.zeroize();
    k_low.zeroize();
    [k1, k2]
}

/// `round(k·g / 2^256)` for `k < 2^254` and `g < 2^130`, so the result is below 2^128.
///
/// Schoolbook product into 6 limbs (the 7th is always zero for these bounds), plus 2^255 to
/// round to nearest, keeping limbs 4 and 5. Every step runs for every input.
fn mul_shift_round(k: &[u64; 4], g: &[u64; 3]) -> u128 {
    let mut product = [0u64; 7];
    for (i, &k_limb) in k.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &g_limb) in g.iter().enumerate() {
            let t = u128::from(k_limb) * u128::from(g_limb)
                + u128::from(product[i + j])
                + u128::from(carry);
            product[i + j] = t as u64;
            carry = (t >> 64) as u64;
        }
        product[i + g.len()] = carry;
    }
    // + 2^255 rounds to nearest; the carry ripples through limbs 3 to 5 unconditionally.
    let (sum, carry) = product[3].overflowing_add(1 << 63);
    product[3] = sum;
    let (sum, carry) = product[4].overflowing_add(u64::from(carry));
    product[4] = sum;
    product[5] = product[5].wrapping_add(u64::from(carry));
    let rounded = u128::from(product[4]) | (u128::from(product[5]) << 64);
    product.zeroize();
    rounded
}

/// A half (or whole) scalar in the regular signed window form, with what the loop needs to undo
/// the oddification and apply the sign.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Recoded<const D: usize> {
    /// Odd digits in `−15..=15`, least significant first.
    digits: [i8; D],
    /// 1 if the value is negative (the points added are negated).
    negative: u8,
    /// 1 if the magnitude was even and had 1 added.
    even: u8,
}

impl<const D: usize> Recoded<D> {
    /// Recodes a two's complement GLV half.
    fn from_signed(half: u128) -> Self {
        // All ones for a negative half, else zero; `|half| = (half ^ mask) − mask`.
        let mut mask = 0u128.wrapping_sub(half >> 127);
        let mut magnitude = (half ^ mask).wrapping_sub(mask);
        let mut limbs = [magnitude as u64, (magnitude >> 64) as u64];
        let recoded = Self::new(&limbs, Choice::from((mask & 1) as u8));
        mask.zeroize();
        magnitude.zeroize();
        limbs.zeroize();
        recoded
    }

    /// Recodes a non-negative magnitude below `2^(WINDOW·D)`, whose sign is `negative`.
    ///
    /// Setting the low bit makes the value odd (adding 1 when it was even: no carry). With
    /// `w = WINDOW`, for odd `v` the digit `d = (v mod 2^(w+1)) − 2^w` is odd with `|d| < 2^w`,
    /// and `(v − d) / 2^w` equals `(v >> w) | 1`, odd again, so every digit is odd and nonzero;
    /// after `D − 1` steps what is left is odd and below 2^w, the last digit.
    fn new<const N: usize>(magnitude: &[u64; N], negative: Choice) -> Self {
        let mut v = *magnitude;
        let even = Choice::from((!v[0] & 1) as u8);
        v[0] |= 1;
        let mut digits = [0i8; D];
        let (last, rest) = digits.split_last_mut().expect("D > 0");
        for digit in rest {
            *digit = (v[0] & ((1 << (WINDOW + 1)) - 1)) as i8 - (1 << WINDOW);
            shift_right_window(&mut v);
            v[0] |= 1;
        }
        *last = v[0] as i8;
        v.zeroize();
        Self {
            digits,
            negative: negative.unwrap_u8(),
            even: even.unwrap_u8(),
        }
    }
}

/// `v >>= WINDOW` over little-endian limbs.
fn shift_right_window<const N: usize>(v: &mut [u64; N]) {
    for i in 0..N {
        let next = if i + 1 < N { v[i + 1] } else { 0 };
        v[i] = (v[i] >> WINDOW) | (next << (64 - WINDOW));
    }
}

/// `Σ halfᵢ·baseᵢ` where `tables[i]` holds the odd multiples of `baseᵢ`; the fixed loop of the
/// module docs.
fn mul_recoded<C: CtCurve, const H: usize, const D: usize>(
    tables: &[[Affine<C>; TABLE_LEN]; H],
    halves: &[Recoded<D>; H],
) -> Affine<C> {
    let mut acc = Homogeneous::<C>::IDENTITY;
    let mut entry = Affine::<C>::identity();
    for window in (0..D).rev() {
        // The loop index is public: the top window just has nothing to double yet.
        if window + 1 != D {
            for _ in 0..WINDOW {
                acc = acc.double();
            }
        }
        for (table, half) in tables.iter().zip(halves) {
            entry = lookup(table, half.digits[window], Choice::from(half.negative));
            acc = acc.add_affine(&entry);
        }
    }
    // A half that was even went through the loop as half + 1, adding its base once too often:
    // the subtraction is computed for every half and kept only where `even` is set.
    for (table, half) in tables.iter().zip(halves) {
        entry = negate_if(&table[0], !Choice::from(half.negative));
        let corrected = acc.add_affine(&entry);
        acc = Homogeneous::select(&acc, &corrected, Choice::from(half.even));
    }
    let result = acc.to_affine();
    acc.zeroize();
    entry.x.zeroize();
    entry.y.zeroize();
    result
}

/// `±|digit|·P` from the table of odd multiples, negated when the digit's sign differs from
/// `negative`. Reads every entry and keeps one by masked selection.
fn lookup<C: CtCurve>(table: &[Affine<C>; TABLE_LEN], digit: i8, negative: Choice) -> Affine<C> {
    #[cfg(test)]
    trace::record(trace::Op::Lookup);
    // `sign` is 0 or −1; `(digit ^ sign) − sign` is |digit|, odd, so the index is |digit| / 2.
    let sign = digit >> 7;
    let index = ((digit ^ sign) - sign) as u8 >> 1;
    let mut x = C::BaseField::ZERO;
    let mut y = C::BaseField::ZERO;
    for (i, candidate) in table.iter().enumerate() {
        let hit = (i as u8).ct_eq(&index);
        x = C::BaseField::select(&x, &candidate.x, hit);
        y = C::BaseField::select(&y, &candidate.y, hit);
    }
    let point = negate_if(
        &Affine::new_unchecked(x, y),
        Choice::from((sign & 1) as u8) ^ negative,
    );
    x.zeroize();
    y.zeroize();
    point
}

/// `−P` if `choice`, else `P`, by a masked select on y.
fn negate_if<C: CtCurve>(point: &Affine<C>, choice: Choice) -> Affine<C> {
    Affine::new_unchecked(point.x, C::BaseField::select(&point.y, &-point.y, choice))
}

/// `P, 3P, …, 15P` in affine form, with arkworks' arithmetic: P is public.
fn odd_multiples<C: CtCurve>(point: &Affine<C>) -> [Affine<C>; TABLE_LEN] {
    let twice = point.into_group().double();
    let mut multiples = [point.into_group(); TABLE_LEN];
    for i in 1..TABLE_LEN {
        multiples[i] = multiples[i - 1] + twice;
    }
    let affine = Projective::normalize_batch(&multiples);
    std::array::from_fn(|i| affine[i])
}

/// Base fields whose elements can be selected and inverted without branching on their value.
trait CtField: Field {
    /// `b` if `choice`, else `a`, by masking the Montgomery limbs.
    fn select(a: &Self, b: &Self, choice: Choice) -> Self;

    /// `self⁻¹` (and 0 for 0) by a fixed sequence of multiplications.
    fn invert_fixed(&self) -> Self;
}

impl CtField for Fq {
    fn select(a: &Self, b: &Self, choice: Choice) -> Self {
        // The limbs are arkworks' Montgomery representation; the same mask picks all four from
        // one of the two inputs, so the result is that input, a valid element.
        let mut out = *a;
        for (limb, other) in out.0.0.iter_mut().zip(&b.0.0) {
            limb.conditional_assign(other, choice);
        }
        out
    }

    fn invert_fixed(&self) -> Self {
        // Fermat: the exponent is public, so `pow`'s square-and-multiply branches on nothing
        // secret.
        self.pow(FQ_MODULUS_MINUS_TWO)
    }
}

impl CtField for Fq2 {
    fn select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self::new(
            Fq::select(&a.c0, &b.c0, choice),
            Fq::select(&a.c1, &b.c1, choice),
        )
    }

    fn invert_fixed(&self) -> Self {
        // (c0 + c1·u)⁻¹ = conjugate / norm, the norm being in Fq.
        let mut inverse = *self;
        inverse.conjugate_in_place();
        inverse.mul_assign_by_basefield(&self.norm().invert_fixed());
        inverse
    }
}

/// The BN254 curves (both `y² = x³ + b`) with their constant-time base field.
trait CtCurve: SWCurveConfig<BaseField: CtField> {
    /// `3b·x`, the constant the complete formulas multiply by.
    fn mul_by_3b(x: &Self::BaseField) -> Self::BaseField;
}

impl CtCurve for g1::Config {
    fn mul_by_3b(x: &Fq) -> Fq {
        // b = 3: 9x as 8x + x, three doublings and an addition instead of a multiplication.
        x.double().double().double() + x
    }
}

impl CtCurve for g2::Config {
    fn mul_by_3b(x: &Fq2) -> Fq2 {
        let bx = *x * Self::COEFF_B;
        bx.double() + bx
    }
}

/// A point in homogeneous projective coordinates, `(X : Y : Z)` for `(X/Z, Y/Z)`, identity
/// `(0 : 1 : 0)`.
#[derive(Clone, Copy)]
struct Homogeneous<C: CtCurve> {
    x: C::BaseField,
    y: C::BaseField,
    z: C::BaseField,
}

impl<C: CtCurve> Homogeneous<C> {
    const IDENTITY: Self = Self {
        x: C::BaseField::ZERO,
        y: C::BaseField::ONE,
        z: C::BaseField::ZERO,
    };

    /// `2·self`, complete for every input including the identity:
    /// `X' = 2XY(Y² − 9bZ²)`, `Y' = (Y² − 9bZ²)(Y² + 3bZ²) + 24bY²Z²`, `Z' = 8Y³Z`.
    fn double(&self) -> Self {
        #[cfg(test)]
        trace::record(trace::Op::Double);
        let yy = self.y.square();
        let bzz3 = C::mul_by_3b(&self.z.square());
        let minus = yy - bzz3.double() - bzz3;
        let plus = yy + bzz3;
        let yy8 = yy.double().double().double();
        Self {
            x: (self.x * self.y).double() * minus,
            y: minus * plus + yy8 * bzz3,
            z: yy8 * (self.y * self.z),
        }
    }

    /// `self + Q` for an affine `Q` that is not the identity (table entries never are), complete
    /// for every `self` including the identity and `±Q`:
    /// `X' = (XyQ + xQY)(YyQ − 3bZ) − 3b(Y + yQZ)(X + xQZ)`,
    /// `Y' = (YyQ + 3bZ)(YyQ − 3bZ) + 9bXxQ(X + xQZ)`,
    /// `Z' = (Y + yQZ)(YyQ + 3bZ) + 3XxQ(XyQ + xQY)`.
    fn add_affine(&self, q: &Affine<C>) -> Self {
        #[cfg(test)]
        trace::record(trace::Op::Add);
        let xx = self.x * q.x;
        let yy = self.y * q.y;
        let cross = (self.x + self.y) * (q.x + q.y) - xx - yy;
        let yz = q.y * self.z + self.y;
        let xz = C::mul_by_3b(&(q.x * self.z + self.x));
        let bz = C::mul_by_3b(&self.z);
        let plus = yy + bz;
        let minus = yy - bz;
        let xx3 = xx.double() + xx;
        Self {
            x: cross * minus - yz * xz,
            y: plus * minus + xx3 * xz,
            z: yz * plus + xx3 * cross,
        }
    }

    /// `b` if `choice`, else `a`.
    fn select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self {
            x: C::BaseField::select(&a.x, &b.x, choice),
            y: C::BaseField::select(&a.y, &b.y, choice),
            z: C::BaseField::select(&a.z, &b.z, choice),
        }
    }

    /// `(X/Z, Y/Z)`; the identity (`Z = 0`) comes out as `(0, 0)`, which is how arkworks
    /// encodes the identity on both BN254 curves (`ZeroFlag = ()`), so no branch is needed.
    fn to_affine(&self) -> Affine<C> {
        let mut z_inverse = self.z.invert_fixed();
        let point = Affine::new_unchecked(self.x * z_inverse, self.y * z_inverse);
        z_inverse.zeroize();
        point
    }
}

impl<C: CtCurve> Zeroize for Homogeneous<C> {
    fn zeroize(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
        self.z.zeroize();
    }
}

/// The sequence of group operations and table reads of the current thread, recorded by the
/// tests to check that it is the same for every scalar.
#[cfg(test)]
mod trace {
    use std::cell::RefCell;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Op {
        Double,
        Add,
        Lookup,
    }

    thread_local! {
        static OPS: RefCell<Vec<Op>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn record(op: Op) {
        OPS.with_borrow_mut(|ops| ops.push(op));
    }

    /// The operations recorded since the last call.
    pub(super) fn take() -> Vec<Op> {
        OPS.with_borrow_mut(std::mem::take)
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{B256, U256, U512};
    use ark_bn254::{G1Projective, G2Projective};
    use ark_ff::{One, Zero};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;
    use crate::hash_to_g1;

    const LAMBDA: Fr = g1::Config::LAMBDA;

    fn r() -> U256 {
        U256::from_limbs(Fr::MODULUS.0)
    }

    /// A two's complement half as a field element (`min` of the value and its negation is the
    /// magnitude: the other one is above 2^127).
    fn signed_to_fr(half: u128) -> Fr {
        let magnitude = Fr::from(half.wrapping_neg().min(half));
        if (half as i128) < 0 {
            -magnitude
        } else {
            magnitude
        }
    }

    /// Scalars that stress the edges: 0, 1, r − 1, halves that are zero or negative (each sign
    /// combination, checked in `glv_split_recombines_within_the_bound`), window boundaries and
    /// every power of two.
    fn edge_scalars() -> Vec<Fr> {
        let (one, three, five, seven) = (Fr::one(), Fr::from(3u64), Fr::from(5u64), Fr::from(7u64));
        let mut scalars = vec![
            Fr::zero(),
            one,
            Fr::from(2u64),
            three,
            -one,
            -Fr::from(2u64),
            five,                      // k2 = 0
            -five,                     // k1 < 0, k2 = 0
            LAMBDA,                    // k1 = 0, k2 = 1
            -LAMBDA,                   // k1 = 0, k2 < 0
            seven - three * LAMBDA,    // k1 > 0, k2 < 0
            -(seven + three * LAMBDA), // both negative
            Fr::from(15u64),
            Fr::from(16u64),
            Fr::from(u128::MAX),
        ];
        scalars.extend((0..254).map(|i| Fr::from(2u64).pow([i])));
        scalars
    }

    fn random_scalars(seed: u64, n: usize) -> Vec<Fr> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| Fr::from_le_bytes_mod_order(&rng.random::<[u8; 64]>()))
            .collect()
    }

    #[test]
    fn glv_constants_are_arkworks_basis_and_its_rounding() {
        let coefficients = g1::Config::SCALAR_DECOMP_COEFFS;
        let as_u128 = |limbs: [u64; 4]| {
            assert_eq!(limbs[2..], [0, 0]);
            u128::from(limbs[0]) | (u128::from(limbs[1]) << 64)
        };
        // (sign, magnitude) of n11, n12, n21, n22: v1 = (−A1, A2), v2 = (−A2, −B2).
        let expected = [(false, A1), (true, A2), (false, A2), (false, B2)];
        for ((positive, magnitude), (want_positive, want)) in coefficients.iter().zip(expected) {
            assert_eq!((*positive, as_u128(magnitude.0)), (want_positive, want));
        }
        // Both basis vectors are in the GLV lattice: a + b·λ ≡ 0.
        assert!((-Fr::from(A1) + Fr::from(A2) * LAMBDA).is_zero());
        assert!((-Fr::from(A2) - Fr::from(B2) * LAMBDA).is_zero());

        let r = U512::from(r());
        let rounded = |magnitude: u128| ((U512::from(magnitude) << 256) + (r >> 1)) / r;
        let limbs = |l: [u64; 3]| U512::from_limbs_slice(&l);
        assert_eq!(limbs(ROUND_B2), rounded(B2));
        assert_eq!(limbs(ROUND_A2), rounded(A2));
    }

    #[test]
    fn glv_split_recombines_within_the_bound() {
        let mut signs_seen = [[false; 2]; 2];
        for k in edge_scalars().into_iter().chain(random_scalars(1, 2000)) {
            let [k1, k2] = glv_split(&k.into_bigint().0);
            assert_eq!(signed_to_fr(k1) + signed_to_fr(k2) * LAMBDA, k, "k = {k}");
            for (half, seen) in [k1, k2].into_iter().zip(&mut signs_seen) {
                let magnitude = half.wrapping_neg().min(half);
                // 2^126.12 < 1.09·2^126.
                assert!(magnitude < (1u128 << 126) / 100 * 109, "k = {k}");
                seen[usize::from((half as i128) < 0)] = true;
            }
        }
        assert_eq!(
            signs_seen, [[true; 2]; 2],
            "both signs of both halves exercised"
        );
        let split = |k: Fr| glv_split(&k.into_bigint().0).map(|half| half as i128);
        let (three, five, seven) = (Fr::from(3u64), Fr::from(5u64), Fr::from(7u64));
        assert_eq!(split(Fr::zero()), [0, 0]);
        assert_eq!(split(five), [5, 0]);
        assert_eq!(split(-five), [-5, 0]);
        assert_eq!(split(LAMBDA), [0, 1]);
        assert_eq!(split(-LAMBDA), [0, -1]);
        assert_eq!(split(seven - three * LAMBDA), [7, -3]);
        assert_eq!(split(-(seven + three * LAMBDA)), [-7, -3]);
    }

    fn check_recoding<const N: usize, const D: usize>(value: U256) {
        let limbs: [u64; N] = std::array::from_fn(|i| value.as_limbs()[i]);
        let recoded = Recoded::<D>::new(&limbs, Choice::from(0));
        let odd = value | U256::from(1);
        assert_eq!(recoded.even, u8::from(!value.bit(0)), "{value}");
        // Σ dᵢ·2^(5i) in wrapping 256-bit arithmetic: exact, since the sum is below 2^255.
        let mut sum = U256::ZERO;
        for (i, &digit) in recoded.digits.iter().enumerate() {
            assert!(
                digit % 2 != 0 && digit.abs() < 1 << WINDOW,
                "digit {digit} of {value}"
            );
            let term = U256::from(digit.unsigned_abs()) << (WINDOW as usize * i);
            sum = if digit < 0 {
                sum.wrapping_sub(term)
            } else {
                sum.wrapping_add(term)
            };
        }
        assert_eq!(sum, odd, "{value}");
    }

    #[test]
    fn recoding_has_odd_digits_and_sums_back() {
        let mut rng = StdRng::seed_from_u64(2);
        let g1_max = (U256::from(1) << 127) - U256::from(1);
        for value in [
            U256::ZERO,
            U256::from(1),
            U256::from(2),
            U256::from(32),
            g1_max,
        ]
        .into_iter()
        .chain((0..500).map(|_| U256::from(rng.random::<u128>() >> 1)))
        {
            check_recoding::<2, G1_DIGITS>(value);
        }
        for value in [
            U256::ZERO,
            U256::from(1),
            r() - U256::from(1),
            r() - U256::from(2),
        ]
        .into_iter()
        .chain((0..500).map(|_| U256::from_limbs(rng.random::<[u64; 4]>()) % r()))
        {
            check_recoding::<4, G2_DIGITS>(value);
        }
        let negative = Recoded::<G1_DIGITS>::from_signed(-6i128 as u128);
        assert_eq!((negative.negative, negative.even), (1, 1));
        // 7 = −9 − 15·(16 + … + 16^30) + 16^31: a short value still gets all 32 digits.
        let mut expected = [-15i8; G1_DIGITS];
        (expected[0], expected[G1_DIGITS - 1]) = (-9, 1);
        assert_eq!(negative.digits, expected);
    }

    #[test]
    fn complete_formulas_handle_the_exceptional_cases() {
        type G1 = Homogeneous<g1::Config>;
        let p = hash_to_g1(B256::repeat_byte(1));
        let from = |a: &G1Affine| G1::IDENTITY.add_affine(a);
        assert_eq!(from(&p).to_affine(), p); // O + P
        assert_eq!(from(&p).add_affine(&p).to_affine(), (p + p).into_affine()); // P + P
        assert!(from(&p).add_affine(&-p).to_affine().is_zero()); // P − P
        assert!(G1::IDENTITY.double().to_affine().is_zero());
        assert_eq!(from(&p).double().to_affine(), (p + p).into_affine());
        assert!(G1::IDENTITY.to_affine().is_zero());

        type G2 = Homogeneous<g2::Config>;
        let q = (G2Affine::generator() * Fr::from(77u64)).into_affine();
        let from2 = |a: &G2Affine| G2::IDENTITY.add_affine(a);
        assert_eq!(from2(&q).add_affine(&q).to_affine(), (q + q).into_affine());
        assert!(from2(&q).add_affine(&-q).to_affine().is_zero());
        assert_eq!(from2(&q).double().to_affine(), (q + q).into_affine());
    }

    #[test]
    fn g1_product_matches_arkworks() {
        let base = hash_to_g1(B256::repeat_byte(3));
        for k in edge_scalars().into_iter().chain(random_scalars(3, 300)) {
            let expected = (G1Projective::from(base) * k).into_affine();
            assert_eq!(mul_g1(&base, &k), expected, "k = {k}");
            assert_eq!(mul_g1(&-base, &k), -expected, "k = {k}");
            assert_eq!(
                mul_g1(&G1Affine::generator(), &k),
                (G1Affine::generator() * k).into_affine(),
                "k = {k}"
            );
        }
        assert!(mul_g1(&G1Affine::identity(), &Fr::from(5u64)).is_zero());
        assert!(mul_g1(&base, &Fr::zero()).is_zero());
    }

    #[test]
    fn g2_product_matches_arkworks() {
        let base = G2Affine::generator();
        for k in edge_scalars().into_iter().chain(random_scalars(4, 40)) {
            let expected = (G2Projective::from(base) * k).into_affine();
            assert_eq!(mul_g2(&base, &k), expected, "k = {k}");
        }
        assert!(mul_g2(&G2Affine::identity(), &Fr::from(5u64)).is_zero());
        assert!(mul_g2(&base, &Fr::zero()).is_zero());
    }

    /// The side-channel property itself, as far as a test can see it: the exact sequence of
    /// doublings, additions and table reads is the same for scalars with very different bit
    /// patterns (a double-and-add or w-NAF loop gives each of these a different sequence).
    #[test]
    fn operation_sequence_does_not_depend_on_the_scalar() {
        use trace::Op;

        let count = |ops: &[Op], op: Op| ops.iter().filter(|&&o| o == op).count();
        let scalars = [
            Fr::one(),
            -Fr::one(),
            Fr::zero(),
            Fr::from(2u64).pow([253]),
            LAMBDA,
            random_scalars(5, 1)[0],
        ];
        let base = hash_to_g1(B256::repeat_byte(9));

        // Each run also checks its product, so the traces compared are of correct runs.
        let g1_trace = |k: &Fr| {
            assert_eq!(mul_g1(&base, k), (base * k).into_affine(), "k = {k}");
            trace::take()
        };
        let g2_trace = |k: &Fr| {
            let generator = G2Affine::generator();
            assert_eq!(
                mul_g2(&generator, k),
                (generator * k).into_affine(),
                "k = {k}"
            );
            trace::take()
        };

        trace::take();
        let reference = g1_trace(&scalars[0]);
        // WINDOW doublings per window after the top one; one addition per digit of each half,
        // plus the two oddness corrections; one full-table read per digit.
        let window = WINDOW as usize;
        assert_eq!(count(&reference, Op::Double), (G1_DIGITS - 1) * window);
        assert_eq!(count(&reference, Op::Add), 2 * G1_DIGITS + 2);
        assert_eq!(count(&reference, Op::Lookup), 2 * G1_DIGITS);
        for k in &scalars[1..] {
            assert_eq!(g1_trace(k), reference, "G1, k = {k}");
        }

        let reference = g2_trace(&scalars[0]);
        assert_eq!(count(&reference, Op::Double), (G2_DIGITS - 1) * window);
        assert_eq!(count(&reference, Op::Add), G2_DIGITS + 1);
        assert_eq!(count(&reference, Op::Lookup), G2_DIGITS);
        for k in &scalars[1..] {
            assert_eq!(g2_trace(k), reference, "G2, k = {k}");
        }
    }
}

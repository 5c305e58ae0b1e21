//! Go's `math` functions where Rust's differ in the last bit or on NaN.

/// Go's `math.Max`: NaN if either is NaN (Rust's `max` ignores a NaN), +0 over -0.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN if either is NaN, -0 over +0.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// Go's `math.Log` (the FreeBSD `e_log.c` method Go uses): the C library's `log` rounds
/// differently in the last bit for some inputs, and rules compare values exactly.
pub(crate) fn go_log(x: f64) -> f64 {
    // ln(2) split in two, and the polynomial's coefficients (bit patterns of e_log.c).
    let ln2_hi = f64::from_bits(0x3fe6_2e42_fee0_0000);
    let ln2_lo = f64::from_bits(0x3dea_39ef_3579_3c76);
    let l: [f64; 7] = [
        f64::from_bits(0x3fe5_5555_5555_5593),
        f64::from_bits(0x3fd9_9999_9997_fa04),
        f64::from_bits(0x3fd2_4924_9422_9359),
        f64::from_bits(0x3fcc_71c5_1d8e_78af),
        f64::from_bits(0x3fc7_4664_96cb_03de),
        f64::from_bits(0x3fc3_9a09_d078_c69f),
        f64::from_bits(0x3fc2_f112_df3e_5244),
    ];
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::FRAC_1_SQRT_2 {
        f1 *= 2.0;
        ki -= 1;
    }
    let f = f1 - 1.0;
    let k = f64::from(ki);
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (l[0] + s4 * (l[2] + s4 * (l[4] + s4 * l[6])));
    let t2 = s4 * (l[1] + s4 * (l[3] + s4 * l[5]));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * ln2_hi - ((hfsq - (s * (hfsq + r) + k * ln2_lo)) - f)
}

/// Go's `math.Frexp`: `x = frac × 2^exp` with `frac` in [0.5, 1) (x finite and non-zero).
fn frexp(x: f64) -> (f64, i32) {
    let (mut x, mut exp) = (x, 0);
    if x.abs() < f64::MIN_POSITIVE {
        // subnormal: normalise first
        x *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's `math.Log2`: exact for powers of two, else `Log(frac)/Ln2 + exp`.
pub(crate) fn go_log2(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return go_log(x);
    }
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    // Go folds the constant 1/Ln2 exactly: log2(e) rounded once.
    go_log(frac) * std::f64::consts::LOG2_E + f64::from(exp)
}

/// Go's `math.Log10`: `Log(x) × (1/Ln10)`.
pub(crate) fn go_log10(x: f64) -> f64 {
    // Go folds the constant 1/Ln10 exactly: log10(e) rounded once.
    go_log(x) * std::f64::consts::LOG10_E
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by Prometheus 2.42 (Go's math package), where the C library differs.
    #[test]
    fn logarithms_as_go_computes_them() {
        assert_eq!(go_log(3.0), 1.0986122886681096);
        assert_ne!(
            3.0_f64.ln(),
            1.0986122886681096,
            "glibc rounds the other way"
        );
        assert_eq!(go_log10(0.1), -0.9999999999999999);
        assert_eq!(go_log10(1000.0), 3.0);
        assert_eq!(go_log2(8.0), 3.0);
        assert_eq!(go_log(0.0), f64::NEG_INFINITY);
        assert!(go_log(-1.0).is_nan());
        assert_eq!(go_log(f64::INFINITY), f64::INFINITY);
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
    }
}

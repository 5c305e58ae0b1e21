//! Samples: a timestamp and a float value, with Prometheus's staleness marker.

use crate::clock::Timestamp;

/// The bit pattern Prometheus uses as a staleness marker: a NaN that ends a series.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// One sample of a series.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: Timestamp,
    /// The value.
    pub v: f64,
}

impl Sample {
    /// A sample.
    pub const fn new(t: Timestamp, v: f64) -> Self {
        Sample { t, v }
    }
    /// A staleness marker at `t`.
    pub fn stale(t: Timestamp) -> Self {
        Sample {
            t,
            v: f64::from_bits(STALE_NAN_BITS),
        }
    }
    /// Whether this sample is a staleness marker (compares bits, not values).
    pub fn is_stale(&self) -> bool {
        self.v.to_bits() == STALE_NAN_BITS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_distinguished_from_ordinary_nan() {
        assert!(Sample::stale(5).is_stale());
        assert!(!Sample::new(5, f64::NAN).is_stale());
        assert!(!Sample::new(5, 1.0).is_stale());
    }
}

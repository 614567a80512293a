//! What can be logged as a metric value.

/// A value that `run.log` accepts: every Rust number, and `bool` (as 1 or 0).
///
/// Metrics are stored as `f64`, as on the server. Integers beyond 2^53 lose precision, exactly as
/// they would in MLflow. NaN and the infinities are kept.
///
/// ```
/// use run_runtime::MetricValue;
/// assert_eq!(3u8.to_f64(), 3.0);
/// assert_eq!(true.to_f64(), 1.0);
/// assert!(f32::NAN.to_f64().is_nan());
/// ```
pub trait MetricValue: Copy {
    /// The value as the server stores it.
    fn to_f64(self) -> f64;
}

macro_rules! lossless {
    ($($t:ty)*) => {$(
        impl MetricValue for $t {
            #[inline]
            fn to_f64(self) -> f64 { f64::from(self) }
        }
    )*};
}
lossless!(f64 f32 i8 i16 i32 u8 u16 u32);

macro_rules! rounded {
    ($($t:ty)*) => {$(
        impl MetricValue for $t {
            #[inline]
            #[allow(clippy::cast_precision_loss)]
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
rounded!(i64 u64 i128 u128 isize usize);

impl MetricValue for bool {
    #[inline]
    fn to_f64(self) -> f64 {
        if self { 1.0 } else { 0.0 }
    }
}

impl<T: MetricValue> MetricValue for &T {
    #[inline]
    fn to_f64(self) -> f64 {
        (*self).to_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::MetricValue;

    #[test]
    fn every_number_and_bool_converts() {
        assert_eq!(1i8.to_f64(), 1.0);
        assert_eq!((-2i16).to_f64(), -2.0);
        assert_eq!(3i32.to_f64(), 3.0);
        assert_eq!(4i64.to_f64(), 4.0);
        assert_eq!(5i128.to_f64(), 5.0);
        assert_eq!(6isize.to_f64(), 6.0);
        assert_eq!(7u8.to_f64(), 7.0);
        assert_eq!(8u16.to_f64(), 8.0);
        assert_eq!(9u32.to_f64(), 9.0);
        assert_eq!(10u64.to_f64(), 10.0);
        assert_eq!(11u128.to_f64(), 11.0);
        assert_eq!(12usize.to_f64(), 12.0);
        assert_eq!(0.5f32.to_f64(), 0.5);
        assert_eq!(0.25f64.to_f64(), 0.25);
        assert_eq!(false.to_f64(), 0.0);
        assert_eq!((&2u8).to_f64(), 2.0);
        assert_eq!(f64::INFINITY.to_f64(), f64::INFINITY);
    }
}

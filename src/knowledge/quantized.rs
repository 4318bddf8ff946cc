//! Passage vectors as int8, for the first pass over every passage of a query. A unit
//! vector's components are small and even, so one scale per vector keeps its dot products
//! within about one percent, and the scan reads a quarter of the bytes: at 10,000
//! articles the float scan read 61 MB per query. The index re-scores its candidates with
//! the float vectors, so the scores users see are exact.

use super::embed::DIMS;

pub struct QuantizedVectors {
    /// `DIMS` values a passage, each the component divided by the passage's scale.
    values: Vec<i8>,
    scales: Vec<f32>,
}

/// One vector as int8 values and the scale that maps them back.
pub fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let largest = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
    let values = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (values, scale)
}

/// Integer dot product in sixteen independent lanes, which the compiler turns into
/// widening multiply-adds.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let (a16, a_rest) = a.as_chunks::<16>();
    let (b16, b_rest) = b.as_chunks::<16>();
    for (x, y) in a16.iter().zip(b16) {
        for i in 0..16 {
            lanes[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let tail: i32 = a_rest
        .iter()
        .zip(b_rest)
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    lanes.iter().sum::<i32>() + tail
}

impl QuantizedVectors {
    /// Quantizes flat float vectors, `DIMS` each.
    pub fn new(vectors: &[f32]) -> Self {
        let mut values = Vec::with_capacity(vectors.len());
        let mut scales = Vec::with_capacity(vectors.len() / DIMS);
        for v in vectors.chunks_exact(DIMS) {
            let (q, scale) = quantize(v);
            values.extend(q);
            scales.push(scale);
        }
        Self { values, scales }
    }

    /// The approximate similarity of passage `p` to a query quantized with [`quantize`].
    pub fn similarity(&self, p: usize, query: &[i8], query_scale: f32) -> f32 {
        let v = &self.values[p * DIMS..(p + 1) * DIMS];
        dot_i8(query, v) as f32 * query_scale * self.scales[p]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::embed::dot;

    /// A unit vector that varies with `seed`, like a sentence vector's spread.
    fn unit(seed: u32) -> Vec<f32> {
        let v: Vec<f32> = (0..DIMS as u32)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0).powi(3))
            .collect();
        let norm = dot(&v, &v).sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn approximate_similarities_stay_close_to_the_float_ones() {
        let passages: Vec<f32> = (0..20).flat_map(unit).collect();
        let quantized = QuantizedVectors::new(&passages);
        let query = unit(99);
        let (q, scale) = quantize(&query);
        for p in 0..20 {
            let exact = dot(&query, &passages[p * DIMS..(p + 1) * DIMS]);
            let approx = quantized.similarity(p, &q, scale);
            assert!((exact - approx).abs() < 0.01, "{p}: {exact} vs {approx}");
        }
    }

    #[test]
    fn integer_dot_matches_the_plain_sum() {
        let a: Vec<i8> = (0..40).map(|i| (i * 5 - 100) as i8).collect();
        let b: Vec<i8> = (0..40).map(|i| (70 - i * 3) as i8).collect();
        let plain: i32 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum();
        assert_eq!(dot_i8(&a, &b), plain);
    }
}

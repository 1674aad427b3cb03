//! Shared pieces of the proptest suites (`properties.rs`,
//! `parser_props_http.rs`, `parser_props_frames.rs`).

use std::fmt;

use proptest::prelude::ProptestConfig;
use proptest::sample::Index;

/// The default configuration (`PROPTEST_CASES` respected) without
/// regression files: an integration test has no source root to keep them.
pub fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// Sorted, de-duplicated cut points into a sequence of `len` items.
pub fn cut_points(cuts: &[Index], len: usize) -> Vec<usize> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    at.sort_unstable();
    at.dedup();
    at
}

/// `bytes` cut at `cuts` (possibly into empty chunks at the ends).
pub fn chunks<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut prev = 0;
    for at in cut_points(cuts, bytes.len()) {
        out.push(&bytes[prev..at]);
        prev = at;
    }
    out.push(&bytes[prev..]);
    out
}

/// Bytes shown as escaped text (long middles elided) in failure reports.
#[derive(Clone, PartialEq)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        if b.len() <= 600 {
            return write!(f, "{} bytes \"{}\"", b.len(), b.escape_ascii());
        }
        let (head, tail) = (&b[..400], &b[b.len() - 120..]);
        write!(f, "{} bytes \"{}\" ... \"{}\"", b.len(), head.escape_ascii(), tail.escape_ascii())
    }
}

/// `n` bytes of a repeating pattern (cheap large payloads).
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| seed.wrapping_add((i % 251) as u8)).collect()
}

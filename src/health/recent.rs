//! The last probe results of a target, as bits, for the status page's strip.

/// The last [`Recent::LEN`] probe results of a target, as bits (1 = ok).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    bits: u64,
    len: u8,
}

impl Recent {
    pub const LEN: u8 = 40;

    pub fn push(&mut self, ok: bool) {
        self.bits = (self.bits << 1) | u64::from(ok);
        self.len = (self.len + 1).min(Self::LEN);
    }

    /// Oldest first.
    pub fn results(&self) -> Vec<bool> {
        (0..self.len)
            .rev()
            .map(|i| self.bits >> i & 1 == 1)
            .collect()
    }
}

//! The event trace: every event of a run is formatted into a running
//! FNV-1a hash (the determinism check compares it), and kept as text when
//! `--trace` asks for it.

use core::fmt;

/// FNV-1a, 64 bits: tiny, stable across Rust versions, good enough to tell
/// two traces apart.
#[derive(Clone, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The trace of one run.
#[derive(Debug, Default)]
pub struct Trace {
    hash: Fnv,
    /// The text, when kept.
    text: Option<String>,
    lines: u64,
}

struct Sink<'a>(&'a mut Trace);

impl fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.hash.write(s.as_bytes());
        if let Some(t) = &mut self.0.text {
            t.push_str(s);
        }
        Ok(())
    }
}

impl Trace {
    pub fn new(keep_text: bool) -> Trace {
        Trace {
            hash: Fnv::default(),
            text: keep_text.then(String::new),
            lines: 0,
        }
    }

    /// Appends one line.
    pub fn line(&mut self, args: fmt::Arguments<'_>) {
        let _ = fmt::write(&mut Sink(self), args);
        let _ = fmt::Write::write_str(&mut Sink(self), "\n");
        self.lines += 1;
    }

    /// Mixes raw bytes (the payload of a transfer) into the hash only,
    /// eight at a time (FNV over every byte costs more than the engines).
    pub fn bytes(&mut self, b: &[u8]) {
        let mut h = self.hash.0 ^ (b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.hash.0 = h;
    }

    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn take_text(&mut self) -> Option<String> {
        self.text.take()
    }
}

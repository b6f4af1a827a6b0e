//! Flow-control windows (RFC 9113 §5.2, §6.9): HAProxy's `h2c->mws` /
//! `h2s->sws` (what the peer lets us send) and the receive windows it
//! advertises.
//!
//! A window is an `i32`: a SETTINGS_INITIAL_WINDOW_SIZE lowered while data
//! is in flight makes stream windows negative (§6.9.2), and the sender then
//! waits for WINDOW_UPDATEs to bring it above zero. It never exceeds
//! 2^31-1 ([`MAX_WINDOW_SIZE`]): an update past it is a FLOW_CONTROL_ERROR,
//! on the stream for a stream window and on the connection for the
//! connection's (§6.9.1) or for a settings change (§6.9.2). Data received
//! beyond a window is a FLOW_CONTROL_ERROR with the scope of the window it
//! overran.

use super::frame::{ErrorCode, H2Error, DEFAULT_INITIAL_WINDOW_SIZE, MAX_WINDOW_SIZE};

/// One flow-control window of a connection (`stream_id` 0) or a stream.
/// Invariant: `-2^31 < size <= 2^31-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    size: i32,
    stream_id: u32,
}

impl Window {
    /// A window of `size` bytes (at most [`MAX_WINDOW_SIZE`], clamped) for
    /// the connection (`stream_id` 0) or a stream.
    pub fn new(stream_id: u32, size: u32) -> Self {
        Window {
            size: size.min(MAX_WINDOW_SIZE) as i32,
            stream_id,
        }
    }

    /// The connection's initial window (65,535, not changed by SETTINGS).
    pub fn connection() -> Self {
        Window::new(0, DEFAULT_INITIAL_WINDOW_SIZE)
    }

    /// The current size, negative after a lowered initial window.
    pub fn size(&self) -> i32 {
        self.size
    }

    /// Bytes that may be sent (or received) now.
    pub fn available(&self) -> u32 {
        self.size.max(0) as u32
    }

    fn error(&self, conn: bool, reason: &'static str) -> H2Error {
        let code = ErrorCode::FLOW_CONTROL_ERROR;
        if conn || self.stream_id == 0 {
            H2Error::Connection { code, reason }
        } else {
            H2Error::Stream {
                stream_id: self.stream_id,
                code,
                reason,
            }
        }
    }

    /// A WINDOW_UPDATE of `increment` (§6.9.1): past 2^31-1 is a
    /// FLOW_CONTROL_ERROR (stream or connection, as the window). The window
    /// is unchanged on error.
    pub fn increase(&mut self, increment: u32) -> Result<(), H2Error> {
        let new = i64::from(self.size) + i64::from(increment);
        if new > i64::from(MAX_WINDOW_SIZE) {
            return Err(self.error(false, "flow-control window above 2^31-1"));
        }
        self.size = new as i32;
        Ok(())
    }

    /// `n` flow-controlled bytes received (a DATA frame's whole payload,
    /// padding included): more than the window allows is a
    /// FLOW_CONTROL_ERROR (stream or connection, as the window).
    pub fn consume(&mut self, n: u32) -> Result<(), H2Error> {
        if n > self.available() {
            return Err(self.error(false, "data beyond the flow-control window"));
        }
        self.size -= n as i32;
        Ok(())
    }

    /// How much of `wanted` may be sent now; the caller then [`Window::sent`]s it.
    pub fn credit(&self, wanted: usize) -> u32 {
        wanted.min(self.available() as usize) as u32
    }

    /// `n` bytes were sent within [`Window::credit`].
    pub fn sent(&mut self, n: u32) {
        debug_assert!(n <= self.available(), "sent beyond the window");
        self.size -= n.min(self.available()) as i32;
    }

    /// SETTINGS_INITIAL_WINDOW_SIZE went from `old` to `new` (§6.9.2): a
    /// stream window moves by the difference, possibly below zero; above
    /// 2^31-1 is a connection FLOW_CONTROL_ERROR. The connection window is
    /// not affected (call this on stream windows only).
    pub fn apply_initial_change(&mut self, old: u32, new: u32) -> Result<(), H2Error> {
        debug_assert!(
            self.stream_id != 0,
            "the connection window ignores SETTINGS"
        );
        let size = i64::from(self.size) + i64::from(new) - i64::from(old);
        if size > i64::from(MAX_WINDOW_SIZE) {
            return Err(self.error(true, "SETTINGS_INITIAL_WINDOW_SIZE overflows a window"));
        }
        // A window is at least `new - (bytes in flight)`, and what is in
        // flight never exceeded `old`: it stays at or above -(2^31-1). The
        // clamp only keeps a misused window representable.
        self.size = size.max(-i64::from(MAX_WINDOW_SIZE)) as i32;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_past_the_maximum_is_a_flow_control_error() {
        // RFC 9113 §6.9.1.
        let mut w = Window::new(3, MAX_WINDOW_SIZE - 10);
        assert_eq!(w.increase(10), Ok(()));
        assert_eq!(w.size(), MAX_WINDOW_SIZE as i32);
        let e = w.increase(1).unwrap_err();
        assert!(matches!(
            e,
            H2Error::Stream {
                stream_id: 3,
                code: ErrorCode::FLOW_CONTROL_ERROR,
                ..
            }
        ));
        assert_eq!(w.size(), MAX_WINDOW_SIZE as i32, "unchanged on error");
        let mut c = Window::connection();
        assert_eq!(c.increase(MAX_WINDOW_SIZE - 65_535), Ok(()));
        assert!(matches!(
            c.increase(1),
            Err(H2Error::Connection {
                code: ErrorCode::FLOW_CONTROL_ERROR,
                ..
            })
        ));
    }

    #[test]
    fn receive_beyond_the_window() {
        let mut w = Window::new(1, 100);
        assert_eq!(w.consume(60), Ok(()));
        assert_eq!(w.consume(40), Ok(()));
        assert_eq!(w.available(), 0);
        assert!(matches!(
            w.consume(1),
            Err(H2Error::Stream { stream_id: 1, .. })
        ));
        let mut c = Window::connection();
        assert!(matches!(c.consume(65_536), Err(H2Error::Connection { .. })));
    }

    #[test]
    fn initial_window_change_can_go_negative_and_overflow() {
        // RFC 9113 §6.9.2: 65535 -> 16384 with 60000 in flight leaves the
        // stream at -10849; the sender waits for updates.
        let mut w = Window::new(1, 65_535);
        w.sent(w.credit(60_000));
        assert_eq!(w.apply_initial_change(65_535, 16_384), Ok(()));
        assert_eq!(w.size(), 5_535 - 49_151);
        assert_eq!(w.available(), 0);
        assert_eq!(w.credit(10), 0);
        assert_eq!(w.increase(50_000), Ok(()));
        assert_eq!(w.size(), 6_384);
        // Raising the setting past 2^31-1 for a window is a connection error.
        let mut w = Window::new(1, 65_535);
        let e = w.apply_initial_change(0, MAX_WINDOW_SIZE).unwrap_err();
        assert!(matches!(
            e,
            H2Error::Connection {
                code: ErrorCode::FLOW_CONTROL_ERROR,
                ..
            }
        ));
        // Extreme lowering stays representable.
        let mut w = Window::new(1, 0);
        assert_eq!(w.apply_initial_change(MAX_WINDOW_SIZE, 0), Ok(()));
        assert_eq!(w.size(), -(MAX_WINDOW_SIZE as i32));
    }

    proptest::proptest! {
        /// Whatever a peer sends (updates, data, settings changes), a window
        /// stays within (-2^31, 2^31-1] and errors leave it unchanged.
        #[test]
        fn stays_in_bounds(ops in proptest::collection::vec((0u8..4, 0u32..=MAX_WINDOW_SIZE), 0..64)) {
            let mut w = Window::new(1, DEFAULT_INITIAL_WINDOW_SIZE);
            let mut initial = DEFAULT_INITIAL_WINDOW_SIZE;
            for (op, n) in ops {
                let before = w;
                let r = match op {
                    0 => w.increase(n.max(1)),
                    1 => w.consume(n % 100_000),
                    2 => {
                        w.sent(w.credit(n as usize));
                        Ok(())
                    }
                    _ => {
                        let r = w.apply_initial_change(initial, n);
                        if r.is_ok() {
                            initial = n;
                        }
                        r
                    }
                };
                if r.is_err() {
                    proptest::prop_assert_eq!(w, before);
                }
                proptest::prop_assert!(w.size() > i32::MIN && w.size() <= MAX_WINDOW_SIZE as i32);
            }
        }
    }
}

//! `mux_pt` (`mux_pt.c`): the pass-through mux of TCP mode (and, until
//! `mux_h1`, of HTTP mode, whose analysers parse in the channel). One
//! stream at a time; bytes are not looked at.

use crate::arena::Id;
use crate::stream::Stream;

/// `struct mux_pt_ctx`: the one stream carried, if any.
///
/// Invariant: at most one stream; a server connection without one is
/// idle (in a server's idle pool or a session's private list), a client
/// connection without one is between two streams or lingering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MuxPt {
    stream: Option<Id<Stream>>,
}

impl MuxPt {
    pub(crate) fn new(stream: Option<Id<Stream>>) -> MuxPt {
        MuxPt { stream }
    }

    /// The stream carried.
    pub fn stream(&self) -> Option<Id<Stream>> {
        self.stream
    }

    pub(crate) fn attach(&mut self, stream: Id<Stream>) -> bool {
        if self.stream.is_some() {
            return false;
        }
        self.stream = Some(stream);
        true
    }

    pub(crate) fn detach(&mut self, stream: Id<Stream>) {
        crate::bug_on!(
            self.stream.is_some_and(|s| s != stream),
            "mux_pt: detaching a stream it does not carry"
        );
        self.stream = None;
    }
}

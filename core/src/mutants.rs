//! Historic HAProxy peers bugs (and a classic TLS transport bug), switched
//! on one at a time to prove that the
//! simulator catches them (`--mutant NAME`). Compiled only with the
//! `mutants` feature: without it, none of this code is in the build.
//!
//! The active mutant is engine state (`EngineOptions::mutant`, copied into
//! each peers section), so that engines with different mutants can run side
//! by side in one process (parallel tests).

/// One historic bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutant {
    /// Reconnect at once after a disconnect: the connect/accept/close loop.
    NoReconnectDelay,
    /// A received frequency counter's age added to now instead of subtracted.
    FreqAgeSign,
    /// A resync timeout that has already expired is re-armed (0 ms wake-ups).
    ResyncExpiredRearm,
    /// After teaching, the last-pushed position is reset to the start of the
    /// update log instead of the teaching origin (updates pushed again).
    TeachOriginReset,
    /// Integer keys sent without conversion to network byte order.
    IntKeyByteOrder,
    /// A freshly created outgoing session is shut down when the remote
    /// connected at the same moment (a stuck session).
    ShutdownFreshSession,
    /// The ack carries the table-definition id instead of the update id.
    AckWrongId,
    /// TLS: an end of input inside a record read as a clean close (the
    /// truncation class of bugs: the bytes of the cut record, and all the
    /// peer sent after a bogus record header, are lost unnoticed).
    TlsEofInRecord,
    /// Reverse HTTP: a dialed connection's requests are processed before
    /// its listener accepted it (no session, limits ignored).
    RhttpHeadersBeforeAccept,
    /// Reverse HTTP: a failed connection is retried at once (a reconnect
    /// storm against the public node).
    RhttpNoRetryDelay,
    /// Reverse HTTP, public side: a reversed connection whose last stream
    /// ended goes to the idle pool like any other (purged there: the edge
    /// is cut off until it dials again).
    RhttpReversedIdle,
    /// Reverse HTTP, public side: a request takes any reversed connection
    /// of its server, whatever its `attach-srv` name.
    RhttpNameIgnored,
    /// Reverse HTTP, public side: a reversed connection already in its
    /// server's available list is added to it again (HAProxy's reversed
    /// connection inserted twice in the idle tree: one connection counted
    /// as two, and the list corrupted once it is freed).
    RhttpAvailTwice,
    /// DNS: a server that has an address keeps it whatever the answers
    /// say (an address change is ignored; only servers without an
    /// address take one).
    DnsIgnoreChange,
    /// HTTP/2, client side: a WINDOW_UPDATE is credited to the newest
    /// stream instead of the one it names (the stream it named stalls,
    /// the other one sends past its peer's window).
    H2WindowUpdateWrongStream,
    /// HTTP/2: CONTINUATION frames are taken without a bound on the
    /// field block (CVE-2024-27316's class: an endless field block is read
    /// for ever).
    H2ContinuationUnbounded,
    /// HTTP/2, client side: DATA on a stream already reset is still
    /// forwarded (into the stream's request body).
    H2ResetDataForwarded,
    /// Threads: a key's home thread sends the entry it replayed to every
    /// thread but the one whose changes it replayed ("it has them
    /// already"): that thread keeps its own order of the changes, and the
    /// replicas differ once two threads change one key.
    TableRowSkipsSender,
}

impl Mutant {
    pub const ALL: [Mutant; 18] = [
        Mutant::NoReconnectDelay,
        Mutant::FreqAgeSign,
        Mutant::ResyncExpiredRearm,
        Mutant::TeachOriginReset,
        Mutant::IntKeyByteOrder,
        Mutant::ShutdownFreshSession,
        Mutant::AckWrongId,
        Mutant::TlsEofInRecord,
        Mutant::RhttpHeadersBeforeAccept,
        Mutant::RhttpNoRetryDelay,
        Mutant::RhttpReversedIdle,
        Mutant::RhttpNameIgnored,
        Mutant::RhttpAvailTwice,
        Mutant::DnsIgnoreChange,
        Mutant::H2WindowUpdateWrongStream,
        Mutant::H2ContinuationUnbounded,
        Mutant::H2ResetDataForwarded,
        Mutant::TableRowSkipsSender,
    ];

    /// The `--mutant` name.
    pub fn name(self) -> &'static str {
        match self {
            Mutant::NoReconnectDelay => "no-reconnect-delay",
            Mutant::FreqAgeSign => "freq-age-sign",
            Mutant::ResyncExpiredRearm => "resync-expired-rearm",
            Mutant::TeachOriginReset => "teach-origin-reset",
            Mutant::IntKeyByteOrder => "int-key-byte-order",
            Mutant::ShutdownFreshSession => "shutdown-fresh-session",
            Mutant::AckWrongId => "ack-wrong-id",
            Mutant::TlsEofInRecord => "tls-eof-in-record",
            Mutant::RhttpHeadersBeforeAccept => "rhttp-headers-before-accept",
            Mutant::RhttpNoRetryDelay => "rhttp-no-retry-delay",
            Mutant::RhttpReversedIdle => "rhttp-reversed-idle",
            Mutant::RhttpNameIgnored => "rhttp-name-ignored",
            Mutant::RhttpAvailTwice => "rhttp-avail-twice",
            Mutant::DnsIgnoreChange => "dns-ignore-change",
            Mutant::H2WindowUpdateWrongStream => "h2-window-update-wrong-stream",
            Mutant::H2ContinuationUnbounded => "h2-continuation-unbounded",
            Mutant::H2ResetDataForwarded => "h2-reset-data-forwarded",
            Mutant::TableRowSkipsSender => "table-row-skips-sender",
        }
    }

    pub fn from_name(name: &str) -> Option<Mutant> {
        Mutant::ALL.into_iter().find(|m| m.name() == name)
    }
}

//! Stream connectors: HAProxy 2.6's `struct stconn` (formerly
//! `stream_interface`), `include/haproxy/stconn-t.h`.
//!
//! A stream has a front connector (towards the client, attached to the
//! client connection's mux) and a back connector (towards the server). The
//! front one is established from the start. The back one walks:
//!
//! ```text
//!  INI --need a server--> REQ --assigned--> ASS --connect--> CON --ok--> RDY --> EST
//!                          |  \--full-->  QUE --slot--> ASS     |
//!                          |                                   fail
//!                          |            TAR <--retry-- CER <---+
//!                          |             \--timer--> REQ/ASS    \--no retry left--> CLO
//!                          \--no server--> CLO
//!  EST --shut both ways / error--> DIS --released--> CLO
//! ```
//!
//! The state is an enum; independent facts are `SC_FL_*` bits.

use bitflags::bitflags;

use crate::arena::Id;
use crate::connection::Conn;
use crate::time::Time;

/// `enum sc_state` (HAProxy 2.6), `SI_ST_*` before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScState {
    /// Nothing asked yet.
    #[doc(alias = "SC_ST_INI")]
    #[doc(alias = "SI_ST_INI")]
    Ini,
    /// A connection was requested; a server must be assigned.
    #[doc(alias = "SC_ST_REQ")]
    #[doc(alias = "SI_ST_REQ")]
    Req,
    /// Waiting in a queue for a server slot.
    #[doc(alias = "SC_ST_QUE")]
    #[doc(alias = "SI_ST_QUE")]
    Que,
    /// Turn-around: waiting before a retry.
    #[doc(alias = "SC_ST_TAR")]
    #[doc(alias = "SI_ST_TAR")]
    Tar,
    /// A server is assigned; connect.
    #[doc(alias = "SC_ST_ASS")]
    #[doc(alias = "SI_ST_ASS")]
    Ass,
    /// Connection in progress.
    #[doc(alias = "SC_ST_CON")]
    #[doc(alias = "SI_ST_CON")]
    Con,
    /// Connection error, retry or give up.
    #[doc(alias = "SC_ST_CER")]
    #[doc(alias = "SI_ST_CER")]
    Cer,
    /// Connected, not yet confirmed by the stream.
    #[doc(alias = "SC_ST_RDY")]
    #[doc(alias = "SI_ST_RDY")]
    Rdy,
    /// Established: data flows.
    #[doc(alias = "SC_ST_EST")]
    #[doc(alias = "SI_ST_EST")]
    Est,
    /// Disconnected, waiting to be released.
    #[doc(alias = "SC_ST_DIS")]
    #[doc(alias = "SI_ST_DIS")]
    Dis,
    /// Closed.
    #[doc(alias = "SC_ST_CLO")]
    #[doc(alias = "SI_ST_CLO")]
    Clo,
}

impl ScState {
    /// The name `show sess` prints.
    pub fn name(self) -> &'static str {
        match self {
            ScState::Ini => "INI",
            ScState::Req => "REQ",
            ScState::Que => "QUE",
            ScState::Tar => "TAR",
            ScState::Ass => "ASS",
            ScState::Con => "CON",
            ScState::Cer => "CER",
            ScState::Rdy => "RDY",
            ScState::Est => "EST",
            ScState::Dis => "DIS",
            ScState::Clo => "CLO",
        }
    }
}

bitflags! {
    /// `SC_FL_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct ScFlags: u32 {
        /// An error was seen on the endpoint.
        const ERROR = 0x0000_0001;
        /// Close with a reset rather than a FIN (`SC_FL_NOLINGER`).
        const NOLINGER = 0x0000_0002;
        /// The endpoint's write side is shut (FIN asked).
        const SHUTW = 0x0000_0004;
        /// The endpoint's read side saw read0 or was shut.
        const SHUTR = 0x0000_0008;
    }
}

/// Why the back connector failed (`SI_ET_*`), for termination flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ErrType {
    #[default]
    None,
    /// Queue timeout.
    QueueTo,
    /// Queue error (no room in the queue).
    QueueErr,
    /// Queue aborted by the client.
    QueueAbrt,
    /// Connect timeout.
    ConnTo,
    /// Connect error (refused...).
    ConnErr,
    /// Connect aborted by the client.
    ConnAbrt,
    /// Internal resource error.
    ConnOther,
    /// Data phase error.
    DataErr,
    /// Data phase abort.
    DataAbrt,
}

/// One side of a stream.
#[derive(Debug)]
pub struct StConn {
    pub state: ScState,
    pub flags: ScFlags,
    /// The connection this connector drives, when there is one.
    pub conn: Option<Id<Conn>>,
    /// Connect / turn-around / queue deadline.
    pub exp: Option<Time>,
    pub err_type: ErrType,
}

impl StConn {
    pub fn new(state: ScState) -> StConn {
        StConn {
            state,
            flags: ScFlags::empty(),
            conn: None,
            exp: None,
            err_type: ErrType::None,
        }
    }
}

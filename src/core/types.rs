//! Scalar types, states and errors shared by every part of the core.
//!
//! Widths follow the C ABI (`raft_types.h`) so the C layer converts without loss.

/// Monotonic term counter (`raft_term_t`).
pub type Term = i64;
/// Monotonic log index, also used as an entry count (`raft_index_t`).
pub type Index = i64;
/// Unique node identifier (`raft_node_id_t`).
pub type NodeId = i32;
/// Message identifier used to match responses and confirm leadership (`raft_msg_id_t`).
pub type MsgId = u64;
/// Debugging identifier carried by entries (`raft_entry_id_t`).
pub type EntryId = i32;
/// Time in milliseconds as the core sees it (`raft_time_t`).
pub type Time = i64;
/// Byte offsets inside a snapshot (`raft_size_t`).
pub type Size = u64;

/// "No node": no vote cast, no known leader.
pub const NODE_ID_NONE: NodeId = -1;

/// The role of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Follower = 1,
    PreCandidate = 2,
    Candidate = 3,
    Leader = 4,
}

impl State {
    /// The C enum value (`raft_state_e`).
    pub fn as_raw(self) -> i32 {
        self as i32
    }

    /// The state for a C enum value, if it names one.
    pub fn from_raw(raw: i32) -> Option<State> {
        match raw {
            1 => Some(State::Follower),
            2 => Some(State::PreCandidate),
            3 => Some(State::Candidate),
            4 => Some(State::Leader),
            _ => None,
        }
    }

    /// The name upstream's `raft_get_state_str` prints.
    pub fn name(self) -> &'static str {
        match self {
            State::Follower => "follower",
            State::PreCandidate => "pre-candidate",
            State::Candidate => "candidate",
            State::Leader => "leader",
        }
    }
}

/// Entry types the core interprets (`raft_logtype_e`); user types start at [`log_type::USER`].
pub mod log_type {
    pub const NORMAL: i32 = 0;
    pub const ADD_NONVOTING_NODE: i32 = 1;
    pub const ADD_NODE: i32 = 2;
    pub const REMOVE_NODE: i32 = 3;
    pub const NO_OP: i32 = 4;
    /// First value free for application-defined types.
    pub const USER: i32 = 100;

    /// Any configuration change.
    pub fn is_cfg_change(t: i32) -> bool {
        matches!(t, ADD_NONVOTING_NODE | ADD_NODE | REMOVE_NODE)
    }

    /// A change that alters the set of voters.
    pub fn is_voting_cfg_change(t: i32) -> bool {
        matches!(t, ADD_NODE | REMOVE_NODE)
    }
}

/// Membership event kinds (`raft_membership_e`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipEvent {
    Add = 0,
    Remove = 1,
}

/// Leader transfer outcomes (`raft_leader_transfer_e`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEvent {
    Timeout = 0,
    UnexpectedLeader = 1,
    ExpectedLeader = 2,
}

/// Errors, with the C codes of `raft_error_e`. `Callback` carries any other
/// non-zero code a user callback returned, so it reaches the C caller unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    NotLeader,
    OneVotingChangeOnly,
    Shutdown,
    NoMem,
    SnapshotInProgress,
    SnapshotAlreadyLoaded,
    InvalidNodeId,
    LeaderTransferInProgress,
    Done,
    StaleTerm,
    NotFound,
    Misuse,
    /// A callback failed with this code (never 0, never one of the codes above).
    Callback(i32),
}

impl Error {
    /// The C return code.
    pub fn code(self) -> i32 {
        match self {
            Error::NotLeader => -2,
            Error::OneVotingChangeOnly => -3,
            Error::Shutdown => -4,
            Error::NoMem => -5,
            Error::SnapshotInProgress => -6,
            Error::SnapshotAlreadyLoaded => -7,
            Error::InvalidNodeId => -8,
            Error::LeaderTransferInProgress => -9,
            Error::Done => -10,
            Error::StaleTerm => -11,
            Error::NotFound => -12,
            Error::Misuse => -13,
            Error::Callback(c) => c,
        }
    }

    /// Interpret a C return code: 0 is success, anything else an error.
    pub fn check(code: i32) -> Result<()> {
        match code {
            0 => Ok(()),
            -2 => Err(Error::NotLeader),
            -3 => Err(Error::OneVotingChangeOnly),
            -4 => Err(Error::Shutdown),
            -5 => Err(Error::NoMem),
            -6 => Err(Error::SnapshotInProgress),
            -7 => Err(Error::SnapshotAlreadyLoaded),
            -8 => Err(Error::InvalidNodeId),
            -9 => Err(Error::LeaderTransferInProgress),
            -10 => Err(Error::Done),
            -11 => Err(Error::StaleTerm),
            -12 => Err(Error::NotFound),
            -13 => Err(Error::Misuse),
            c => Err(Error::Callback(c)),
        }
    }
}

/// Result of core operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Convert a core result to the C convention (0 or a negative code).
#[inline(always)]
pub fn to_code(r: Result<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => err_code(e),
    }
}

/// [`Error::code`] out of line, so that the success path of every export
/// is one compare rather than a jump through the table of codes.
#[cold]
#[inline(never)]
fn err_code(e: Error) -> i32 {
    e.code()
}

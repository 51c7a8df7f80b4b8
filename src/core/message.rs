//! Messages exchanged between servers. The embedder moves them over its network;
//! the C layer converts them to and from the `raft_*_req_t`/`_resp_t` structs.

use super::types::{EntryId, Index, MsgId, NodeId, Size, Term};

/// RequestVote (also used for pre-votes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestVoteRequest {
    /// A pre-vote asks "would you vote for me?" without changing anyone's term.
    pub prevote: bool,
    pub term: Term,
    pub candidate_id: NodeId,
    pub last_log_idx: Index,
    pub last_log_term: Term,
}

/// Answer to a [`RequestVoteRequest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestVoteResponse {
    pub prevote: bool,
    /// The term of the request this answers.
    pub request_term: Term,
    pub term: Term,
    pub vote_granted: bool,
}

/// AppendEntries: replication and heartbeat.
#[derive(Clone, Debug, Default)]
pub struct AppendEntriesRequest<E> {
    pub leader_id: NodeId,
    pub msg_id: MsgId,
    pub term: Term,
    pub prev_log_idx: Index,
    pub prev_log_term: Term,
    pub leader_commit: Index,
    pub entries: Vec<E>,
}

/// Answer to an [`AppendEntriesRequest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendEntriesResponse {
    pub msg_id: MsgId,
    pub term: Term,
    pub success: bool,
    /// The follower's last log index after handling the request.
    pub current_idx: Index,
}

/// A piece of a snapshot being transferred.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotChunk {
    pub offset: Size,
    pub data: Vec<u8>,
    pub last_chunk: bool,
}

/// InstallSnapshot, one chunk at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotRequest {
    pub term: Term,
    pub leader_id: NodeId,
    pub msg_id: MsgId,
    pub snapshot_index: Index,
    pub snapshot_term: Term,
    pub chunk: SnapshotChunk,
}

/// Answer to a [`SnapshotRequest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotResponse {
    pub msg_id: MsgId,
    pub term: Term,
    /// Offset the leader should send next.
    pub offset: Size,
    pub success: bool,
    pub last_chunk: bool,
}

/// What the leader answers a client that submitted an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryResponse {
    pub id: EntryId,
    pub term: Term,
    pub idx: Index,
}

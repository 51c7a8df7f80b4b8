//! The Rust `#[repr(C)]` types must lay out exactly as C sees the committed
//! headers. bindgen (libclang) parses `include/raft.h`; the layout facts it
//! computes (the sizes, alignments and offsets in its generated layout
//! assertions) are compared with the Rust types' own.

use std::collections::HashMap;
use std::mem::{align_of, offset_of, size_of};

use raft::ffi::types::*;

/// bindgen's Rust rendering of `include/raft.h`.
fn bindings() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    bindgen::Builder::default()
        .header(format!("{dir}/include/raft.h"))
        .clang_arg(format!("-I{dir}/include"))
        .allowlist_type("raft_.*")
        .allowlist_var("RAFT_.*")
        .prepend_enum_name(false)
        .generate()
        .expect("bindgen on include/raft.h")
        .to_string()
}

/// Layout facts from bindgen's output: "Size of X", "Alignment of X",
/// "Offset of field: X::f" mapped to their values.
fn c_layouts() -> HashMap<String, usize> {
    let code = bindings();
    let mut facts = HashMap::new();
    // Assertions look like ["Size of raft_entry_t"][::std::mem::size_of::<raft_entry_t>() - 40usize];
    // and rustfmt may wrap them, so search the whitespace-flattened text.
    let flat = code.split_whitespace().collect::<Vec<_>>().join(" ");
    for chunk in flat.split("[\"").skip(1) {
        let Some((label, expr)) = chunk.split_once("\"]") else {
            continue;
        };
        let Some(expr) = expr.split("usize]").next() else {
            continue;
        };
        if let Some(Ok(v)) = expr.rsplit(" - ").next().map(str::parse) {
            facts.insert(label.to_string(), v);
        }
    }
    facts
}

/// Compare the Rust layout of `$t` with bindgen's facts for the C struct
/// `$cname` (bindgen names a struct by its tag when it has one).
macro_rules! check_struct {
    ($facts:expr, $bad:expr, $t:ident { $($f:ident),* }) => {
        check_struct!($facts, $bad, $t = stringify!($t), { $($f),* })
    };
    ($facts:expr, $bad:expr, $t:ident = $cname:expr, { $($f:ident),* }) => {{
        let name = $cname;
        let mut want = vec![(format!("Size of {name}"), size_of::<$t>()), (format!("Alignment of {name}"), align_of::<$t>())];
        $( want.push((format!("Offset of field: {name}::{}", stringify!($f)), offset_of!($t, $f))); )*
        for (label, rust) in want {
            match $facts.get(&label) {
                Some(&c) if c == rust => {}
                other => $bad.push(format!("{label}: C {other:?}, Rust {rust}")),
            }
        }
    }};
}

#[test]
fn repr_c_types_match_the_header() {
    let facts = c_layouts();
    assert!(
        facts.len() > 50,
        "bindgen produced too few layout facts: {}",
        facts.len()
    );
    let mut bad = Vec::new();
    check_struct!(
        facts,
        bad,
        raft_entry_t = "raft_entry",
        {
            term,
            id,
            type_,
            refs,
            user_data,
            free_func,
            data_len,
            data
        }
    );
    check_struct!(facts, bad, raft_entry_resp_t { id, term, idx });
    check_struct!(
        facts,
        bad,
        raft_snapshot_chunk_t {
            offset,
            data,
            len,
            last_chunk
        }
    );
    check_struct!(
        facts,
        bad,
        raft_requestvote_req_t {
            prevote,
            term,
            candidate_id,
            last_log_idx,
            last_log_term
        }
    );
    check_struct!(
        facts,
        bad,
        raft_requestvote_resp_t {
            prevote,
            request_term,
            term,
            vote_granted
        }
    );
    check_struct!(
        facts,
        bad,
        raft_snapshot_req_t {
            term,
            leader_id,
            msg_id,
            snapshot_index,
            snapshot_term,
            chunk
        }
    );
    check_struct!(
        facts,
        bad,
        raft_snapshot_resp_t {
            msg_id,
            term,
            offset,
            success,
            last_chunk
        }
    );
    check_struct!(
        facts,
        bad,
        raft_appendentries_req_t {
            leader_id,
            msg_id,
            term,
            prev_log_idx,
            prev_log_term,
            leader_commit,
            n_entries,
            entries
        }
    );
    check_struct!(
        facts,
        bad,
        raft_appendentries_resp_t {
            msg_id,
            term,
            success,
            current_idx
        }
    );
    check_struct!(
        facts,
        bad,
        raft_cbs_t {
            send_requestvote,
            send_appendentries,
            send_snapshot,
            load_snapshot,
            get_snapshot_chunk,
            store_snapshot_chunk,
            clear_snapshot,
            applylog,
            persist_metadata,
            get_node_id,
            node_has_sufficient_logs,
            notify_membership_event,
            notify_state_event,
            notify_transfer_event,
            log,
            send_timeoutnow,
            backpressure,
            get_entries_to_send,
            timestamp
        }
    );
    check_struct!(
        facts,
        bad,
        raft_log_impl_t {
            init,
            free,
            reset,
            append,
            poll,
            pop,
            get,
            get_batch,
            first_idx,
            current_idx,
            count,
            sync
        }
    );
    check_struct!(
        facts,
        bad,
        raft_log_cbs_t {
            log_offer,
            log_poll,
            log_pop,
            log_clear
        }
    );
    assert!(bad.is_empty(), "layout mismatches:\n{}", bad.join("\n"));
}

#[test]
fn integer_typedefs_have_c_widths() {
    assert_eq!(size_of::<raft_term_t>(), 8);
    assert_eq!(size_of::<raft_index_t>(), 8);
    assert_eq!(size_of::<raft_size_t>(), 8);
    assert_eq!(size_of::<raft_msg_id_t>(), 8);
    assert_eq!(size_of::<raft_time_t>(), 8);
    assert_eq!(size_of::<raft_node_id_t>(), 4);
    assert_eq!(size_of::<raft_entry_id_t>(), 4);
}

#[test]
fn enum_constants_match_the_rust_constants() {
    // bindgen renders each enumerator as `pub const NAME: type = value;`.
    let code = bindings();
    let mut c = HashMap::new();
    for line in code.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let Some((name, rest)) = rest.split_once(':') else {
            continue;
        };
        let Some(value) = rest.split_once(" = ").map(|(_, v)| v.trim_end_matches(';')) else {
            continue;
        };
        if let Ok(v) = value.parse::<i64>() {
            c.insert(name.to_string(), v);
        }
    }
    let rust: &[(&str, i64)] = &[
        ("RAFT_NODE_ID_NONE", RAFT_NODE_ID_NONE.into()),
        ("RAFT_ERR_NOT_LEADER", RAFT_ERR_NOT_LEADER.into()),
        (
            "RAFT_ERR_ONE_VOTING_CHANGE_ONLY",
            RAFT_ERR_ONE_VOTING_CHANGE_ONLY.into(),
        ),
        ("RAFT_ERR_SHUTDOWN", RAFT_ERR_SHUTDOWN.into()),
        ("RAFT_ERR_NOMEM", RAFT_ERR_NOMEM.into()),
        (
            "RAFT_ERR_SNAPSHOT_IN_PROGRESS",
            RAFT_ERR_SNAPSHOT_IN_PROGRESS.into(),
        ),
        (
            "RAFT_ERR_SNAPSHOT_ALREADY_LOADED",
            RAFT_ERR_SNAPSHOT_ALREADY_LOADED.into(),
        ),
        ("RAFT_ERR_INVALID_NODEID", RAFT_ERR_INVALID_NODEID.into()),
        (
            "RAFT_ERR_LEADER_TRANSFER_IN_PROGRESS",
            RAFT_ERR_LEADER_TRANSFER_IN_PROGRESS.into(),
        ),
        ("RAFT_ERR_DONE", RAFT_ERR_DONE.into()),
        ("RAFT_ERR_STALE_TERM", RAFT_ERR_STALE_TERM.into()),
        ("RAFT_ERR_NOTFOUND", RAFT_ERR_NOTFOUND.into()),
        ("RAFT_ERR_MISUSE", RAFT_ERR_MISUSE.into()),
        ("RAFT_MEMBERSHIP_ADD", RAFT_MEMBERSHIP_ADD.into()),
        ("RAFT_MEMBERSHIP_REMOVE", RAFT_MEMBERSHIP_REMOVE.into()),
        ("RAFT_STATE_FOLLOWER", RAFT_STATE_FOLLOWER.into()),
        ("RAFT_STATE_PRECANDIDATE", RAFT_STATE_PRECANDIDATE.into()),
        ("RAFT_STATE_CANDIDATE", RAFT_STATE_CANDIDATE.into()),
        ("RAFT_STATE_LEADER", RAFT_STATE_LEADER.into()),
        (
            "RAFT_LEADER_TRANSFER_TIMEOUT",
            RAFT_LEADER_TRANSFER_TIMEOUT.into(),
        ),
        (
            "RAFT_LEADER_TRANSFER_UNEXPECTED_LEADER",
            RAFT_LEADER_TRANSFER_UNEXPECTED_LEADER.into(),
        ),
        (
            "RAFT_LEADER_TRANSFER_EXPECTED_LEADER",
            RAFT_LEADER_TRANSFER_EXPECTED_LEADER.into(),
        ),
        (
            "RAFT_CONFIG_ELECTION_TIMEOUT",
            RAFT_CONFIG_ELECTION_TIMEOUT.into(),
        ),
        (
            "RAFT_CONFIG_REQUEST_TIMEOUT",
            RAFT_CONFIG_REQUEST_TIMEOUT.into(),
        ),
        ("RAFT_CONFIG_AUTO_FLUSH", RAFT_CONFIG_AUTO_FLUSH.into()),
        ("RAFT_CONFIG_LOG_ENABLED", RAFT_CONFIG_LOG_ENABLED.into()),
        (
            "RAFT_CONFIG_NONBLOCKING_APPLY",
            RAFT_CONFIG_NONBLOCKING_APPLY.into(),
        ),
        (
            "RAFT_CONFIG_DISABLE_APPLY",
            RAFT_CONFIG_DISABLE_APPLY.into(),
        ),
        ("RAFT_LOGTYPE_NORMAL", RAFT_LOGTYPE_NORMAL.into()),
        (
            "RAFT_LOGTYPE_ADD_NONVOTING_NODE",
            RAFT_LOGTYPE_ADD_NONVOTING_NODE.into(),
        ),
        ("RAFT_LOGTYPE_ADD_NODE", RAFT_LOGTYPE_ADD_NODE.into()),
        ("RAFT_LOGTYPE_REMOVE_NODE", RAFT_LOGTYPE_REMOVE_NODE.into()),
        ("RAFT_LOGTYPE_NO_OP", RAFT_LOGTYPE_NO_OP.into()),
        ("RAFT_LOGTYPE_NUM", RAFT_LOGTYPE_NUM.into()),
    ];
    let bad: Vec<_> = rust
        .iter()
        .filter(|(name, v)| c.get(*name) != Some(v))
        .map(|(name, v)| format!("{name}: C {:?}, Rust {v}", c.get(*name)))
        .collect();
    assert!(bad.is_empty(), "constant mismatches:\n{}", bad.join("\n"));
}

/* libraft-rs: integer types of the libraft C interface (same widths and
 * signedness as RedisLabs/raft; checked by tests/abi_layout.rs). */
#ifndef RAFT_DEFS_H_
#define RAFT_DEFS_H_

/** Entry ids are for debugging: collisions do little harm. */
typedef int raft_entry_id_t;

/** Monotonic term counter. */
typedef long int raft_term_t;

/** Monotonic log index, also used as an entry count. */
typedef long int raft_index_t;

/** Byte sizes and offsets (snapshots); at least 64 bits. */
typedef unsigned long long raft_size_t;

/** Node identifier. */
typedef int raft_node_id_t;

/** Message identifier. */
typedef unsigned long raft_msg_id_t;

/** Time (milliseconds, or microseconds from the timestamp callback). */
typedef long long raft_time_t;

#endif /* RAFT_DEFS_H_ */

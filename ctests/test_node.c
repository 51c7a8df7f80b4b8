/* Node accessors on a standalone node. */
#include "harness.h"
#include "raft.h"
#include "raft_private.h"

static void test_new_defaults(void)
{
    int ud;
    raft_node_t *n = raft_node_new(&ud, 7);
    CHECK(n != NULL);
    CHECK_EQ(7, raft_node_get_id(n));
    CHECK(raft_node_get_udata(n) == &ud);
    CHECK_EQ(1, raft_node_get_next_idx(n));
    CHECK_EQ(0, raft_node_get_match_idx(n));
    CHECK_EQ(1, raft_node_is_voting(n));
    CHECK_EQ(1, raft_node_is_active(n));
    CHECK_EQ(0, raft_node_has_sufficient_logs(n));
    CHECK_EQ(0, raft_node_has_vote_for_me(n));
    CHECK_EQ(0, raft_node_is_voting_committed(n));
    CHECK_EQ(0, raft_node_is_addition_committed(n));
    raft_node_free(n);
}

static void test_setters(void)
{
    raft_node_t *n = raft_node_new(NULL, 1);
    raft_node_set_next_idx(n, 10);
    CHECK_EQ(10, raft_node_get_next_idx(n));
    raft_node_set_next_idx(n, 0); /* clamped: indexes start at 1 */
    CHECK_EQ(1, raft_node_get_next_idx(n));
    raft_node_set_match_idx(n, 5);
    CHECK_EQ(5, raft_node_get_match_idx(n));
    raft_node_set_udata(n, n);
    CHECK(raft_node_get_udata(n) == n);
    raft_node_set_voting(n, 0);
    CHECK_EQ(0, raft_node_is_voting(n));
    raft_node_set_active(n, 0);
    CHECK_EQ(0, raft_node_is_active(n));
    raft_node_set_has_sufficient_logs(n, 1);
    CHECK_EQ(1, raft_node_has_sufficient_logs(n));
    raft_node_vote_for_me(n, 1);
    CHECK_EQ(1, raft_node_has_vote_for_me(n));
    raft_node_set_voting_committed(n, 1);
    CHECK_EQ(1, raft_node_is_voting_committed(n));
    raft_node_set_addition_committed(n, 1);
    CHECK_EQ(1, raft_node_is_addition_committed(n));
    raft_node_clear_flags(n);
    CHECK_EQ(0, raft_node_is_voting(n));
    CHECK_EQ(1, raft_node_is_active(n));
    CHECK_EQ(0, raft_node_has_sufficient_logs(n));
    CHECK_EQ(0, raft_node_has_vote_for_me(n));
    CHECK_EQ(0, raft_node_is_voting_committed(n));
    CHECK_EQ(0, raft_node_is_addition_committed(n));
    raft_node_free(n);
}

static void test_msgids_and_snapshot_offset(void)
{
    raft_node_t *n = raft_node_new(NULL, 2);
    raft_node_set_next_msgid(n, 4);
    CHECK_EQ(4, raft_node_get_next_msgid(n));
    raft_node_set_match_msgid(n, 3);
    CHECK_EQ(3, raft_node_get_match_msgid(n));
    raft_node_update_max_seen_msg_id(n, 9);
    raft_node_update_max_seen_msg_id(n, 5); /* lower ids are ignored */
    CHECK_EQ(9, raft_node_get_max_seen_msg_id(n));
    raft_node_set_snapshot_offset(n, 1ULL << 40);
    CHECK(raft_node_get_snapshot_offset(n) == 1ULL << 40);
    raft_node_free(n);
}

static void test_null_node(void)
{
    CHECK_EQ(RAFT_NODE_ID_NONE, raft_node_get_id(NULL));
    CHECK_EQ(0, raft_node_get_next_idx(NULL));
    CHECK_EQ(0, raft_node_is_voting(NULL));
    CHECK(raft_node_get_udata(NULL) == NULL);
    raft_node_set_next_idx(NULL, 3);
    raft_node_set_voting(NULL, 1);
    raft_node_clear_flags(NULL);
    raft_node_free(NULL);
}

int main(void)
{
    RUN(test_new_defaults);
    RUN(test_setters);
    RUN(test_msgids_and_snapshot_offset);
    RUN(test_null_node);
    return harness_finish("test_node");
}

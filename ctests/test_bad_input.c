/* Bad input never crashes: NULL for every pointer of every function, then
 * unknown ids, out-of-range indexes and odd values on a live server. */
#include "harness.h"
#include "raft.h"
#include "raft_private.h"
#include "raft_log.h"

/* Every function of the ABI with all-zero arguments (NULL pointers). */
static void test_null_everywhere(void)
{
    int v = 0;
    raft_destroy(raft_new());
    (void)raft_new_with_log(0, 0);
    raft_destroy(0);
    raft_clear(0);
    (void)raft_restore_metadata(0, 0, 0);
    raft_set_callbacks(0, 0, 0);
    (void)raft_add_node(0, 0, 0, 0);
    (void)raft_add_non_voting_node(0, 0, 0, 0);
    raft_remove_node(0, 0);
    (void)raft_periodic(0);
    (void)raft_recv_appendentries(0, 0, 0, 0);
    (void)raft_recv_appendentries_response(0, 0, 0);
    (void)raft_recv_snapshot(0, 0, 0, 0);
    (void)raft_recv_snapshot_response(0, 0, 0);
    (void)raft_recv_requestvote(0, 0, 0, 0);
    (void)raft_recv_requestvote_response(0, 0, 0);
    (void)raft_recv_entry(0, 0, 0);
    (void)raft_get_nodeid(0);
    (void)raft_get_my_node(0);
    (void)raft_get_num_nodes(0);
    (void)raft_get_num_voting_nodes(0);
    (void)raft_get_log_count(0);
    (void)raft_get_current_term(0);
    (void)raft_get_current_idx(0);
    (void)raft_get_commit_idx(0);
    (void)raft_is_follower(0);
    (void)raft_is_leader(0);
    (void)raft_is_precandidate(0);
    (void)raft_is_candidate(0);
    (void)raft_get_timeout_elapsed(0);
    (void)raft_get_last_applied_idx(0);
    (void)raft_node_get_next_idx(0);
    (void)raft_node_get_match_idx(0);
    raft_node_get_udata(0);
    raft_node_set_udata(0, 0);
    raft_node_set_next_idx(0, 0);
    (void)raft_get_entry_from_idx(0, 0);
    (void)raft_get_entries_from_idx(0, 0, 0);
    (void)raft_get_node(0, 0);
    (void)raft_get_node_from_idx(0, 0);
    (void)raft_get_nvotes_for_me(0);
    (void)raft_get_voted_for(0);
    (void)raft_get_leader_id(0);
    (void)raft_get_leader_node(0);
    raft_get_udata(0);
    (void)raft_vote(0, 0);
    (void)raft_vote_for_nodeid(0, 0);
    (void)raft_set_current_term(0, 0);
    raft_set_commit_idx(0, 0);
    (void)raft_append_entry(0, 0);
    (void)raft_pop_entry(0);
    (void)raft_msg_entry_response_committed(0, 0);
    (void)raft_node_get_id(0);
    (void)raft_get_state(0);
    (void)raft_get_state_str(0);
    (void)raft_get_last_log_term(0);
    raft_node_set_voting(0, 0);
    (void)raft_node_is_voting(0);
    (void)raft_node_has_sufficient_logs(0);
    (void)raft_apply_all(0);
    (void)raft_become_leader(0);
    raft_become_follower(0);
    (void)raft_entry_is_voting_cfg_change(0);
    (void)raft_entry_is_cfg_change(0);
    (void)raft_begin_snapshot(0);
    (void)raft_end_snapshot(0);
    (void)raft_cancel_snapshot(0);
    (void)raft_snapshot_is_in_progress(0);
    (void)raft_is_apply_allowed(0);
    (void)raft_get_last_applied_entry(0);
    (void)raft_get_first_entry_idx(0);
    (void)raft_restore_snapshot(0, 0, 0);
    (void)raft_begin_load_snapshot(0, 0, 0);
    (void)raft_end_load_snapshot(0);
    (void)raft_get_snapshot_last_idx(0);
    (void)raft_get_snapshot_last_term(0);
    raft_set_snapshot_metadata(0, 0, 0);
    (void)raft_node_is_active(0);
    raft_node_set_active(0, 0);
    (void)raft_node_is_voting_committed(0);
    (void)raft_node_is_addition_committed(0);
    raft_node_set_voting_committed(0, 0);
    raft_node_set_addition_committed(0, 0);
    (void)raft_voting_change_is_in_progress(0);
    raft_get_log(0);
    raft_entry_release(raft_entry_new(0));
    raft_entry_hold(0);
    raft_entry_release(0);
    raft_entry_release_list(0, 0);
    raft_handle_append_cfg_change(0, 0, 0);
    (void)raft_recv_read_request(0, 0, 0);
    (void)raft_transfer_leader(0, 0, 0);
    (void)raft_get_transfer_leader(0);
    (void)raft_timeout_now(0);
    (void)raft_get_num_snapshottable_logs(0);
    (void)raft_flush(0, 0);
    (void)raft_get_index_to_sync(0);
    (void)raft_pending_operations(0);
    (void)raft_election_start(0, 0);
    (void)raft_become_candidate(0);
    (void)raft_become_precandidate(0);
    raft_randomize_election_timeout(0);
    raft_update_quorum_meta(0, 0);
    (void)raft_send_requestvote(0, 0);
    (void)raft_send_appendentries(0, 0);
    (void)raft_send_appendentries_all(0);
    (void)raft_apply_entry(0);
    raft_set_last_applied_idx(0, 0);
    raft_set_state(0, 0);
    raft_node_free(raft_node_new(0, 0));
    raft_node_free(0);
    raft_node_set_match_idx(0, 0);
    raft_node_clear_flags(0);
    raft_node_vote_for_me(0, 0);
    (void)raft_node_has_vote_for_me(0);
    raft_node_set_has_sufficient_logs(0, 0);
    (void)raft_is_single_node_voting_cluster(0);
    (void)raft_votes_is_majority(0, 0);
    raft_node_set_match_msgid(0, 0);
    (void)raft_node_get_match_msgid(0);
    raft_node_set_next_msgid(0, 0);
    (void)raft_node_get_next_msgid(0);
    raft_node_update_max_seen_msg_id(0, 0);
    (void)raft_node_get_max_seen_msg_id(0);
    (void)raft_get_msg_id(0);
    raft_reset_transfer_leader(0, 0);
    (void)raft_node_get_snapshot_offset(0);
    raft_node_set_snapshot_offset(0, 0);
    (void)raft_periodic_internal(0, 0);
    (void)raft_exec_operations(0);
    raft_log_free(raft_log_new());
    raft_log_free(raft_log_alloc(0));
    raft_log_set_callbacks(0, 0, 0);
    raft_log_free(0);
    raft_log_clear(0);
    raft_log_clear_entries(0);
    (void)raft_log_append_entry(0, 0);
    (void)raft_log_count(0);
    (void)raft_log_delete(0, 0);
    raft_log_empty(0);
    (void)raft_log_poll(0, 0);
    (void)raft_log_get_from_idx(0, 0, 0);
    (void)raft_log_get_at_idx(0, 0);
    (void)raft_log_peektail(0);
    (void)raft_log_get_current_idx(0);
    (void)raft_log_load_from_snapshot(0, 0, 0);
    (void)raft_log_get_base(0);
    (void)raft_delete_entry_from_idx(0, 0);
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(0, 0, RAFT_CONFIG_ELECTION_TIMEOUT, &v));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(0, 1, RAFT_CONFIG_ELECTION_TIMEOUT, 100));
}

static void test_null_results(void)
{
    long n = 7;
    raft_entry_t *e = (raft_entry_t *)&n;
    CHECK(raft_new_with_log(NULL, NULL) == NULL);
    CHECK(raft_get_udata(NULL) == NULL);
    CHECK_EQ(RAFT_NODE_ID_NONE, raft_get_nodeid(NULL));
    CHECK(raft_get_node(NULL, 1) == NULL);
    CHECK(raft_get_entry_from_idx(NULL, 1) == NULL);
    CHECK(raft_log_get_from_idx(NULL, 1, &n) == NULL);
    CHECK_EQ(0, n);
    CHECK_EQ(RAFT_ERR_MISUSE, raft_log_poll(NULL, &e));
    CHECK_EQ(0, raft_entry_is_cfg_change(NULL));
    CHECK(raft_get_state_str(NULL) != NULL);
}

/* A pointer that is not a server (upstream's own tests pass such pointers
 * to the log hooks): recognised and refused. */
static void test_not_a_server(void)
{
    long junk[32] = { 0 };
    raft_server_t *fake = (raft_server_t *)junk;
    CHECK(raft_get_udata(fake) == NULL);
    CHECK_EQ(0, raft_get_current_term(fake));
    CHECK(raft_add_node(fake, NULL, 1, 1) == NULL);
}

static void test_bad_values_on_live_server(void)
{
    raft_server_t *r = raft_new();
    raft_index_t n = 5;
    raft_entry_t **es;
    raft_entry_resp_t resp;
    raft_requestvote_resp_t rvr;
    raft_appendentries_req_t ae;
    raft_appendentries_resp_t aer;

    CHECK(raft_add_node(r, NULL, RAFT_NODE_ID_NONE, 1) == NULL);
    CHECK(raft_add_node(r, NULL, 1, 1) != NULL);
    CHECK(raft_get_node(r, 42) == NULL);
    CHECK(raft_get_node_from_idx(r, -1) == NULL);
    CHECK(raft_get_node_from_idx(r, 1000) == NULL);
    CHECK(raft_get_entry_from_idx(r, 0) == NULL);
    CHECK(raft_get_entry_from_idx(r, -3) == NULL);
    CHECK(raft_get_entry_from_idx(r, 1L << 40) == NULL);
    es = raft_get_entries_from_idx(r, 99, &n);
    CHECK(es == NULL);
    CHECK_EQ(0, n);
    CHECK(raft_vote_for_nodeid(r, 42) != 0 || raft_get_voted_for(r) == 42);
    CHECK(raft_recv_entry(r, NULL, &resp) != 0);
    CHECK(raft_recv_requestvote_response(r, NULL, NULL) != 0);
    memset(&rvr, 0, sizeof rvr);
    (void)raft_recv_requestvote_response(r, NULL, &rvr);
    memset(&ae, 0, sizeof ae);
    ae.n_entries = 3; /* claims entries but gives none */
    ae.entries = NULL;
    ae.term = 1;
    (void)raft_recv_appendentries(r, NULL, &ae, &aer);
    ae.n_entries = -4;
    (void)raft_recv_appendentries(r, NULL, &ae, &aer);
    CHECK(raft_recv_appendentries(r, NULL, NULL, &aer) != 0);
    CHECK(raft_recv_appendentries(r, NULL, &ae, NULL) != 0);
    (void)raft_periodic_internal(r, -100);
    (void)raft_set_current_term(r, -1);
    raft_set_commit_idx(r, 1L << 40);
    (void)raft_transfer_leader(r, 42, -1);
    (void)raft_flush(r, -1);
    raft_remove_node(r, NULL);
    raft_destroy(r);
}

static void test_log_bad_values(void)
{
    raft_log_t *l = raft_log_alloc(-5);
    long n = 3;
    CHECK(l != NULL);
    CHECK_EQ(RAFT_ERR_MISUSE, raft_log_append_entry(l, NULL));
    CHECK(raft_log_get_at_idx(l, -1) == NULL);
    CHECK(raft_log_get_from_idx(l, 0, &n) == NULL);
    CHECK(raft_log_get_from_idx(l, -1, NULL) == NULL);
    CHECK_EQ(0, raft_log_delete(l, -5));
    raft_log_set_callbacks(l, NULL, NULL);
    raft_log_free(l);
}

int main(void)
{
    RUN(test_null_everywhere);
    RUN(test_null_results);
    RUN(test_not_a_server);
    RUN(test_bad_values_on_live_server);
    RUN(test_log_bad_values);
    return harness_finish("test_bad_input");
}

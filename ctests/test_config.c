/* raft_config: every key, defaults, refused values, bad input. */
#include "harness.h"
#include "raft.h"

static int get(raft_server_t *r, raft_config_e key)
{
    int v = -12345;
    CHECK_EQ(0, raft_config(r, 0, key, &v));
    return v;
}

static void test_defaults(void)
{
    raft_server_t *r = raft_new();
    CHECK_EQ(1000, get(r, RAFT_CONFIG_ELECTION_TIMEOUT));
    CHECK_EQ(200, get(r, RAFT_CONFIG_REQUEST_TIMEOUT));
    CHECK_EQ(1, get(r, RAFT_CONFIG_AUTO_FLUSH));
    CHECK_EQ(0, get(r, RAFT_CONFIG_LOG_ENABLED));
    CHECK_EQ(0, get(r, RAFT_CONFIG_NONBLOCKING_APPLY));
    CHECK_EQ(0, get(r, RAFT_CONFIG_DISABLE_APPLY));
    raft_destroy(r);
}

static void test_set_every_key(void)
{
    raft_server_t *r = raft_new();
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_ELECTION_TIMEOUT, 2345));
    CHECK_EQ(2345, get(r, RAFT_CONFIG_ELECTION_TIMEOUT));
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_REQUEST_TIMEOUT, 77));
    CHECK_EQ(77, get(r, RAFT_CONFIG_REQUEST_TIMEOUT));
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_AUTO_FLUSH, 0));
    CHECK_EQ(0, get(r, RAFT_CONFIG_AUTO_FLUSH));
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_LOG_ENABLED, 5)); /* any non-zero is 1 */
    CHECK_EQ(1, get(r, RAFT_CONFIG_LOG_ENABLED));
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_NONBLOCKING_APPLY, 1));
    CHECK_EQ(1, get(r, RAFT_CONFIG_NONBLOCKING_APPLY));
    CHECK_EQ(0, raft_config(r, 1, RAFT_CONFIG_DISABLE_APPLY, 1));
    CHECK_EQ(1, get(r, RAFT_CONFIG_DISABLE_APPLY));
    raft_destroy(r);
}

static void test_refused_and_unknown(void)
{
    raft_server_t *r = raft_new();
    int v = 0;
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(r, 1, RAFT_CONFIG_ELECTION_TIMEOUT, 0));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(r, 1, RAFT_CONFIG_ELECTION_TIMEOUT, -5));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(r, 1, RAFT_CONFIG_REQUEST_TIMEOUT, 0));
    CHECK_EQ(1000, get(r, RAFT_CONFIG_ELECTION_TIMEOUT));
    CHECK_EQ(200, get(r, RAFT_CONFIG_REQUEST_TIMEOUT));
    CHECK_EQ(RAFT_ERR_NOTFOUND, raft_config(r, 1, (raft_config_e)99, 1));
    CHECK_EQ(RAFT_ERR_NOTFOUND, raft_config(r, 0, (raft_config_e)0, &v));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(r, 0, RAFT_CONFIG_AUTO_FLUSH, (int *)NULL));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(NULL, 0, RAFT_CONFIG_AUTO_FLUSH, &v));
    CHECK_EQ(RAFT_ERR_MISUSE, raft_config(NULL, 1, RAFT_CONFIG_AUTO_FLUSH, 1));
    raft_destroy(r);
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_set_every_key);
    RUN(test_refused_and_unknown);
    return harness_finish("test_config");
}

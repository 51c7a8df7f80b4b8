/* A tiny test harness for the C test suite: each test is a function, each
 * check records a failure with file and line, and the run ends with the line
 * "N passed, M failed" that CI reads. */
#ifndef LIBRAFT_CTESTS_HARNESS_H
#define LIBRAFT_CTESTS_HARNESS_H

#include <stdio.h>
#include <string.h>

typedef void (*harness_test_fn)(void);

static int harness_failed_checks;
static int harness_tests_passed;
static int harness_tests_failed;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            harness_failed_checks++;                                         \
        }                                                                    \
    } while (0)

#define CHECK_EQ(want, got)                                                  \
    do {                                                                     \
        long long harness_w_ = (long long)(want);                            \
        long long harness_g_ = (long long)(got);                             \
        if (harness_w_ != harness_g_) {                                      \
            printf("  %s:%d: %s == %s: want %lld, got %lld\n", __FILE__,     \
                   __LINE__, #want, #got, harness_w_, harness_g_);           \
            harness_failed_checks++;                                         \
        }                                                                    \
    } while (0)

static void harness_run(const char *name, harness_test_fn fn)
{
    int before = harness_failed_checks;
    fn();
    if (harness_failed_checks == before) {
        harness_tests_passed++;
    } else {
        harness_tests_failed++;
        printf("FAIL %s\n", name);
    }
}

#define RUN(test) harness_run(#test, test)

/* Prints the summary and returns the process exit status. */
static int harness_finish(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, harness_tests_passed, harness_tests_failed);
    return harness_tests_failed ? 1 : 0;
}

#endif

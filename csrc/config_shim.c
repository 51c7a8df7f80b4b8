/* raft_config is variadic, which stable Rust cannot define: this shim reads
 * the one variadic argument and hands it to the Rust side. Every key takes an
 * int when setting and an int * when getting, as in upstream. */
#include <stdarg.h>
#include <stddef.h>

struct raft_server;

/* Implemented in src/ffi/config.rs. */
int raft_config_fixed_args(struct raft_server *me, int set, int config, int value, int *out);

int raft_config(struct raft_server *me, int set, int config, ...)
{
    va_list va;
    int value = 0;
    int *out = NULL;

    va_start(va, config);
    if (set)
        value = va_arg(va, int);
    else
        out = va_arg(va, int *);
    va_end(va);
    return raft_config_fixed_args(me, set, config, value, out);
}

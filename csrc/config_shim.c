/* raft_config is variadic, which stable Rust cannot define: this shim reads
 * the one variadic argument and hands it to the Rust side. Every key takes an
 * int when setting and an int * when getting, as in upstream.
 *
 * On x86_64 and aarch64 the exported raft_config is a Rust trampoline (a
 * naked function in src/ffi/config.rs, so rustc exports it with whatever
 * linker is in use) that jumps here with the caller's registers untouched.
 * Elsewhere build.rs defines RAFT_CONFIG_SHIM_IS_EXPORT, this function is
 * raft_config itself, and a version script exports it (rust-lld only). */
#include <stdarg.h>
#include <stddef.h>

struct raft_server;

/* Implemented in src/ffi/config.rs. */
int raft_config_fixed_args(struct raft_server *me, int set, int config, int value, int *out);

#ifdef RAFT_CONFIG_SHIM_IS_EXPORT
#define RAFT_CONFIG_SHIM raft_config
#else
#define RAFT_CONFIG_SHIM raft_config_variadic
__attribute__((visibility("hidden")))
#endif
int RAFT_CONFIG_SHIM(struct raft_server *me, int set, int config, ...);

int RAFT_CONFIG_SHIM(struct raft_server *me, int set, int config, ...)
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

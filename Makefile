# libraft-rs: build, test and install the C libraries.
#   make            release build of libraft.so / libraft.a, header compile check
#   make test       cargo tests, check-abi, C tests against .so and .a, valgrind
#   make header     regenerate include/raft.h with cbindgen
#   make lint       cargo fmt --check and clippy, as CI runs them (make fmt fixes formatting)
#   make demo       the C demo (demo/), make bench: the benchmark (bench/)
#   make install PREFIX=/usr/local DESTDIR=

CARGO ?= cargo
CC ?= cc
CXX ?= c++
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0
SOVERSION := 0

export CARGO_TARGET_DIR ?= $(CURDIR)/target
LIBDIR := $(CARGO_TARGET_DIR)/release
BUILD := $(CURDIR)/build
SO := $(LIBDIR)/libraft.so
AR := $(LIBDIR)/libraft.a
# What a Rust staticlib needs from the system (rustc --print native-static-libs).
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
HEADERS := include/raft.h include/raft_types.h include/raft_private.h include/raft_log.h
CFLAGS_TEST := -std=gnu99 -Wall -Wextra -Werror -g -Iinclude -Ictests
SHARED ?= $(firstword $(wildcard $(CURDIR)/../shared /work/shared))
CHECK_ABI := $(SHARED)/tools/check-abi
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=all \
            --errors-for-leak-kinds=all

CTESTS := $(sort $(wildcard ctests/test_*.c))
# Other ctests/*.c files are helpers (e.g. a cluster driver) linked into every test.
CT_SUPPORT := $(filter-out ctests/test_%.c,$(wildcard ctests/*.c))
CT_SO := $(patsubst ctests/%.c,$(BUILD)/ctests/so/%,$(CTESTS))
CT_A := $(patsubst ctests/%.c,$(BUILD)/ctests/a/%,$(CTESTS))

.DEFAULT_GOAL := all

.PHONY: lint fmt
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

.PHONY: all lib header-check header test cargo-test check-abi check-gnu-ld ctests valgrind demo bench bench-smoke install clean

all: lib header-check

lib:
	$(CARGO) build --release --features capi
	@ln -sf libraft.so $(LIBDIR)/libraft.so.$(SOVERSION)

# The headers must compile cleanly as strict C99 and as C++ (the internal
# ones after raft.h, as with upstream).
header-check:
	@mkdir -p $(BUILD)
	@for h in raft.h raft_private.h raft_log.h; do \
	  printf '#include "raft.h"\n#include "%s"\nint main(void) { return 0; }\n' $$h > $(BUILD)/hdr.c; \
	  cp $(BUILD)/hdr.c $(BUILD)/hdr.cpp; \
	  $(CC) -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -c $(BUILD)/hdr.c -o $(BUILD)/hdr.o || exit 1; \
	  $(CXX) -Wall -Wextra -Werror -Iinclude -c $(BUILD)/hdr.cpp -o $(BUILD)/hdr.o || exit 1; \
	done; echo "headers: C99 and C++ compile cleanly"

# The shared library also links with GNU ld (rustc's default on x86_64 Linux
# is rust-lld; other targets and older toolchains use the system linker).
check-gnu-ld:
	$(CARGO) build --release --features capi --lib --target-dir $(CARGO_TARGET_DIR)/gnu-ld \
	  --config 'target.x86_64-unknown-linux-gnu.rustflags=["-Clink-arg=-fuse-ld=bfd"]'
	@readelf -p .comment $(CARGO_TARGET_DIR)/gnu-ld/release/libraft.so | grep -q 'Linker: LLD' && \
	  { echo "check-gnu-ld: linked by LLD, not GNU ld"; exit 1; } || true
	$(CHECK_ABI) --lib $(CARGO_TARGET_DIR)/gnu-ld/release/libraft.so --include include

header:
	RAFT_WRITE_HEADER=1 $(CARGO) test --test header_drift

# Every stage runs even if an earlier one fails; the exit status is non-zero if any failed.
test:
	@failed=""; \
	for stage in all cargo-test check-abi check-gnu-ld ctests valgrind bench-smoke; do \
	  echo "==== make $$stage"; $(MAKE) --no-print-directory $$stage || failed="$$failed $$stage"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: FAILED stages:$$failed"; else echo "make test: all stages passed"; fi; \
	cat $(BUILD)/ctests.total 2>/dev/null; [ -z "$$failed" ]

cargo-test:
	RAFT_ABI_JSON=$(SHARED)/abi/raft-abi.json $(CARGO) test

check-abi: lib
	@if [ -x "$(CHECK_ABI)" ]; then \
	  $(CHECK_ABI) --lib $(SO) --lib $(AR) --include include --link-libs "$(STATIC_LIBS)"; \
	else echo "check-abi: not found (looked in $(SHARED)); skipped"; fi

$(BUILD)/ctests/so/%: ctests/%.c $(CT_SUPPORT) $(wildcard ctests/*.h) $(HEADERS) $(SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(CT_SUPPORT) -L$(LIBDIR) -lraft -Wl,-rpath,$(LIBDIR)

$(BUILD)/ctests/a/%: ctests/%.c $(CT_SUPPORT) $(wildcard ctests/*.h) $(HEADERS) $(AR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(CT_SUPPORT) $(AR) $(STATIC_LIBS)

# Run every C test against both libraries; sum their "N passed, M failed"
# lines. A test that fails to build or crashes counts as one failure.
ctests: lib
	@mkdir -p $(BUILD); rm -f $(BUILD)/ctests.log; status=0; \
	for t in $(CT_SO) $(CT_A); do \
	  echo "== $$t"; \
	  if ! $(MAKE) --no-print-directory -s $$t; then \
	    status=1; echo "$$t: build failed"; echo "build: 0 passed, 1 failed" >> $(BUILD)/ctests.log; continue; fi; \
	  $$t > $(BUILD)/ct.out 2>&1 || status=1; cat $(BUILD)/ct.out; \
	  if tail -n 1 $(BUILD)/ct.out | grep -Eq '[0-9]+ passed, [0-9]+ failed'; then \
	    tail -n 1 $(BUILD)/ct.out >> $(BUILD)/ctests.log; \
	  else echo "$$t: crashed"; echo "crashed: 0 passed, 1 failed" >> $(BUILD)/ctests.log; fi; \
	done; \
	awk '{ for (i = 1; i < NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; if ($$(i+1) ~ /^failed/) f += $$i } } \
	     END { printf "ctests: %d passed, %d failed\n", p, f }' $(BUILD)/ctests.log > $(BUILD)/ctests.total; \
	cat $(BUILD)/ctests.total; exit $$status

# Memcheck every C test (shared-library build): no errors, no leaks. Only
# valgrind's own verdict (exit 99) counts here; test failures count in ctests.
valgrind: lib
	@status=0; for t in $(CT_SO); do \
	  if ! $(MAKE) --no-print-directory -s $$t; then status=1; echo "valgrind: $$t does not build"; continue; fi; \
	  $(VALGRIND) $$t > /dev/null 2> $(BUILD)/vg.out; rc=$$?; \
	  if [ $$rc -ne 99 ] && [ $$rc -lt 128 ]; then echo "valgrind ok: $$t"; \
	  else status=1; echo "valgrind FAILED ($$rc): $$t"; cat $(BUILD)/vg.out; fi; \
	done; exit $$status

demo: all
	$(MAKE) -C demo

bench: all
	$(MAKE) -C bench

# One tiny verifying pass of the benchmark (not a timing run).
bench-smoke: all
	$(MAKE) -C bench smoke

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(SO) $(DESTDIR)$(PREFIX)/lib/libraft.so.$(VERSION)
	ln -sf libraft.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libraft.so.$(SOVERSION)
	ln -sf libraft.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libraft.so
	install -m 644 $(AR) $(DESTDIR)$(PREFIX)/lib/libraft.a
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|g' \
	  raft.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/raft.pc

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
	-$(MAKE) -C demo clean 2>/dev/null
	-$(MAKE) -C bench clean 2>/dev/null

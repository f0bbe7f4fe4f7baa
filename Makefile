# rerank - build with `make`, test with `make test`, sanitizers with `make SAN=1 test`.
# Sources are found by wildcard: a new .c file under src/ or tests/ needs no edit here. The kernels of one
# architecture live in src/kernels/<arch>/ (x86, arm64, generic): only the target's folder is built; in it, files
# named after an instruction set (*_avx2.c, *_avx512.c; *_neon.c, *_neon_dot.c, *_neon_i8mm.c, *_neon_bf16.c)
# are compiled with that set's flags, and chosen at run time.

CC      ?= cc
# The version is RERANK_VERSION in include/rerank.h; the SONAME carries its major number (librerank.so.0).
VERSION := $(shell sed -n 's/^\#define RERANK_VERSION "\(.*\)"/\1/p' include/rerank.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
V       ?= 0
Q        = $(if $(filter 1,$(V)),,@echo "  CC  $<";)
SAN     ?= 0
# NOISA=1: the portable build the fuzz targets use (src/kernels/generic/ instead of the target's folder), e.g.
# `make NOISA=1 test T=kernels` checks that dispatch compiles, links and runs without the SIMD files.
NOISA   ?= 0
BUILD   ?= $(if $(filter 1,$(SAN)),build-san,$(if $(filter 1,$(NOISA)),build-noisa,build))
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN     = -Wall -Wextra -Werror -Wshadow -Wvla -Wno-unused-parameter -Wstrict-prototypes -Wno-format-truncation -Wno-format-zero-length
# The environment's CPPFLAGS (e.g. dpkg-buildflags' -D_FORTIFY_SOURCE=2 in the Debian build) come after ours.
CPPFLAGS := -Iinclude -Isrc -D_GNU_SOURCE $(CPPFLAGS)
# The library's dependencies, in one place: pkg-config modules (the build flags, the fallback -l list and
# librerank.pc's Requires.private all come from LIB_PKGS) and plain system libraries (Libs.private).
LIB_PKGS    := jansson libutf8proc libpcre2-8 libcurl libcrypto
LIB_SYSLIBS := -lm -lpthread
DEPS_CFLAGS := $(shell pkg-config --cflags $(LIB_PKGS) 2>/dev/null)
DEPS_LIBS   := $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null || echo $(addprefix -l,$(patsubst lib%,%,$(LIB_PKGS))))
LDLIBS   = $(DEPS_LIBS) $(LIB_SYSLIBS)
# -fvisibility=hidden: librerank.so exports only what include/rerank.h marks RERANK_API.
ALL_CFLAGS = -std=c11 $(CFLAGS) $(WARN) $(DEPS_CFLAGS) -fPIC -fvisibility=hidden -MMD -MP
ifeq ($(SAN),1)
  # float-cast-overflow is not part of gcc's `undefined`: an (int) cast of NaN/inf (non-finite weights) is UB too
  ALL_CFLAGS += -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined,float-cast-overflow
  LDFLAGS    += -fsanitize=address,undefined,float-cast-overflow
endif

# Each instruction-set file's flags. A file of a set the CPU may lack runs only where its folder's isa_*.c says so.
ISA_avx2      = -mavx2 -mfma -mf16c
ISA_avx512    = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mfma -mf16c
ISA_neon      =
ISA_neon_dot  = -march=armv8.2-a+dotprod
ISA_neon_i8mm = -march=armv8.6-a+dotprod+i8mm
ISA_neon_bf16 = -march=armv8.6-a+bf16

# The kernels' architecture folder, from the compiler's target (a cross compiler picks its own).
TARGET_ARCH_NAME := $(shell $(CC) -dumpmachine 2>/dev/null)
KERNEL_ARCH := $(if $(filter 1,$(NOISA)),generic,$(if $(filter x86_64-% i686-% i386-%,$(TARGET_ARCH_NAME)),x86,$(if $(filter aarch64-%,$(TARGET_ARCH_NAME)),arm64,generic)))
KERNEL_ARCH_DIRS := $(wildcard src/kernels/*/)
LIB_SRC   := $(shell find src -name '*.c' -not -path 'src/server/*' | sort)
# src/mpi/ is the MPI shim (its own shared library, below), never part of librerank.
LIB_SRC   := $(filter-out src/mpi/% $(KERNEL_ARCH_DIRS:%=%%),$(LIB_SRC)) $(sort $(wildcard src/kernels/$(KERNEL_ARCH)/*.c))
# The HTTP server (src/server/) is a client of rerank.h: linked into the CLI and the tests, not librerank.
SERVER_SRC  := $(wildcard src/server/*.c)
SERVER_OBJ  := $(SERVER_SRC:%.c=$(BUILD)/%.o)
SERVER_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
# The request-parsing half of the server, which the fuzz targets link (no HTTP, no model).
SERVER_PARSE_SRC := $(addprefix src/server/,request.c api_cohere.c api_tei.c limits.c)
TEST_SRC  := $(wildcard tests/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o)
# The CLI: every tools/*.c but the example-model generator (tools/rerank.c has main()).
CLI_SRC   := $(filter-out tools/make_example_model.c,$(wildcard tools/*.c))
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
# The CLI's option layer and `rerank serve`'s command line, linked into the tests too (tests/test_cli_options.c
# checks the table; tests/server_client.c starts servers with rr_serve_main).
CLI_TEST_OBJ := $(BUILD)/tools/options.o $(BUILD)/tools/option_table.o $(BUILD)/tools/cli_serve.o \
                $(BUILD)/tools/cli_download.o

.PHONY: all test check check-arm64 check-arm64-build check-layering deb-check clean fuzz fuzz-smoke bench test-python install uninstall FORCE
all: $(BUILD)/librerank.a $(BUILD)/librerank.so $(BUILD)/rerank

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ISA_avx2) -c $< -o $@
$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ISA_avx512) -c $< -o $@
$(BUILD)/%_neon.o: %_neon.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ISA_neon) -c $< -o $@
$(BUILD)/%_neon_dot.o: %_neon_dot.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ISA_neon_dot) -c $< -o $@
$(BUILD)/%_neon_i8mm.o: %_neon_i8mm.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ISA_neon_i8mm) -c $< -o $@
$(BUILD)/%_neon_bf16.o: %_neon_bf16.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ISA_neon_bf16) -c $< -o $@
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/librerank.a: $(LIB_OBJ)
	@echo "  AR  $@"; rm -f $@ && ar rcs $@ $^
$(BUILD)/librerank.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,librerank.so.$(SOMAJOR) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf librerank.so $(BUILD)/librerank.so.$(SOMAJOR)
# The server is not part of librerank: the CLI links its objects directly.
$(BUILD)/rerank: $(CLI_OBJ) $(SERVER_OBJ) $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SERVER_LIBS)
$(BUILD)/make_example_model: $(BUILD)/tools/make_example_model.o $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench_rerank: $(BUILD)/bench/bench_rerank.o $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench_prefix: $(BUILD)/bench/bench_prefix.o $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench_llm: $(BUILD)/bench/bench_llm.o $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench_train: $(BUILD)/bench/bench_train.o $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench_adapter: $(BUILD)/bench/bench_adapter.o $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/bench_ports: $(BUILD)/bench/bench_ports.o
	$(CC) $(LDFLAGS) -o $@ $^
$(BUILD)/test_rerank: $(TEST_OBJ) $(CLI_TEST_OBJ) $(SERVER_OBJ) $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SERVER_LIBS)

# Tests run from the repository root; they read tests/data (then ../shared or $RERANK_SHARED) and use the built CLI.
test: $(BUILD)/test_rerank $(BUILD)/rerank $(BUILD)/make_example_model
	RERANK_CLI=$(BUILD)/rerank RERANK_MAKE_EXAMPLE=$(BUILD)/make_example_model ./$(BUILD)/test_rerank $(T)

# Data parallelism: librerank_mpi.so is the only binary that links libmpi; rr_dist_open dlopen()s it (found
# next to the executable) when mpirun started the process. Built only where Open MPI's dev files are
# (libopenmpi-dev); tests/mpi/test_dist_mpi is what tests/test_dist.c runs under mpirun.
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
MPI_SHIM   := $(if $(MPI_LIBS),$(BUILD)/librerank_mpi.so)
all: $(MPI_SHIM)
test: $(MPI_SHIM) $(BUILD)/test_dist_mpi
$(BUILD)/librerank_mpi.so: src/mpi/mpi_shim.c src/mpi/mpi_shim.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(CFLAGS) $(WARN) $(MPI_CFLAGS) -fPIC -shared -o $@ $< $(MPI_LIBS)
$(BUILD)/test_dist_mpi: $(BUILD)/tests/mpi/test_dist_mpi.o $(BUILD)/librerank.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer targets (clang): build/fuzz/<name>; run e.g. build/fuzz/fuzz_json -max_total_time=60
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
# the portable kernels only: one compiler invocation has no per-file instruction-set flags
FUZZ_LIB_SRC := $(filter-out src/kernels/$(KERNEL_ARCH)/%,$(LIB_SRC)) $(wildcard src/kernels/generic/*.c)
bench: $(BUILD)/bench_rerank
	bench/run.sh

# The library is compiled once (build/fuzz-obj/) and linked into every target.
FUZZ_CFLAGS  := -std=c11 -O1 -g -fno-omit-frame-pointer $(CPPFLAGS) $(DEPS_CFLAGS) \
                -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow
FUZZ_LIB_OBJ := $(addprefix build/fuzz-obj/,$(FUZZ_LIB_SRC:.c=.o) $(SERVER_PARSE_SRC:.c=.o))
fuzz: $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
# Coverage feedback where the input decides the path; the kernels' loops are compiled without it (their compare
# tracing took three quarters of fuzz_score's time) and at -O2, but keep ASan + UBSan.
FUZZ_COV = $(if $(filter src/kernels/%,$<),-O2,-fsanitize=fuzzer-no-link)
build/fuzz-obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_CFLAGS) $(FUZZ_COV) -MMD -MP -c $< -o $@
build/fuzz/%: fuzz/%.c fuzz/fuzz_common.h $(FUZZ_LIB_OBJ)
	@mkdir -p build/fuzz
	@echo "  LD  $@"; clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP $< $(FUZZ_LIB_OBJ) -o $@ $(LDLIBS)
.SECONDARY: $(FUZZ_LIB_OBJ)
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_SRC:fuzz/%.c=build/fuzz/%.d)

# Every target for FUZZ_SECONDS on its seed corpus (+ dictionary), after replaying fuzz/regressions/<target>/;
# fails on any crash, leak, timeout or sanitizer report (fuzz/smoke.sh, run by .ci/run).
FUZZ_SECONDS ?= 10
fuzz-smoke: fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/smoke.sh $(FUZZ_SRC:fuzz/%.c=%)

# `make install PREFIX=/usr DESTDIR=pkgroot`: the CLI, librerank.so.$(VERSION) with its SONAME link
# librerank.so.$(SOMAJOR) and the development link librerank.so, librerank.a, rerank.h and librerank.pc.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# Regenerated by every install: PREFIX and LIBDIR are those of the command line.
$(BUILD)/librerank.pc: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)' '' \
	  'Name: librerank' 'Description: reranking engine: relevance scores of (query, passage) pairs' \
	  'Version: $(VERSION)' 'Requires.private: $(LIB_PKGS)' 'Libs: -L$${libdir} -lrerank' \
	  'Libs.private: $(LIB_SYSLIBS)' 'Cflags: -I$${includedir}' > $@

install: all $(BUILD)/librerank.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(BUILD)/rerank $(DESTDIR)$(BINDIR)/rerank
	install -m 755 $(BUILD)/librerank.so $(DESTDIR)$(LIBDIR)/librerank.so.$(VERSION)
	ln -sf librerank.so.$(VERSION) $(DESTDIR)$(LIBDIR)/librerank.so.$(SOMAJOR)
	ln -sf librerank.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/librerank.so
	install -m 644 $(BUILD)/librerank.a $(DESTDIR)$(LIBDIR)/librerank.a
	install -m 644 include/rerank.h $(DESTDIR)$(INCLUDEDIR)/rerank.h
	install -m 644 $(BUILD)/librerank.pc $(DESTDIR)$(PKGCONFIGDIR)/librerank.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/rerank $(DESTDIR)$(LIBDIR)/librerank.so.$(VERSION) \
	  $(DESTDIR)$(LIBDIR)/librerank.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/librerank.so $(DESTDIR)$(LIBDIR)/librerank.a \
	  $(DESTDIR)$(INCLUDEDIR)/rerank.h $(DESTDIR)$(PKGCONFIGDIR)/librerank.pc

# DESIGN.md's dependency direction on the #include lines of src/ and tools/ (scripts/check-layering.sh).
check-layering:
	scripts/check-layering.sh

# The Debian packages (debian/): build them into $(BUILD)/deb, install them, compile examples/score.c against
# the installed librerank.pc and score with it, then remove them (scripts/deb-check.sh; root or sudo).
deb-check:
	scripts/deb-check.sh

# The whole suite, again with the fallbacks a CPU without AMX, without AVX-512 or without AVX2 takes (chosen at
# run time; a pass for an instruction set this CPU lacks runs its best one and says so), then under
# AddressSanitizer + UBSan.
check: check-layering
	$(MAKE) test
	$(MAKE) test-python
	RERANK_AMX=0 $(MAKE) test
	RERANK_ISA=avx2 $(MAKE) test
	RERANK_ISA=scalar $(MAKE) test
	$(MAKE) SAN=1 test

# The Python package (python/rerank, pyproject.toml): pip-installed from this tree, offline, into a venv under
# build/ that also sees Debian's numpy, pytest and distributed; then its tests (they compare with $(BUILD)/rerank).
PYTHON  ?= /usr/bin/python3
PY_VENV := build/venv
test-python: $(BUILD)/rerank
	@test -x $(PY_VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(PY_VENV)
	$(PY_VENV)/bin/python -m pip install -q --no-build-isolation --no-index --no-deps .
	cd python/tests && RERANK_CLI=$(CURDIR)/$(BUILD)/rerank ../../$(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider .

FORCE:

# ARM64 under emulation: cross-build into build-arm64/ (gcc-aarch64-linux-gnu, the arm64 dev packages of
# scripts/install-deps.sh --arm64) and run the whole suite under qemu-aarch64-static, once with the emulated
# CPU at baseline NEON (Cortex-A57: no dot product, i8mm or bf16) and once with every optional feature on
# (max). The tests run the CLI as $$RERANK_CLI: wrappers in build-arm64/qemu/ start the arm64 binaries (the CLI,
# the example-model maker, the MPI test program) under qemu, so that no binfmt_misc registration is needed. Open MPI has no arm64 dev files here: the MPI runs skip.
# The arm64 binaries run on Debian's multiarch libc6:arm64 (/lib/ld-linux-aarch64.so.1, installed with the
# :arm64 dev packages): with `-L /usr/aarch64-linux-gnu` (the cross toolchain's libc) a thread's start hangs.
ARM64_CC      ?= aarch64-linux-gnu-gcc
ARM64_PASSES  ?= cortex-a57 max
ARM64_QEMU    ?= qemu-aarch64-static
ARM64_BINS     = build-arm64/test_rerank build-arm64/rerank build-arm64/make_example_model build-arm64/test_dist_mpi
# one target per emulated CPU, so that `make -j2 check-arm64` runs the passes side by side; each pass writes
# build-arm64/suite-<cpu>.log and prints its summary, its failures and its wall time
check-arm64: $(addprefix check-arm64-,$(ARM64_PASSES))
check-arm64-build:
	PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig PKG_CONFIG_PATH= \
	  $(MAKE) CC=$(ARM64_CC) BUILD=build-arm64 $(ARM64_BINS)
	@mkdir -p build-arm64/qemu; for b in rerank make_example_model test_dist_mpi; do \
	  printf '#!/bin/sh\nexec $(ARM64_QEMU) "$$(dirname "$$0")/../%s" "$$@"\n' $$b > build-arm64/qemu/$$b; \
	  chmod +x build-arm64/qemu/$$b; done
check-arm64-%: check-arm64-build
	@echo "== arm64 suite under qemu, QEMU_CPU=$*: log in build-arm64/suite-$*.log"; start=$$(date +%s); \
	  QEMU_CPU=$* RERANK_CLI=build-arm64/qemu/rerank RERANK_MAKE_EXAMPLE=build-arm64/qemu/make_example_model \
	    $(ARM64_QEMU) build-arm64/test_rerank $(T) > build-arm64/suite-$*.log 2>&1; rc=$$?; \
	  grep -E '^FAIL|^ +[a-z_/]+\.c:[0-9]+:' build-arm64/suite-$*.log; \
	  if [ $$rc -ne 0 ]; then tail -n 30 build-arm64/suite-$*.log; else tail -n 1 build-arm64/suite-$*.log; fi; \
	  echo "== QEMU_CPU=$*: $$(( $$(date +%s) - start )) s, exit $$rc"; exit $$rc

clean:
	rm -rf build build-san build-arm64

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SERVER_OBJ:.o=.d) $(BUILD)/tools/make_example_model.d $(BUILD)/bench/bench_rerank.d $(BUILD)/bench/bench_prefix.d $(BUILD)/bench/bench_llm.d $(BUILD)/tests/mpi/test_dist_mpi.d $(BUILD)/bench/bench_train.d $(BUILD)/bench/bench_adapter.d $(BUILD)/bench/bench_ports.d

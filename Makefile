# statesnap - build, run and test. `make run` and `make test` do all set-up
# on a fresh Debian 12 machine (dependencies are apt-installed when root).

CC      ?= cc
PKGS    := libmicrohttpd libzip jansson sqlite3 libcrypto libcurl zlib
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS    = $(PKGLIBS) -lpthread

# The source folders, lowest layer first (docs/DESIGN.md).
SRCDIRS := common engine db conf offsite alerts cli routes server
SRC     := $(wildcard $(SRCDIRS:%=%/*.c))
LIBSRC  := $(filter-out server/main.c,$(SRC))

# Three builds of the same sources:
#   build/rel   - what `make run` serves and what ships (no failpoints)
#   build/test  - failpoints and a pinnable clock compiled in (tests only)
#   build/asan  - the test build under AddressSanitizer + UBSan
REL_CFLAGS  := -O2 -g $(CSTD) $(WARN)
TEST_CFLAGS := -O1 -g $(CSTD) $(WARN) -DSTATESNAP_TESTING
ASAN_CFLAGS := -O1 -g $(CSTD) $(WARN) -DSTATESNAP_TESTING -fsanitize=address,undefined \
               -fno-sanitize-recover=all -fno-omit-frame-pointer

REL_OBJ  := $(SRC:%.c=build/rel/%.o)
TEST_OBJ := $(SRC:%.c=build/test/%.o)
ASAN_OBJ := $(SRC:%.c=build/asan/%.o)
TEST_LIBOBJ := $(LIBSRC:%.c=build/test/%.o)

# libFuzzer targets: the same sources built with clang and coverage.
FUZZ_CC     := clang
FUZZ_CFLAGS := -O1 -g $(CSTD) $(WARN) -DSTATESNAP_TESTING -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LIBOBJ := $(LIBSRC:%.c=build/fuzz/%.o)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/bin/%)
FUZZ_SECONDS ?= 60

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/test/unit/%)

.PHONY: all run test deps test-deps asan clean bench fuzz fuzz-build unit
all: build/statesnap

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

build/statesnap: $(REL_OBJ)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)

build/test/statesnap: $(TEST_OBJ)
	$(CC) $(TEST_CFLAGS) -o $@ $^ $(LIBS)

build/asan/statesnap: $(ASAN_OBJ)
	$(CC) $(ASAN_CFLAGS) -o $@ $^ $(LIBS)

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) $(PKGCFLAGS) -MMD -MP -c -o $@ $<

build/test/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(PKGCFLAGS) -MMD -MP -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_CFLAGS) $(PKGCFLAGS) -MMD -MP -c -o $@ $<

build/test/unit/%: tests/unit/%.c $(TEST_LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $(PKGCFLAGS) -o $@ $< $(TEST_LIBOBJ) $(LIBS) -lcmocka

unit: $(UNIT_BIN)

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKGCFLAGS) -MMD -MP -c -o $@ $<

build/fuzz/bin/%: tests/fuzz/%.c $(FUZZ_LIBOBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKGCFLAGS) -o $@ $< $(FUZZ_LIBOBJ) $(LIBS)

fuzz-build: $(FUZZ_BIN)

# make fuzz: every target for FUZZ_SECONDS each; new inputs land in the corpus.
fuzz: test-deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

run: deps
	@$(MAKE) --no-print-directory build/statesnap
	@scripts/run-demo.sh

test: test-deps
	@$(MAKE) --no-print-directory build/test/statesnap build/statesnap unit fuzz-build
	@tests/run-all.sh build/test/statesnap

asan: test-deps
	@$(MAKE) --no-print-directory build/asan/statesnap
	@STATESNAP_SANITIZED=1 tests/run-all.sh build/asan/statesnap

# make bench: side-by-side measurements against baselines (see bench/bench.py).
bench: deps
	@BENCH_PKGS="zip unzip wrk nginx-light sqlite3 time restic borgbackup pigz" scripts/deps.sh bench
	@$(MAKE) --no-print-directory build/statesnap
	@python3 bench/bench.py

clean:
	rm -rf build

-include $(REL_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(FUZZ_LIBOBJ:.o=.d)

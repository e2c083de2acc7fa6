# asyncio for Lua 5.4 — build, test, check, bench, install.
LUA      ?= lua5.4
CC       ?= cc
PREFIX   ?= /usr/local
CFLAGS   ?= -O2 -g
LUAINC   := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
EVINC    :=
EVLIB    :=
LIBS     := $(EVLIB) -lev -lpthread
LMOD     := $(PREFIX)/share/lua/5.4
CMOD     := $(PREFIX)/lib/lua/5.4
BUSTED   := $(LUA) /usr/bin/busted
SRC      := $(wildcard src/*.c)
HDR      := $(wildcard src/*.h)
SO       := build/asyncio/core.so
ASAN_SO  := build/asan/asyncio/core.so
TSAN_SO  := build/tsan/asyncio/core.so
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all deps test check fuzz stress tsan pydiff oom demo bench bench-deps install uninstall clean lint rock install-rock

all: deps $(SO)

deps:
	@sh tools/ensure-deps.sh build

$(SO): $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -fPIC -shared $(LUAINC) $(EVINC) $(SRC) -o $@ $(LIBS)

$(ASAN_SO): $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) $(SANITIZE) -fPIC -shared $(LUAINC) $(SRC) -o $@ $(LIBS)

# All specs under Lua 5.4 (spec/helper.lua refuses any other version).
test: $(SO)
	@sh tools/ensure-deps.sh test
	$(BUSTED)

# The specs again under AddressSanitizer + UndefinedBehaviorSanitizer, the
# sanitizer runtimes preloaded into the stock interpreter; then luacheck.
check: deps $(ASAN_SO)
	@sh tools/ensure-deps.sh check
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp \
	ASYNCIO_CPATH=build/asan/?.so \
	$(BUSTED) --lpath='lua/?.lua;lua/?/init.lua' --cpath='build/asan/?.so'
	$(MAKE) lint

lint:
	luacheck lua spec examples bench/aio bin tools/fuzz.lua tools/stress.lua tools/tsan.lua tools/oom.lua tools/oom_streams.lua tools/oom_run.lua tools/oom_bigblock.lua

# Runs a Lua script on the sanitized build, ASan and UBSan preloaded (fuzz
# and stress; leaks are make check's business).
ASAN_RUN = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
	LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/asan/?.so;;' timeout 300 $(LUA)

# Every reachable function called with odd arguments, under the sanitizers
# (not part of check: a few minutes). SEEDS picks the runs: numbers and
# ranges, as SEEDS="1 5 100-140".
SEEDS ?= 1-8
SEED_LIST = $$(for s in $(SEEDS); do case $$s in *-*) seq $${s%-*} $${s\#*-};; *) echo $$s;; esac; done)
fuzz: $(ASAN_SO)
	@for seed in $(SEED_LIST); do \
	  FUZZ_VERBOSE=1 $(ASAN_RUN) tools/fuzz.lua $$seed 3 >/dev/null 2>build/fuzz.log \
	  && echo "fuzz: survived seed $$seed" \
	  || { echo "fuzz: seed $$seed failed; its last calls:"; tail -5 build/fuzz.log; exit 1; }; \
	done

# Correct programs through unlikely interleavings, under the same
# sanitizers: tasks in every kind of wait, cancelled at random moments, with
# collections in between (tools/stress.lua; about a second a seed, run by
# CI). SEEDS picks the runs.
stress: $(ASAN_SO)
	@for seed in $(SEED_LIST); do \
	  $(ASAN_RUN) tools/stress.lua $$seed >build/stress.log 2>&1 \
	  && echo "stress: survived seed $$seed" \
	  || { echo "stress: seed $$seed failed:"; tail -40 build/stress.log; exit 1; }; \
	done

# The paths where threads meet (executors, loop threads, the resolver),
# under ThreadSanitizer: any data race fails the run (tools/tsan.lua; run
# by CI). Lua's yields leave TSan's shadow stack unwound (its longjmp is
# glibc's __longjmp_chk, which TSan does not see), so runs stay short.
$(TSAN_SO): $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) -fsanitize=thread -fno-omit-frame-pointer -fPIC -shared $(LUAINC) $(SRC) -o $@ $(LIBS)

# Some kernels' address-space layouts keep TSan from starting at all
# ("unexpected memory mapping"): there the run is skipped, and says so.
tsan: $(TSAN_SO)
	@tsan="$$($(CC) -print-file-name=libtsan.so)"; \
	if ! LD_PRELOAD="$$tsan" $(LUA) -e '' >/dev/null 2>&1; then \
	  echo "tsan: ThreadSanitizer cannot start on this machine; skipped"; \
	else \
	  LD_PRELOAD="$$tsan" TSAN_OPTIONS=halt_on_error=1 \
	  LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/tsan/?.so;;' \
	  timeout 300 $(LUA) tools/tsan.lua 20; \
	fi

# Random programs run by CPython and by us, their outputs compared
# (tools/pydiff/; not part of test: needs CPython 3.13 or later, given as
# PYDIFF_PYTHON). Then the same with sleeps and timers 20 ms apart, then
# programs of callbacks and timers driving the loop from outside, then a
# TCP client reading what a server writes, then children of /bin/sh.
PYDIFF_PYTHON ?= python3
PYDIFF_SEEDS ?= 1-300
pydiff: $(SO)
	python3 tools/pydiff/run_pydiff.py --python $(PYDIFF_PYTHON) --seeds $(PYDIFF_SEEDS)
	python3 tools/pydiff/run_pydiff.py --python $(PYDIFF_PYTHON) --seeds $(PYDIFF_SEEDS) --timed
	python3 tools/pydiff/run_pydiff.py --python $(PYDIFF_PYTHON) --seeds $(PYDIFF_SEEDS) --loop
	python3 tools/pydiff/run_pydiff.py --python $(PYDIFF_PYTHON) --seeds $(PYDIFF_SEEDS) --streams
	python3 tools/pydiff/run_pydiff.py --python $(PYDIFF_PYTHON) --seeds $(PYDIFF_SEEDS) --procs

# Each allocation of tools/oom.lua made to fail in turn, under the
# sanitizers: a memory error must never crash the runtime or lose a task.
# Then the arena's big blocks (left out of the sanitizer build, so with the
# plain core) through shrinks whose new block cannot be had.
oom: $(ASAN_SO) $(SO) build/oomhost
	@sh tools/oom.sh build/oomhost tools/oom.lua
	@OOM_DEBUG=1 sh tools/oom.sh build/oomhost tools/oom.lua
	@sh tools/oom.sh build/oomhost tools/oom_streams.lua
	@for at in 1 2 3 4 5 6; do \
	  OOM_AT=$$at build/oomhost tools/oom_bigblock.lua 2>&1 | grep -qx OK \
	  || { echo "oom: tools/oom_bigblock.lua failed with OOM_AT=$$at"; exit 1; }; \
	done; echo "oom: big blocks kept through failed shrinks, 6 of 6"

build/oomhost: tools/oomhost.c
	@mkdir -p build
	$(CC) -O1 -g $(SANITIZE) -o $@ $< $(LUAINC) -Wl,-E -l:liblua5.4.a -lm -ldl

demo: all
	@sh tools/ensure-deps.sh build
	LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' $(LUA) examples/countasync.lua

bench: all
	$(MAKE) -C bench run QUICK=$(QUICK)

bench-deps:
	$(MAKE) -C bench deps

install: all
	install -d $(DESTDIR)$(LMOD)/asyncio $(DESTDIR)$(CMOD)/asyncio $(DESTDIR)$(PREFIX)/bin
	install -m 644 lua/asyncio/*.lua $(DESTDIR)$(LMOD)/asyncio/
	install -m 755 $(SO) $(DESTDIR)$(CMOD)/asyncio/core.so
	install -m 755 bin/lua-asyncio $(DESTDIR)$(PREFIX)/bin/lua-asyncio

# Used by rockspec/asyncio-scm-1.rockspec: luarocks supplies the directories.
rock: $(SO)

install-rock:
	install -d $(LUADIR)/asyncio $(LIBDIR)/asyncio $(BINDIR)
	install -m 644 lua/asyncio/*.lua $(LUADIR)/asyncio/
	install -m 755 $(SO) $(LIBDIR)/asyncio/core.so
	install -m 755 bin/lua-asyncio $(BINDIR)/lua-asyncio

uninstall:
	rm -rf $(DESTDIR)$(LMOD)/asyncio $(DESTDIR)$(CMOD)/asyncio $(DESTDIR)$(PREFIX)/bin/lua-asyncio

clean:
	rm -rf build

# ezsync — build, test, demo. See README.md.
#   make            build ./ezsync
#   make test       every test tier (unit, rules, simulators, end-to-end)
#   make asan       the same suite on an ASan+UBSan build (build-asan/)
#   make demo       install what is needed and run the demo
#   make fuzz       each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS (clang)
#   make install    PREFIX=/usr/local DESTDIR=

PKGS      := lua5.4 libcurl jansson yajl sqlite3 libevent libcrypto zlib
PREFIX    ?= /usr/local
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

ifeq ($(FUZZ),1)
# libFuzzer targets (tests/fuzz/): clang, every object instrumented, ASan + UBSan.
BUILD     ?= build-fuzz
CC        := clang
SANFLAGS  := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
OPT       ?= -O1 -g
else ifeq ($(SAN),1)
BUILD     ?= build-asan
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       ?= -O1 -g
else
BUILD     ?= build
SANFLAGS  :=
OPT       ?= -O2 -g
endif

WARN      := -Wall -Wextra -Wstrict-prototypes -Wshadow -Wformat=2 -Wno-format-nonliteral
ifneq ($(CI),)
WARN      += -Werror
endif
CPPFLAGS  += -D_GNU_SOURCE -Isrc -I$(BUILD)
CFLAGS    ?= $(OPT)
# -fPIC everywhere: the same objects also build the `ez` Lua module the rule specs load.
CFLAGS    += -std=c11 -fPIC -MMD -MP $(WARN) $(SANFLAGS) $(shell pkg-config --cflags $(PKGS))
# The binaries take Lua from the package's static library when it has one (liblua5.4-dev
# does): calls into the VM and the VM's own calls to the API then skip the shared library's
# PLT and GOT (bench/dryrun, alternating: a median 5 % faster, the rules thread 4.36 s against
# 4.58). No rule can load a C module (the rules have no `package`), so no second Lua can come
# in; the specs' module (ezhost.so) uses the interpreter's Lua, as a module must.
LUA_A     := $(wildcard $(shell pkg-config --variable=libdir lua5.4)/liblua5.4.a)
LDLIBS    += $(patsubst -llua5.4,$(or $(LUA_A),-llua5.4),$(shell pkg-config --libs $(PKGS))) -lm
LDFLAGS   += $(SANFLAGS)

# Every src/*.c is a module; main.c alone holds main(). The wildcard keeps the build from
# needing an edit per module, which parallel work on separate modules would otherwise collide on.
SRCS      := $(sort $(wildcard src/*.c))
LIB_OBJS  := $(patsubst src/%.c,$(BUILD)/%.o,$(filter-out src/main.c,$(SRCS)))
MAIN_OBJ  := $(BUILD)/main.o
LIB       := $(BUILD)/libezsync.a
BIN       := $(BUILD)/ezsync
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
REPLAY_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/replay/%,$(FUZZ_SRCS))

export EZSYNC_BIN := $(abspath $(BIN))

# The rules host as a Lua C module for the busted specs (`require "ezhost"`). lua5.4 is linked
# statically and exports the Lua API, so the module must not link liblua (two VMs in one
# process). Under SAN=1 the module is ASan-built: the non-ASan interpreter needs the ASan
# runtime preloaded, and the interpreter's own allocations are not ours to leak-check.
EZHOST    := $(BUILD)/ezhost.so
RULES_ENV := LUA_CPATH='$(abspath $(BUILD))/?.so;;'
ifeq ($(SAN),1)
RULES_ENV += LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0
endif

Q := @
ifeq ($(V),1)
Q :=
endif

.PHONY: all test unit rules-test sim-test e2e asan demo install clean deps sim-setup bench fuzz fuzz-run
all: ezsync

ifeq ($(SAN),1)
ezsync: $(BIN)
else
ezsync: $(BIN)
	$(Q)cp $(BIN) ezsync
endif

# The version is a generated header rewritten only when `git describe` changes, so the binary
# always names the commit it was built from and nothing else rebuilds for it.
$(BUILD)/version.h: FORCE
	@mkdir -p $(BUILD)
	@echo '#define EZ_VERSION "$(VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
FORCE:

# Order-only: the header must exist first; -MMD then tracks who really includes it.
$(LIB_OBJS) $(MAIN_OBJ): | $(BUILD)/version.h $(BUILD)/dashboard_html.h

# The dashboard page, embedded as a C string (awk escapes it; no xxd needed).
$(BUILD)/dashboard_html.h: src/dashboard.html
	@mkdir -p $(BUILD)
	$(Q)awk 'BEGIN { print "static const char dashboard_html[] =" } \
	  { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); print "    \"" $$0 "\\n\"" } \
	  END { print "    \"\";" }' $< > $@

$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(LIB) $(LDLIBS)

$(EZHOST): $(LIB)
	@echo "  LINK    $@"
	$(Q)$(CC) -shared $(LDFLAGS) -o $@ $(BUILD)/lua_ezhost.o $(LIB) $(filter-out -llua5.4 $(LUA_A),$(LDLIBS))

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB) $(LDLIBS)

# Each target for FUZZ_SECONDS on its corpus (build-fuzz/corpus/NAME, seeded from
# tests/fuzz/corpus/NAME); a crash leaves its input in build-fuzz/ and fails the run.
fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-run

fuzz-run: $(FUZZ_BINS)
	$(Q)failed=""; for f in $(FUZZ_BINS); do n=$$(basename $$f); echo "== $$n"; \
	  mkdir -p $(BUILD)/corpus/$$n; \
	  if ! $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/$$n- \
	      -print_final_stats=1 $(BUILD)/corpus/$$n $$( [ -d tests/fuzz/corpus/$$n ] && \
	      echo tests/fuzz/corpus/$$n ) >$(BUILD)/$$n.log 2>&1; then failed="$$failed $$n"; fi; \
	  grep -E "^(==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units|fuzz_)" \
	    $(BUILD)/$$n.log || true; done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (inputs: $(BUILD)/NAME-crash-*)"; exit 1; fi

deps:
	$(Q)scripts/install-deps.sh

sim-setup:
	$(Q)if [ -x scripts/sim/setup ]; then scripts/sim/setup; fi

unit: $(UNIT_BINS) $(REPLAY_BINS) ezsync
	$(Q)set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
	  EZSYNC_TEST_TMP=$$(mktemp -d) $$t; done
	$(Q)set -e; for t in $(REPLAY_BINS); do n=$$(basename $$t); echo "== $$t"; \
	  $$t tests/fuzz/corpus/$$n/*; done

# Rule specs run on Lua 5.4 explicitly: /usr/bin/busted's shebang is `lua`, which is 5.1 here.
rules-test: ezsync $(EZHOST)
	$(Q)if ls tests/rules/*_spec.lua >/dev/null 2>&1; then \
	  $(RULES_ENV) lua5.4 /usr/bin/busted --lpath='rules/?.lua;rules/lib/?.lua' tests/rules; fi

sim-test: sim-setup
	$(Q)if ls tests/sim/*.test.mjs >/dev/null 2>&1; then node --test tests/sim/; fi

e2e: ezsync sim-setup
	$(Q)if ls tests/e2e/*.test.mjs >/dev/null 2>&1; then node --test --test-concurrency=1 tests/e2e/; fi

test: deps
	$(Q)$(MAKE) --no-print-directory unit rules-test sim-test e2e

asan:
	$(Q)$(MAKE) --no-print-directory SAN=1 test

demo: deps
	$(Q)$(MAKE) --no-print-directory ezsync sim-setup
	$(Q)scripts/demo

bench: ezsync sim-setup
	$(Q)for b in scripts/bench/*; do [ -x "$$b" ] && "$$b"; done

install: ezsync
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ezsync/rules \
	  $(DESTDIR)$(PREFIX)/share/ezsync/rules/lib $(DESTDIR)$(PREFIX)/lib/systemd/system \
	  $(DESTDIR)/etc/ezsync
	install -m 755 ezsync $(DESTDIR)$(PREFIX)/bin/ezsync
	cp -R rules/. $(DESTDIR)$(PREFIX)/share/ezsync/rules/
	install -m 644 ezsync.conf.lua $(DESTDIR)$(PREFIX)/share/ezsync/ezsync.conf.lua.example
	sed 's|@PREFIX@|$(PREFIX)|g' scripts/ezsync.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/ezsync.service

clean:
	rm -rf build build-asan build-fuzz ezsync

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)

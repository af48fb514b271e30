# qora: build, test, run. `make run` and `make test` are all a new user needs.

LUA ?= lua5.4
CC ?= cc
PYTHON ?= python3
CFLAGS ?= -O2 -g
ARCH := $(shell uname -m)

PKGS := lua5.4 libcjson libutf8proc
DEP_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
QFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -pthread -Wall -Wextra -Wno-unused-parameter \
         -Iengine $(DEP_CFLAGS)
LIBS = -lcjson -lutf8proc -lm -pthread

# SIMD files are compiled for their instruction set; the engine picks them at run time.
ifneq ($(filter x86_64 amd64 i686,$(ARCH)),)
AVX2_FLAGS = -mavx2 -mfma -mf16c
AVX512_FLAGS = $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni \
               -mavx512bf16
AMX_FLAGS = $(AVX512_FLAGS) -mamx-tile -mamx-int8
endif

ENGINE_SRC := $(wildcard engine/*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=build/%.o)
LQORA_SRC := $(wildcard lqora/*.c)
LQORA_OBJ := $(LQORA_SRC:%.c=build/%.o)
CTEST_SRC := $(wildcard spec/c/test_*.c)
CTEST_BIN := $(CTEST_SRC:spec/c/%.c=build/test/%)
TOOL_SRC := $(wildcard tools/*.c)
TOOL_BIN := $(TOOL_SRC:tools/%.c=build/tools/%)

LIBQORA = build/libqora.a
CORE_SO = build/qora/core.so
MODEL = models/SmolLM2-135M-Instruct.Q4_1.gguf

PREFIX ?= /usr/local
LUA_LIBDIR ?= $(PREFIX)/lib/lua/5.4
LUA_DIR ?= $(PREFIX)/share/lua/5.4
BINDIR ?= $(PREFIX)/bin

# Quiet by default: one "CC file" line per compiled file; `make V=1` shows the commands.
ifeq ($(V),1)
Q =
SAY = @:
else
Q = @
SAY = @printf '  %-4s %s\n'
endif
# The inner make of run and test: silent about targets that are up to date.
SUBMAKE = $(MAKE) --no-print-directory $(if $(filter 1,$(V)),,-s)

RUN_ENV = LUA_PATH='$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;' \
          LUA_CPATH='$(CURDIR)/build/?.so;;'

.PHONY: all deps model run test test-c test-lua fuzz fuzz-build bench install uninstall clean

all: $(LIBQORA) $(CORE_SO) $(TOOL_BIN)

deps:
	@sh tools/deps.sh

model: $(MODEL)

$(MODEL):
	@sh tools/fetch-model.sh $@

build/%.o: %.c $(wildcard engine/*.h lqora/*.h)
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(CFLAGS) $(QFLAGS) $(XFLAGS) -c $< -o $@

build/engine/%_avx2.o: XFLAGS = $(AVX2_FLAGS)
build/engine/%_avx512.o: XFLAGS = $(AVX512_FLAGS)
build/engine/%_amx.o: XFLAGS = $(AMX_FLAGS)

$(LIBQORA): $(ENGINE_OBJ)
	@rm -f $@
	$(SAY) AR $@
	$(Q)ar rcs $@ $^

$(CORE_SO): $(LQORA_OBJ) $(LIBQORA)
	@mkdir -p $(dir $@)
	$(SAY) LD $@
	$(Q)$(CC) -shared -o $@ $(LQORA_OBJ) $(LIBQORA) $(LIBS)

build/test/%: spec/c/%.c $(wildcard spec/c/*.h) $(LIBQORA)
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(CFLAGS) $(QFLAGS) -Ispec/c $< -o $@ $(LIBQORA) $(LIBS)

# The C tests run a second time built with AddressSanitizer: an out-of-bounds write can leave
# every result right and still corrupt memory. UndefinedBehaviorSanitizer rides along (with
# float-cast-overflow, which gcc leaves out of "undefined"), and any report stops the test.
UBSAN = undefined,float-cast-overflow
ASAN_CFLAGS = -O1 -g -fsanitize=address,$(UBSAN) -fno-sanitize-recover=$(UBSAN) \
              -fno-omit-frame-pointer
ASAN_LIB = build/asan/libqora.a
ASAN_TEST := $(CTEST_SRC:spec/c/%.c=build/asan/test/%)

build/asan/%.o: %.c $(wildcard engine/*.h)
	@mkdir -p $(dir $@)
	$(SAY) CC "$< (asan)"
	$(Q)$(CC) $(ASAN_CFLAGS) $(QFLAGS) $(XFLAGS) -c $< -o $@

build/asan/engine/%_avx2.o: XFLAGS = $(AVX2_FLAGS)
build/asan/engine/%_avx512.o: XFLAGS = $(AVX512_FLAGS)
build/asan/engine/%_amx.o: XFLAGS = $(AMX_FLAGS)

$(ASAN_LIB): $(ENGINE_SRC:%.c=build/asan/%.o)
	@rm -f $@
	$(SAY) AR $@
	$(Q)ar rcs $@ $^

build/asan/test/%: spec/c/%.c $(wildcard spec/c/*.h) $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(SAY) CC "$< (asan)"
	$(Q)$(CC) $(ASAN_CFLAGS) $(QFLAGS) -Ispec/c $< -o $@ $(ASAN_LIB) $(LIBS)

# Coverage-guided fuzzing of the readers of untrusted input (spec/fuzz/README.md), not part of
# `make test`: libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer (any report stops
# the run), each harness for FUZZ_SECONDS, one after the other.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_SRC := $(wildcard spec/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:spec/fuzz/%.c=build/fuzz/%)
FUZZ_LIB = build/fuzz/libqora.a

build/fuzz/%.o: %.c $(wildcard engine/*.h)
	@mkdir -p $(dir $@)
	$(SAY) CC "$< (fuzz)"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(QFLAGS) $(XFLAGS) -c $< -o $@

build/fuzz/engine/%_avx2.o: XFLAGS = $(AVX2_FLAGS)
build/fuzz/engine/%_avx512.o: XFLAGS = $(AVX512_FLAGS)
build/fuzz/engine/%_amx.o: XFLAGS = $(AMX_FLAGS)

$(FUZZ_LIB): $(ENGINE_SRC:%.c=build/fuzz/%.o)
	@rm -f $@
	$(SAY) AR $@
	$(Q)ar rcs $@ $^

build/fuzz/fuzz_%: spec/fuzz/fuzz_%.c spec/fuzz/fuzz_util.h $(FUZZ_LIB)
	$(SAY) CC "$< (fuzz)"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(QFLAGS) $< -o $@ $(FUZZ_LIB) $(LIBS)

build/fuzz/make_seeds: spec/fuzz/make_seeds.c $(LIBQORA)
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(CFLAGS) $(QFLAGS) $< -o $@ $(LIBQORA) $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build $(MODEL)
	@sh spec/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

build/tools/%: tools/%.c $(LIBQORA)
	@mkdir -p $(dir $@)
	$(SAY) CC $<
	$(Q)$(CC) $(CFLAGS) $(QFLAGS) $< -o $@ $(LIBQORA) $(LIBS)

# make run: the default model unless ARGS names one, and a default question when ARGS is empty,
# answered greedily: SmolLM2-135M's sampled answers to it are often nonsense.
RUN_DEFAULT = --system "You are a helpful assistant." --prompt "What is the capital of France?" \
              --greedy
# The help and the version need no model: a fresh clone's `make run ARGS=--help` fetches none.
# The shell splits ARGS into the words the command will get, so that a flag inside a quoted
# prompt ("What does --help do?") is not taken for one, and the word after a flag that takes a
# value is that value, as the command reads it (--prompt --help asks about --help). The flags
# that take none are RUN_SWITCHES, as FLAGS in lua/qora/cli.lua has them (cli_spec checks).
RUN_NO_MODEL = --load|--load=*|--model-path|--model-path=*|--help|-h|--version
RUN_SWITCHES = --f16|--no-think|--raw|--greedy|--stats|--help|--version
RUN_NAMED = $(shell set -- $(ARGS); v=; for a; do if [ -n "$$v" ]; then v=; continue; fi; \
  case $$a in (--) break;; ($(RUN_NO_MODEL)) echo y;; ($(RUN_SWITCHES)|--*=*) ;; (--*) v=1;; \
  esac; done)
RUN_LOAD = $(if $(RUN_NAMED),,--load $(MODEL))

run: deps
	@$(SUBMAKE) all $(if $(RUN_LOAD),$(MODEL))
	@$(RUN_ENV) $(LUA) bin/qora $(RUN_LOAD) $(if $(strip $(ARGS)),$(ARGS),$(RUN_DEFAULT))

test:
	@sh tools/deps.sh --test
	@$(SUBMAKE) all $(CTEST_BIN) $(ASAN_TEST) $(MODEL)
	@sh spec/run.sh

test-c: all $(CTEST_BIN)
	@for t in $(CTEST_BIN); do $$t; done

test-lua: all $(MODEL)
	@$(RUN_ENV) busted --lua=$(LUA) spec

# The speed benchmark of issue 4 (see bench/run.lua): qora against ik_llama.cpp and llama.cpp
# on SmolLM3-3B-shaped files made once in BENCH_DIR; peers are built once into PEERS_VENV.
BENCH_DIR ?= models/bench
BENCH_THREADS ?= 2
BENCH_VOCAB ?= $(firstword $(wildcard ../shared/vectors/tokenizer/llama3-vocab.gguf \
                 /work/shared/vectors/tokenizer/llama3-vocab.gguf))
BENCH_PEERS ?= ik_llama llamacpp
PEERS_VENV ?= .venv-peers
# BENCH_BUDGET counts from here, when make reads this file: building qora is part of the run.
BENCH_T0 := $(shell date +%s)

bench: all
	@$(RUN_ENV) BENCH_DIR='$(BENCH_DIR)' BENCH_THREADS='$(BENCH_THREADS)' \
	  BENCH_VOCAB='$(BENCH_VOCAB)' BENCH_PEERS='$(BENCH_PEERS)' PEERS_VENV='$(PEERS_VENV)' \
	  BENCH_T0='$(BENCH_T0)' LUA='$(LUA)' $(LUA) bench/run.lua

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/qora $(DESTDIR)$(LUA_DIR)/qora $(DESTDIR)$(BINDIR)
	install -m 755 $(CORE_SO) $(DESTDIR)$(LUA_LIBDIR)/qora/core.so
	install -m 644 lua/qora/*.lua $(DESTDIR)$(LUA_DIR)/qora/
	install -m 755 bin/qora $(DESTDIR)$(BINDIR)/qora

# Removes what install wrote, and the qora folders once empty; other files stay.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/qora $(DESTDIR)$(LUA_LIBDIR)/qora/core.so
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/qora/,$(notdir $(wildcard lua/qora/*.lua)))
	-rmdir $(DESTDIR)$(LUA_LIBDIR)/qora $(DESTDIR)$(LUA_DIR)/qora 2>/dev/null

clean:
	rm -rf build

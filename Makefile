# tcpproxy — build, test, run.
#
#   make            build build/tcpproxy and the test tools
#   make run        install what is missing, build, run the proxy on etc/tcpproxy.yaml
#   make test       install what is missing, build, run unit and integration tests
#   make test SANITIZE=1   the same, built with -fsanitize=address,undefined into build-san/
#   make format     clang-format every C file in place

CC      ?= gcc
SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      = -O1
else
BUILD   ?= build
SANFLAGS =
OPT      = -O2
endif

PKGS     = liburing yaml-0.1
CPPFLAGS = -I. -D_GNU_SOURCE
CFLAGS   = -std=gnu11 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter \
	   -Wmissing-prototypes -Wstrict-prototypes $(SANFLAGS)
LDFLAGS  = $(SANFLAGS)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luring -lyaml)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)
VERSION  = $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

LIB_SRC  = $(wildcard core/*.c filters/*.c uring/*.c shm/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/check_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
BINS     = $(BUILD)/tcpproxy $(BUILD)/tcpproxy-stat

.PHONY: FORCE all deps test-deps run test unit integration validate-examples format clean bench

all: $(BINS) $(UNIT_BIN) $(TOOL_BIN)

deps:
	@.ci/deps

test-deps:
	@.ci/deps --test

# The version lives in one object, rebuilt when "git describe" changes (a stamp file that is
# rewritten only then), so that a commit does not leave a stale version in the binaries.
$(BUILD)/version.txt: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@

$(BUILD)/obj/core/version.o: core/version.c $(BUILD)/version.txt
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DTP_VERSION='"$(VERSION)"' $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtp.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tcpproxy: $(BUILD)/obj/cmd/tcpproxy.o $(BUILD)/libtp.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tcpproxy-stat: $(BUILD)/obj/cmd/tcpproxy-stat.o $(BUILD)/libtp.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/check_%: $(BUILD)/obj/tests/unit/check_%.o $(BUILD)/libtp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libtp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lpthread

run: deps
	@$(MAKE) --no-print-directory $(BINS)
	@etc/run-demo $(BUILD)

test: test-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit validate-examples integration

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do CK_VERBOSITY=normal $$t; done

validate-examples: $(BUILD)/tcpproxy
	@set -e; for f in etc/*.yaml; do $(BUILD)/tcpproxy --mode validate -c $$f; done

integration: $(BINS) $(TOOL_BIN)
	@TP_BUILD=$(BUILD) python3 tests/integration/run.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# make bench: the comparison of issue 6 (bench/run --help); BENCH_ARGS=--quick for a short run
bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/tcpproxy
	@bench/run --tcpproxy $(BUILD)/tcpproxy $(BENCH_ARGS)

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(wildcard $(BUILD)/obj/cmd/*.d $(BUILD)/obj/tests/*/*.d)

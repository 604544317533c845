# tcpproxy — build, test, run.
#
#   make            build build/tcpproxy and the test tools
#   make run        install what is missing, build, run the proxy on etc/tcpproxy.yaml
#   make test       install what is missing, build, run unit and integration tests
#   make test SANITIZE=1   the same, built with -fsanitize=address,undefined into build-san/
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#   make format     clang-format every C file in place
#   make man        the man pages, from docs/man/*.scd (scdoc)
#   make install    binaries, man pages, example config, systemd unit, logrotate snippet;
#                   PREFIX (/usr/local), DESTDIR, and the directories below
#   make deb        the Debian package, with dpkg-buildpackage, into $(BUILD)/deb/; then lintian

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

# libxxhash: xxHash64, the hash Envoy's ring hash, Maglev and hash_policy use (core/worker/lb_hash.c)
# libcares: DNS clusters, resolved in the master's loop (core/master/dns.c), as Envoy does
# libnghttp2: HTTP/2 tunnels (core/tunnel/h2.c)
PKGS     = liburing yaml-0.1 libxxhash libcares libnghttp2
# wolfSSL: the build .ci/wolfssl makes from Debian's source with AES-NI and assembly (13x the
# AES-GCM throughput, 3x the handshakes of Debian's binary package: docs/performance.md), linked
# statically; Debian's libwolfssl-dev when it is not there (or with WOLFSSL_PREFIX=).
WOLFSSL_PREFIX ?= /opt/tcpproxy/wolfssl
WOLFSSL_PC = $(wildcard $(WOLFSSL_PREFIX)/lib/pkgconfig/wolfssl.pc)
ifneq ($(WOLFSSL_PC),)
WOLFSSL_CFLAGS = $(shell PKG_CONFIG_PATH=$(WOLFSSL_PREFIX)/lib/pkgconfig pkg-config --cflags wolfssl)
# -lm: the static library needs it and its .pc does not say so.
WOLFSSL_LIBS   = $(shell PKG_CONFIG_PATH=$(WOLFSSL_PREFIX)/lib/pkgconfig pkg-config --static --libs wolfssl) -lm
else
WOLFSSL_CFLAGS = $(shell pkg-config --cflags wolfssl 2>/dev/null)
WOLFSSL_LIBS   = $(shell pkg-config --libs wolfssl 2>/dev/null || echo -lwolfssl)
endif
# EXTRA_*: what a packager adds (debian/rules passes dpkg-buildflags' hardening flags).
CPPFLAGS = -I. -D_GNU_SOURCE $(WOLFSSL_CFLAGS) $(EXTRA_CPPFLAGS)
CFLAGS   = -std=gnu11 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter \
	   -Wmissing-prototypes -Wstrict-prototypes $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  = $(SANFLAGS) $(EXTRA_LDFLAGS)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luring -lyaml -lxxhash -lcares -lnghttp2) $(WOLFSSL_LIBS) -lm
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

LIB_SRC  = $(wildcard core/*.c core/*/*.c filters/*.c uring/*.c shm/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/check_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/%)
# Fuzz targets (docs/fuzzing.md): linked with tests/fuzz/driver.c, they replay their committed
# corpus under gcc in `make test`; `make fuzz` links them with libFuzzer instead.
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/%)
FUZZ_MAIN ?= $(BUILD)/obj/tests/fuzz/driver.o
FUZZ_SECONDS ?= 60
# Kept: make would otherwise delete them as intermediates and rebuild them every time.
.SECONDARY: $(FUZZ_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/fuzz/driver.o
BINS     = $(BUILD)/tcpproxy $(BUILD)/tcpproxy-stat
# Micro-benchmarks over the library (bench/*.c), built with everything so they keep compiling.
MICRO_SRC = $(wildcard bench/*.c)
MICRO_BIN = $(MICRO_SRC:bench/%.c=$(BUILD)/bench/%)
MANS     = $(BUILD)/man/tcpproxy.8 $(BUILD)/man/tcpproxy-stat.1

# make install. With PREFIX=/usr (a distribution's package) the configuration goes to /etc and
# the unit to /lib/systemd/system, as Debian 12 wants them; otherwise under PREFIX.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
LOGDIR     ?= /var/log/tcpproxy
RUNDIR     ?= /run/tcpproxy

.PHONY: FORCE all deps test-deps run test unit fuzz-corpus integration validate-examples format \
	clean bench bench-lb fuzz man install deb demo-certs

all: $(BINS) $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_BIN) $(MICRO_BIN)

deps:
	@.ci/deps

test-deps:
	@.ci/deps --test

# The version lives in one object, rebuilt when "git describe" changes (a stamp file that is
# rewritten only then), so that a commit does not leave a stale version in the binaries.
$(BUILD)/version.txt: FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@

$(BUILD)/obj/core/base/version.o: core/base/version.c $(BUILD)/version.txt
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DTP_VERSION='"$(VERSION)"' $(CFLAGS) -c $< -o $@

# Which wolfSSL the objects were compiled against (its options.h shapes its structs): every object
# is rebuilt when that changes, so none mixes one build's headers with the other's library.
WOLFSSL_ID = $(WOLFSSL_CFLAGS) $(WOLFSSL_LIBS) $(if $(WOLFSSL_PC),$(shell cat $(WOLFSSL_PREFIX)/.built-from 2>/dev/null))
$(BUILD)/wolfssl.txt: FORCE
	@mkdir -p $(dir $@)
	@echo '$(WOLFSSL_ID)' | cmp -s - $@ || echo '$(WOLFSSL_ID)' > $@

$(BUILD)/obj/%.o: %.c $(BUILD)/wolfssl.txt
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

$(BUILD)/tests/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_MAIN) $(BUILD)/libtp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libtp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libtp.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lpthread

run: deps
	@$(MAKE) --no-print-directory $(BINS) demo-certs
	@etc/run-demo $(BUILD)

# The TLS example's certificates (etc/tls.yaml): a throwaway CA made on first use, never
# committed (etc/demo-certs/ is ignored by git).
demo-certs: etc/demo-certs/done

etc/demo-certs/done: tests/tls/mkcerts.sh
	@tests/tls/mkcerts.sh etc/demo-certs

test: test-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit fuzz-corpus validate-examples integration

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do CK_VERBOSITY=normal $$t; done

# Every committed fuzz input, found crashes included, through the driver build of its target.
fuzz-corpus: $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_BIN); do $$t tests/fuzz/corpus/$${t##*/fuzz_}; done

validate-examples: $(BUILD)/tcpproxy demo-certs
	@set -e; for f in etc/*.yaml etc/*/*.yaml; do $(BUILD)/tcpproxy --mode validate -c $$f; done

integration: $(BINS) $(TOOL_BIN)
	@TP_BUILD=$(BUILD) python3 tests/integration/run.py

# make fuzz: clang's libFuzzer with ASan and UBSan, built into build/fuzz/. Each target runs
# FUZZ_SECONDS on a scratch copy of its corpus (build/fuzz/corpus/NAME), so the committed corpus
# only grows when a finding is copied in by hand; crashes land in build/fuzz/artifacts/.
# tests/fuzz/NAME.dict, when there is one, is passed as -dict. FUZZ_TARGETS=config limits the
# run; FUZZ_ARGS adds libFuzzer flags.
FUZZ_SAN     = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_TARGETS ?= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
# Past the HTTP head limit (8 KiB), so that the over-limit paths are reached.
FUZZ_MAX_LEN ?= 16384
fuzz: deps
	@command -v clang >/dev/null || { s=; [ "$$(id -u)" -eq 0 ] || s=sudo; \
		$$s apt-get update -qq && $$s apt-get install -y -qq clang >/dev/null; }
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT=-O1 FUZZ_MAIN= \
		SANFLAGS='$(FUZZ_SAN) -fsanitize=fuzzer-no-link' \
		LDFLAGS='$(FUZZ_SAN) -fsanitize=fuzzer' \
		$(FUZZ_TARGETS:%=build/fuzz/tests/fuzz_%)
	@set -e; mkdir -p build/fuzz/artifacts; for n in $(FUZZ_TARGETS); do \
		rm -rf build/fuzz/corpus/$$n; mkdir -p build/fuzz/corpus; \
		cp -r tests/fuzz/corpus/$$n build/fuzz/corpus/$$n; \
		echo "fuzz_$$n: $(FUZZ_SECONDS) s"; \
		build/fuzz/tests/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=2 \
			-max_len=$(FUZZ_MAX_LEN) \
			-artifact_prefix=build/fuzz/artifacts/$$n- \
			$$(test -f tests/fuzz/$$n.dict && echo -dict=tests/fuzz/$$n.dict) \
			$(FUZZ_ARGS) build/fuzz/corpus/$$n; \
	done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# make bench-lb: host picks per second per load-balancing policy (docs/performance.md)
bench-lb: $(BUILD)/bench/lb_bench
	@$(BUILD)/bench/lb_bench $(BENCH_LB_SECONDS)

# Man pages: one scdoc source each (docs/man/), rendered to roff.
man: $(MANS)

$(BUILD)/man/%: docs/man/%.scd
	@mkdir -p $(dir $@)
	scdoc < $< > $@

# The unit and the logrotate snippet, with the paths of this installation.
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@LOGDIR@|$(LOGDIR)|g' -e 's|@RUNDIR@|$(RUNDIR)|g'

$(BUILD)/etc/tcpproxy.service: etc/systemd/tcpproxy.service.in FORCE
	@mkdir -p $(dir $@)
	@$(SUBST) $< > $@.tmp && (cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@)

$(BUILD)/etc/logrotate: etc/logrotate/tcpproxy.in FORCE
	@mkdir -p $(dir $@)
	@$(SUBST) $< > $@.tmp && (cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@)

# An existing configuration is never overwritten (a package's conffile handling does that).
install: $(BINS) $(MANS) $(BUILD)/etc/tcpproxy.service $(BUILD)/etc/logrotate
	install -D -m 0755 $(BUILD)/tcpproxy $(DESTDIR)$(SBINDIR)/tcpproxy
	install -D -m 0755 $(BUILD)/tcpproxy-stat $(DESTDIR)$(BINDIR)/tcpproxy-stat
	install -D -m 0644 $(BUILD)/man/tcpproxy.8 $(DESTDIR)$(MANDIR)/man8/tcpproxy.8
	install -D -m 0644 $(BUILD)/man/tcpproxy-stat.1 $(DESTDIR)$(MANDIR)/man1/tcpproxy-stat.1
	install -D -m 0644 $(BUILD)/etc/tcpproxy.service $(DESTDIR)$(UNITDIR)/tcpproxy.service
	install -D -m 0644 $(BUILD)/etc/logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/tcpproxy
	@test -e $(DESTDIR)$(SYSCONFDIR)/tcpproxy/tcpproxy.yaml || \
		install -D -m 0644 etc/packaged/tcpproxy.yaml \
			$(DESTDIR)$(SYSCONFDIR)/tcpproxy/tcpproxy.yaml

# The Debian package, built by Debian's tools from a copy of the tree (tracked and new files,
# as they are now) in $(BUILD)/deb/src, so that dpkg-buildpackage's output, which lands in the
# parent of the source, stays in $(BUILD)/deb/. Then lintian, failing on errors.
deb: deps
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && \
		command -v lintian >/dev/null || .ci/deps --test
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src/tcpproxy
	git ls-files -z --cached --others --exclude-standard | \
		tar --null -T - --ignore-failed-read -cf - | tar -xf - -C $(BUILD)/deb/src/tcpproxy
	cd $(BUILD)/deb/src/tcpproxy && dpkg-buildpackage -b -us -uc --no-sign >../../build.log 2>&1 || \
		{ tail -40 $(BUILD)/deb/build.log; exit 1; }
	mv $(BUILD)/deb/src/*.deb $(BUILD)/deb/src/*.buildinfo $(BUILD)/deb/src/*.changes $(BUILD)/deb/
	lintian --fail-on error $(BUILD)/deb/*.deb

# make bench: the comparison of issue 6 (bench/run --help); BENCH_ARGS=--quick for a short run
bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/tcpproxy
	@bench/run --tcpproxy $(BUILD)/tcpproxy $(BENCH_ARGS)

clean:
	rm -rf build build-san etc/demo-certs

-include $(LIB_OBJ:.o=.d) $(wildcard $(BUILD)/obj/cmd/*.d $(BUILD)/obj/tests/*/*.d \
	$(BUILD)/obj/bench/*.d)

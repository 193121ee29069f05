# devenv - one Makefile; libraries through pkg-config.
# libcurl, libgit2, libarchive and zlib (push's gzip) are compiled against
# but loaded with dlopen() on first use (DESIGN.md "Start-up cost"), so they
# are not linked.

PREFIX   ?= /usr/local
CC       ?= cc
PKGS_LINKED  = yaml-0.1 json-c libseccomp libcap
PKGS_DLOPEN  = libcurl libgit2 libarchive zlib
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS_LINKED) $(PKGS_DLOPEN))
PKG_LIBS    := $(shell pkg-config --libs $(PKGS_LINKED))

WARN     = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
ifeq ($(CI),true)
WARN    += -Werror
endif
# Header dependencies are generated (-MMD -MP): each object's .d file, beside
# it, lists the headers it included, and is read back below.
DEPFLAGS = -MMD -MP
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(VARIANT_CFLAGS) $(PKG_CFLAGS) -I.
LDLIBS   = -Wl,--as-needed $(PKG_LIBS) -ldl

# Build variants: `make VARIANT=name ...` builds into build/<name>/ (objects,
# devenv, the unit tests), never over the ordinary build, which stays in
# place. asan and coverage add their flags; any other name (CI's clang
# build: VARIANT=clang CC=clang) only moves the output.
#   make asan            devenv and the unit tests under ASan and UBSan
#   make check-asan      ... and runs the unit tests
#   make coverage        unit tests with gcov; a table of lines per module
VARIANT ?=
B := $(if $(VARIANT),build/$(VARIANT)/)
VARIANT_CFLAGS_asan     = -O1 -fsanitize=address,undefined -fno-omit-frame-pointer
VARIANT_CFLAGS_coverage = -O0 --coverage
VARIANT_CFLAGS_tsan     = -O1 -fsanitize=thread
VARIANT_CFLAGS = $(VARIANT_CFLAGS_$(VARIANT))
# The coverage build's devenv drops the counts of processes ending inside an
# env (test/coverage/exit_hook.c says why).
VARIANT_OBJ_coverage     = build/coverage/test/coverage/exit_hook.o
VARIANT_OBJ     = $(VARIANT_OBJ_$(VARIANT))
build/coverage/test/coverage/exit_hook.o: ALL_CFLAGS += -DDV_COVERAGE_DIR='"$(CURDIR)/build/coverage"'
build/coverage/test/coverage/exit_hook.o: VARIANT_CFLAGS = -O0

UTIL_SRC      = $(wildcard util/*.c)
ENVFILE_SRC   = $(wildcard envfile/*.c)
LAYERS_SRC    = $(wildcard layers/*.c)
PROVISION_SRC = $(wildcard provision/*.c)
CONTAINER_SRC = $(filter-out container/init.c,$(wildcard container/*.c))
TEMPLATES_SRC = templates/templates.c
CMD_SRC       = $(wildcard cmd/*.c)
ENV_SRC       = $(wildcard env/*.c)
REGISTRY_SRC  = $(wildcard registry/*.c)
HOSTNET_SRC   = $(wildcard hostnet/*.c)
SRC = devenv.c $(CMD_SRC) $(ENV_SRC) $(UTIL_SRC) $(ENVFILE_SRC) $(LAYERS_SRC) $(REGISTRY_SRC) \
      $(PROVISION_SRC) $(CONTAINER_SRC) $(HOSTNET_SRC) $(TEMPLATES_SRC)
BLOB_OBJ = container/init_blob.o container/seccomp_blob.o templates/templates_blob.o
# Every object but main's: the unit tests link against these (libdevenv.a).
LIB_OBJ = $(addprefix $(B),$(filter-out devenv.o,$(SRC:.c=.o)) $(BLOB_OBJ))
OBJ = $(B)devenv.o $(LIB_OBJ)
HDR = $(wildcard */*.h)

UNIT_TESTS = $(patsubst test/unit/%_test.c,$(B)test/unit/%_test,$(wildcard test/unit/*_test.c))

all: $(B)devenv $(B)devenv.1 $(if $(B),,test/fixtures/probe test/fixtures/mktree test/fixtures/agentc)

# The sandbox tests' prober: static, so it runs in any image; not part of devenv.
test/fixtures/probe: test/fixtures/probe.c
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -static -o $@ $<

# The ssh agent tests' client (agent.bats): static, so it runs in any env.
test/fixtures/agentc: test/fixtures/agentc.c
	$(CC) -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -O2 -static -o $@ $<

# The export tests' fixture tree (names as bytes, sparse, xattrs), made in an env.
test/fixtures/mktree: test/fixtures/mktree.c
	$(CC) -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -O2 -static -o $@ $<

$(B)devenv: $(OBJ) $(VARIANT_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(VARIANT_OBJ) $(LDLIBS)

# The man page is generated from the commands table --help prints.
$(B)devenv.1: $(B)devenv
	./$(B)devenv help --man >$@.tmp && mv $@.tmp $@

$(B)%.o: %.c
	@$(if $(B),mkdir -p $(@D))
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

# The env's PID 1: a tiny static program, embedded in devenv and executed
# from a sealed memfd, so no file of the host is its /proc/1/exe.
$(B)container/devenv-init: container/init.c
	@$(if $(B),mkdir -p $(@D))
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) $(DEPFLAGS) -Os -static -o $@ $<

$(B)container/init_blob.o: container/init_blob.S $(B)container/devenv-init
	$(CC) -c -o $@ -I$(B)container container/init_blob.S

$(B)container/seccomp_blob.o: container/seccomp_blob.S container/seccomp-default.json
	@$(if $(B),mkdir -p $(@D))
	$(CC) -c -o $@ -Icontainer container/seccomp_blob.S

# The embedded Envfile templates (templates/templates.c lists them).
$(B)templates/templates_blob.o: templates/templates.S $(wildcard templates/*.Envfile)
	@$(if $(B),mkdir -p $(@D))
	$(CC) -c -o $@ -Itemplates templates/templates.S

# Unit tests: test/unit/<name>_test.c, one binary each, linked against an
# archive of every object but main's, so each takes only the objects it
# reaches (a file moving between folders needs no change here). Which
# module may use which is check-cycles' rule, not the link line's.
# Fresh each time with `q`: members are named by file name, and two
# folders may hold the same one (container/net.c, provision/net.c).
$(B)libdevenv.a: $(LIB_OBJ)
	rm -f $@
	$(AR) qcs $@ $(LIB_OBJ)

$(B)test/unit/%_test: $(B)test/unit/%_test.o $(B)libdevenv.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)libdevenv.a $(PKG_LIBS) -lcmocka -ldl

unit-tests: $(UNIT_TESTS)

# Fuzzing (test/fuzz/fuzz.h; README "Testing"): every devenv object but
# devenv.o (main) again, with clang's ASan, UBSan and libFuzzer coverage, in
# build/fuzz/; each test/fuzz/<name>_fuzz.c is linked with all of them, so a
# new harness needs no change here. `make fuzz-replay` runs each over its
# seed corpus once (CI); `make fuzz FUZZ_SECONDS=N [FUZZ=name]` fuzzes each
# for N seconds, keeping new inputs in build/fuzz-corpus/ (not the repository's;
# `make clean` leaves it).
FUZZ_CC      ?= clang
FUZZ_DIR      = build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   = -std=gnu11 -D_GNU_SOURCE $(WARN) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) \
		$(PKG_CFLAGS) -I.
FUZZ_SRC      = $(filter-out devenv.c,$(SRC))
FUZZ_OBJ      = $(addprefix $(FUZZ_DIR)/,$(FUZZ_SRC:.c=.o)) $(FUZZ_DIR)/container/init_blob.o \
		$(FUZZ_DIR)/container/seccomp_blob.o $(FUZZ_DIR)/templates/templates_blob.o
FUZZ_HARNESSES = $(patsubst test/fuzz/%_fuzz.c,$(FUZZ_DIR)/%_fuzz,$(wildcard test/fuzz/*_fuzz.c))

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# The env's init, embedded as in devenv (not instrumented: never run here).
$(FUZZ_DIR)/container/devenv-init: container/init.c
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -Os -static -o $@ $<

$(FUZZ_DIR)/container/init_blob.o: container/init_blob.S $(FUZZ_DIR)/container/devenv-init
	$(FUZZ_CC) -c -o $@ -I$(FUZZ_DIR)/container container/init_blob.S

$(FUZZ_DIR)/container/seccomp_blob.o: container/seccomp_blob.S container/seccomp-default.json
	@mkdir -p $(@D)
	$(FUZZ_CC) -c -o $@ -Icontainer container/seccomp_blob.S

$(FUZZ_DIR)/templates/templates_blob.o: templates/templates.S $(wildcard templates/*.Envfile)
	@mkdir -p $(@D)
	$(FUZZ_CC) -c -o $@ -Itemplates templates/templates.S

$(FUZZ_DIR)/%_fuzz: test/fuzz/%_fuzz.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS) -ldl

# Objects of a pattern chain are kept, not removed as intermediates.
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_DIR)/container/devenv-init

fuzz-build: $(FUZZ_HARNESSES)

fuzz-replay: $(FUZZ_HARNESSES)
	@scripts/fuzz replay $(FUZZ_HARNESSES)

fuzz: $(FUZZ_HARNESSES)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ='$(FUZZ)' scripts/fuzz run $(FUZZ_HARNESSES)

# Run as root, the unit tests run twice: as root, then as an unprivileged
# user (scripts/run-tests), so a test needing root must say so and skip.
check-unit: $(UNIT_TESTS)
	@scripts/run-tests unit $(UNIT_TESTS)

check: $(B)devenv test/fixtures/probe test/fixtures/mktree test/fixtures/agentc $(UNIT_TESTS)
	@DEVENV=$(CURDIR)/$(B)devenv scripts/run-tests all $(UNIT_TESTS)

# Random-time kills of devenv, each checked for a whole recovery (issue 12);
# crash.bats runs 30 of them in `make check`.
KILLS ?= 200
crashtest: devenv
	scripts/crashtest $(KILLS)

# The sanitizer build, in build/asan/ (STYLE.md: clean under ASan and UBSan).
asan:
	@$(MAKE) --no-print-directory VARIANT=asan build/asan/devenv unit-tests

check-asan:
	@$(MAKE) --no-print-directory VARIANT=asan check-unit

# ThreadSanitizer, in build/tsan/: the unit tests, among them the ones that
# read the pull threads' shared state (hash.c's CPU probe, extract.c's
# openat2 flag) from several threads at once; a data race fails them.
check-tsan:
	@TSAN_OPTIONS=halt_on_error=1 RUN_TESTS_UNPRIVILEGED=0 \
		$(MAKE) --no-print-directory VARIANT=tsan check-unit

# Line coverage (gcov) of the unit tests, per module, in build/coverage/:
# the counts are reset, the unit tests run (as root only: the counts are
# files of the build, written by whoever runs it), and scripts/coverage
# prints a table. COVERAGE_INTEGRATION=1 runs the integration tests as root
# with build/coverage/devenv too (as long as `make check`'s root pass).
coverage:
	@$(MAKE) --no-print-directory VARIANT=coverage build/coverage/devenv unit-tests
	@find build/coverage -name '*.gcda' -delete
	@if [ "$(COVERAGE_INTEGRATION)" = 1 ]; then \
		RUN_TESTS_UNPRIVILEGED=0 RUN_TESTS_ROOTLESS=0 $(MAKE) --no-print-directory VARIANT=coverage check; \
	else \
		RUN_TESTS_UNPRIVILEGED=0 $(MAKE) --no-print-directory VARIANT=coverage check-unit; \
	fi; \
	status=$$?; scripts/coverage build/coverage $(SRC) container/init.c && exit $$status

install: devenv devenv.1
	install -D -m 0755 devenv $(DESTDIR)$(PREFIX)/bin/devenv
	install -D -m 0644 devenv.1 $(DESTDIR)$(PREFIX)/share/man/man1/devenv.1
	install -D -m 0644 completions/devenv.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/devenv
	install -D -m 0644 completions/_devenv $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_devenv

# The Debian package (debian/, README "Install"): devenv_VERSION_ARCH.deb
# here, with dpkg-dev's tools; it does not run the tests.
deb:
	debian/rules DEB_OUTDIR=. binary
	debian/rules clean

# No cycle between source files, counted by the functions their objects
# define and use (issue 14; ARCHITECTURE.md "Rules between modules"). On the
# ordinary build's objects.
check-cycles: $(SRC:.c=.o)
	@scripts/check-cycles $(SRC:.c=.o)

# No source file of devenv over 1,000 lines (issue 14): split by topic.
MAX_LINES = 1000
LINES_CHECKED = $(SRC) container/init.c $(HDR)
check-lines:
	@awk -v max=$(MAX_LINES) 'FNR == max + 1 { print "check-lines: " FILENAME " is over " max " lines: split it by topic"; bad = 1 } \
		END { exit bad }' $(LINES_CHECKED)

# The C style (.clang-format, STYLE.md): `make format` rewrites the files,
# `make format-check` (CI) lists what it would change and fails then.
FORMATTED = $(SRC) container/init.c $(HDR) test/unit/*.c test/fuzz/*.[ch] test/fixtures/*.c test/coverage/*.c
format:
	clang-format -i $(FORMATTED)

format-check:
	@bad=0; for f in $(FORMATTED); do \
		n=$$(clang-format "$$f" | diff "$$f" - | grep -c '^<'); \
		[ "$$n" = 0 ] || { echo "format-check: $$f: $$n line(s) differ from clang-format's"; bad=$$((bad + 1)); }; \
	done; \
	[ $$bad = 0 ] || { echo "format-check: $$bad file(s); make format rewrites them (clang-format --dry-run FILE shows where)"; exit 1; }

clean:
	rm -f devenv devenv.1 libdevenv.a *.o *.d */*.o */*.d test/unit/*.o test/unit/*.d container/devenv-init \
		container/devenv-init.d test/fixtures/probe test/fixtures/mktree test/fixtures/agentc \
		$(patsubst test/unit/%_test.c,test/unit/%_test,$(wildcard test/unit/*_test.c))
	rm -rf $(filter-out build/fuzz-corpus build/fuzz-artifacts,$(wildcard build/*))
	rm -f devenv_*.deb

# The generated header dependencies of this build (and the fuzz build's).
-include $(OBJ:.o=.d) $(UNIT_TESTS:=.d) $(B)container/devenv-init.d
-include $(FUZZ_OBJ:.o=.d) $(FUZZ_HARNESSES:=.d)

# The unit tests' objects are kept, not removed as intermediates.
.SECONDARY: $(UNIT_TESTS:=.o)

.PHONY: all check check-cycles check-lines check-unit check-asan check-tsan crashtest asan coverage install deb \
	format format-check clean fuzz fuzz-build fuzz-replay unit-tests

# devenv - one Makefile; libraries through pkg-config.
# libcurl, libgit2 and libarchive are compiled against but loaded with
# dlopen() on first use (DESIGN.md "Start-up cost"), so they are not linked.

PREFIX   ?= /usr/local
CC       ?= cc
PKGS_LINKED  = yaml-0.1 json-c libseccomp libcap
PKGS_DLOPEN  = libcurl libgit2 libarchive
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS_LINKED) $(PKGS_DLOPEN))
PKG_LIBS    := $(shell pkg-config --libs $(PKGS_LINKED))

WARN     = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
ifeq ($(CI),true)
WARN    += -Werror
endif
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) -I.
LDLIBS   = -Wl,--as-needed $(PKG_LIBS) -ldl

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
OBJ = $(SRC:.c=.o) container/init_blob.o container/seccomp_blob.o templates/templates_blob.o
HDR = $(wildcard */*.h)

UNIT_TESTS = $(patsubst test/unit/%_test.c,test/unit/%_test,$(wildcard test/unit/*_test.c))

all: devenv devenv.1 test/fixtures/probe test/fixtures/mktree

# The sandbox tests' prober: static, so it runs in any image; not part of devenv.
test/fixtures/probe: test/fixtures/probe.c
	$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -static -o $@ $<

# The export tests' fixture tree (names as bytes, sparse, xattrs), made in an env.
test/fixtures/mktree: test/fixtures/mktree.c
	$(CC) -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -O2 -static -o $@ $<

devenv: $(OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(LDLIBS)

# The man page is generated from the commands table --help prints.
devenv.1: devenv
	./devenv help --man >$@.tmp && mv $@.tmp $@

%.o: %.c $(HDR)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The env's PID 1: a tiny static program, embedded in devenv and executed
# from a sealed memfd, so no file of the host is its /proc/1/exe.
container/devenv-init: container/init.c
	$(CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -Os -static -o $@ $<

container/init_blob.o: container/init_blob.S container/devenv-init
	$(CC) -c -o $@ -Icontainer container/init_blob.S

container/seccomp_blob.o: container/seccomp_blob.S container/seccomp-default.json
	$(CC) -c -o $@ -Icontainer container/seccomp_blob.S

# The embedded Envfile templates (templates/templates.c lists them).
templates/templates_blob.o: templates/templates.S $(wildcard templates/*.Envfile)
	$(CC) -c -o $@ -Itemplates templates/templates.S

# Unit tests: one binary per module, linked to that module and util/ only.
test/unit/envfile_test: test/unit/envfile_test.c $(ENVFILE_SRC:.c=.o) $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/templates_test: test/unit/templates_test.c templates/templates.o templates/templates_blob.o $(ENVFILE_SRC:.c=.o) $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/devcontainer_test: test/unit/devcontainer_test.c $(ENVFILE_SRC:.c=.o) $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/layers_test: test/unit/layers_test.c $(LAYERS_SRC:.c=.o) $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
# registry/ needs the store below it (layers/).
test/unit/registry_test: test/unit/registry_test.c $(REGISTRY_SRC:.c=.o) $(LAYERS_SRC:.c=.o) $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/provision_test: test/unit/provision_test.c provision/key.o provision/git.o provision/gitcopy.o provision/copystat.o provision/hostpath.o provision/gitdir.o provision/gitconfig.o provision/reach.o provision/trust.o $(ENVFILE_SRC:.c=.o) $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/trust_test: test/unit/trust_test.c provision/trust.o provision/gitdir.o provision/gitconfig.o $(ENVFILE_SRC:.c=.o) $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/container_test: test/unit/container_test.c container/cgroup.o container/cgroup_limits.o container/sandbox.o container/chown.o $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/runtime_test: test/unit/runtime_test.c container/at.o container/overlay.o container/mount.o container/child.o container/binds.o container/copy.o container/gitdir.o container/user.o container/keepid.o container/cgroup.o container/cgroup_limits.o $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/net_test: test/unit/net_test.c $(HOSTNET_SRC:.c=.o) container/netns.o container/stop.o $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/seccomp_test: test/unit/seccomp_test.c container/seccomp.o container/sandbox.o container/seccomp_blob.o $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
# env/ sits above every module but cmd/: linked to all of them.
test/unit/env_test: test/unit/env_test.c $(filter-out devenv.o cmd/%.o,$(OBJ))
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/util_test: test/unit/util_test.c $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl
test/unit/cmd_test: test/unit/cmd_test.c cmd/opts.o $(UTIL_SRC:.c=.o)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka -ldl

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
		container/seccomp_blob.o templates/templates_blob.o
FUZZ_HARNESSES = $(patsubst test/fuzz/%_fuzz.c,$(FUZZ_DIR)/%_fuzz,$(wildcard test/fuzz/*_fuzz.c))

$(FUZZ_DIR)/%.o: %.c $(HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# The env's init, embedded as in devenv (not instrumented: never run here).
$(FUZZ_DIR)/container/devenv-init: container/init.c
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE $(WARN) -Os -static -o $@ $<

$(FUZZ_DIR)/container/init_blob.o: container/init_blob.S $(FUZZ_DIR)/container/devenv-init
	$(FUZZ_CC) -c -o $@ -I$(FUZZ_DIR)/container container/init_blob.S

$(FUZZ_DIR)/%_fuzz: test/fuzz/%_fuzz.c test/fuzz/fuzz.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS) -ldl

# Objects of a pattern chain are kept, not removed as intermediates.
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_DIR)/container/devenv-init

fuzz-build: $(FUZZ_HARNESSES)

fuzz-replay: $(FUZZ_HARNESSES)
	@scripts/fuzz replay $(FUZZ_HARNESSES)

fuzz: $(FUZZ_HARNESSES)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ='$(FUZZ)' scripts/fuzz run $(FUZZ_HARNESSES)

check-unit: $(UNIT_TESTS)
	@scripts/run-tests unit $(UNIT_TESTS)

check: devenv test/fixtures/probe test/fixtures/mktree $(UNIT_TESTS)
	@scripts/run-tests all $(UNIT_TESTS)

# Random-time kills of devenv, each checked for a whole recovery (issue 12);
# crash.bats runs 30 of them in `make check`.
KILLS ?= 200
crashtest: devenv
	scripts/crashtest $(KILLS)

asan:
	$(MAKE) clean
	$(MAKE) CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" all $(UNIT_TESTS)

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
# define and use (issue 14; ARCHITECTURE.md "Rules between modules").
check-cycles: $(OBJ)
	@scripts/check-cycles $(filter %.o,$(SRC:.c=.o))

format:
	clang-format -i $(SRC) container/init.c $(HDR) test/unit/*.c test/fuzz/*.[ch]

clean:
	rm -f devenv devenv.1 $(OBJ) */*.o container/devenv-init test/fixtures/probe test/fixtures/mktree $(UNIT_TESTS)
	rm -rf $(FUZZ_DIR)
	rm -f devenv_*.deb

.PHONY: all check check-cycles check-unit crashtest asan install deb format clean fuzz fuzz-build fuzz-replay

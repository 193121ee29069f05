#!/usr/bin/env bats
# attacks.bats - issue 11's attacks, one test each: a repository just cloned
# is untrusted input, and every process in an env is hostile to the host.
# Each test failed on the code before the defence it checks (the commit
# that adds the test says so), and runs as root and rootless (where the
# attack applies there; a skip says why when it does not).
#
# Sections, in the issue's order: ownership of the checkout and the .git
# way out; host fds and terminals; paths opened race-free; the default
# sandbox; trust; volumes and the team cache.

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }

# ---- host fds and terminals ----
# Nothing devenv starts in an env holds a terminal or a file of the host's:
# steps, on_up, services and ssh get pipes (or a pty of the env's) that
# devenv relays, in a session of their own (README: Security, Processes).
# The developer's terminal is test/fixtures/terminal.py: a pty that devenv
# runs on, whose input queue it reads once devenv is done, as the shell
# would read its next command line.

# dv_terminal [--stdin-null] ARGV...: run ARGV on the developer's terminal;
# its output ends up in term.out (and on ours, for a failing test's log).
dv_terminal() {
	local opt=()
	[[ $1 == --stdin-null ]] && opt=("$1") && shift
	run "$DV_ROOT/test/fixtures/terminal.py" "${opt[@]}" term.out -- "$@"
	cat term.out
}

# The prober (test/fixtures/probe) at the checkout's top, /workspace/probe.
dv_probe_here() {
	cp "$DV_ROOT/test/fixtures/probe" "$DV_CHECKOUT/probe"
}

# Every fd the prober tried was no terminal it could type into, and it ran.
assert_typed_nothing() {
	grep -q '^tiocsti-tty: ' term.out
	run grep ': OK' term.out
	assert_failure
}

@test "host fds: TIOCSTI from a provisioning step types nothing into the developer's shell" {
	dv_busybox_image
	dv_probe_here
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: probe
	    to: /probe
	  - run: /probe tiocsti
	EOF
	dv_terminal "$DEVENV" up
	refute_output --partial "injected:"
	assert_success
	assert_typed_nothing
}

@test "host fds: TIOCSTI from on_up types nothing into the developer's shell" {
	dv_busybox_image
	dv_probe_here
	dv_envfile <<-'EOF'
	image: busybox
	on_up:
	  - run: /workspace/probe tiocsti
	EOF
	dv_terminal "$DEVENV" up
	refute_output --partial "injected:"
	assert_success
	assert_typed_nothing
}

@test "host fds: ssh -c with stdout on a terminal types nothing into it; with a pty, only into the env's" {
	dv_busybox_image
	dv_probe_here
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up
	# stdin elsewhere: no pty, the terminal holds stdout and stderr
	dv_terminal --stdin-null "$DEVENV" ssh -c './probe tiocsti'
	refute_output --partial "injected:"
	assert_success
	assert_typed_nothing
	# stdin on the terminal: a pty of the env's, where typing is harmless
	dv_terminal "$DEVENV" ssh -c './probe tiocsti'
	refute_output --partial "injected:"
	assert_success
	grep -q '^tiocsti-1: OK' term.out
}

@test "host fds: a service types nothing into the terminal of up, and cannot chmod its log through its stdout" {
	local id log
	dv_busybox_image
	mkdir p
	cp "$DV_ROOT/test/fixtures/probe" p/probe
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  evil:
	    image: busybox
	    command: /p/probe tiocsti; chown 0:0 /proc/self/fd/1 /proc/self/fd/2; chmod 6755 /proc/self/fd/1 /proc/self/fd/2; echo evil-done; exec sleep 1000
	    volumes: ["./p:/p:ro"]
	EOF
	dv_terminal "$DEVENV" up
	refute_output --partial "injected:"
	assert_success
	id=$("$DEVENV" status --json | dv_json id)
	log=$DV_STORE/envs/$id/services/evil/log
	for _ in $(seq 50); do grep -q evil-done "$log" && break; sleep 0.1; done
	run "$DEVENV" logs evil
	assert_line "evil-done"
	assert_line --regexp '^tiocsti-1: E'
	refute_line --partial ": OK"
	run stat -c '%a' "$log"
	assert_output 600
	# its log relay lives as long as the service, no longer
	[[ -n $(pgrep -u "$(id -u)" -x devenv-log) ]]
	"$DEVENV" halt
	for _ in $(seq 50); do [[ -z $(pgrep -u "$(id -u)" -x devenv-log) ]] && break; sleep 0.1; done
	[[ -z $(pgrep -u "$(id -u)" -x devenv-log) ]]
	run "$DEVENV" logs evil
	assert_line --partial "exited with status 143"
}

@test "host fds: ssh -c cannot chown or chmod the host file its stdout goes to" {
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up
	touch f
	chmod 644 f
	((DV_ROOTLESS)) || chown 65534:65534 f
	before=$(stat -c '%u:%g %a' f)
	"$DEVENV" ssh -c 'chown 0:0 /proc/self/fd/1; chmod 6755 /proc/self/fd/1; echo written' >f || true
	run stat -c '%u:%g %a' f
	assert_output "$before"
	run cat f
	assert_output written
}

# (A step's stdin is the env's /dev/null, tried on its own below.)
@test "host fds: a step and on_up cannot chown or chmod the files of 'up < in > log 2>&1'" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: chown 0:0 /proc/self/fd/1 /proc/self/fd/2; chmod 6755 /proc/self/fd/1 /proc/self/fd/2; echo step-ran
	on_up:
	  - run: chown 0:0 /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; chmod 6755 /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; echo on-up-ran
	EOF
	touch in log
	chmod 644 in log
	((DV_ROOTLESS)) || chown 65534:65534 in log
	before=$(stat -c '%u:%g %a' in log)
	"$DEVENV" up <in >log 2>&1 || true
	run stat -c '%u:%g %a' in log
	assert_output "$before"
	run cat log
	assert_line step-ran
	assert_line on-up-ran
}

@test "host fds: ssh killed with SIGKILL takes its command's session with it; what an ended command started lives on" {
	local bg pids
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	on_up:
	  - run: sleep 424241 >/dev/null 2>&1 &
	EOF
	"$DEVENV" up
	"$DEVENV" ssh -c 'sleep 424242 >/dev/null 2>&1 &'
	"$DEVENV" ssh -c 'sleep 424243 & sleep 424244 & wait' 3>&- &
	bg=$!
	for _ in $(seq 50); do
		[[ $(pgrep -cf '^sleep 42424[34]$') == 2 ]] && break
		sleep 0.1
	done
	[[ $(pgrep -cf '^sleep 42424[34]$') == 2 ]]
	kill -KILL "$bg"
	wait "$bg" || true
	for _ in $(seq 50); do
		pids=$(pgrep -f '^sleep 42424[34]$' || true)
		[[ -z $pids ]] && break
		sleep 0.1
	done
	[[ -z $pids ]]
	pgrep -f '^sleep 424241$'
	pgrep -f '^sleep 424242$'
}

# Run by root, the env's /dev/null was a bind of the host's: its inode.
# The env sets the host's own owner and mode again (harmless where the
# attack works: only the host's ctime tells). Without root the attack does
# not apply (root of the user namespace cannot change host root's node).
@test "host fds: root in the env, a step's stdin included, cannot chown or chmod the host's /dev/null" {
	local before own
	dv_busybox_image
	own="chown $(stat -c '%u:%g' /dev/null) TARGET; chmod $(stat -c '%a' /dev/null) TARGET"
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: ${own//TARGET//proc/self/fd/0} 2>&1; echo step-ran
	EOF
	before=$(stat -c '%z %u:%g %a' /dev/null)
	run "$DEVENV" up
	assert_success
	assert_line step-ran
	"$DEVENV" ssh -c "${own//TARGET//dev/null}" || true
	run stat -c '%z %u:%g %a' /dev/null
	assert_output "$before"
}

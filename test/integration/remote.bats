#!/usr/bin/env bats
# The remote path on one machine (issue 17 item 4): `devenv up --host
# ssh://devenv-remote@127.0.0.1:PORT` against the fixture's sshd
# (helpers.bash dv_sshd_start), a second local account with a store, HOME
# and no devenv of its own (without root: the test's user, its own HOME and
# store). sshhost.bats covers --host's pieces (sync details, the probe,
# URL checks) as the same account; this file the issue's scenarios end to
# end: up from a checkout with devenv copied there, an edit and a deletion
# here seen by the next ssh there (no up between), a port answered here through devenv-fwd, halt and destroy
# cleaning both sides, a connection dropped mid-up, the trust prompt here.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_sshd_start "$BATS_TEST_TMPDIR/sshd"
	dv_remote_busybox
	printf 'image: busybox\n' >Envfile
	echo hello >hello.txt
	mkdir -p sub && echo a >sub/a.txt
	echo '*.log' >.gitignore && echo ignored >build.log
	git add Envfile .gitignore hello.txt
	H=$DV_REMOTE_URL
}

teardown() {
	local f pid
	# A forwarder a failed test left (its record is the only trace here).
	for f in "$DV_STORE"/remote/*.json; do
		[[ -f $f ]] || continue
		pid=$(dv_json fwd_pid <"$f")
		[[ -n $pid && $pid != 0 && $(cat "/proc/$pid/comm" 2>/dev/null) == devenv-fwd ]] &&
			kill "$pid"
	done
	dv_sshd_stop
	dv_teardown
}

# _rstatus FIELD: FIELD of the remote account's own `status --json` of the env.
_rstatus() {
	dv_remote "$DEVENV" -e proj status --json | dv_json "$1"
}

# _checkouts: the remote account's checkout folders of devenv.
_checkouts() {
	ls -A "$DV_REMOTE_HOME/.local/share/devenv/checkouts" 2>/dev/null
}

# _here_port REMOTE_PORT: the port here that up said forwards to REMOTE_PORT
# there ("127.0.0.1:L here -> 127.0.0.1:R on URL", in $output).
_here_port() {
	sed -n "s/^devenv: 127\.0\.0\.1:\([0-9]*\) here -> 127\.0\.0\.1:$1 on .*/\1/p" <<<"$output" | tail -n 1
}

_fwd_pid() {
	dv_json fwd_pid <"$DV_STORE"/remote/*.json
}

@test "up from a checkout on a host with no devenv: devenv is copied there; an edit here is read by ssh -c cat there; deleted files go" {
	# The account has no devenv: none on its PATH, none copied yet.
	run -127 dv_remote sh -c 'command -v devenv'
	run "$DEVENV" up --host "$H"
	assert_success
	assert_output --partial "copying devenv"
	local bin=$DV_REMOTE_HOME/.local/share/devenv/bin
	cmp "$DEVENV" "$bin"/devenv-*[0-9]
	[[ $(stat -c %U "$bin") == "$DV_REMOTE_USER" ]]
	# The env runs there, in the account's store, as the account.
	[[ $(_rstatus state) == running ]]
	pid=$(_rstatus pid)
	[[ $(ps -o user= -p "$pid") == "$DV_REMOTE_USER" ]]
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt /workspace/sub/a.txt; test ! -e /workspace/build.log'
	assert_success
	assert_output "hello
a"
	# An edit here, a deletion here: ssh sends them first (as a local
	# env's mounted checkout sees them at once); no up between.
	echo edited >hello.txt
	rm -r sub
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt; ls /workspace'
	assert_success
	assert_output "edited
Envfile
Envfile.lock
hello.txt"
	# The next up finds nothing left to send.
	run "$DEVENV" up --host "$H"
	assert_success
	refute_output --partial "copying devenv"
	refute_output --partial "sent"
	# Without --host the checkout's commands find it there.
	run "$DEVENV" ssh -c 'exit 7'
	assert_failure 7
	run "$DEVENV" ls
	assert_success
	assert_line --partial "$H"
}

@test "a forwarded port answers here; up restarts devenv-fwd; halt and destroy clean both sides" {
	cat >Envfile <<-'EOF'
	image: busybox
	ports:
	  - "127.0.0.1:auto:8080"
	on_up:
	  - run: mkdir -p /tmp/www && echo served-there >/tmp/www/index.html && busybox httpd -p 8080 -h /tmp/www
	EOF
	run "$DEVENV" up --host "$H"
	assert_success
	rport=$(dv_remote "$DEVENV" -e proj port --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["host_port"])')
	here=$(_here_port "$rport")
	[[ -n $here ]]
	run dv_fetch "http://127.0.0.1:$here/"
	assert_success
	assert_output served-there
	fwd=$(_fwd_pid)
	[[ $(cat "/proc/$fwd/comm") == devenv-fwd ]]
	# Its own session, and an ssh child holding the port.
	[[ $(ps -o sid= -p "$fwd" | tr -d ' ') == "$fwd" ]]
	ssh_pid=$(dv_child "$fwd" ssh)

	# The link drops (its ssh killed): devenv-fwd connects again.
	kill -KILL "$ssh_pid"
	dv_wait 10 curl -fsS -o /dev/null "http://127.0.0.1:$here/"
	[[ $(dv_child "$fwd" ssh) != "$ssh_pid" ]]

	# The next up: a new forwarder, the old one gone.
	run "$DEVENV" up --host "$H"
	assert_success
	fwd2=$(_fwd_pid)
	[[ $fwd2 != "$fwd" ]]
	dv_gone "$fwd"
	here=$(_here_port "$rport")
	run dv_fetch "http://127.0.0.1:$here/"
	assert_output served-there

	# halt: the forwarder (and its port here) gone, the env there halted.
	rpid=$(_rstatus pid)
	run "$DEVENV" halt
	assert_success
	dv_gone "$fwd2"
	run curl -sS --max-time 3 "http://127.0.0.1:$here/"
	assert_failure
	[[ $(_rstatus state) == halted ]]
	dv_gone "$rpid"

	# destroy: nothing left there (env, checkout, processes) or here.
	"$DEVENV" -q up --host "$H"
	fwd3=$(_fwd_pid)
	run "$DEVENV" destroy -f
	assert_success
	dv_gone "$fwd3"
	[[ -z $(ls -A "$DV_STORE/remote") ]]
	[[ -z $(ls -A "$DV_REMOTE_STORE/envs" 2>/dev/null) ]]
	[[ -z $(_checkouts) ]]
	[[ -z $(dv_procs_in_store "$DV_REMOTE_STORE") ]]
	run "$DEVENV" ssh -c true
	assert_failure
}

@test "a connection dropped mid-up leaves a state the next up recovers from" {
	# on_up waits (there) until the checkout holds 'go': the first up is
	# killed while it waits.
	cat >Envfile <<-'EOF'
	image: busybox
	on_up:
	  - run: touch /tmp/on_up-started; i=0; while [ ! -e /workspace/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo on_up-done
	EOF
	"$DEVENV" up --host "$H" >"$BATS_TEST_TMPDIR/up.out" 2>&1 &
	up=$!
	# Its on_up runs there (its mark in the env's upper folder).
	dv_wait 30 compgen -G "$DV_REMOTE_STORE/envs/*/upper/tmp/on_up-started"
	# Drop the connection: every ssh of this test's config (the
	# ControlMaster and its clients).
	pkill -KILL -f -- "-F $DV_SSH_CONFIG"
	run wait "$up"
	assert_failure
	# It was cut inside on_up.
	run cat "$BATS_TEST_TMPDIR/up.out"
	assert_output --partial "[on_up 1/1]"
	refute_line on_up-done
	# The next up (with 'go' sent) finishes what the first began.
	touch go
	run "$DEVENV" up --host "$H"
	assert_success
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt'
	assert_success
	assert_output hello
	[[ $(_rstatus state) == running ]]
	# One env there, one checkout: the second up took up the first's.
	local envs=("$DV_REMOTE_STORE"/envs/*/) cos=("$DV_REMOTE_HOME"/.local/share/devenv/checkouts/*/)
	[[ ${#envs[@]} == 1 && ${#cos[@]} == 1 ]]
	run "$DEVENV" destroy -f
	assert_success
	[[ -z $(ls -A "$DV_REMOTE_STORE/envs" 2>/dev/null) ]]
}

@test "trust: the prompt is here, before anything is copied or run there" {
	unset DEVENV_ALLOW
	printf 'image: busybox\nsecurity:\n  cap_add: [NET_ADMIN]\n' >Envfile
	run "$DEVENV" up --host "$H" </dev/null
	assert_failure 2
	assert_output --partial "devenv allow"
	[[ ! -e $DV_REMOTE_HOME/.local/share/devenv ]]
	[[ -z $(ls -A "$DV_REMOTE_STORE/envs" 2>/dev/null) ]]
	"$DEVENV" allow >/dev/null
	run "$DEVENV" up --host "$H"
	assert_success
	run "$DEVENV" ssh -c 'grep CapBnd /proc/self/status'
	assert_output --partial 800415fb
}

@test "devenv-fwd: ready once ssh listens; a port taken here is one line; SIGTERM frees the port, even ignored by its starter" {
	local rp lp srv
	rp=$(dv_free_port)
	lp=$(dv_free_port)
	mkdir -p "$DV_REMOTE_BASE/www"
	echo remote-page >"$DV_REMOTE_BASE/www/index.html"
	chmod -R a+rX "$DV_REMOTE_BASE/www"
	timeout 60 python3 -m http.server --bind 127.0.0.1 --directory "$DV_REMOTE_BASE/www" "$rp" \
		>/dev/null 2>&1 &
	srv=$!
	dv_wait 5 curl -fsS -o /dev/null "http://127.0.0.1:$rp/"
	# hnet_sshfwd_start's child as it runs it: the report on fd 3; started
	# with SIGTERM, SIGINT and SIGHUP ignored (as a devenv handling ^C may
	# leave them), which it must not inherit.
	(
		trap '' TERM INT HUP
		exec "$DEVENV" __ssh-fwd 1 "127.0.0.1,$lp,$rp" ssh -F "$DV_SSH_CONFIG" -- devenv-remote \
			3>"$BATS_TEST_TMPDIR/report"
	) &
	fwd=$!
	dv_wait 20 test -s "$BATS_TEST_TMPDIR/report"
	# Ready means listening: the first try answers.
	run curl -fsS "http://127.0.0.1:$lp/"
	assert_output remote-page
	run strings "$BATS_TEST_TMPDIR/report"
	refute_output --partial forward
	kill "$fwd"
	dv_gone "$fwd"
	run curl -sS --max-time 3 "http://127.0.0.1:$lp/"
	assert_failure
	# A port taken here (sshd's own): the error, and nothing left.
	run "$DEVENV" __ssh-fwd 1 "127.0.0.1,$DV_SSHD_PORT,$rp" ssh -F "$DV_SSH_CONFIG" -- devenv-remote \
		3>"$BATS_TEST_TMPDIR/report2"
	assert_failure
	run strings "$BATS_TEST_TMPDIR/report2"
	assert_output --partial "cannot forward the env's ports from 'devenv-remote' (ssh -N -L): "
	assert_output --partial "$DV_SSHD_PORT"
	# A destination that would be an option is refused before ssh runs.
	run "$DEVENV" __ssh-fwd 1 "127.0.0.1,$lp,$rp" ssh -- -oProxyCommand=x 3>"$BATS_TEST_TMPDIR/report3"
	assert_failure
	run strings "$BATS_TEST_TMPDIR/report3"
	assert_output --partial "does not end '-- DEST'"
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null || true
}

@test "Debian env over ssh as another account: provisioned there, ssh reads a file edited here after up (no up between)" {
	local archive
	archive=$(dv_debian_archive 2>/dev/null) || dv_debian_image
	dv_remote "$DEVENV" image load "$archive" debian:bookworm >/dev/null
	cat >Envfile <<-'EOF'
	image: debian:bookworm
	provision:
	  - copy: hello.txt
	    to: /etc/from-here
	EOF
	run "$DEVENV" up --host "$H"
	assert_success
	echo edited >hello.txt
	run "$DEVENV" ssh -c 'cat /etc/debian_version >/dev/null && cat /etc/from-here /workspace/hello.txt'
	assert_success
	assert_output "hello
edited"
}

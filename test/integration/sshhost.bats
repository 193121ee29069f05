#!/usr/bin/env bats
# `--host ssh://USER@HOST:PORT` against an sshd of this test's own on
# 127.0.0.1, logging in as the user running the test (root, or rootless
# runs' user) with a throw-away key; the remote account's HOME and store
# are folders of the test (sshd's SetEnv), so this machine plays both
# sides. remote.bats (the harness's fixture, a second account) covers the
# issue's scenarios; this file the pieces: the sync and its deletions, the
# self copy, the probe's refusal, trust, exit statuses, ls, the record.

load helpers
bats_require_minimum_version 1.5.0

_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

setup() {
	dv_setup
	local sshd=/usr/sbin/sshd port
	[[ -x $sshd ]] || skip "no sshd (scripts/install-deps installs openssh-server)"
	R=$BATS_TEST_TMPDIR/remote
	mkdir -p "$R/home" "$R/fake"
	ssh-keygen -q -t ed25519 -N '' -f "$R/hostkey"
	ssh-keygen -q -t ed25519 -N '' -f "$R/id"
	port=$(_free_port)
	cat >"$R/sshd_config" <<-EOF
	Port $port
	ListenAddress 127.0.0.1
	HostKey $R/hostkey
	PidFile $R/sshd.pid
	AuthorizedKeysFile $R/id.pub
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	StrictModes no
	UsePAM no
	SetEnv HOME=$R/home DEVENV_HOME=$R/store
	EOF
	echo "[127.0.0.1]:$port $(cat "$R/hostkey.pub")" >"$R/known_hosts"
	cat >"$R/ssh_config" <<-EOF
	Host *
	  IdentityFile $R/id
	  IdentitiesOnly yes
	  UserKnownHostsFile $R/known_hosts
	  StrictHostKeyChecking yes
	  LogLevel ERROR
	EOF
	"$sshd" -f "$R/sshd_config" -E "$R/sshd.log"
	export DEVENV_SSH="ssh -F $R/ssh_config"
	H=ssh://$(id -un)@127.0.0.1:$port
	for _ in $(seq 50); do
		ssh -F "$R/ssh_config" -o BatchMode=yes -p "$port" -- "$(id -un)@127.0.0.1" true 2>/dev/null && break
		sleep 0.1
	done
	# The remote store has busybox (its own import: nothing is pulled).
	DEVENV_HOME=$R/store "$DEVENV" image import "$(busybox_tar)" busybox >/dev/null
	printf 'image: busybox\n' >Envfile
	echo hello >hello.txt
	mkdir -p sub && echo a >sub/a.txt
	echo '*.log' >.gitignore && echo secret >build.log
	git add Envfile .gitignore
}

teardown() {
	local id f
	# A test that failed before its destroy leaves its forwarder here.
	for f in "$DV_STORE"/remote/*.json; do
		[[ -f $f ]] || continue
		id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("fwd_pid", 0))' "$f" 2>/dev/null) || continue
		((id > 0)) && [[ $(cat "/proc/$id/comm" 2>/dev/null) == devenv-fwd ]] && kill "$id"
	done
	# Every env of the remote's store, by id (a test may make several in
	# one copy: a subfolder's Envfile is an env of its own).
	for id in $(ls "$R/store/envs" 2>/dev/null); do
		[[ -d $R/store/envs/$id ]] || continue
		HOME=$R/home DEVENV_HOME=$R/store "$DEVENV" destroy -f -e "$id" >/dev/null 2>&1 ||
			echo "teardown: the remote's 'devenv destroy -f -e $id' failed" >&2
	done
	[[ -f $R/sshd.pid ]] && kill "$(cat "$R/sshd.pid")" 2>/dev/null
	dv_rm_store "$R/store" "$R/home" 2>/dev/null || true
	dv_teardown
}

# The remote checkout of this test's env.
_rdir() { echo "$R"/home/.local/share/devenv/checkouts/*/proj; }

@test "up --host: the checkout is sent (not what git ignores), ssh runs there and keeps the exit status" {
	run "$DEVENV" up --host "$H"
	assert_success
	assert_output --partial "copying devenv"
	# The copy is this devenv, where the plan puts it.
	cmp "$DEVENV" "$R/home/.local/share/devenv/bin/devenv-0.1.0"
	[[ -f $(_rdir)/hello.txt && -f $(_rdir)/sub/a.txt && ! -e $(_rdir)/build.log ]]
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt /workspace/sub/a.txt; exit 3'
	assert_failure 3
	assert_output "hello
a"
	# The command's words reach the remote env as written.
	run "$DEVENV" ssh -- sh -c 'printf "%s|" "$@"' x "a b" "'q'" '$HOME;x'
	assert_success
	assert_output "a b|'q'|\$HOME;x|"
	run "$DEVENV" ls
	assert_success
	assert_line --partial "$H"
	run "$DEVENV" status
	assert_success
	assert_output --partial "running"
}

@test "a second up sends only what changed; files deleted here disappear there" {
	"$DEVENV" -q up --host "$H"
	echo changed >hello.txt
	rm -r sub
	ln -s hello.txt link
	run "$DEVENV" up --host "$H"
	assert_success
	assert_output --partial "sent 2 files"
	assert_output --partial "removed 1 there"
	refute_output --partial "copying devenv"
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt; ls /workspace; readlink /workspace/link'
	assert_success
	assert_output "changed
Envfile
Envfile.lock
hello.txt
link
hello.txt"
	run "$DEVENV" -q up --host "$H"
	assert_success
	refute_output --partial "sent"
}

@test "ssh sends what changed first (edits, deletions), over one connection; nothing changed: no connection more than ssh's own" {
	"$DEVENV" -q up --host "$H"
	# Every ssh devenv starts, logged (DEVENV_SSH's first word).
	cat >"$R/logssh" <<-EOF
	#!/bin/sh
	echo "\$*" >>"$R/ssh.log"
	exec "\$@"
	EOF
	chmod +x "$R/logssh"
	export DEVENV_SSH="$R/logssh ssh -F $R/ssh_config"
	# Nothing changed since up: one ssh, the session's.
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt'
	assert_success
	assert_output hello
	[[ $(grep -c . "$R/ssh.log") == 1 ]]
	# An edit, a deletion, a new file, no up between: ssh -c sees them.
	echo edited >hello.txt
	rm -r sub
	echo new >new.txt
	: >"$R/ssh.log"
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt /workspace/new.txt; ls /workspace'
	assert_success
	assert_output "edited
new
Envfile
Envfile.lock
hello.txt
new.txt"
	# One connection (a ControlMaster) carries the sync and the session.
	[[ $(grep -c -- '-oControlMaster=yes' "$R/ssh.log") == 1 ]]
	[[ $(grep -c -- '-oControlMaster=no' "$R/ssh.log") == 2 ]]
	# The remote lost its copy: ssh sends every file again.
	rm -rf "$(_rdir)"/hello.txt "$R"/home/.local/share/devenv/checkouts/*.sync
	echo again >new.txt
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt /workspace/new.txt'
	assert_success
	assert_output "edited
again"
	# Then nothing is left for up to send.
	run "$DEVENV" up --host "$H"
	assert_success
	refute_output --partial "sent"
	# A devenv there from before EXPECT (a usage error): one line saying up updates it.
	cat >"$R/fake/old-devenv" <<-EOF
	#!/bin/sh
	[ "\$1" = __sync-recv ] && [ \$# = 5 ] && { echo "usage: old" >&2; exit 2; }
	exec "$DEVENV" "\$@"
	EOF
	chmod +x "$R/fake/old-devenv"
	python3 - "$DV_STORE"/remote/*.json "$R/fake/old-devenv" <<-'PY'
	import json, sys
	r = json.load(open(sys.argv[1])); r["devenv"] = sys.argv[2]
	json.dump(r, open(sys.argv[1], "w"))
	PY
	echo once more >new.txt
	run "$DEVENV" ssh -c true
	assert_failure
	assert_output --partial "the devenv there is older than this one; 'devenv up --host $H' updates it"
}

@test "the receiver follows no symlink the env put in the remote checkout" {
	"$DEVENV" -q up --host "$H"
	mkdir -p "$R/outside"
	# The env (hostile) swaps the folder sub for a symlink out of the checkout.
	"$DEVENV" ssh -c 'rm -r /workspace/sub && ln -s /etc /workspace/sub'
	rm -rf "$(_rdir)/sub" && ln -s "$R/outside" "$(_rdir)/sub"
	echo b >sub/b.txt
	echo a2 >sub/a.txt
	run "$DEVENV" up --host "$H"
	assert_success
	[[ ! -e $R/outside/b.txt && ! -e $R/outside/a.txt ]]
	[[ -d $(_rdir)/sub && ! -L $(_rdir)/sub && $(cat "$(_rdir)/sub/b.txt") == b ]]
}

@test "a .git above the remote checkout (a HOME kept in git) does not make the env's checkout that folder" {
	# The copy has no .git of its own: the remote devenv looking upward for
	# one must stop at the copy, never mount the account's HOME in the env.
	git init -q "$R/home"
	mkdir -p sub2 && echo b >sub2/b.txt && printf 'image: busybox\n' >sub2/Envfile
	run "$DEVENV" up --host "$H"
	assert_success
	run "$DEVENV" ssh -c 'ls -A /workspace; test ! -e /workspace/.local'
	assert_success
	refute_output --partial ".local"
	assert_output --partial "hello.txt"
	# From a subfolder's Envfile: the checkout there is the whole copy too.
	(cd sub2 && "$DEVENV" -q up --host "$H")
	run bash -c "cd sub2 && '$DEVENV' ssh -c 'ls -A /workspace'"
	assert_success
	refute_output --partial ".local"
	assert_output --partial "sub2"
}

@test "halt and destroy act there from the checkout, without --host; destroy removes both records" {
	printf 'image: busybox\non_up:\n  - run: echo said-there\n' >Envfile
	"$DEVENV" -q up --host "$H"
	run "$DEVENV" logs
	assert_success
	assert_output --partial said-there
	run "$DEVENV" logs --tail 1 nosuchservice
	assert_failure
	run "$DEVENV" halt
	assert_success
	run env DEVENV_HOME="$R/store" "$DEVENV" -e proj status --json
	assert_output --partial '"state":"halted"'
	run "$DEVENV" destroy -f
	assert_success
	[[ -z $(ls -A "$DV_STORE/remote") ]]
	[[ -z $(ls -A "$R/home/.local/share/devenv/checkouts") ]]
	run "$DEVENV" ssh -c true
	assert_failure
	assert_output --partial "never brought up"
}

@test "trust: the prompt is here; refused, nothing is sent or run there" {
	unset DEVENV_ALLOW
	printf 'image: busybox\nsecurity:\n  cap_add: [NET_ADMIN]\n' >Envfile
	run "$DEVENV" up --host "$H" </dev/null
	assert_failure 2
	assert_output --partial "devenv allow"
	[[ ! -e $R/home/.local/share/devenv/checkouts ]]
	"$DEVENV" allow >/dev/null
	run "$DEVENV" up --host "$H"
	assert_success
	run "$DEVENV" ssh -c 'grep CapBnd /proc/self/status'
	assert_output --partial 800415fb
	# There, a different request than the one allowed here runs nothing.
	run env -C "$(_rdir)" DEVENV_HOME="$R/store" DEVENV_ALLOW_DIGEST=00 "$DEVENV" up
	assert_failure 2
	assert_output --partial "differ from those allowed"
}

@test "trust: a request the env wrote into the copy there is refused, never asked there" {
	unset DEVENV_ALLOW
	"$DEVENV" -q up --host "$H"
	# The env (hostile) adds a request to the copy's Envfile; the Envfile
	# here is unchanged (asks nothing), so it is not sent again.
	"$DEVENV" ssh -c 'printf "security:\n  cap_add: [SYS_ADMIN]\n" >>/workspace/Envfile'
	run "$DEVENV" up --host "$H" </dev/null
	assert_failure
	assert_output --partial "differ from those allowed"
	script -qec "ssh -F '$R/ssh_config' -t -p ${H##*:} -- $(id -un)@127.0.0.1 true" /dev/null >/dev/null 2>&1 ||
		skip "this sshd (not root) gives no pty: plain ssh -t fails"
	# On a terminal: the remote devenv must not put its own prompt to us.
	run timeout 20 script -qec "'$DEVENV' up --host '$H'" /dev/null <<<"y"
	assert_failure
	assert_output --partial "differ from those allowed"
	refute_output --partial "SYS_ADMIN"
}

@test "the probe refuses a host of another architecture, or without user namespaces, in one line, before copying" {
	printf '#!/bin/sh\n[ "$1" = -m ] && echo riscv64 && exit 0\nexec /bin/uname "$@"\n' >"$R/fake/uname"
	chmod +x "$R/fake/uname"
	# PATH there starts with the fake uname.
	sed -i "s|^SetEnv .*|& PATH=$R/fake:/usr/bin:/bin|" "$R/sshd_config"
	kill -HUP "$(cat "$R/sshd.pid")"
	sleep 0.3
	run "$DEVENV" up --host "$H"
	assert_failure
	assert_output --partial "is riscv64 and this machine is $(uname -m)"
	[[ ${#lines[@]} -eq 1 ]]
	[[ ! -e $R/home/.local/share/devenv/bin ]]
	# The same architecture, but no user namespaces for its user: named.
	rm "$R/fake/uname"
	printf '#!/bin/sh\n[ "$1" = -u ] && echo 1000 && exit 0\nexec /usr/bin/id "$@"\n' >"$R/fake/id"
	printf '#!/bin/sh\n[ "$1" = /proc/sys/user/max_user_namespaces ] && echo 0 && exit 0\nexec /bin/cat "$@"\n' >"$R/fake/cat"
	chmod +x "$R/fake/id" "$R/fake/cat"
	run "$DEVENV" up --host "$H"
	assert_failure
	assert_output --partial "cannot run this devenv"
	assert_output --partial "missing user namespaces (sysctl user.max_user_namespaces=0)"
	[[ ${#lines[@]} -eq 1 ]]
	[[ ! -e $R/home/.local/share/devenv/bin ]]
}

@test "a remote that answers without end is stopped at a limit, in one line, not read into memory" {
	# A compromised account (here its ssh): the probe's answer never ends.
	printf '#!/bin/sh\nfor a; do case $a in -N|-O) exit 0;; esac; done\nexec yes\n' >"$R/fake/ssh"
	chmod +x "$R/fake/ssh"
	run bash -c "ulimit -v 400000; DEVENV_SSH='$R/fake/ssh' '$DEVENV' up --host '$H' 2>&1"
	assert_failure
	[[ $status -lt 128 ]]
	assert_output --partial "answered with more than 1024 KiB"
	[[ ${#lines[@]} -eq 1 ]]
}

@test "--host is checked: no option smuggled to ssh, a port in range" {
	run "$DEVENV" ssh --host 'ssh://-oProxyCommand=touch%20/tmp/x' -c true
	assert_failure 2
	assert_output --partial "not starting with '-'"
	run "$DEVENV" up --host 'ssh://-x@h'
	assert_failure 2
	run "$DEVENV" up --host 'ssh://u@h:70000'
	assert_failure 2
	assert_output --partial "port must be 1 to 65535"
	run "$DEVENV" up --host 'u@h'
	assert_failure 2
	assert_output --partial "not an ssh:// URL"
	# -c's value is the command, never --host.
	run "$DEVENV" ssh -c --host
	refute_output --partial "ssh://"
	DEVENV_HOST=ssh://u@h:0 run "$DEVENV" status
	assert_failure 2
	# Before the command too, for the commands that take it.
	run "$DEVENV" --host "$H" images
	assert_failure 2
	assert_output --partial "--host means something for up"
	run "$DEVENV" --host "$H" -q up
	assert_success
	run "$DEVENV" --host "$H" ssh -c 'echo there'
	assert_output there
}

@test "Debian env: provisioned there, a step sees the sent file, ssh reads it edited here (no up between)" {
	DEVENV_HOME=$R/store dv_debian_image
	cat >Envfile <<-'EOF2'
	image: debian:bookworm
	provision:
	  - copy: hello.txt
	    to: /etc/from-here
	EOF2
	run "$DEVENV" up --host "$H"
	assert_success
	assert_output --partial "copy: hello.txt"
	echo edited >hello.txt
	run "$DEVENV" ssh -c 'cat /etc/debian_version >/dev/null && cat /etc/from-here /workspace/hello.txt'
	assert_success
	assert_output "hello
edited"
	run "$DEVENV" destroy -f
	assert_success
}

@test "an env of the same checkout here wins over the record of one there" {
	dv_busybox_image
	"$DEVENV" -q up --host "$H"
	"$DEVENV" -q up
	run "$DEVENV" status --json
	assert_success
	[[ $(dv_json checkout <<<"$output") == "$DV_CHECKOUT" ]]
	run "$DEVENV" ssh -c 'cat /workspace/hello.txt; test -e /workspace/build.log'
	assert_success
	"$DEVENV" -q destroy -f
	# Gone here: the commands reach the one there again.
	run "$DEVENV" status --json
	[[ $(dv_json checkout <<<"$output") == "$R"/home/* ]]
}

@test "DEVENV_HOST and config.yaml's host: choose the machine; ls --json names it" {
	mkdir -p "$XDG_CONFIG_HOME/devenv"
	printf 'host: %s\n' "$H" >"$XDG_CONFIG_HOME/devenv/config.yaml"
	run "$DEVENV" up
	assert_success
	[[ -f $(_rdir)/hello.txt ]]
	run "$DEVENV" --json ls
	assert_success
	[[ $(python3 -c 'import json,sys; a=json.load(sys.stdin)[0]; print(a["host"], a["state"])' <<<"$output") == "$H remote" ]]
	rm "$XDG_CONFIG_HOME/devenv/config.yaml"
	echo via-env >hello.txt
	DEVENV_HOST=$H run "$DEVENV" provision
	assert_success
	[[ $(cat "$(_rdir)/hello.txt") == via-env ]]
	# A bad host in the config is its line and column.
	printf 'host: build\n' >"$XDG_CONFIG_HOME/devenv/config.yaml"
	run "$DEVENV" up
	assert_failure 2
	assert_output --partial "config.yaml:1:7: 'host' must be an ssh://USER@HOST[:PORT] URL"
}

@test "__sync-recv: no path out of its folder or into .git; a cut stream leaves no file" {
	local d=$BATS_TEST_TMPDIR/recv
	run bash -c "printf 'F 644 2\0../x\0hiE\0' | '$DEVENV' __sync-recv '$d/c' t '$d/c.sync'"
	assert_failure
	assert_output --partial "bad path"
	for p in /etc/x a/../../x .git/config a//b ./a; do
		run bash -c "printf 'F 644 2\0%s\0hiE\0' '$p' | '$DEVENV' __sync-recv '$d/c' t '$d/c.sync'"
		assert_failure
	done
	run bash -c "printf 'F 644 100\0a/b.txt\0short' | '$DEVENV' __sync-recv '$d/c' t '$d/c.sync'"
	assert_failure
	assert_output --partial "ended early"
	# Nothing but the mark of a copy (.git/devenv-copy: its own checkout).
	[[ $(find "$d/c" -type f) == "$d/c/.git/devenv-copy" && ! -e $d/x && ! -e $d/c.sync ]]
	run bash -c "printf 'F 600 2\0a/ok\0hiL\0a/l\0ok\0E\0' | '$DEVENV' __sync-recv '$d/c' t '$d/c.sync'"
	assert_success
	[[ $(cat "$d/c/a/l") == hi && $(stat -c %a "$d/c/a/ok") == 600 && $(cat "$d/c.sync") == t ]]
}

@test "__sync-recv: the copy's .git/devenv-copy mark is made whatever the env left there" {
	local d=$BATS_TEST_TMPDIR/mark
	mkdir -p "$d/c/.git" "$d/outside"
	# A fifo (a plain open would wait forever), then a symlink out of it,
	# then .git itself a symlink: each replaced, nothing written outside.
	mkfifo "$d/c/.git/devenv-copy"
	run timeout 10 bash -c "printf 'E\0' | '$DEVENV' __sync-recv '$d/c' t '$d/c.sync'"
	assert_success
	[[ -f $d/c/.git/devenv-copy && ! -p $d/c/.git/devenv-copy ]]
	rm "$d/c/.git/devenv-copy" && ln -s "$d/outside/x" "$d/c/.git/devenv-copy"
	run timeout 10 bash -c "printf 'E\0' | '$DEVENV' __sync-recv '$d/c' t '$d/c.sync'"
	assert_success
	[[ -f $d/c/.git/devenv-copy && ! -L $d/c/.git/devenv-copy && ! -e $d/outside/x ]]
	rm -r "$d/c/.git" && ln -s "$d/outside" "$d/c/.git"
	run timeout 10 bash -c "printf 'E\0' | '$DEVENV' __sync-recv '$d/c' t '$d/c.sync'"
	assert_success
	[[ -d $d/c/.git && ! -L $d/c/.git && -f $d/c/.git/devenv-copy && -z $(ls -A "$d/outside") ]]
}

@test "__sync-recv: a folder swapped for a symlink while a deletion runs: no folder outside is removed" {
	local d=$BATS_TEST_TMPDIR/recv pid
	printf 'F 644 2\0a/b/c\0hiE\0' | "$DEVENV" __sync-recv "$d/c" t "$d/c.sync"
	mkdir -p "$d/outside/b"
	printf 'D\0a/b/c\0E\0' >"$d/stream"
	# Held after c is unlinked, before the folders left empty go.
	DEVENV_FAULT=sync-recv.rmdir:stop "$DEVENV" __sync-recv "$d/c" t "$d/c.sync" <"$d/stream" &
	pid=$!
	for _ in $(seq 100); do
		[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == T ]] && break
		sleep 0.05
	done
	[[ $(awk '{print $3}' "/proc/$pid/stat") == T ]]
	# The env swaps a for a symlink to a folder outside with an empty b.
	mv "$d/c/a" "$d/c/a.old" && ln -s "$d/outside" "$d/c/a"
	kill -CONT "$pid"
	wait "$pid"
	[[ -d $d/outside/b ]]
}

@test "ports: forwarded to this machine by devenv-fwd; halt stops it, the next up takes the same port here" {
	printf 'image: busybox\nports:\n  - 8080\non_up:\n  - run: httpd -p 8080 -h /workspace\n' >Envfile
	run "$DEVENV" up --host "$H"
	assert_success
	local here pid
	here=$(sed -n 's/^devenv: 127\.0\.0\.1:\([0-9]*\) here -> .*/\1/p' <<<"$output")
	[[ -n $here ]]
	[[ $(curl -fsS "http://127.0.0.1:$here/hello.txt") == hello ]]
	pid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["fwd_pid"])' <"$DV_STORE"/remote/*.json)
	[[ $(cat "/proc/$pid/comm") == devenv-fwd ]]
	# more connections, some left in TIME_WAIT on the port here
	for _ in 1 2 3 4 5; do curl -fsS "http://127.0.0.1:$here/hello.txt" >/dev/null; done
	"$DEVENV" -q halt
	! curl -fsS "http://127.0.0.1:$here/hello.txt"
	[[ ! -d /proc/$pid || $(awk '{print $3}' "/proc/$pid/stat") == Z ]]
	# (`- 8080` is an auto port there, which may change from one up to the
	# next: the port here is kept by the env's port, and a connection of
	# the last forward in TIME_WAIT on it does not make up take another.)
	run "$DEVENV" up --host "$H"
	assert_success
	assert_output --partial "127.0.0.1:$here here"
	[[ $(curl -fsS "http://127.0.0.1:$here/hello.txt") == hello ]]
	"$DEVENV" -q destroy -f
	! curl -fsS "http://127.0.0.1:$here/hello.txt"
}

@test "ssh on a terminal: ssh -t, a pty there with this window's size, the exit status, no ssh chatter" {
	# An sshd that is not root cannot hand out a pty: plain ssh -t fails too.
	script -qec "ssh -F '$R/ssh_config' -t -p ${H##*:} -- $(id -un)@127.0.0.1 true" /dev/null >/dev/null 2>&1 ||
		skip "this sshd (not root) gives no pty: plain ssh -t fails"
	"$DEVENV" -q up --host "$H"
	run script -qec "stty rows 30 cols 100; '$DEVENV' ssh -c 'test -t 0 && stty size; exit 4'" /dev/null
	assert_failure 4
	assert_output --partial "30 100"
	refute_output --partial "Connection to"
}

@test "one machine per checkout: up on another host is refused while the env is on the first" {
	"$DEVENV" -q up --host "$H"
	run "$DEVENV" up --host "ssh://nobody@127.0.0.2:1"
	assert_failure
	assert_output --partial "this checkout's env is on $H; 'devenv destroy' it there first"
	run "$DEVENV" status --host "ssh://nobody@127.0.0.2:1"
	assert_failure
	assert_output --partial "runs on $H"
}

#!/usr/bin/env bats
# gitcred.bats - `git_credentials`: the env's git gets the host's git
# credentials for the listed hosts, through a relay of devenv's, and
# nothing else (README "git_credentials"; hostnet/gitcred.c).
#
# The server: `git http-backend` behind Basic auth on 127.0.0.1
# (test/fixtures/git_http.py); the env reaches it with `network: host`.
# The credential is only in the host's `git credential-store` file (a HOME
# of the test's own), never in the env.

load helpers

# A bare repository served with alice:s3cret; GH_PORT, GH_LOG; the host's
# HOME (for this test's devenv) holds the credential in a store file.
git_server() {
	local dir=$BATS_TEST_TMPDIR/srv
	mkdir -p "$dir"
	git init -q --bare "$dir/repo.git"
	git -C "$dir/repo.git" symbolic-ref HEAD refs/heads/main
	git init -q "$dir/src"
	echo hello-from-host >"$dir/src/file"
	git -C "$dir/src" add file
	git -C "$dir/src" -c user.name=t -c user.email=t@t commit -qm one
	git -C "$dir/src" push -q "$dir/repo.git" HEAD:refs/heads/main
	python3 "$DV_ROOT/test/fixtures/git_http.py" "$dir" alice:s3cret "$dir/port" "$dir/log" &
	GH_PID=$!
	for _ in $(seq 100); do [[ -s $dir/port ]] && break; sleep 0.05; done
	GH_PORT=$(cat "$dir/port")
	GH_LOG=$dir/log
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME"
	git config --global credential.helper "store --file $HOME/creds"
	printf 'http://alice:s3cret@127.0.0.1:%s\n' "$GH_PORT" >"$HOME/creds"
	chmod 600 "$HOME/creds"
}

# session_relay SECONDS: a session that sleeps SECONDS, in the background
# (SESS: its pid), and RELAY, the pid of its credential relay once it runs.
session_relay() {
	"$DEVENV" ssh -c "sleep $1" &
	SESS=$!
	RELAY=$(dv_child "$SESS" devenv-gitcred)
}

setup() {
	dv_setup
	GH_PID=
}

teardown() {
	[[ -n ${GH_PID:-} ]] && kill "$GH_PID" 2>/dev/null
	dv_teardown
}

envfile() {
	dv_envfile <<-EOF
	image: debian-git
	network: host
	env:
	  GIT_TERMINAL_PROMPT: "0"
	git_credentials: [127.0.0.1:$GH_PORT]
	$*
	EOF
}

@test "git_credentials: clone with the host's credential; another host gets nothing; nothing left in the env" {
	dv_debian_with debian-git git
	git_server
	envfile
	run "$DEVENV" up -q
	assert_success
	run "$DEVENV" ssh -c "git clone -q http://127.0.0.1:$GH_PORT/repo.git /tmp/r && cat /tmp/r/file"
	assert_success
	assert_output hello-from-host
	# The same server under another name is another host: not listed.
	run "$DEVENV" ssh -c "git clone -q http://localhost:$GH_PORT/repo.git /tmp/r2"
	assert_failure
	assert_output --partial "terminal prompts disabled"
	# Nothing on the env's disk: the credential is in no file of its
	# writable layer, and the relay's socket went with the session.
	run grep -rl s3cret "$DV_STORE/envs"
	assert_failure
	# In /dev/shm only this session's socket (the last one's is gone), in
	# no git config file a credential or a helper: only the environment.
	run "$DEVENV" ssh -c 'ls -A /dev/shm; echo "${GIT_CONFIG_VALUE_0#cache --socket /dev/shm/}"
		ls -A ~ /etc/gitconfig 2>&1; git config --show-origin --get-regexp credential'
	assert_success
	[[ ${lines[0]} == "${lines[1]}" && ${lines[0]} == devenv-git-* ]]
	refute_output --partial .git-credentials
	refute_output --partial .gitconfig
	assert_line --regexp '^command line:\s*credential.helper cache --socket /dev/shm/devenv-git-'
	# The env saw the credential only over the relay: the server got it.
	run grep -c 'auth=good' "$GH_LOG"
	assert_success
}

@test "git_credentials: the relay refuses unlisted hosts, url=, and stores nothing the env made up" {
	dv_debian_with debian-git git
	git_server
	envfile
	"$DEVENV" up -q
	# Straight at the socket with git's own client, as any process of the env could.
	run "$DEVENV" ssh -c '
		s=${GIT_CONFIG_VALUE_0#cache --socket }
		printf "protocol=http\nhost=127.0.0.1:'"$GH_PORT"'\n" | git credential-cache --socket "$s" get
		echo ---
		printf "protocol=http\nhost=localhost:'"$GH_PORT"'\n" | git credential-cache --socket "$s" get
		echo ---
		printf "url=http://127.0.0.1:'"$GH_PORT"'\n" | git credential-cache --socket "$s" get
		echo ---
		printf "protocol=ssh\nhost=127.0.0.1:'"$GH_PORT"'\n" | git credential-cache --socket "$s" get
		echo ---
		printf "protocol=http\nhost=127.0.0.1:'"$GH_PORT"'\nusername=mallory\npassword=planted\n" | git credential-cache --socket "$s" store
		printf "protocol=http\nhost=127.0.0.1:'"$GH_PORT"'\nusername=alice\npassword=wrong\n" | git credential-cache --socket "$s" erase
		echo end'
	assert_success
	assert_output "username=alice
password=s3cret
---
---
---
---
end"
	# The host's store is as it was: nothing planted, nothing erased.
	run cat "$HOME/creds"
	assert_output "http://alice:s3cret@127.0.0.1:$GH_PORT"
}

@test "git_credentials: on_up clones with it; the relay is confined and gone after" {
	dv_debian_with debian-git git
	git_server
	envfile "on_up:
  - run: git clone -q http://127.0.0.1:$GH_PORT/repo.git /tmp/onup && cat /tmp/onup/file"
	run "$DEVENV" up
	assert_success
	assert_output --partial hello-from-host
	# During a session: one relay, with no capability, no_new_privs,
	# seccomp and a session of its own; it ends with the session.
	session_relay 2
	dv_assert_confined "$RELAY"
	wait "$SESS"
	dv_gone "$RELAY"
	# Its socket went with it: only this session's is there.
	run "$DEVENV" ssh -c 'ls -A /dev/shm'
	assert_output --regexp '^devenv-git-[0-9a-f]{16}$'
	# devenv killed outright: the relay does not outlive it.
	session_relay 30
	kill -9 "$SESS"
	dv_gone "$RELAY"
	wait "$SESS" || true
	# The env halted under a session: the session ends, and its relay.
	session_relay 30
	"$DEVENV" halt >/dev/null
	wait "$SESS" || true
	dv_gone "$RELAY"
}

@test "git_credentials: asked for at the trust prompt; an Envfile without it starts no relay" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	git_credentials: [github.com]
	EOF
	unset DEVENV_ALLOW
	run "$DEVENV" up </dev/null
	assert_failure 2
	run "$DEVENV" allow </dev/null
	assert_line "  Envfile:2:1: git_credentials github.com: your git credentials for these hosts (what 'git credential fill' gives on this machine) are handed to the env's git, and to any process of the env that asks, while a session or on_up runs"
	export DEVENV_ALLOW=1
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	"$DEVENV" up -q
	run "$DEVENV" ssh -c 'env | grep ^GIT_CONFIG; ls -A /dev/shm'
	assert_output ''
	run "$DEVENV" ssh -c 'grep -c . /proc/1/status >/dev/null; echo ok'
	assert_output ok
	run grep -c git_credentials "$DV_STORE/envs/"*/state.json
	assert_output 0
}

@test "git_credentials: a session as the Envfile's user (keep-id without root) gets it too" {
	dv_debian_with debian-git git
	git_server
	envfile "user: dev"
	run "$DEVENV" up -q
	assert_success
	run "$DEVENV" ssh -c "id -un; git clone -q http://127.0.0.1:$GH_PORT/repo.git ~/r && cat ~/r/file"
	assert_success
	assert_output "dev
hello-from-host"
	run "$DEVENV" ssh -c 'ls -A /dev/shm'
	assert_output --regexp '^devenv-git-[0-9a-f]{16}$'
}

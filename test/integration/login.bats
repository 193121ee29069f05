#!/usr/bin/env bats
# devenv login / logout (README "Images and registries") against the
# bearer-token front of test/fixtures/authproxy.py, which wants user:pass,
# before a real registry (Debian's docker-registry on loopback).

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	dv_busybox_image
	# what the proxy's test/private serves
	"$DEVENV" push busybox "$DV_REGISTRY/test/busybox:latest" >/dev/null
	authproxy_start
	export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker
}

teardown() {
	authproxy_stop
	if [[ -n ${BASIC_PID:-} ]]; then
		kill "$BASIC_PID" 2>/dev/null
		wait "$BASIC_PID" 2>/dev/null || true
	fi
	dv_teardown
}

@test "login checks the password, keeps it for pull and push, logout forgets it" {
	run "$DEVENV" push busybox "$PROXY/test/private:2"
	assert_failure 1
	assert_output "devenv: registry '$PROXY' refused a token for '$PROXY/test/private:2' (HTTP 401): incorrect username or password; no credentials for it here: 'devenv login' to it first"
	run "$DEVENV" login -u user --password-stdin "$PROXY" <<<wrong
	assert_failure 1
	assert_output "devenv: registry '$PROXY' refused a token for '$PROXY' (HTTP 401): incorrect username or password"
	[[ ! -e $DOCKER_CONFIG/config.json ]]
	# other keys and other registries' entries stay
	mkdir -p "$DOCKER_CONFIG"
	printf '{"auths":{"other.example":{"auth":"eDp5"}},"psFormat":"x"}\n' >"$DOCKER_CONFIG/config.json"
	run "$DEVENV" login --username user --password-stdin "$PROXY" <<<pass
	assert_success
	assert_output "logged in to $PROXY"
	[[ $(stat -c %a "$DOCKER_CONFIG/config.json") == 600 ]]
	run python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); print(c["auths"][sys.argv[2]]["auth"], c["auths"]["other.example"]["auth"], c["psFormat"])' \
		"$DOCKER_CONFIG/config.json" "$PROXY"
	assert_output "$(printf user:pass | base64) eDp5 x"
	run "$DEVENV" pull "$PROXY/test/private"
	assert_success
	assert_output --regexp "^$PROXY/test/private:latest sha256:[0-9a-f]{64}$"
	# a push asks the token server for pull,push with these credentials
	run "$DEVENV" push busybox "$PROXY/test/private:2"
	assert_success
	assert_line --index 0 --regexp ' exists$'
	assert_line --index 2 --regexp "^$PROXY/test/private:2 sha256:[0-9a-f]{64}$"
	run "$DEVENV" push busybox "$PROXY/test/other:1"
	assert_success
	assert_line --index 0 --regexp ' pushed$'
	run "$DEVENV" logout "$PROXY"
	assert_success
	assert_output "logged out of $PROXY"
	run "$DEVENV" logout "$PROXY"
	assert_success
	assert_output "not logged in to $PROXY"
	grep -q other.example "$DOCKER_CONFIG/config.json"
	run "$DEVENV" pull "$PROXY/test/private"
	assert_failure 1
	assert_output "devenv: registry '$PROXY' refused a token for '$PROXY/test/private:latest' (HTTP 401): incorrect username or password; no credentials for it here: 'devenv login' to it first"
}

@test "login without DOCKER_CONFIG writes ~/.docker/config.json; usage errors" {
	unset DOCKER_CONFIG
	export HOME=$BATS_TEST_TMPDIR/home
	run "$DEVENV" login -u user --password-stdin "$PROXY" <<<pass
	assert_success
	[[ $(stat -c %a "$HOME/.docker/config.json") == 600 ]]
	run "$DEVENV" login --password-stdin "$PROXY" </dev/null
	assert_failure 2
	assert_output "devenv: say who logs in: 'devenv login -u USER --password-stdin $PROXY'"
	run "$DEVENV" login -u user "$PROXY" </dev/null
	assert_failure 2
	assert_output "devenv: standard input is not a terminal: give the password on it with --password-stdin"
	run "$DEVENV" login -u user --password-stdin 'Bad.Host' </dev/null
	assert_failure 2
	assert_output "devenv: invalid registry host 'Bad.Host'"
	run "$DEVENV" logout busybox
	assert_failure 2
	assert_output "devenv: invalid registry host 'busybox': a host has a '.' or a ':port', or is 'localhost'"
}

# A credential helper in docker's protocol, keeping one file per server
# under $DVTEST_CREDS and logging each call.
credential_helper() {
	mkdir -p "$BATS_TEST_TMPDIR/bin" "$BATS_TEST_TMPDIR/creds"
	export DVTEST_CREDS=$BATS_TEST_TMPDIR/creds PATH=$BATS_TEST_TMPDIR/bin:$PATH
	cat >"$BATS_TEST_TMPDIR/bin/docker-credential-dvtest" <<-'EOF'
	#!/bin/sh
	input=$(cat)
	echo "$1" >>"$DVTEST_CREDS/log"
	case $1 in
	store) server=$(printf '%s' "$input" | python3 -c 'import json, sys; print(json.load(sys.stdin)["ServerURL"])') ;;
	*) server=$input ;;
	esac
	f=$DVTEST_CREDS/entry-$(printf '%s' "$server" | tr '/:' '__')
	case $1 in
	get) [ -f "$f" ] && exec cat "$f" ;;
	store) printf '%s' "$input" >"$f"; exit 0 ;;
	erase) [ -f "$f" ] && exec rm "$f" ;;
	esac
	echo "credentials not found in native keychain"
	exit 1
	EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/docker-credential-dvtest"
}

@test "credential helpers: credsStore keeps login's credentials, pulls and pushes use them, logout erases them" {
	credential_helper
	mkdir -p "$DOCKER_CONFIG"
	printf '{"credsStore":"dvtest"}\n' >"$DOCKER_CONFIG/config.json"
	run "$DEVENV" pull "$PROXY/test/private"
	assert_failure 1
	assert_output --partial "(HTTP 401)"
	grep -qx get "$DVTEST_CREDS/log"
	run "$DEVENV" login -u user --password-stdin "$PROXY" <<<pass
	assert_success
	assert_output "logged in to $PROXY"
	grep -qx store "$DVTEST_CREDS/log"
	# kept by the helper, not in config.json
	run cat "$DOCKER_CONFIG/config.json"
	refute_output --partial "$PROXY"
	run cat "$DVTEST_CREDS"/entry-*
	assert_output "{\"ServerURL\":\"$PROXY\",\"Username\":\"user\",\"Secret\":\"pass\"}"
	run "$DEVENV" pull "$PROXY/test/private"
	assert_success
	run "$DEVENV" push busybox "$PROXY/test/private:3"
	assert_success
	run "$DEVENV" logout "$PROXY"
	assert_success
	assert_output "logged out of $PROXY"
	grep -qx erase "$DVTEST_CREDS/log"
	[[ -z $(ls "$DVTEST_CREDS" | grep entry-) ]]
	run "$DEVENV" logout "$PROXY"
	assert_output "not logged in to $PROXY"
	run "$DEVENV" pull "$PROXY/test/private"
	assert_failure 1
}

@test "credential helpers: credHelpers for the host wins over auths; a missing helper is one warning" {
	credential_helper
	mkdir -p "$DOCKER_CONFIG"
	printf '{"ServerURL":"%s","Username":"user","Secret":"pass"}' "$PROXY" \
		>"$DVTEST_CREDS/entry-$(printf '%s' "$PROXY" | tr '/:' '__')"
	printf '{"credHelpers":{"%s":"dvtest"},"auths":{"%s":{"auth":"%s"}}}\n' "$PROXY" "$PROXY" \
		"$(printf user:wrong | base64)" >"$DOCKER_CONFIG/config.json"
	run "$DEVENV" pull "$PROXY/test/private"
	assert_success
	printf '{"credsStore":"not-installed"}\n' >"$DOCKER_CONFIG/config.json"
	run "$DEVENV" pull "$PROXY/test/private:latest"
	assert_failure 1
	assert_line --index 0 "devenv: warning: the credential helper 'docker-credential-not-installed' that docker's config.json names is not installed (not on PATH); going on without credentials for '$PROXY'"
	assert_line --index 1 --partial "(HTTP 401)"
}

@test "a registry with htpasswd (Basic) auth: refused without credentials, login, push and pull" {
	python3 -c 'import crypt, sys; print("user:" + crypt.crypt("pass", crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
		>"$BATS_TEST_TMPDIR/htpasswd" 2>/dev/null
	local main=$DV_REGISTRY main_pid=$DV_REGISTRY_PID main_storage=$DV_REGISTRY_STORAGE
	DV_REGISTRY_HTPASSWD=$BATS_TEST_TMPDIR/htpasswd dv_registry_start "$BATS_TEST_TMPDIR/basicreg"
	BASIC=$DV_REGISTRY BASIC_PID=$DV_REGISTRY_PID
	DV_REGISTRY=$main DV_REGISTRY_PID=$main_pid DV_REGISTRY_STORAGE=$main_storage
	run "$DEVENV" push busybox "$BASIC/team/bb:1"
	assert_failure 1
	[[ ${#lines[@]} -eq 1 ]]
	assert_output "devenv: registry '$BASIC' denied access to '$BASIC/team/bb:1' (HTTP 401): authentication required; no credentials for it here: 'devenv login' to it first"
	run "$DEVENV" login -u user --password-stdin "$BASIC" <<<wrong
	assert_failure 1
	assert_output --regexp "^devenv: .*'$BASIC'.*401"
	run "$DEVENV" login -u user --password-stdin "$BASIC" <<<pass
	assert_success
	assert_output "logged in to $BASIC"
	run "$DEVENV" push busybox "$BASIC/team/bb:1"
	assert_success
	assert_line --index 2 --regexp "^$BASIC/team/bb:1 sha256:[0-9a-f]{64}$"
	DEVENV_HOME=$BATS_TEST_TMPDIR/other run "$DEVENV" pull "$BASIC/team/bb:1"
	dv_rm_store "$BATS_TEST_TMPDIR/other"
	assert_success
	assert_output --regexp "^$BASIC/team/bb:1 sha256:[0-9a-f]{64}$"
}

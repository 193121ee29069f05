#!/usr/bin/env bats
# devenv pull through test/fixtures/faultproxy.py, in front of a real
# docker-registry: cut transfers resume with Range, 500s and slow answers
# are waited out, and what cannot be fetched leaves the store unchanged.

load helpers

REGPY=$DV_ROOT/test/fixtures/registry.py

setup_file() {
	local d=$BATS_FILE_TMPDIR
	dv_registry_start "$d/registry"
	# Three layers: busybox, and two of random bytes (they do not
	# compress), so every layer is far longer than the cut at 200000.
	mkdir -p "$d/l2/opt" "$d/l3/opt"
	head -c 600000 /dev/urandom >"$d/l2/opt/two"
	head -c 400000 /dev/urandom >"$d/l3/opt/three"
	tar -C "$d/l2" -cf "$d/l2.tar" opt
	tar -C "$d/l3" -cf "$d/l3.tar" opt
	python3 "$REGPY" push "$DV_REGISTRY" test/faults latest "$(busybox_tar),$d/l2.tar,$d/l3.tar" amd64
}

teardown_file() { dv_registry_stop; }

setup() { dv_setup; }
teardown() {
	faultproxy_stop
	dv_teardown
}

# faultproxy_start [VAR=VALUE...]: the proxy with those FAULT_* settings;
# sets FPROXY (host:port) and FLOG (its request log).
faultproxy_start() {
	local i
	FLOG=$BATS_TEST_TMPDIR/proxy.log
	: >"$FLOG"
	env FAULT_LOG="$FLOG" "$@" python3 "$DV_ROOT/test/fixtures/faultproxy.py" \
		"$BATS_TEST_TMPDIR/proxy.port" "$DV_REGISTRY" &
	FPROXY_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $BATS_TEST_TMPDIR/proxy.port ]] && break
		sleep 0.05
	done
	FPROXY=127.0.0.1:$(cat "$BATS_TEST_TMPDIR/proxy.port")
}

faultproxy_stop() {
	[[ -n ${FPROXY_PID:-} ]] || return 0
	kill "$FPROXY_PID" 2>/dev/null
	wait "$FPROXY_PID" 2>/dev/null || true
	FPROXY_PID=
}

store_snapshot() {
	(cd "$DV_STORE" && find layers images cache blobs -print 2>/dev/null | sort)
}

@test "a transfer cut once resumes with Range and the pull succeeds" {
	faultproxy_start FAULT_TRUNCATE=200000
	run "$DEVENV" pull "$FPROXY/test/faults"
	assert_success
	assert_output --regexp "^$FPROXY/test/faults:latest sha256:[0-9a-f]{64}$"
	# One blob was cut at 200000 and asked again from there.
	[[ $(grep -c ' cut=200000' "$FLOG") == 1 ]]
	grep -q 'range=bytes=200000- status=206$' "$FLOG"
	[[ $(ls "$DV_STORE/layers" | wc -l) == 3 ]]
	ls -A "$DV_STORE/tmp" | { ! grep -q .; }
	# The files are whole.
	cmp "$DV_STORE/layers/$(sha256sum "$BATS_FILE_TMPDIR/l2.tar" | cut -c1-64)/diff/opt/two" \
		"$BATS_FILE_TMPDIR/l2/opt/two"
	cmp "$DV_STORE/layers/$(sha256sum "$BATS_FILE_TMPDIR/l3.tar" | cut -c1-64)/diff/opt/three" \
		"$BATS_FILE_TMPDIR/l3/opt/three"
}

@test "a registry that ignores Range resends the blob; the pull still succeeds" {
	faultproxy_start FAULT_TRUNCATE=200000 FAULT_IGNORE_RANGE=1
	run "$DEVENV" pull "$FPROXY/test/faults"
	assert_success
	grep -q 'range=bytes=200000- status=200$' "$FLOG"
	[[ $(ls "$DV_STORE/layers" | wc -l) == 3 ]]
	ls -A "$DV_STORE/tmp" | { ! grep -q .; }
}

@test "a transfer cut every time: one line naming the layer and the bytes, store unchanged" {
	faultproxy_start FAULT_TRUNCATE=200000 FAULT_TRUNCATE_MODE=always
	run "$DEVENV" images
	before=$(store_snapshot)
	run "$DEVENV" pull "$FPROXY/test/faults"
	assert_failure 1
	assert_output --regexp "^devenv: download of layer sha256:[0-9a-f]{12}\.\.\. of '$FPROXY/test/faults:latest' was cut at 200000 of [0-9]+ bytes and could not be resumed: .+$"
	[[ ${#lines[@]} == 1 ]]
	grep -q 'range=bytes=200000- ' "$FLOG"
	[[ $(store_snapshot) == "$before" ]]
	[[ ! -e $DV_STORE/layers || -z $(ls -A "$DV_STORE/layers") ]]
	ls -A "$DV_STORE/tmp" | { ! grep -q .; }
	run "$DEVENV" images --json
	refute_output --partial "test/faults"
}

@test "a slow registry (each answer waits, blobs stall mid-body) is waited out" {
	faultproxy_start FAULT_DELAY=0.5
	run "$DEVENV" pull "$FPROXY/test/faults"
	assert_success
	assert_output --regexp "^$FPROXY/test/faults:latest sha256:[0-9a-f]{64}$"
}

@test "500s are retried" {
	faultproxy_start FAULT_FAIL=2
	run "$DEVENV" pull "$FPROXY/test/faults"
	assert_success
	[[ $(grep -c ' status=500$' "$FLOG") == 2 ]]
	[[ $(ls "$DV_STORE/layers" | wc -l) == 3 ]]
}

@test "a corrupted blob is a digest mismatch, whatever the extractor made of it; store unchanged" {
	faultproxy_start FAULT_CORRUPT=100000
	run "$DEVENV" images
	before=$(store_snapshot)
	run "$DEVENV" pull "$FPROXY/test/faults"
	assert_failure 1
	assert_output --regexp "^devenv: digest mismatch: registry '$FPROXY' sent sha256:[0-9a-f]{12}\.\.\. for blob sha256:[0-9a-f]{12}\.\.\. of '$FPROXY/test/faults:latest'$"
	[[ $(store_snapshot) == "$before" ]]
	ls -A "$DV_STORE/tmp" | { ! grep -q .; }
}

@test "layers one at a time or three at once give the same image" {
	run env DEVENV_PULL_JOBS=1 "$DEVENV" pull "$DV_REGISTRY/test/faults"
	assert_success
	serial=$output
	dv_rm_store "$DV_STORE"
	run "$DEVENV" pull "$DV_REGISTRY/test/faults"
	assert_success
	[[ $output == "$serial" ]]
	[[ $(ls "$DV_STORE/layers" | wc -l) == 3 ]]
}

@test "on a terminal, one progress line per layer; none otherwise" {
	command -v script >/dev/null || skip "script (bsdutils) is missing"
	run script -qec "$DEVENV pull $DV_REGISTRY/test/faults" /dev/null
	assert_success
	for i in 1 2 3; do
		assert_output --regexp "layer $i/3 sha256:[0-9a-f]{12} [0-9.]+ [KM]?i?B done in [0-9.]+ s"
	done
	dv_rm_store "$DV_STORE"
	run "$DEVENV" pull "$DV_REGISTRY/test/faults"
	assert_success
	[[ ${#lines[@]} == 1 ]]
}

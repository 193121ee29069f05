#!/usr/bin/env bats
# devenv push (README "Images and registries") to a real OCI registry
# (Debian's docker-registry on loopback), checked with skopeo, a pull into
# another store, and podman.

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	# skopeo's own policy and (empty) auth file: rootless, its defaults
	# under /run/containers are not ours to read.
	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$BATS_FILE_TMPDIR/policy.json"
	printf '{}\n' >"$BATS_FILE_TMPDIR/auth.json"
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	dv_busybox_image
}
teardown() {
	traceproxy_stop
	dv_teardown
}

skopeo_() {
	skopeo --policy "$BATS_FILE_TMPDIR/policy.json" "$@"
}

@test "push: skopeo reads it back, another store pulls and runs it, a second push sends nothing" {
	run "$DEVENV" push busybox "$DV_REGISTRY/team/bb:1"
	assert_success
	assert_line --index 0 --regexp '^layer 1/1 sha256:[0-9a-f]{12} pushed$'
	assert_line --index 1 --regexp '^config sha256:[0-9a-f]{12} pushed$'
	assert_line --index 2 --regexp "^$DV_REGISTRY/team/bb:1 sha256:[0-9a-f]{64}$"
	digest=${lines[2]#* }
	run skopeo_ inspect --tls-verify=false --authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/bb:1"
	assert_success
	assert_output --partial "\"Digest\": \"$digest\""
	assert_output --regexp '"Layers": \[[[:space:]]+"sha256:[0-9a-f]{64}"[[:space:]]+\]'
	# skopeo checks every digest, and the layer is gzip (tar+gzip)
	run skopeo_ copy -q --src-tls-verify=false --src-authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/bb:1" "oci:$BATS_TEST_TMPDIR/layout:x"
	assert_success
	run cat "$BATS_TEST_TMPDIR/layout/blobs/sha256/${digest#sha256:}"
	assert_output --partial '"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"'
	# the same image, pushed again, finds every blob there
	run "$DEVENV" push busybox "$DV_REGISTRY/team/bb:1"
	assert_success
	assert_output --regexp "^layer 1/1 sha256:[0-9a-f]{12} exists
config sha256:[0-9a-f]{12} exists
$DV_REGISTRY/team/bb:1 $digest$"
	# ... without exporting the layer again: its push form is kept in layer.json
	id=$(ls "$DV_STORE/layers")
	grep -q '"push":{"diff_id":"sha256:[0-9a-f]\{64\}","digest":"sha256:' "$DV_STORE/layers/$id/layer.json"
	mv "$DV_STORE/layers/$id/diff" "$DV_STORE/layers/$id/diff.away"
	run "$DEVENV" push busybox "$DV_REGISTRY/team/bb:1"
	mv "$DV_STORE/layers/$id/diff.away" "$DV_STORE/layers/$id/diff"
	assert_success
	assert_line --index 0 --regexp ' exists$'
	assert_line --index 2 "$DV_REGISTRY/team/bb:1 $digest"
	# another store pulls it and runs it
	export DEVENV_HOME=$BATS_TEST_TMPDIR/other-store
	run "$DEVENV" pull "$DV_REGISTRY/team/bb:1"
	assert_success
	printf 'image: %s/team/bb:1\n' "$DV_REGISTRY" | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'echo ok'
	assert_success
	assert_output ok
	"$DEVENV" destroy -f >/dev/null
}

@test "push of a pulled image to another repository of its registry mounts its blobs" {
	"$DEVENV" push busybox "$DV_REGISTRY/team/src:1" >/dev/null
	export DEVENV_HOME=$BATS_TEST_TMPDIR/other-store
	"$DEVENV" pull "$DV_REGISTRY/team/src:1" >/dev/null
	run "$DEVENV" push "$DV_REGISTRY/team/src:1" "$DV_REGISTRY/team/copy:2"
	assert_success
	assert_line --index 0 --regexp '^layer 1/1 sha256:[0-9a-f]{12} mounted$'
	assert_line --index 1 --regexp '^config sha256:[0-9a-f]{12} mounted$'
	# without DEST, under its own name: all there
	run "$DEVENV" push "$DV_REGISTRY/team/src:1"
	assert_success
	assert_line --index 0 --regexp ' exists$'
	assert_line --index 2 --regexp "^$DV_REGISTRY/team/src:1 sha256:"
}

@test "push of a committed image; podman pulls and runs it" {
	dv_need_host_root "podman without root needs a set-up of its own"
	command -v podman >/dev/null || skip "podman is not installed"
	# crun refuses this machine's hybrid cgroup layout unless hugetlb is
	# mounted as v1 too (bench/run does the same)
	if [[ ! -e /sys/fs/cgroup/cgroup.controllers ]] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
		mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
	fi
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo provisioned > /file
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" commit snap:1
	assert_success
	run "$DEVENV" push snap:1 "$DV_REGISTRY/team/snap:1"
	assert_success
	assert_line --index 1 --regexp '^layer 2/[23] sha256:[0-9a-f]{12} pushed$'
	img=$DV_REGISTRY/team/snap:1
	run podman pull -q --tls-verify=false "$img"
	assert_success
	run podman run --rm --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 "$img" cat /file
	podman rmi -f "$img" >/dev/null 2>&1 || true
	assert_success
	assert_output provisioned
}

@test "push errors: unknown image, refused connection, unknown host, a digest, a denied token" {
	run "$DEVENV" push nosuch "$DV_REGISTRY/x:1"
	assert_failure 1
	assert_output "devenv: image 'nosuch' not found; import one with 'devenv image import FILE nosuch'"
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	run "$DEVENV" push busybox "127.0.0.1:$port/x:1"
	assert_failure 1
	assert_output --regexp "^devenv: cannot reach registry '127.0.0.1:$port': .*"
	[[ ${#lines[@]} == 1 ]]
	run "$DEVENV" push busybox no-such-host.invalid/x:1
	assert_failure 1
	assert_output --regexp "^devenv: cannot reach registry 'no-such-host.invalid': .*"
	[[ ${#lines[@]} == 1 ]]
	run "$DEVENV" push busybox "$DV_REGISTRY/x@sha256:$(printf '%064d' 0)"
	assert_failure 2
	assert_output --partial "cannot push to a digest reference"
	python3 "$DV_ROOT/test/fixtures/authproxy.py" "$BATS_TEST_TMPDIR/proxy.port" "$DV_REGISTRY" &
	proxy_pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $BATS_TEST_TMPDIR/proxy.port ]] && break
		sleep 0.05
	done
	proxy=127.0.0.1:$(cat "$BATS_TEST_TMPDIR/proxy.port")
	run "$DEVENV" push busybox "$proxy/test/private:1"
	kill "$proxy_pid"
	wait "$proxy_pid" 2>/dev/null || true
	assert_failure 1
	assert_output "devenv: registry '$proxy' refused a token for '$proxy/test/private:1' (HTTP 401): incorrect username or password; no credentials for it here: 'devenv login' to it first"
}

# traceproxy_start [FAULT...]: test/fixtures/traceproxy.py in front of the
# file's registry, writing each request to $TRACE_LOG; sets TRACE
# (host:port). traceproxy_stop ends it (teardown does too).
traceproxy_start() {
	local i
	TRACE_LOG=$BATS_TEST_TMPDIR/trace.log
	rm -f "$BATS_TEST_TMPDIR/trace.port" "$TRACE_LOG"
	python3 "$DV_ROOT/test/fixtures/traceproxy.py" "$BATS_TEST_TMPDIR/trace.port" "$DV_REGISTRY" \
		"$TRACE_LOG" "$@" &
	TRACE_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $BATS_TEST_TMPDIR/trace.port ]] && break
		sleep 0.05
	done
	TRACE=127.0.0.1:$(cat "$BATS_TEST_TMPDIR/trace.port")
}

traceproxy_stop() {
	[[ -n ${TRACE_PID:-} ]] || return 0
	kill "$TRACE_PID" 2>/dev/null
	wait "$TRACE_PID" 2>/dev/null || true
	TRACE_PID=
}

# The PATCH lines of the trace: "RANGE STATUS" each.
patches() {
	awk '$1 == "PATCH" { print $3, $4 }' "$TRACE_LOG"
}

@test "chunked push: the layer goes in PATCHes of DEVENV_PUSH_CHUNK_SIZE; it pulls back and skopeo reads it" {
	traceproxy_start
	DEVENV_PUSH_CHUNK_SIZE=256K run "$DEVENV" push busybox "$TRACE/team/chunked:1"
	traceproxy_stop
	assert_success
	assert_line --index 0 --regexp '^layer 1/1 sha256:[0-9a-f]{12} pushed$'
	digest=${lines[2]#* }
	# busybox's layer is about 1 MB gzip: four chunks, in order, each
	# taken; then the PUT that names the digest
	run patches
	assert_line --index 0 '0-262143 202'
	assert_line --index 1 '262144-524287 202'
	assert_line --index 2 '524288-786431 202'
	assert_line --index 3 --regexp '^786432-[0-9]+ 202$'
	(( ${#lines[@]} >= 4 ))
	run grep -c '^PUT /v2/team/chunked/blobs/uploads/.* - 201$' "$TRACE_LOG"
	assert_output 2 # the layer's end, and the config in one PUT
	# the registry's copy is whole: skopeo checks every digest
	run skopeo_ copy -q --src-tls-verify=false --src-authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/chunked:1" "oci:$BATS_TEST_TMPDIR/layout:x"
	assert_success
	# another store pulls it and runs it
	export DEVENV_HOME=$BATS_TEST_TMPDIR/other-store
	run "$DEVENV" pull "$DV_REGISTRY/team/chunked:1"
	assert_success
	printf 'image: %s/team/chunked:1\n' "$DV_REGISTRY" | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'echo ok'
	assert_output ok
	"$DEVENV" destroy -f >/dev/null
	# smaller than a chunk, or DEVENV_PUSH_CHUNK_SIZE=0: one PUT, no PATCH
	export DEVENV_HOME=$DV_STORE
	traceproxy_start
	DEVENV_PUSH_CHUNK_SIZE=0 run "$DEVENV" push busybox "$TRACE/team/whole:1"
	assert_success
	DEVENV_PUSH_CHUNK_SIZE=2M run "$DEVENV" push busybox "$TRACE/team/whole2:1"
	traceproxy_stop
	assert_success
	run patches
	assert_output ''
}

@test "chunked push: a failed chunk is sent again, a lost session starts over, OCI-Chunk-Min-Length is obeyed" {
	# a 503 for chunk 2: the same range again, in the same session
	traceproxy_start fail=2
	DEVENV_PUSH_CHUNK_SIZE=256K run "$DEVENV" push busybox "$TRACE/team/c1:1"
	traceproxy_stop
	assert_success
	run patches
	assert_line --index 1 '262144-524287 503'
	assert_line --index 2 '262144-524287 202'
	# half of chunk 2 reaches the registry, then the link breaks: the
	# chunk sent again is refused (docker-registry: 404
	# BLOB_UPLOAD_INVALID), and the upload starts over from byte 0
	traceproxy_start partial=2
	DEVENV_PUSH_CHUNK_SIZE=256K run "$DEVENV" push busybox "$TRACE/team/c2:1"
	traceproxy_stop
	assert_success
	run patches
	assert_line --index 1 '262144-524287 503'
	assert_line --index 2 '262144-524287 404'
	assert_line --index 3 '0-262143 202'
	run grep -c '^POST /v2/team/c2/blobs/uploads/ - 202$' "$TRACE_LOG"
	assert_output 3 # the layer twice, the config
	run skopeo_ inspect --tls-verify=false --authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/c2:1"
	assert_success
	# a 416 (the spec's answer to a chunk out of order): starts over too
	traceproxy_start stale=3
	DEVENV_PUSH_CHUNK_SIZE=256K run "$DEVENV" push busybox "$TRACE/team/c3:1"
	traceproxy_stop
	assert_success
	run patches
	assert_line --index 2 '524288-786431 416'
	assert_line --index 3 '0-262143 202'
	# twice lost: one clear line, nothing tagged
	traceproxy_start stale=1 partial=3
	DEVENV_PUSH_CHUNK_SIZE=256K run "$DEVENV" push busybox "$TRACE/team/c4:1"
	traceproxy_stop
	assert_failure 1
	assert_output --regexp "^devenv: layer 1/1: registry '$TRACE' lost track of the upload of blob sha256:[0-9a-f]{12}\.\.\. twice \(at bytes 262144-524287\)$"
	run skopeo_ inspect --tls-verify=false --authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/c4:1"
	assert_failure
	# the registry asks for chunks of at least 400000 bytes
	traceproxy_start min=400000
	DEVENV_PUSH_CHUNK_SIZE=256K run "$DEVENV" push busybox "$TRACE/team/c5:1"
	traceproxy_stop
	assert_success
	run patches
	assert_line --index 0 '0-399999 202'
	assert_line --index 1 '400000-799999 202'
}

# oci_blob DIGEST: its file in the test's OCI layout (skopeo's copy).
oci_blob() { printf '%s/layout/blobs/sha256/%s' "$BATS_TEST_TMPDIR" "${1#sha256:}"; }

@test "streamed push: a gzip layer goes in one chunked PATCH as it is compressed, intact; a registry that refuses streams gets the file" {
	traceproxy_start
	run "$DEVENV" push busybox "$TRACE/team/stream:1"
	traceproxy_stop
	assert_success
	assert_line --index 0 --regexp '^layer 1/1 sha256:[0-9a-f]{12} pushed$'
	# POST, one PATCH streamed while pgzip wrote it, the PUT with the digest
	run patches
	assert_output 'chunked 202'
	run grep -c '^PUT /v2/team/stream/blobs/uploads/.* - 201$' "$TRACE_LOG"
	assert_output 2 # the layer's digest, and the config in one PUT
	# the blob is whole: skopeo checks its digest; another store pulls it,
	# checking its digest and the diff_id of what it unpacks to
	run skopeo_ copy -q --src-tls-verify=false --src-authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/stream:1" "oci:$BATS_TEST_TMPDIR/layout:x"
	assert_success
	DEVENV_HOME=$BATS_TEST_TMPDIR/other-store run "$DEVENV" pull "$DV_REGISTRY/team/stream:1"
	assert_success
	local m
	m=$(oci_blob "$(jq -r '.manifests[0].digest' "$BATS_TEST_TMPDIR/layout/index.json")")
	[[ $(jq -r '.rootfs.diff_ids[0]' "$(oci_blob "$(jq -r .config.digest "$m")")") == \
		"sha256:$(gzip -dc "$(oci_blob "$(jq -r '.layers[0].digest' "$m")")" | sha256sum | cut -d' ' -f1)" ]]
	# a registry that refuses the stream: the kept file goes in one PUT
	traceproxy_start nostream=1
	run "$DEVENV" push busybox "$TRACE/team/nostream:1"
	traceproxy_stop
	assert_success
	assert_line --index 0 --regexp '^layer 1/1 sha256:[0-9a-f]{12} pushed$'
	run patches
	assert_output 'chunked 400'
	run grep -c '^PUT /v2/team/nostream/blobs/uploads/.* - 201$' "$TRACE_LOG"
	assert_output 2
	DEVENV_HOME=$BATS_TEST_TMPDIR/other-store2 run "$DEVENV" pull "$DV_REGISTRY/team/nostream:1"
	assert_success
}

@test "push: a bad DEVENV_PUSH_CHUNK_SIZE is one clear line, before anything is sent" {
	for v in abc 1T 1024G -5 12Q 99999999999G 18014398509481985k; do
		DEVENV_PUSH_CHUNK_SIZE=$v run "$DEVENV" push busybox "$DV_REGISTRY/team/bad:1"
		assert_failure 1
		assert_output "devenv: invalid DEVENV_PUSH_CHUNK_SIZE '$v': give bytes, optionally with K, M or G, or 0 to send each blob in one request"
	done
	run ls "$DV_STORE/tmp"
	assert_output ''
}

@test "push --compression zstd: tar+zstd layers, the same blob every time, kept apart from the gzip form; pulls back and runs" {
	run "$DEVENV" push --compression zstd busybox "$DV_REGISTRY/team/zst:1"
	assert_success
	assert_line --index 0 --regexp '^layer 1/1 sha256:[0-9a-f]{12} pushed$'
	zlayer=${lines[0]}
	digest=${lines[2]#* }
	run skopeo_ inspect --raw --tls-verify=false --authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/zst:1"
	assert_success
	assert_output --partial '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd"'
	# skopeo checks every digest
	run skopeo_ copy -q --src-tls-verify=false --src-authfile "$BATS_FILE_TMPDIR/auth.json" \
		"docker://$DV_REGISTRY/team/zst:1" "oci:$BATS_TEST_TMPDIR/layout:x"
	assert_success
	zhex=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' \
		"$BATS_TEST_TMPDIR/layout/blobs/sha256/${digest#sha256:}")
	run zstd -t "$BATS_TEST_TMPDIR/layout/blobs/sha256/$zhex"
	assert_success
	# the gzip push of the same layer is another blob, kept beside it
	run "$DEVENV" push busybox "$DV_REGISTRY/team/zst:gz"
	assert_success
	assert_line --index 0 --regexp '^layer 1/1 sha256:[0-9a-f]{12} pushed$'
	[[ ${lines[0]} != "$zlayer" ]]
	id=$(ls "$DV_STORE/layers")
	grep -q '"push":{"diff_id":"sha256:[0-9a-f]\{64\}","digest":"sha256:' "$DV_STORE/layers/$id/layer.json"
	grep -q "\"push_zstd\":{\"diff_id\":\"sha256:[0-9a-f]\{64\}\",\"digest\":\"sha256:$zhex\"" \
		"$DV_STORE/layers/$id/layer.json"
	# deterministic: forget the kept form, push to a new repository: the
	# layer is exported and compressed again, to the same bytes
	python3 -c 'import json,sys; o = json.load(open(sys.argv[1])); del o["push_zstd"]; json.dump(o, open(sys.argv[1], "w"))' \
		"$DV_STORE/layers/$id/layer.json"
	run "$DEVENV" push --compression zstd busybox "$DV_REGISTRY/team/zst2:1"
	assert_success
	assert_line --index 0 "$zlayer"
	assert_line --index 2 "$DV_REGISTRY/team/zst2:1 $digest"
	# each compression finds its own blob when pushed again
	run "$DEVENV" push --compression zstd busybox "$DV_REGISTRY/team/zst:1"
	assert_line --index 0 --regexp ' exists$'
	run "$DEVENV" push --compression gzip busybox "$DV_REGISTRY/team/zst:gz"
	assert_line --index 0 --regexp ' exists$'
	# another store pulls it and runs it
	export DEVENV_HOME=$BATS_TEST_TMPDIR/other-store
	run "$DEVENV" pull "$DV_REGISTRY/team/zst:1"
	assert_success
	printf 'image: %s/team/zst:1\n' "$DV_REGISTRY" | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'echo ok'
	assert_output ok
	"$DEVENV" destroy -f >/dev/null
}

@test "push --compression zstd: podman pulls and runs it" {
	dv_need_host_root "podman without root needs a set-up of its own"
	command -v podman >/dev/null || skip "podman is not installed"
	if [[ ! -e /sys/fs/cgroup/cgroup.controllers ]] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
		mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
	fi
	img=$DV_REGISTRY/team/zpod:1
	run "$DEVENV" push --compression zstd busybox "$img"
	assert_success
	run podman pull -q --tls-verify=false "$img"
	assert_success
	run podman run --rm --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 "$img" cat /etc/group
	podman rmi -f "$img" >/dev/null 2>&1 || true
	assert_success
	assert_line --index 0 'root:x:0:'
}

@test "push: a bad --compression is a usage error" {
	run "$DEVENV" push --compression xz busybox "$DV_REGISTRY/team/bad:1"
	assert_failure 2
	assert_output "devenv: unknown compression 'xz': use gzip or zstd"
	run "$DEVENV" push --compression
	assert_failure 2
	assert_output "devenv: option '--compression' needs a value; see 'devenv push --help'"
}

@test "push gzip: pigz's form (a sync point every 128 KiB), the same blob on one CPU or all, and any gunzip reads it" {
	run taskset -c 0 "$DEVENV" push busybox "$DV_REGISTRY/team/pg:1"
	assert_success
	layer=${lines[0]}
	digest=${lines[2]#* }
	id=$(ls "$DV_STORE/layers")
	diff=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["push"]["diff_id"][7:])' \
		"$DV_STORE/layers/$id/layer.json")
	hex=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["push"]["digest"][7:])' \
		"$DV_STORE/layers/$id/layer.json")
	blob=$DV_REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
	# gzip reads it back to the layer's tar (its diff_id), crc and size checked
	run gzip -t "$blob"
	assert_success
	[[ $(gzip -dc "$blob" | sha256sum) == "$diff  -" ]]
	# one gzip header without a timestamp; a deflate sync point (00 00 ff ff)
	# closes each 128 KiB block of the tar but the last
	run python3 - "$blob" <<-'PY'
	import gzip, sys
	b = open(sys.argv[1], "rb").read()
	assert b[:4] == b"\x1f\x8b\x08\x00" and b[4:8] == b"\0\0\0\0", b[:10]
	blocks = -(-len(gzip.decompress(b)) // 131072)
	assert blocks > 4, blocks
	assert b.count(b"\x00\x00\xff\xff") >= blocks - 1, (b.count(b"\x00\x00\xff\xff"), blocks)
	PY
	assert_success
	# forget the kept form: compressed again on every CPU, the same bytes
	python3 -c 'import json,sys; o = json.load(open(sys.argv[1])); del o["push"]; json.dump(o, open(sys.argv[1], "w"))' \
		"$DV_STORE/layers/$id/layer.json"
	run "$DEVENV" push busybox "$DV_REGISTRY/team/pg2:1"
	assert_success
	assert_line --index 0 "$layer"
	assert_line --index 2 "$DV_REGISTRY/team/pg2:1 $digest"
}

@test "push gzip of a Debian env: its layers compressed at once, every blob valid gzip; another store pulls it and it runs" {
	dv_debian_image
	cat >Envfile <<-'EOF2'
	image: debian:bookworm
	provision:
	  - run: echo one >/one
	  - run: seq 1 200000 >/seq
	EOF2
	run "$DEVENV" up -q
	assert_success
	run "$DEVENV" push "$DV_REGISTRY/team/deb:1"
	assert_success
	assert_output --regexp "pushed env '[^']+' \(2 steps\) as $DV_REGISTRY/team/deb:1@sha256:[0-9a-f]{64}"
	"$DEVENV" halt >/dev/null
	# every blob the registry got is one valid gzip stream (the config is JSON)
	n=0
	for b in "$DV_REGISTRY_STORAGE"/docker/registry/v2/blobs/sha256/*/*/data; do
		[[ $(head -c 2 "$b" | od -An -tx1 | tr -d ' ') == 1f8b ]] || continue
		run gzip -t "$b"
		assert_success
		n=$((n + 1))
	done
	((n >= 3))
	# another store (the env there is destroyed before this test's own)
	other=$BATS_TEST_TMPDIR/other-store
	DEVENV_HOME=$other run "$DEVENV" pull "$DV_REGISTRY/team/deb:1"
	assert_success
	mkdir "$BATS_TEST_TMPDIR/co2"
	printf 'image: %s/team/deb:1\n' "$DV_REGISTRY" >"$BATS_TEST_TMPDIR/co2/Envfile"
	cd "$BATS_TEST_TMPDIR/co2"
	DEVENV_HOME=$other run "$DEVENV" up -q
	assert_success
	DEVENV_HOME=$other run "$DEVENV" ssh -c 'cat /etc/debian_version >/dev/null && cat /one && wc -l </seq'
	DEVENV_HOME=$other "$DEVENV" destroy -f >/dev/null
	assert_success
	assert_output "one
200000"
}

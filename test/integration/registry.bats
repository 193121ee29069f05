#!/usr/bin/env bats
# devenv pull against a real OCI registry (Debian's docker-registry on
# loopback), images pushed by skopeo and by test/fixtures/registry.py.

load helpers

REGPY=$DV_ROOT/test/fixtures/registry.py

setup_file() {
	local tar layout
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	tar=$(busybox_tar)
	layout=$BATS_FILE_TMPDIR/layout
	python3 "$REGPY" layout "$layout" "$tar"
	# Its own policy and (empty) auth file: rootless, skopeo's defaults
	# under /run/containers are not ours to read.
	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$BATS_FILE_TMPDIR/policy.json"
	printf '{}\n' >"$BATS_FILE_TMPDIR/auth.json"
	skopeo --policy "$BATS_FILE_TMPDIR/policy.json" copy -q --dest-tls-verify=false \
		--dest-authfile "$BATS_FILE_TMPDIR/auth.json" \
		"oci:$layout:latest" "docker://$DV_REGISTRY/test/busybox:latest"
	# An index listing only arm64, and one listing arm64 and this machine's.
	python3 "$REGPY" push "$DV_REGISTRY" test/armonly latest "$tar" arm64 --index
	# A small image of its own, whose layer blob a test corrupts.
	mkdir -p "$BATS_FILE_TMPDIR/small/etc"
	echo hello >"$BATS_FILE_TMPDIR/small/etc/hello"
	tar -C "$BATS_FILE_TMPDIR/small" -cf "$BATS_FILE_TMPDIR/small.tar" etc
	python3 "$REGPY" push "$DV_REGISTRY" test/small latest "$BATS_FILE_TMPDIR/small.tar" amd64
	python3 "$REGPY" push "$DV_REGISTRY" test/indexed latest "$tar" amd64 --index
	# Where a Docker Hub mirror keeps library/busybox.
	python3 "$REGPY" push "$DV_REGISTRY" library/busybox latest "$tar" amd64
}

teardown_file() { dv_registry_stop; }

setup() { dv_setup; }
teardown() { dv_teardown; }

store_snapshot() {
	(cd "$DV_STORE" && find layers images cache blobs -print 2>/dev/null | sort)
}

@test "pull by tag, then up and ssh on the pulled image" {
	run "$DEVENV" pull "$DV_REGISTRY/test/busybox:latest"
	assert_success
	assert_output --regexp "^$DV_REGISTRY/test/busybox:latest sha256:[0-9a-f]{64}$"
	run "$DEVENV" images --json
	assert_success
	assert_output --partial "\"name\":\"$DV_REGISTRY/test/busybox:latest\""
	printf 'image: %s/test/busybox:latest\n' "$DV_REGISTRY" >Envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'echo ok'
	assert_success
	assert_output ok
}

@test "an Envfile image naming a registry is pulled by up" {
	printf 'image: %s/test/busybox\n' "$DV_REGISTRY" >Envfile
	run "$DEVENV" up
	assert_success
	assert_output --partial "is not in the store; pulling it"
	run "$DEVENV" ssh -c 'echo ok'
	assert_output ok
	run "$DEVENV" images --json
	assert_output --partial "\"name\":\"$DV_REGISTRY/test/busybox:latest\""
}

@test "pull by digest; rmi removes it" {
	digest=$(python3 "$REGPY" digest "$DV_REGISTRY" test/busybox latest)
	run "$DEVENV" pull "$DV_REGISTRY/test/busybox@$digest"
	assert_success
	assert_output --regexp "^$DV_REGISTRY/test/busybox@$digest sha256:[0-9a-f]{64}$"
	run "$DEVENV" images --json
	assert_output --partial "\"name\":\"$DV_REGISTRY/test/busybox@$digest\""
	run "$DEVENV" images
	assert_line --regexp "^$DV_REGISTRY/test/busybox +<none> +[0-9a-f]{12} "
	run "$DEVENV" rmi "$DV_REGISTRY/test/busybox@$digest"
	assert_success
	run "$DEVENV" images --json
	refute_output --partial "$DV_REGISTRY/test/busybox@"
	run "$DEVENV" rmi "$DV_REGISTRY/test/busybox@$digest"
	assert_failure 1
	assert_output "devenv: image '$DV_REGISTRY/test/busybox@$digest' not found; pull it with 'devenv pull $DV_REGISTRY/test/busybox@$digest'"
}

@test "pulled and imported, the same tar gives the same layer and image ids" {
	run "$DEVENV" pull "$DV_REGISTRY/test/busybox"
	assert_success
	pulled=${output##* }
	run "$DEVENV" image import "$(busybox_tar)" bb
	assert_success
	assert_output "localhost/bb:latest $pulled"
	[[ $(ls "$DV_STORE/layers" | wc -l) == 1 ]]
	[[ $(ls "$DV_STORE/layers") == "$(sha256sum "$(busybox_tar)" | cut -c1-64)" ]]
}

@test "an index picks this machine's platform" {
	run "$DEVENV" pull "$DV_REGISTRY/test/indexed"
	assert_success
	assert_output --regexp "^$DV_REGISTRY/test/indexed:latest sha256:[0-9a-f]{64}$"
}

@test "an unknown tag is one line, exit 1, and no new files" {
	run "$DEVENV" images
	before=$(store_snapshot)
	run "$DEVENV" pull "$DV_REGISTRY/test/busybox:nope"
	assert_failure 1
	assert_output "devenv: manifest of '$DV_REGISTRY/test/busybox:nope' not found in registry '$DV_REGISTRY': manifest unknown"
	run "$DEVENV" pull "$DV_REGISTRY/test/nosuchrepo"
	assert_failure 1
	assert_output --regexp "^devenv: manifest of '$DV_REGISTRY/test/nosuchrepo:latest' not found in registry '$DV_REGISTRY': .*unknown"
	[[ $(store_snapshot) == "$before" ]]
	ls -A "$DV_STORE/tmp" | { ! grep -q .; }
}

@test "an index for other platforms only names them" {
	run "$DEVENV" pull "$DV_REGISTRY/test/armonly"
	assert_failure 1
	assert_output --regexp "^devenv: no linux/[a-z0-9]+ image in '$DV_REGISTRY/test/armonly:latest'; it has: linux/arm64$"
}

@test "pull --platform picks another platform from an index, checks a plain manifest, and refuses a bad one" {
	run "$DEVENV" pull --platform linux/arm64 "$DV_REGISTRY/test/armonly"
	assert_success
	assert_output --regexp "^$DV_REGISTRY/test/armonly:latest sha256:[0-9a-f]{64}$"
	run "$DEVENV" image inspect "$DV_REGISTRY/test/armonly"
	assert_output --partial '"architecture":"arm64"'
	run "$DEVENV" pull --platform linux/s390x "$DV_REGISTRY/test/armonly"
	assert_failure 1
	assert_output "devenv: no linux/s390x image in '$DV_REGISTRY/test/armonly:latest'; it has: linux/arm64"
	run "$DEVENV" pull --platform linux/arm64/v8 "$DV_REGISTRY/test/armonly"
	assert_failure 1
	assert_output --partial "no linux/arm64/v8 image"
	# test/small is a plain amd64 manifest, no index
	run "$DEVENV" pull --platform linux/riscv64 "$DV_REGISTRY/test/small"
	assert_failure 1
	assert_output "devenv: '$DV_REGISTRY/test/small:latest' is a linux/amd64 image, not linux/riscv64"
	for bad in arm64 linux/ linux//arm64 LINUX/arm64 a/b/c/d; do
		run "$DEVENV" pull --platform "$bad" "$DV_REGISTRY/test/armonly"
		assert_failure 2
		assert_output "devenv: invalid platform '$bad': write it as OS/ARCH[/VARIANT], such as linux/arm64"
	done
}

@test "a blob that does not match its digest: one line, store unchanged" {
	hex=$(python3 "$REGPY" blob "$DV_REGISTRY" test/small latest)
	data=$DV_REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
	[[ -f $data ]]
	cp "$data" "$BATS_TEST_TMPDIR/good"
	# Same size, one byte changed.
	python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-1] ^= 0xff; open(p, "wb").write(b)' "$data"
	run "$DEVENV" images
	before=$(store_snapshot)
	run "$DEVENV" pull "$DV_REGISTRY/test/small"
	cp "$BATS_TEST_TMPDIR/good" "$data"
	assert_failure 1
	assert_output --regexp "^devenv: digest mismatch: registry '$DV_REGISTRY' sent sha256:[0-9a-f]{12}\.\.\. for blob sha256:${hex:0:12}\.\.\. of '$DV_REGISTRY/test/small:latest'$"
	[[ $(store_snapshot) == "$before" ]]
	ls -A "$DV_STORE/tmp" | { ! grep -q .; }
	run "$DEVENV" pull "$DV_REGISTRY/test/small"
	assert_success
}

@test "plain http only for loopback names and DEVENV_INSECURE_REGISTRIES" {
	# 127.0.0.2 is loopback too, but devenv only trusts the usual names:
	# a second registry there, on the same storage, is asked over https.
	local first=$DV_REGISTRY
	dv_registry_start "$BATS_TEST_TMPDIR/reg2" 127.0.0.2 "$DV_REGISTRY_STORAGE"
	run env DEVENV_INSECURE_REGISTRIES= "$DEVENV" pull "$DV_REGISTRY/test/busybox"
	status_https=$status output_https=$output
	run env DEVENV_INSECURE_REGISTRIES="other:1, $DV_REGISTRY" "$DEVENV" pull "$DV_REGISTRY/test/busybox"
	status_http=$status output_http=$output
	dv_registry_stop
	DV_REGISTRY=$first
	[[ $status_https == 1 ]]
	[[ $output_https == "devenv: cannot reach registry '127.0.0.2:"*"': "* ]]
	[[ $status_http == 0 ]]
	run "$DEVENV" pull "Bad.Host/x"
	assert_failure 2
	assert_output "devenv: invalid image name 'Bad.Host/x': bad registry host 'Bad.Host'"
}

@test "bearer tokens; docker config credentials; 401 and 403 name the registry's message" {
	authproxy_start
	run "$DEVENV" pull "$PROXY/test/busybox"
	s1=$status o1=$output
	run "$DEVENV" pull "$PROXY/test/private"
	s2=$status o2=$output
	mkdir -p "$BATS_TEST_TMPDIR/docker"
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$PROXY" "$(printf user:pass | base64)" \
		>"$BATS_TEST_TMPDIR/docker/config.json"
	run env DOCKER_CONFIG="$BATS_TEST_TMPDIR/docker" "$DEVENV" pull "$PROXY/test/private"
	s3=$status o3=$output
	run "$DEVENV" pull "$PROXY/test/denied"
	s4=$status o4=$output
	authproxy_stop
	[[ $s1 == 0 && $o1 == "$PROXY/test/busybox:latest sha256:"* ]]
	[[ $s2 == 1 ]]
	[[ $o2 == "devenv: registry '$PROXY' refused a token for '$PROXY/test/private:latest' (HTTP 401): incorrect username or password; no credentials for it here: 'devenv login' to it first" ]]
	[[ $s3 == 0 && $o3 == "$PROXY/test/private:latest sha256:"* ]]
	[[ $s4 == 1 ]]
	[[ $o4 == "devenv: registry '$PROXY' denied access to '$PROXY/test/denied:latest' (HTTP 403): requested access to the resource is denied" ]]
}

@test "an unknown manifest media type, and a digest that is not sha256:<64 hex>, are one line" {
	authproxy_start
	run "$DEVENV" images
	before=$(store_snapshot)
	run "$DEVENV" pull "$PROXY/test/schema1"
	s1=$status o1=$output
	run "$DEVENV" pull "$PROXY/test/baddigest"
	s2=$status o2=$output
	authproxy_stop
	[[ $s1 == 1 ]]
	[[ $o1 == "devenv: unsupported manifest media type 'application/vnd.docker.distribution.manifest.v1+prettyjws' for '$PROXY/test/schema1:latest'" ]]
	[[ $s2 == 1 ]]
	[[ $o2 == "devenv: the manifest of '$PROXY/test/baddigest:latest' names an invalid layer digest" ]]
	[[ $(store_snapshot) == "$before" ]]
}

@test "a 503 is retried" {
	authproxy_start
	run "$DEVENV" pull "$PROXY/test/flaky"
	authproxy_stop
	assert_success
	assert_output --regexp "^$PROXY/test/flaky:latest sha256:[0-9a-f]{64}$"
}

@test "DEVENV_REGISTRY_MIRROR serves docker.io's images; nothing asks Docker Hub" {
	run env DEVENV_REGISTRY_MIRROR="$DV_REGISTRY" "$DEVENV" pull docker.io/library/busybox:latest
	assert_success
	assert_output --regexp '^docker.io/library/busybox:latest sha256:[0-9a-f]{64}$'
	# as a URL too
	run env DEVENV_REGISTRY_MIRROR="http://$DV_REGISTRY/" "$DEVENV" pull docker.io/library/busybox
	assert_success
	# without the mirror it would be Docker Hub, which this machine cannot reach
	run env DEVENV_REGISTRY_MIRROR="127.0.0.1:1" "$DEVENV" pull docker.io/library/busybox:latest
	assert_failure
	assert_output --partial "127.0.0.1:1"
}

#!/usr/bin/env bats
# Short image names as Docker reads them (README "Images and registries"):
# `image: postgres:15`, a service's as the env's, is the store's own
# `postgres:15` when there is one (imported, loaded, committed), else
# docker.io/library/postgres:15, pulled through DEVENV_REGISTRY_MIRROR when
# set. Here the mirror is a real registry on loopback (Debian's
# docker-registry) holding library/postgres:15 and library/busybox (the
# busybox tar stands in for both); Docker Hub itself is never asked.
# `debian:SUITE` keeps its meaning: built from the Debian mirror.

load helpers
bats_require_minimum_version 1.5.0

REGPY=$DV_ROOT/test/fixtures/registry.py

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	python3 "$REGPY" push "$DV_REGISTRY" library/postgres 15 "$(busybox_tar)" amd64
	python3 "$REGPY" push "$DV_REGISTRY" library/busybox latest "$(busybox_tar)" amd64
	python3 "$REGPY" push "$DV_REGISTRY" library/debian bookworm "$(busybox_tar)" amd64
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	export DEVENV_REGISTRY_MIRROR=$DV_REGISTRY
}
teardown() { dv_teardown; }

@test "a service's short name is pulled as docker.io/library/NAME:TAG through the mirror" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: postgres:15
	    command: exec sleep 1000
	EOF
	run "$DEVENV" up
	assert_success
	assert_line "devenv: image 'postgres:15' is not in the store; pulling docker.io/library/postgres:15 through the mirror $DV_REGISTRY"
	assert_line "service 'db' started (image docker.io/library/postgres:15)"
	run "$DEVENV" images
	assert_line --regexp '^docker.io/library/postgres +15 '
	# Pulled once: the next up finds it under its full name, with no mirror.
	"$DEVENV" halt
	DEVENV_REGISTRY_MIRROR=127.0.0.1:1 run "$DEVENV" up
	assert_success
	refute_output --partial pulling
	assert_line "service 'db' started (image docker.io/library/postgres:15)"
}

@test "a short name the store has is used as it is: local first, nothing is pulled" {
	dv_busybox_image
	dv_busybox_image postgres:15
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: postgres:15
	    command: exec sleep 1000
	EOF
	DEVENV_REGISTRY_MIRROR=127.0.0.1:1 run "$DEVENV" up
	assert_success
	refute_output --partial pulling
	assert_line "service 'db' started (image localhost/postgres:15)"
}

@test "the env's own short image: is pulled the same way" {
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	run "$DEVENV" up
	assert_success
	assert_line "devenv: image 'busybox' is not in the store; pulling docker.io/library/busybox:latest through the mirror $DV_REGISTRY"
	run "$DEVENV" status --json
	[[ $(dv_json image <<<"$output") == docker.io/library/busybox:latest ]]
	run "$DEVENV" ssh -c 'echo ok'
	assert_output ok
}

@test "a short name no registry has is one line naming what was tried; nothing runs" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: no-such-image:1
	EOF
	run "$DEVENV" up
	assert_failure 1
	assert_line "devenv: image 'no-such-image:1' is not in the store; pulling docker.io/library/no-such-image:1 through the mirror $DV_REGISTRY"
	assert_line --regexp "^devenv: Envfile:3:3: service 'db': image 'no-such-image:1' is not in the store and cannot be pulled as docker.io/library/no-such-image:1 \(.*\); import one with 'devenv image import FILE no-such-image:1' or pull it$"
	[[ ${#lines[@]} -eq 2 ]]
	[[ -z $(dv_procs_in_store "$DV_STORE") ]]
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") == "not created" ]]
}

@test "debian:SUITE keeps its meaning: built from the Debian mirror, never pulled from Docker Hub's" {
	dv_envfile <<-'EOF'
	image: debian:bookworm
	EOF
	# Neither mmdebstrap nor debootstrap on PATH: the bootstrap fails at
	# once, and nothing was taken from the registry mirror's library/debian.
	PATH=/nonexistent run "$DEVENV" up
	assert_failure
	assert_output --partial "neither mmdebstrap nor debootstrap"
	assert_output --partial "image 'debian:bookworm' is not in the store; building it from the Debian mirror (once)"
	refute_output --partial "docker.io/library/debian"
	run "$DEVENV" images
	refute_output --partial debian
}

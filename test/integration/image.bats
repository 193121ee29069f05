#!/usr/bin/env bats
# image import / images / rmi through the CLI, hostile tarballs included.

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }

store_snapshot() {
	(cd "$DV_STORE" && find layers images cache -print 2>/dev/null | sort)
}

@test "import gives the same ids for plain, gzip and zstd, and in another store" {
	tar=$(busybox_tar)
	run "$DEVENV" image import "$tar" busybox
	assert_success
	assert_output --regexp "^localhost/busybox:latest sha256:[0-9a-f]{64}$"
	id=${output##* }
	gzip -c "$tar" >"$BATS_TEST_TMPDIR/bb.tar.gz"
	zstd -q -c "$tar" >"$BATS_TEST_TMPDIR/bb.tar.zst"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/bb.tar.gz" bb:gz
	assert_output "localhost/bb:gz $id"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/bb.tar.zst" bb:zst
	assert_output "localhost/bb:zst $id"
	run env DEVENV_HOME="$BATS_TEST_TMPDIR/other" "$DEVENV" image import "$tar" busybox
	assert_output "localhost/busybox:latest $id"
	dv_rm_store "$BATS_TEST_TMPDIR/other"
	run "$DEVENV" images
	assert_success
	# as `docker images` shows them: REPOSITORY TAG IMAGE ID CREATED SIZE
	assert_line --index 0 --regexp '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$'
	assert_line --regexp "^localhost/bb +gz +${id:7:12} +[0-9]+s ago +2\.0 MiB$"
	assert_line --regexp "^localhost/busybox +latest +${id:7:12} "
	[[ $(ls "$DV_STORE/layers" | wc -l) == 1 ]]
}

@test "rmi refuses an image an env uses, then removes it" {
	dv_busybox_image
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up
	run "$DEVENV" rmi busybox
	assert_failure 1
	assert_output --regexp "^devenv: image 'localhost/busybox:latest' is used by env 'proj' \([0-9a-f]{12}\); destroy it first$"
	"$DEVENV" destroy -f
	run "$DEVENV" rmi busybox
	assert_success
	run "$DEVENV" images --json
	assert_output "[]"
	run "$DEVENV" rmi busybox
	assert_failure 1
}

@test "import rejects entries that would land outside the root and leaves the store unchanged" {
	dv_busybox_image
	before=$(store_snapshot)
	printf 'dir etc\nfile ../../etc/evil\n' | mktar "$BATS_TEST_TMPDIR/dotdot.tar"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/dotdot.tar" evil
	assert_failure
	assert_output --partial "../../etc/evil"
	printf 'file /etc/evil\n' | mktar "$BATS_TEST_TMPDIR/abs.tar"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/abs.tar" evil
	assert_failure
	assert_output --partial "/etc/evil"
	printf 'sym a /tmp\nfile a/evil\n' | mktar "$BATS_TEST_TMPDIR/sym.tar"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/sym.tar" evil
	assert_failure
	assert_output --partial "symlink"
	printf 'link h ../../../etc/passwd\n' | mktar "$BATS_TEST_TMPDIR/hard.tar"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/hard.tar" evil
	assert_failure
	[[ $(store_snapshot) == "$before" ]]
	[[ ! -e /tmp/evil && ! -e /etc/evil ]]
	[[ -z $(ls -A "$DV_STORE/tmp") ]]
}

@test "import skips device nodes and says how many" {
	printf 'dir dev\nchr dev/null\nchr dev/zero\nfile etc-file\n' | mktar "$BATS_TEST_TMPDIR/dev.tar"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/dev.tar" devs
	assert_success
	assert_line "skipped 2 device nodes (the runtime provides /dev)"
}

@test "import of a missing file or a bad name is one clear line" {
	run "$DEVENV" image import /no/such.tar x
	assert_failure
	[[ ${#lines[@]} == 1 ]]
	assert_output --partial "/no/such.tar"
	run "$DEVENV" image import "$(busybox_tar)" 'Bad Name'
	assert_failure 2
	[[ ${#lines[@]} == 1 ]]
}

@test "a layer that unpacks past DEVENV_MAX_LAYER_SIZE (a gzip bomb) is refused, the store unchanged" {
	mkdir "$BATS_TEST_TMPDIR/src"
	dd if=/dev/zero of="$BATS_TEST_TMPDIR/src/zeros" bs=1M count=64 2>/dev/null
	tar -C "$BATS_TEST_TMPDIR/src" -czf "$BATS_TEST_TMPDIR/bomb.tgz" zeros
	# 64 MiB of zeros in about 64 KiB
	(($(stat -c %s "$BATS_TEST_TMPDIR/bomb.tgz") < 1000000))
	DEVENV_MAX_LAYER_SIZE=16m run "$DEVENV" image import "$BATS_TEST_TMPDIR/bomb.tgz" bomb
	assert_failure 1
	assert_output "devenv: '$BATS_TEST_TMPDIR/bomb.tgz' unpacks to more than 16.0 MiB: refused (DEVENV_MAX_LAYER_SIZE sets the limit)"
	[[ -z $(ls "$DV_STORE/layers") && -z $(ls "$DV_STORE/tmp") ]]
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/bomb.tgz" bomb
	assert_success
}

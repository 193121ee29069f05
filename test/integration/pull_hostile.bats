#!/usr/bin/env bats
# Hostile layers from a registry (issue 4, item 6): a layer tar whose
# entries would land outside the root is refused with one line and the store
# left as it was; device nodes in a layer are not made (the runtime provides
# /dev). Against a real registry (Debian's docker-registry on loopback).

load helpers

REGPY=$DV_ROOT/test/fixtures/registry.py

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	cd "$BATS_FILE_TMPDIR" || return 1
	printf 'dir etc\nfile ../../etc/evil\n' | mktar dotdot.tar
	printf 'dir etc\nfile /etc/evil\n' | mktar abs.tar
	printf 'sym a /tmp\nfile a/evil\n' | mktar sym.tar
	printf 'link h ../../../etc/passwd\n' | mktar hard.tar
	printf 'dir dev\nchr dev/null\nchr dev/zero\nfile etc-file\n' | mktar dev.tar
	arch=$(uname -m)
	[[ $arch == x86_64 ]] && arch=amd64
	[[ $arch == aarch64 ]] && arch=arm64
	for t in dotdot abs sym hard dev; do
		python3 "$REGPY" push "$DV_REGISTRY" hostile/$t latest "$t.tar" "$arch" || return 1
	done
}

teardown_file() { dv_registry_stop; }

setup() { dv_setup; }
teardown() { dv_teardown; }

store_snapshot() {
	(cd "$DV_STORE" && find layers images cache -print 2>/dev/null | sort)
}

@test "a pulled layer that would write outside the root: one line, store unchanged" {
	run "$DEVENV" images
	before=$(store_snapshot)
	for t in dotdot abs sym hard; do
		run "$DEVENV" pull "$DV_REGISTRY/hostile/$t"
		assert_failure 1
		[[ ${#lines[@]} -eq 1 ]]
		assert_output --regexp "^devenv: .*(\.\./\.\./etc/evil|/etc/evil|symlink|\.\./\.\./\.\./etc/passwd|outside)"
		[[ $(store_snapshot) == "$before" ]]
		[[ -z $(ls -A "$DV_STORE/tmp") ]]
	done
	[[ ! -e /tmp/evil && ! -e /etc/evil ]]
}

@test "a pulled layer's device nodes are not made" {
	run "$DEVENV" pull "$DV_REGISTRY/hostile/dev"
	assert_success
	id=$(ls "$DV_STORE/layers")
	[[ -f $DV_STORE/layers/$id/diff/etc-file ]]
	[[ -d $DV_STORE/layers/$id/diff/dev ]]
	[[ -z $(ls -A "$DV_STORE/layers/$id/diff/dev") ]]
}

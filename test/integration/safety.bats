#!/usr/bin/env bats
# Nothing of the user's is ever lost; bad input is one clear line.

load helpers

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

checkout_digest() {
	(cd "$DV_CHECKOUT" && find . -path ./.git -prune -o -print0 | sort -z |
		xargs -0 stat -c '%n %a %s %Y' && find . -path ./.git -prune -o -type f -print0 | sort -z | xargs -0 sha256sum)
}

@test "destroy leaves the checkout byte-identical, even with hostile symlinks inside the env" {
	mkdir -p data
	echo precious >data/keep.txt
	outside=$BATS_TEST_TMPDIR/outside
	mkdir -p "$outside"
	echo host >"$outside/host.txt"
	printf 'image: busybox\n' >Envfile
	"$DEVENV" lock >/dev/null # the one file devenv writes in a checkout, before the digest
	before=$(checkout_digest)
	"$DEVENV" up
	"$DEVENV" ssh -c "ln -s /workspace /root/ws; ln -s / /root/root; ln -s $outside /root/outside; mkdir -p /var/x; ln -s /workspace/data /var/x/d"
	# the same links planted in the env's upper folder point at host paths
	id=$("$DEVENV" status --json | dv_json id)
	ln -s "$DV_CHECKOUT" "$DV_STORE/envs/$id/upper/checkout-link"
	ln -s "$outside" "$DV_STORE/envs/$id/upper/outside-link"
	run "$DEVENV" destroy -f
	assert_success
	[[ $(checkout_digest) == "$before" ]]
	[[ $(cat "$outside/host.txt") == host ]]
	[[ ! -e $DV_STORE/envs/$id ]]
}

@test "destroy refuses to cross a mount left under the env and removes nothing" {
	dv_need_host_root "mounts a folder on the host"
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up
	id=$("$DEVENV" status --json | dv_json id)
	"$DEVENV" halt
	mkdir -p "$DV_STORE/envs/$id/upper/mnt"
	mount --bind "$DV_CHECKOUT" "$DV_STORE/envs/$id/upper/mnt"
	run "$DEVENV" destroy -f
	umount "$DV_STORE/envs/$id/upper/mnt"
	assert_failure 1
	assert_output --partial "is a mount point; unmount it first"
	[[ -f Envfile ]]
	[[ -d $DV_STORE/envs/$id/upper ]]
	run "$DEVENV" destroy -f
	assert_success
}

@test "destroy without -f and without a terminal asks for -f" {
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up
	run "$DEVENV" destroy </dev/null
	assert_failure 2
	assert_output "devenv: 'devenv destroy' asks before removing env 'proj'; pass -f to skip the question"
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") == running ]]
}

@test "a bad Envfile is one line with its position, exit 2, and nothing is created" {
	printf 'image: busybox\nprovison:\n  - run: true\n' >Envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:2:1: unknown key 'provison' (did you mean 'provision'?)"
	[[ -z $(ls -A "$DV_STORE/envs") ]]
	[[ -z $(ls -A "$DV_STORE/cache") ]]
}

@test "a copy of a path outside the checkout is refused" {
	echo secret >../outside.txt
	ln -s ../outside.txt sneaky
	printf 'image: busybox\nprovision:\n  - copy: ../outside.txt\n    to: /p\n' >Envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:3:11: 'copy' path '../outside.txt' is outside the checkout; only files of the checkout can be copied"
	printf 'image: busybox\nprovision:\n  - copy: sneaky\n    to: /p\n' >Envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:3:11: 'copy' path 'sneaky' is outside the checkout; only files of the checkout can be copied"
	[[ -z $(ls -A "$DV_STORE/envs") ]]
}

@test "up looks for the Envfile in parent folders up to the repository root" {
	printf 'image: busybox\n' >Envfile
	mkdir -p a/b
	cd a/b
	run "$DEVENV" up
	assert_success
	cd "$DV_CHECKOUT"
	mkdir -p nested && cd nested && git init -q
	run "$DEVENV" up
	assert_failure
	assert_output --partial "no Envfile in '$DV_CHECKOUT/nested'"
}

@test "an image whose proc is a symlink is refused" {
	root=$BATS_TEST_TMPDIR/evil
	mkdir -p "$root"
	tar -xf "$(busybox_tar)" -C "$root"
	rmdir "$root/proc"
	ln -s /bad "$root/proc"
	tar -C "$root" -cf "$BATS_TEST_TMPDIR/evil.tar" .
	"$DEVENV" image import "$BATS_TEST_TMPDIR/evil.tar" evil
	printf 'image: evil\n' >Envfile
	run "$DEVENV" up
	assert_failure
	assert_output --partial "'proc' must be a directory"
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") != running ]]
	# and the cgroups made for it (devenv/<store id>-<env id>) are gone again
	id=$(dv_json id <<<"$output")
	sid=$(cat "$DV_STORE/store-id")
	[[ -n $id && -n $sid ]]
	[[ -z $(find /sys/fs/cgroup -maxdepth 3 -name "$sid-$id" 2>/dev/null) ]]
}

@test "unknown commands and options are usage errors" {
	run "$DEVENV" frobnicate
	assert_failure 2
	assert_output "devenv: 'frobnicate' is not a devenv command; 'devenv help' lists them"
	run "$DEVENV" halt --frob
	assert_failure 2
	assert_output "devenv: 'devenv halt' has no option '--frob'; see 'devenv halt --help'"
	run "$DEVENV" halt --timeout x
	assert_failure 2
	assert_output "devenv: --timeout takes whole seconds from 0 to 3600, not 'x'"
	run "$DEVENV" up --help
	assert_success
	assert_line --partial "usage: devenv up"
}

#!/usr/bin/env bats
# A store whose disk fills up (issue 4, item 6): the store on a small
# tmpfs, a pull or a push that needs more than is left. One clear line that
# says so, exit 1, and the store as it was: no image record, no new layer,
# nothing left in tmp/.

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_need_host_root "mounting a tmpfs to fill needs root of the host"
	dv_setup
	SMALL=$BATS_TEST_TMPDIR/small
	mkdir -p "$SMALL"
	mount -t tmpfs -o size=8m,mode=0700 devenv-test-full "$SMALL"
}

teardown() {
	if [[ -n ${SMALL:-} ]] && mountpoint -q "$SMALL"; then
		umount "$SMALL" || umount -l "$SMALL"
	fi
	dv_teardown
}

# rootfs_tar DIR NAME: DIR/NAME.tar of what DIR/NAME holds.
rootfs_tar() {
	tar -C "$1/$2" --sort=name --owner=0 --group=0 -cf "$1/$2.tar" .
}

# the store's own state: image records, layers, tmp/ entries, one per line
store_state() {
	(cd "$1" && find images layers tmp -mindepth 1 -maxdepth 2 | sort)
}

@test "disk full: pull of an image bigger than the store's disk fails with one line, the store unchanged" {
	# a 12 MB layer of random bytes (its blob is 12 MB too) and a 20 MB
	# one of 'z's (a small blob that unpacks past the 8 MB; not zeros,
	# which an unpack writes as holes)
	mkdir -p "$BATS_TEST_TMPDIR/rand/opt" "$BATS_TEST_TMPDIR/zeros/opt"
	head -c 12M /dev/urandom >"$BATS_TEST_TMPDIR/rand/opt/random"
	head -c 20M /dev/zero | tr '\0' z >"$BATS_TEST_TMPDIR/zeros/opt/zeros"
	rootfs_tar "$BATS_TEST_TMPDIR" rand
	rootfs_tar "$BATS_TEST_TMPDIR" zeros
	dv_busybox_image
	"$DEVENV" image import "$BATS_TEST_TMPDIR/rand.tar" rand >/dev/null
	"$DEVENV" image import "$BATS_TEST_TMPDIR/zeros.tar" zeros >/dev/null
	"$DEVENV" push rand "$DV_REGISTRY/full/rand:1" >/dev/null
	"$DEVENV" push zeros "$DV_REGISTRY/full/zeros:1" >/dev/null
	"$DEVENV" push busybox "$DV_REGISTRY/full/bb:1" >/dev/null

	export DEVENV_HOME=$SMALL/store
	# something already there, which must stay
	run "$DEVENV" pull "$DV_REGISTRY/full/bb:1"
	assert_success
	before=$(store_state "$SMALL/store")
	[[ -n $before ]]
	# the layer does not fit (it streams into the extractor: no blob on disk)
	run "$DEVENV" pull "$DV_REGISTRY/full/rand:1"
	assert_failure 1
	assert_output --regexp "^devenv: the store '$SMALL/store' is full \\(layer sha256:[0-9a-f]{12} of '$DV_REGISTRY/full/rand:1': layer entry 'opt/random': cannot write it: No space left on device\\); 'devenv gc' frees what no env or image uses, or make room on its disk$"
	assert_equal "$(store_state "$SMALL/store")" "$before"
	# the download fits, what it unpacks to does not
	run "$DEVENV" pull "$DV_REGISTRY/full/zeros:1"
	assert_failure 1
	assert_output --regexp "^devenv: the store '$SMALL/store' is full \\(layer sha256:[0-9a-f]{12} of '$DV_REGISTRY/full/zeros:1': layer entry 'opt/zeros': cannot write it: No space left on device\\); 'devenv gc' frees what no env or image uses, or make room on its disk$"
	assert_equal "$(store_state "$SMALL/store")" "$before"
	# and the store still works
	run "$DEVENV" images
	assert_success
	assert_output --partial "$DV_REGISTRY/full/bb"
	refute_output --partial rand
	refute_output --partial zeros
}

@test "disk full: push whose compressed layer fills tmp/ fails with one line, tmp/ emptied" {
	export DEVENV_HOME=$SMALL/store
	# 3 MB of random bytes: the layer (3 of 8 MB) and its compressed form
	# (as big again) fit; the tar is never staged beside them
	mkdir -p "$BATS_TEST_TMPDIR/r3/opt" "$BATS_TEST_TMPDIR/r5/opt"
	head -c 3M /dev/urandom >"$BATS_TEST_TMPDIR/r3/opt/random"
	head -c 5M /dev/urandom >"$BATS_TEST_TMPDIR/r5/opt/random"
	rootfs_tar "$BATS_TEST_TMPDIR" r3
	rootfs_tar "$BATS_TEST_TMPDIR" r5
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/r3.tar" r3
	assert_success
	run "$DEVENV" push r3 "$DV_REGISTRY/full/r3:1"
	assert_success
	run ls -A "$SMALL/store/tmp"
	assert_output ''
	"$DEVENV" rmi r3 >/dev/null
	"$DEVENV" gc >/dev/null
	# 5 MB: the layer fits, its compressed form beside it does not
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/r5.tar" r5
	assert_success
	id=$(ls "$SMALL/store/layers")
	meta=$(cat "$SMALL/store/layers/$id/layer.json")
	for comp in gzip zstd; do
		run "$DEVENV" push --compression "$comp" r5 "$DV_REGISTRY/full/r5:1"
		assert_failure 1
		assert_output "devenv: the store '$SMALL/store' is full (cannot compress layer ${id:0:12}: cannot write 'the compressed layer': No space left on device); 'devenv gc' frees what no env or image uses, or make room on its disk"
		run ls -A "$SMALL/store/tmp"
		assert_output ''
	done
	# nothing recorded of a push that did not happen, nothing in the registry
	assert_equal "$(cat "$SMALL/store/layers/$id/layer.json")" "$meta"
	run curl -s -o /dev/null -w '%{http_code}' "http://$DV_REGISTRY/v2/full/r5/manifests/1"
	assert_output 404
}

@test "disk full: a team-cache layer that does not fit stops the up with one line" {
	dv_busybox_image
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: head -c 20000000 /dev/zero | tr '\0' z >/zeros
	EOF2
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$DV_REGISTRY/full/cache:1"
	assert_success
	"$DEVENV" halt >/dev/null
	DEVENV_HOME=$SMALL/store run "$DEVENV" up --cache-from "$DV_REGISTRY/full/cache:1"
	assert_failure
	assert_output --partial "pulling the one '$DV_REGISTRY/full/cache:1' was built on"
	assert_line --regexp "^devenv: the store '$SMALL/store' is full \\(.*No space left on device\\); 'devenv gc' frees what no env or image uses, or make room on its disk$"
	refute_output --partial "(pulled)"
	refute_output --partial "warning"
	[[ -z $(ls -A "$SMALL/store/tmp") ]]
	[[ -z $(find "$SMALL/store/envs" -mindepth 1 -type d) ]]
}

# Issue 12: a full store is a full store, whichever write finds it (here the
# seccomp filter an env's first container compiles, before any step; then a
# step's own writes), never "Envfile:3:5: seccomp profile 'default': ...".
@test "disk full: up on a full store says the store is full, not a seccomp error at a step" {
	export DEVENV_HOME=$SMALL/store
	dv_busybox_image
	head -c 20M /dev/zero >"$SMALL/fill" 2>/dev/null || true
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: echo a >/a
	EOF2
	run "$DEVENV" up
	assert_failure 1
	# (what noticed: the seccomp filter's file, or the store's id, which
	# the first build makes)
	assert_line --regexp "^devenv: the store '$SMALL/store' is full \\((seccomp profile 'default': writing '[0-9a-f]{64}\\.bpf'|cannot give the store an id): write: No space left on device\\); 'devenv gc' frees what no env or image uses, or make room on its disk$"
	refute_output --partial "Envfile:"
	# a step whose own writes fill it: its position, inside the same line
	rm "$SMALL/fill"
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: head -c 20000000 /dev/zero >/zeros
	EOF2
	run "$DEVENV" up
	assert_failure 1
	assert_line "devenv: the store '$SMALL/store' is full (Envfile:3:5: provisioning step 1 failed with exit status 1; nothing of step 1 was kept); 'devenv gc' frees what no env or image uses, or make room on its disk"
	# with room again, the store works
	printf 'image: busybox\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	"$DEVENV" destroy -f >/dev/null
	[[ -z $(ls -A "$SMALL/store/tmp") ]]
}

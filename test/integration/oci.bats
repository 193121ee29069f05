#!/usr/bin/env bats
# Images out of the store (README "Images"): `commit`, `tag`, and
# `image save` as an OCI layout archive, checked against skopeo and podman.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

# An env whose writable layer adds, changes, deletes and replaces a folder.
changed_env() {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: mkdir /prov && echo p > /prov/f && echo keep > /prov/keep
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'echo data > /data.txt && rm /etc/group && rm -rf /prov && mkdir /prov && echo q > /prov/g && ln -s /data.txt /link'
	assert_success
}

@test "commit: a new image with the env's changes, deletions included, that a new env starts from" {
	changed_env
	run "$DEVENV" commit snap:1
	assert_success
	assert_output --regexp '^localhost/snap:1 sha256:[0-9a-f]{64}$'
	run "$DEVENV" images
	assert_line --regexp '^localhost/snap +1 '
	# a second checkout on the committed image sees exactly the env's files
	mkdir "$BATS_TEST_TMPDIR/other" && cd "$BATS_TEST_TMPDIR/other" && git init -q
	printf 'image: snap:1\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /data.txt; ls /prov; readlink /link; ls /etc/group'
	assert_failure
	assert_output $'data\ng\n/data.txt\nls: /etc/group: No such file or directory'
	"$DEVENV" destroy -f >/dev/null
	cd "$DV_CHECKOUT"
	# the image an env uses cannot be removed; the committed one can
	run "$DEVENV" rmi snap:1
	assert_success
}

@test "commit of a halted env, of no env, and a bad name" {
	changed_env
	"$DEVENV" halt
	run "$DEVENV" commit halted
	assert_success
	assert_output --regexp '^localhost/halted:latest sha256:'
	run "$DEVENV" commit 'Bad Name'
	assert_failure 2
	mkdir "$BATS_TEST_TMPDIR/none" && cd "$BATS_TEST_TMPDIR/none"
	run "$DEVENV" commit x
	assert_failure
	assert_output --partial "no Envfile"
}

# provision of a halted env recreates it on its new layers: its writable
# layer is gone until the next up, and commit takes the layers as they are.
@test "commit after provision of a halted env: the new layers, no writable layer yet" {
	changed_env
	"$DEVENV" halt
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: mkdir /prov && echo p > /prov/f && echo keep > /prov/keep
	  - run: echo second > /second
	EOF
	run "$DEVENV" provision
	assert_success
	run "$DEVENV" commit afterprov
	assert_success
	assert_output --regexp '^localhost/afterprov:latest sha256:[0-9a-f]{64}$'
	mkdir "$BATS_TEST_TMPDIR/other" && cd "$BATS_TEST_TMPDIR/other" && git init -q
	printf 'image: afterprov\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /second /prov/keep; ls /data.txt'
	assert_failure
	assert_output $'second\nkeep\nls: /data.txt: No such file or directory'
	"$DEVENV" destroy -f >/dev/null
}

@test "tag: another name for the same image; removing one keeps the other" {
	run "$DEVENV" tag busybox tools/bb:v1
	assert_success
	id=$("$DEVENV" images --json | python3 -c 'import json,sys; print({i["name"]: i["id"] for i in json.load(sys.stdin)}["localhost/busybox:latest"])')
	assert_output "localhost/tools/bb:v1 $id"
	run "$DEVENV" rmi tools/bb:v1
	assert_success
	run "$DEVENV" images
	assert_line --regexp '^localhost/busybox +latest '
	refute_output --partial tools/bb
	run "$DEVENV" tag nosuch x
	assert_failure
}

@test "image save: an OCI archive, the same bytes each time, that skopeo copies and verifies" {
	changed_env
	"$DEVENV" commit snap:1 >/dev/null
	run "$DEVENV" image save snap:1 "$BATS_TEST_TMPDIR/a.tar"
	assert_success
	"$DEVENV" image save snap:1 "$BATS_TEST_TMPDIR/b.tar"
	cmp "$BATS_TEST_TMPDIR/a.tar" "$BATS_TEST_TMPDIR/b.tar"
	# skopeo checks every digest and size while copying
	run skopeo copy -q "oci-archive:$BATS_TEST_TMPDIR/a.tar" "oci:$BATS_TEST_TMPDIR/layout:snap"
	assert_success
	run skopeo inspect "oci-archive:$BATS_TEST_TMPDIR/a.tar"
	assert_success
	[[ $(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))' <<<"$output") == 3 ]]
	# the top layer holds the changes in OCI's form
	mkdir "$BATS_TEST_TMPDIR/x" && tar -xf "$BATS_TEST_TMPDIR/a.tar" -C "$BATS_TEST_TMPDIR/x"
	top=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["layers"][-1]["digest"][7:])' \
		"$BATS_TEST_TMPDIR/x/blobs/sha256/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' "$BATS_TEST_TMPDIR/x/index.json")")
	run tar -tf "$BATS_TEST_TMPDIR/x/blobs/sha256/$top"
	assert_output $'data.txt\netc/\netc/.wh.group\nlink\nprov/\nprov/.wh..wh..opq\nprov/g'
	# imported back, a layer's tar becomes a layer whose id is its digest
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/x/blobs/sha256/$top" back
	assert_success
	run cat "$DV_STORE/images/localhost/back/latest.json"
	assert_output --partial "\"$top\""
	run "$DEVENV" image save nosuch "$BATS_TEST_TMPDIR/c.tar"
	assert_failure
	[[ ! -e $BATS_TEST_TMPDIR/c.tar ]]
}

@test "image save: podman loads the archive and runs it" {
	dv_need_host_root "podman without root needs a set-up of its own"
	command -v podman >/dev/null || skip "podman is not installed"
	# crun refuses this machine's hybrid cgroup layout unless hugetlb is
	# mounted as v1 too (bench/run does the same)
	if [[ ! -e /sys/fs/cgroup/cgroup.controllers ]] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
		mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
	fi
	changed_env
	"$DEVENV" commit devenv-oci-test:1 >/dev/null
	"$DEVENV" image save devenv-oci-test:1 "$BATS_TEST_TMPDIR/a.tar"
	run podman load -q -i "$BATS_TEST_TMPDIR/a.tar"
	assert_success
	assert_output --partial "localhost/devenv-oci-test:1"
	run podman run --rm --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
		localhost/devenv-oci-test:1 sh -c 'cat /data.txt; ls /prov; ls /etc/group'
	podman rmi -f localhost/devenv-oci-test:1 >/dev/null 2>&1 || true
	assert_output $'data\ng\nls: /etc/group: No such file or directory'
}

@test "image load: what save wrote loads into another store as the same image; skopeo's gzip archive too" {
	changed_env
	"$DEVENV" commit snap:1 >/dev/null
	"$DEVENV" image save snap:1 "$BATS_TEST_TMPDIR/a.tar"
	export DEVENV_HOME=$BATS_TEST_TMPDIR/other-store
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/a.tar"
	assert_success
	assert_output --regexp '^localhost/snap:1 sha256:[0-9a-f]{64}$'
	id=${output##* }
	"$DEVENV" image save snap:1 "$BATS_TEST_TMPDIR/b.tar"
	cmp "$BATS_TEST_TMPDIR/a.tar" "$BATS_TEST_TMPDIR/b.tar"
	# an env on the loaded image has the committed files
	mkdir "$BATS_TEST_TMPDIR/co" && cd "$BATS_TEST_TMPDIR/co" && git init -q
	printf 'image: snap:1\n' | dv_envfile
	"$DEVENV" up >/dev/null
	run "$DEVENV" ssh -c 'cat /data.txt; ls /prov'
	assert_output $'data\ng'
	"$DEVENV" destroy -f >/dev/null
	# skopeo's layout with gzip layers, under another name
	skopeo copy -q --dest-compress "oci-archive:$BATS_TEST_TMPDIR/a.tar" "oci:$BATS_TEST_TMPDIR/lay:x"
	tar -C "$BATS_TEST_TMPDIR/lay" -cf "$BATS_TEST_TMPDIR/gz.tar" .
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/gz.tar" again:2
	assert_success
	assert_output "localhost/again:2 $id"
	dv_rm_store "$DEVENV_HOME"
	export DEVENV_HOME=$DV_STORE
}

@test "image load: a blob that does not match its digest, a bad digest, not an archive: one line, no image" {
	"$DEVENV" image save busybox "$BATS_TEST_TMPDIR/a.tar"
	mkdir "$BATS_TEST_TMPDIR/x" && tar -C "$BATS_TEST_TMPDIR/x" -xf "$BATS_TEST_TMPDIR/a.tar"
	big=$(ls -S "$BATS_TEST_TMPDIR/x/blobs/sha256" | head -1)
	export DEVENV_HOME=$BATS_TEST_TMPDIR/other-store
	# one flipped byte in the layer
	cp -a "$BATS_TEST_TMPDIR/x" "$BATS_TEST_TMPDIR/y"
	printf 'X' | dd of="$BATS_TEST_TMPDIR/y/blobs/sha256/$big" bs=1 seek=600 conv=notrunc 2>/dev/null
	tar -C "$BATS_TEST_TMPDIR/y" -cf "$BATS_TEST_TMPDIR/bad.tar" .
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/bad.tar" bad
	assert_failure 1
	assert_output --regexp "^devenv: blob sha256:${big:0:12} of the archive does not match its digest \(it hashes to sha256:[0-9a-f]{12}\)$"
	# a digest that would be a path (CVE-2024-3727)
	cp -a "$BATS_TEST_TMPDIR/x" "$BATS_TEST_TMPDIR/z"
	sed -i 's/"digest":"sha256:[0-9a-f]*"/"digest":"sha256:..\/..\/..\/etc\/passwd"/' "$BATS_TEST_TMPDIR/z/index.json"
	tar -C "$BATS_TEST_TMPDIR/z" -cf "$BATS_TEST_TMPDIR/evil.tar" .
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/evil.tar" evil
	assert_failure
	assert_output "devenv: the archive's index.json has a bad digest"
	run "$DEVENV" image load "$(busybox_tar)" notanarchive
	assert_failure
	assert_output --partial "is not an OCI image layout archive"
	run "$DEVENV" images --json
	assert_output "[]"
	dv_rm_store "$DEVENV_HOME"
	export DEVENV_HOME=$DV_STORE
}

@test "image inspect: the image as JSON, as docker image inspect gives it; an unknown one is an error" {
	run "$DEVENV" image inspect --json busybox
	assert_success
	python3 -c '
import json, sys
[i] = json.loads(sys.argv[1])
assert i["Name"] == "localhost/busybox:latest" and i["Repository"] == "localhost/busybox" and i["Tag"] == "latest"
assert i["Id"].startswith("sha256:") and len(i["Layers"]) == 1
assert i["Config"]["rootfs"]["diff_ids"] == ["sha256:" + i["Layers"][0]]
' "$output"
	run "$DEVENV" image inspect nosuch
	assert_failure 1
	assert_output --partial "image 'nosuch' not found"
}

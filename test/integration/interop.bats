#!/usr/bin/env bats
# Interoperability of what devenv pushes (issue 4, item 7): skopeo copies it
# from the registry (checking every digest) and umoci unpacks it into the
# same file tree as the env that was committed: files, folders, symlinks,
# modes, contents, and deletions and replaced folders (whiteouts, opaque
# folders) across layers.

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$BATS_FILE_TMPDIR/policy.json"
	printf '{}\n' >"$BATS_FILE_TMPDIR/auth.json"
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	dv_busybox_image
}
teardown() {
	[[ -z ${UNPACKED:-} ]] || dv_rm_store "$UNPACKED"
	dv_teardown
}

# tree_list: from stdin's `find` output, paths with the env's own mount
# points and the files devenv writes at start left out, sorted.
tree_list() {
	grep -Ev '^/(proc|sys|dev|workspace|run|tmp)(/|$)|^/etc/(hosts|hostname|resolv\.conf)$|^/?$' | LC_ALL=C sort
}

@test "devenv push -> skopeo copy -> umoci unpack: the same file tree as the env" {
	command -v umoci >/dev/null || skip "umoci is not installed (scripts/install-deps)"
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: mkdir -p /opt/a/b && echo one >/opt/a/b/f && ln -s b/f /opt/a/link && chmod 0750 /opt/a/b
	  - run: rm -rf /opt/a/b && mkdir /opt/a/b && echo two >/opt/a/b/g && rm /bin/vi
	EOF
	run "$DEVENV" up
	assert_success
	# Changes in the env's own layer too: a deletion and a new file.
	run "$DEVENV" ssh -c 'rm /opt/a/link && echo three >/opt/new && rm -rf /etc/network'
	assert_success
	run "$DEVENV" ssh -c 'find / -xdev'
	assert_success
	want=$(tree_list <<<"$output")
	run "$DEVENV" ssh -c 'cat /opt/a/b/g /opt/new; stat -c %a /opt/a/b'
	want_files=$output
	run "$DEVENV" commit snap:1
	assert_success
	run "$DEVENV" push snap:1 "$DV_REGISTRY/team/snap:1"
	assert_success

	layout=$BATS_TEST_TMPDIR/layout
	run skopeo --policy "$BATS_FILE_TMPDIR/policy.json" copy -q --src-tls-verify=false \
		--src-authfile "$BATS_FILE_TMPDIR/auth.json" "docker://$DV_REGISTRY/team/snap:1" "oci:$layout:x"
	assert_success
	UNPACKED=$(mktemp -d "$(dirname "$DV_STORE")/umoci.XXXXXX")
	rootless=()
	((EUID == 0)) || rootless=(--rootless)
	run umoci raw unpack "${rootless[@]}" --image "$layout:x" "$UNPACKED/rootfs"
	assert_success
	run bash -c 'cd "$1" && find . | sed "s|^\.||"' _ "$UNPACKED/rootfs"
	assert_success
	got=$(tree_list <<<"$output")
	diff <(echo "$want") <(echo "$got")
	[[ $want == *"/opt/a/b/g"* && $want != *"/opt/a/b/f"* && $want != *"/bin/vi"* ]]
	[[ $got != *"/etc/network"* && $got != *"/opt/a/link"* ]]
	run bash -c 'cd "$1" && cat opt/a/b/g opt/new && stat -c %a opt/a/b' _ "$UNPACKED/rootfs"
	assert_output "$want_files"
}

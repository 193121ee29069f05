#!/usr/bin/env bats
# Export that round-trips any file name (issue 13, README "Images"): an
# env's files named in bytes of no charset, Latin-1, UTF-8 (ca-certificates'
# NetLock name), 255-byte names, a 4000-byte path, long link targets, hard
# links, a sparse 128 MiB file (its holes go as zeros, OCI's layer spec
# says sparse entries SHOULD NOT be used, and are holes again when read),
# user.* attributes and a file capability
# (test/fixtures/mktree, run in the env), through commit -> push -> pull
# into a fresh store, image save -> image load, the team cache, and
# skopeo/podman reading what image save wrote. Trees are compared line for
# line by test/fixtures/treedigest.py (names, types, modes, owners, mtimes
# in ns, contents, link targets, attributes, hard-link groups, holes).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$BATS_FILE_TMPDIR/policy.json"
	printf '{}\n' >"$BATS_FILE_TMPDIR/auth.json"
}

teardown_file() { dv_registry_stop; }

setup() {
	[[ -x $DV_ROOT/test/fixtures/mktree ]] || fail "test/fixtures/mktree is missing: run make"
	dv_setup
	dv_busybox_image
	cp "$DV_ROOT/test/fixtures/mktree" .
}
teardown() {
	[[ -z ${STORE_B:-} ]] || dv_teardown_other "$STORE_B"
	dv_teardown
}

# dv_teardown_other STORE: destroy a second store's envs, then remove it.
dv_teardown_other() {
	local dir
	for dir in "$1"/envs/*/; do
		[[ -d $dir ]] && DEVENV_HOME=$1 "$DEVENV" destroy -f -e "$(basename "$dir")" >/dev/null
	done
	dv_rm_store "$1"
}

# A second, empty store on the same disk, as a teammate's machine.
store_b() {
	STORE_B=$(mktemp -d "$(dirname "$DV_STORE")/storeb.XXXXXX")
	export STORE_B
}

# tree DIR: treedigest's lines for DIR, as the store's owner sees them.
tree() {
	if ((DV_ROOTLESS)); then
		unshare --map-root-user --map-auto python3 "$DV_ROOT/test/fixtures/treedigest.py" "$1"
	else
		python3 "$DV_ROOT/test/fixtures/treedigest.py" "$1"
	fi
}

# layer_with STORE PATH: the diff folder of the store's layer holding PATH.
layer_with() {
	local d
	for d in "$1"/layers/*/diff; do
		[[ -e $d/$2 ]] && { printf '%s\n' "$d"; return 0; }
	done
	echo "no layer of $1 holds $2" >&2
	return 1
}

# fx_env: an env on busybox with the fixture tree at /fx, made in it.
fx_env() {
	printf 'image: busybox\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c "/workspace/mktree /fx"
	assert_success
	FX_UPPER=$(echo "$DV_STORE"/envs/*/upper/fx)
	[[ -d $FX_UPPER ]]
	tree "$FX_UPPER" >"$BATS_TEST_TMPDIR/src.tree"
	# what the fixture promises is in it
	grep -q "^b'caf\\\\xe9' " "$BATS_TEST_TMPDIR/src.tree"
	grep -q "^b'capped' .* xattrs:security.capability=0100000200040000" "$BATS_TEST_TMPDIR/src.tree"
	grep -q "^b'sparse' .* sparse:0-4096,67108864-67112960,134213632-134217728$" "$BATS_TEST_TMPDIR/src.tree"
}

# same_tree DIR: DIR's tree is the source's, line for line.
same_tree() {
	tree "$1" >"$BATS_TEST_TMPDIR/got.tree"
	run diff "$BATS_TEST_TMPDIR/src.tree" "$BATS_TEST_TMPDIR/got.tree"
	assert_success
	assert_output ""
	# the sparse file came back sparse (its zeros are holes): 128 MiB long,
	# 12 KiB on disk
	run du -k "$1/sparse"
	assert_output --regexp '^(12|16)[[:space:]]'
}

@test "export: commit, push, pull into a fresh store: every name, link, hole and attribute is back, byte for byte" {
	fx_env
	run "$DEVENV" commit fx:1
	assert_success
	run "$DEVENV" push fx:1 "$DV_REGISTRY/team/fx:1"
	assert_success
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" pull "$DV_REGISTRY/team/fx:1"
	assert_success
	same_tree "$(layer_with "$STORE_B" fx)/fx"
	# and it runs: the env's view of the names is the bytes
	cd "$BATS_TEST_TMPDIR" && mkdir b && cd b && git init -q
	printf 'image: %s/team/fx:1\n' "$DV_REGISTRY" | dv_envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /fx/caf*; readlink /fx/988a38cb.0; cat /fx/988a38cb.0'
	assert_success
	assert_output "latin-1
NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem
netlock"
}

@test "export: image save, image load into a fresh store: the same tree; skopeo verifies the archive and podman reads every name" {
	fx_env
	run "$DEVENV" commit fx:1
	assert_success
	run "$DEVENV" image save fx:1 "$BATS_TEST_TMPDIR/fx.tar"
	assert_success
	# no GNU sparse entry (OCI's layer spec: SHOULD NOT be used): the
	# holes are zeros in the tar, and holes of the archive file
	run grep -c GNU.sparse "$BATS_TEST_TMPDIR/fx.tar"
	assert_output 0
	(( $(stat -c %s "$BATS_TEST_TMPDIR/fx.tar") > 128 * 1024 * 1024 ))
	(( $(du -k "$BATS_TEST_TMPDIR/fx.tar" | cut -f1) < 8 * 1024 ))
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" image load "$BATS_TEST_TMPDIR/fx.tar"
	assert_success
	same_tree "$(layer_with "$STORE_B" fx)/fx"
	# skopeo checks every digest and size while copying
	run skopeo --policy "$BATS_FILE_TMPDIR/policy.json" copy -q \
		"oci-archive:$BATS_TEST_TMPDIR/fx.tar" "oci:$BATS_TEST_TMPDIR/layout:fx"
	assert_success
	# podman (Go's archive/tar, containers/storage) unpacks it: names,
	# link targets, hard links, modes, owners, contents and attributes
	# are ours; its sparse file is whole (it writes the zeros)
	dv_need_host_root "podman without root needs a set-up of its own"
	command -v podman >/dev/null || skip "podman is not installed"
	local p=(podman --root "$BATS_TEST_TMPDIR/podman/root" --runroot "$BATS_TEST_TMPDIR/podman/run"
		--storage-driver vfs)
	run "${p[@]}" load -q -i "$BATS_TEST_TMPDIR/fx.tar"
	assert_success
	run "${p[@]}" image mount localhost/fx:1
	assert_success
	mnt=$output
	tree "$mnt/fx" | sed 's/ sparse:.*//' >"$BATS_TEST_TMPDIR/podman.tree"
	"${p[@]}" image unmount -a >/dev/null
	"${p[@]}" rmi -a -f >/dev/null
	rm -rf "$BATS_TEST_TMPDIR/podman"
	run diff <(sed 's/ sparse:.*//' "$BATS_TEST_TMPDIR/src.tree") "$BATS_TEST_TMPDIR/podman.tree"
	assert_output ""
}

@test "export: the team cache carries the tree: push in a checkout, up in an empty store pulls the step, the same bytes" {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - copy: mktree
	    to: /usr/local/bin/mktree
	  - run: /usr/local/bin/mktree /fx
	EOF
	git add -A && git commit -qm fx
	run "$DEVENV" up
	assert_success
	tree "$(layer_with "$DV_STORE" fx)/fx" >"$BATS_TEST_TMPDIR/src.tree"
	grep -q "^b'sparse' .* sparse:0-4096,67108864-67112960,134213632-134217728$" "$BATS_TEST_TMPDIR/src.tree"
	run "$DEVENV" push "$DV_REGISTRY/team/fx-dev:cache"
	assert_success
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$DV_REGISTRY/team/fx-dev:cache"
	assert_success
	assert_line --regexp '^\[2/2\] run: /usr/local/bin/mktree .* \(pulled\)$'
	same_tree "$(layer_with "$STORE_B" fx)/fx"
}

# The issue's own case: every env with ca-certificates has
# etc/ssl/certs/988a38cb.0 -> NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem.
# Slow (apt-get, on the shared Debian base of helpers.bash): one test.
@test "export: a real Debian env with ca-certificates: commit, push, pull, image save and the team cache work" {
	dv_debian_image
	dv_envfile <<-'EOF'
	image: debian:bookworm
	provision:
	  - run: apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates
	EOF
	git add -A && git commit -qm deb
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'readlink /etc/ssl/certs/988a38cb.0'
	assert_output 'NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem'
	tree "$(layer_with "$DV_STORE" etc/ssl/certs/988a38cb.0)/etc/ssl" >"$BATS_TEST_TMPDIR/src.tree"
	# the team cache (push in a checkout), then commit and push
	run "$DEVENV" push "$DV_REGISTRY/team/deb-dev:cache"
	assert_success
	run "$DEVENV" commit deb:1
	assert_success
	run "$DEVENV" push deb:1 "$DV_REGISTRY/team/deb:1"
	assert_success
	run "$DEVENV" image save deb:1 "$BATS_TEST_TMPDIR/deb.tar"
	assert_success
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" pull "$DV_REGISTRY/team/deb:1"
	assert_success
	tree "$(layer_with "$STORE_B" etc/ssl/certs/988a38cb.0)/etc/ssl" >"$BATS_TEST_TMPDIR/got.tree"
	run diff "$BATS_TEST_TMPDIR/src.tree" "$BATS_TEST_TMPDIR/got.tree"
	assert_output ""
	# what image save wrote loads in a third store, and skopeo verifies it
	DEVENV_HOME=$STORE_B/c run "$DEVENV" image load "$BATS_TEST_TMPDIR/deb.tar" deb:2
	assert_success
	run skopeo --policy "$BATS_FILE_TMPDIR/policy.json" copy -q \
		"oci-archive:$BATS_TEST_TMPDIR/deb.tar" "oci:$BATS_TEST_TMPDIR/layout:deb"
	assert_success
	# the team cache: an empty store takes the step, runs nothing
	store_b2=$(mktemp -d "$(dirname "$DV_STORE")/storec.XXXXXX")
	DEVENV_HOME=$store_b2 run "$DEVENV" up --cache-from "$DV_REGISTRY/team/deb-dev:cache"
	DEVENV_HOME=$store_b2 "$DEVENV" destroy -f >/dev/null 2>&1
	dv_rm_store "$store_b2"
	assert_success
	assert_line --regexp '^\[1/1\] run: apt-get .* \(pulled\)$'
}

@test "image load: a docker-archive (podman save's default) loads, every name back" {
	dv_need_host_root "podman without root needs a set-up of its own"
	command -v podman >/dev/null || skip "podman is not installed"
	fx_env
	run "$DEVENV" commit fx:1
	assert_success
	"$DEVENV" image save fx:1 "$BATS_TEST_TMPDIR/fx.tar"
	local p=(podman --root "$BATS_TEST_TMPDIR/podman/root" --runroot "$BATS_TEST_TMPDIR/podman/run"
		--storage-driver vfs)
	"${p[@]}" load -q -i "$BATS_TEST_TMPDIR/fx.tar" >/dev/null
	run "${p[@]}" save -o "$BATS_TEST_TMPDIR/docker.tar" localhost/fx:1
	"${p[@]}" rmi -a -f >/dev/null
	rm -rf "$BATS_TEST_TMPDIR/podman"
	assert_success
	# podman's docker-archive: manifest.json, no index.json
	run tar -tf "$BATS_TEST_TMPDIR/docker.tar"
	assert_line manifest.json
	refute_line index.json
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" image load "$BATS_TEST_TMPDIR/docker.tar"
	assert_success
	# under the tag podman wrote; the id is the digest of podman's config
	assert_output --regexp '^localhost/fx:1 sha256:[0-9a-f]{64}$'
	id=${output##* }
	tar -xOf "$BATS_TEST_TMPDIR/docker.tar" "${id#sha256:}.json" | sha256sum | grep -q "^${id#sha256:} "
	same_tree "$(layer_with "$STORE_B" fx)/fx"
	DEVENV_HOME=$STORE_B run "$DEVENV" image load "$BATS_TEST_TMPDIR/docker.tar" other:2
	assert_success
	assert_output "localhost/other:2 $id"
}

# dockerarchive DIR MANIFEST: a docker-archive of busybox's layer and
# config as docker's legacy form names them, with MANIFEST (a JSON text
# where @CFG@ and @LAYER@ stand for their paths) as manifest.json.
dockerarchive() {
	local dir=$1 layer cfg hex
	mkdir -p "$dir/abc"
	cp "$(busybox_tar)" "$dir/abc/layer.tar"
	hex=$(sha256sum "$dir/abc/layer.tar" | cut -d' ' -f1)
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$hex" >"$dir/cfg"
	cfg=$(sha256sum "$dir/cfg" | cut -d' ' -f1)
	mv "$dir/cfg" "$dir/$cfg.json"
	printf '%s\n' "${2//@CFG@/$cfg.json}" | sed "s|@LAYER@|abc/layer.tar|g" >"$dir/manifest.json"
	tar -C "$dir" -cf "$dir.tar" .
	DA_CFG=$cfg
}

@test "image load: a hostile docker-archive (paths out of it, a config not its digest, a layer not its diff_id, bad JSON): one line, no image" {
	dockerarchive "$BATS_TEST_TMPDIR/ok" '[{"Config":"@CFG@","RepoTags":["bb:legacy"],"Layers":["@LAYER@"]}]'
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/ok.tar"
	assert_success
	assert_output "localhost/bb:legacy sha256:$DA_CFG"
	# a layer path out of the archive, absolute, or a missing one
	for path in ../../../../etc/passwd /etc/passwd nosuch.tar; do
		dockerarchive "$BATS_TEST_TMPDIR/p$RANDOM" "[{\"Config\":\"@CFG@\",\"RepoTags\":[\"x:1\"],\"Layers\":[\"$path\"]}]"
		run "$DEVENV" image load "$BATS_TEST_TMPDIR/p"*.tar
		assert_failure
		assert_output --regexp "^devenv: the archive('s layer '$path' is outside the archive| has no layer '$path'.*)$"
		[[ ${#lines[@]} -eq 1 ]]
		rm -rf "$BATS_TEST_TMPDIR/p"*
	done
	# a symlink out of the archive
	dockerarchive "$BATS_TEST_TMPDIR/s" '[{"Config":"@CFG@","RepoTags":["x:1"],"Layers":["abc/evil"]}]'
	ln -s /etc/passwd "$BATS_TEST_TMPDIR/s/abc/evil"
	tar -C "$BATS_TEST_TMPDIR/s" -cf "$BATS_TEST_TMPDIR/s.tar" .
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/s.tar"
	assert_failure
	assert_output --partial "the archive's layer 'abc/evil' is outside the archive"
	# a config whose name is not its digest
	dockerarchive "$BATS_TEST_TMPDIR/c" '[{"Config":"@CFG@","RepoTags":["x:1"],"Layers":["@LAYER@"]}]'
	mv "$BATS_TEST_TMPDIR/c/$DA_CFG.json" "$BATS_TEST_TMPDIR/c/${DA_CFG//a/b}.json"
	sed -i "s/$DA_CFG/${DA_CFG//a/b}/" "$BATS_TEST_TMPDIR/c/manifest.json"
	tar -C "$BATS_TEST_TMPDIR/c" -cf "$BATS_TEST_TMPDIR/c.tar" .
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/c.tar"
	assert_failure
	assert_output --regexp "config '[0-9a-f]{64}\.json' does not match its digest \(it hashes to sha256:${DA_CFG:0:12}\)$"
	# a layer that does not unpack to the config's diff_id
	dockerarchive "$BATS_TEST_TMPDIR/l" '[{"Config":"@CFG@","RepoTags":["x:1"],"Layers":["@LAYER@"]}]'
	printf 'more' >>"$BATS_TEST_TMPDIR/l/abc/layer.tar"
	tar -C "$BATS_TEST_TMPDIR/l" -cf "$BATS_TEST_TMPDIR/l.tar" .
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/l.tar"
	assert_failure
	assert_output --regexp "layer 1 unpacks to sha256:[0-9a-f]{12}, not the config's sha256:[0-9a-f]{64}$"
	# not JSON, not an array, two images and no name
	for m in 'nope' '{"Config":"x"}' '[{"Config":"@CFG@","Layers":["@LAYER@"]},{"Config":"@CFG@","Layers":["@LAYER@"]}]'; do
		dockerarchive "$BATS_TEST_TMPDIR/j$RANDOM" "$m"
		run "$DEVENV" image load "$BATS_TEST_TMPDIR/j"*.tar
		assert_failure
		assert_output --regexp "(lists no image|holds 2 images: say which one)"
		[[ ${#lines[@]} -eq 1 ]]
		rm -rf "$BATS_TEST_TMPDIR/j"*
	done
	run "$DEVENV" images
	refute_line --regexp '^localhost/x '
}

@test "image inspect: Created is RFC 3339 in UTC; commit writes created and history into the config; save, load and push keep it" {
	printf 'image: busybox\nprovision:\n  - run: echo one >/one\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	"$DEVENV" ssh -c 'echo two >/two'
	before=$(date -u +%s)
	run "$DEVENV" commit snap:1
	assert_success
	after=$(date -u +%s)
	run "$DEVENV" image inspect snap:1
	assert_success
	created=$(python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["Created"])' <<<"$output")
	[[ $created =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
	t=$(date -u -d "$created" +%s)
	((t >= before && t <= after))
	# the config: created, and one history entry per layer (busybox's,
	# the step's, the env's changes), each with that time
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/i.json"
	python3 - "$created" "$BATS_TEST_TMPDIR/i.json" <<-'PY'
	import json, sys
	img = json.load(open(sys.argv[2]))[0]
	cfg = img["Config"]
	assert cfg["created"] == sys.argv[1], cfg.get("created")
	hist = [h for h in cfg["history"] if not h.get("empty_layer")]
	assert len(hist) == len(img["Layers"]) == 3, (hist, img["Layers"])
	assert all(h["created"] == sys.argv[1] and h["created_by"] == "devenv commit" for h in hist), hist
	PY
	# image save -> load and push -> pull keep the config, so its date
	"$DEVENV" image save snap:1 "$BATS_TEST_TMPDIR/s.tar"
	"$DEVENV" push snap:1 "$DV_REGISTRY/team/snap:1" >/dev/null
	store_b
	DEVENV_HOME=$STORE_B "$DEVENV" image load "$BATS_TEST_TMPDIR/s.tar" loaded:1 >/dev/null
	DEVENV_HOME=$STORE_B "$DEVENV" pull "$DV_REGISTRY/team/snap:1" >/dev/null
	for ref in loaded:1 "$DV_REGISTRY/team/snap:1"; do
		DEVENV_HOME=$STORE_B run "$DEVENV" image inspect "$ref"
		assert_output --partial "\"Created\":\"$created\""
	done
	# a commit of a committed image adds one entry to its history
	cd "$BATS_TEST_TMPDIR" && mkdir c2 && cd c2 && git init -q
	printf 'image: snap:1\n' | dv_envfile
	"$DEVENV" up >/dev/null
	"$DEVENV" ssh -c 'echo three >/three'
	sleep 1
	"$DEVENV" commit snap:2 >/dev/null
	"$DEVENV" destroy -f >/dev/null
	"$DEVENV" image inspect snap:2 >"$BATS_TEST_TMPDIR/i.json"
	python3 - "$created" "$BATS_TEST_TMPDIR/i.json" <<-'PY'
	import json, sys
	img = json.load(open(sys.argv[2]))[0]
	hist = img["Config"]["history"]
	assert len(hist) == len(img["Layers"]) == 4, hist
	assert [h["created"] == sys.argv[1] for h in hist] == [True, True, True, False], hist
	assert img["Config"]["created"] == hist[3]["created"] == img["Created"]
	PY
}

#!/usr/bin/env bats
# The team cache (README "The team cache"): `devenv push REF` in a checkout
# publishes the env's provisioning with each step's cache key as a layer
# annotation; another store's `up` with `cache_from` (or --cache-from) pulls
# those layers instead of running the steps. Against a real registry
# (Debian's docker-registry on loopback).

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	dv_busybox_image
	# Each step leaves a mark, and counts its runs in a file outside the env.
	cat >Envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo one >/one
	  - copy: app.txt
	    to: /opt/app.txt
	  - run: echo three >/three && mkdir -p /var/cache/x && echo x >/var/cache/x/y
	EOF
	echo app >app.txt
	git add -A && git commit -qm init
	REF=$DV_REGISTRY/team/proj-dev:cache
}
teardown() {
	[[ -z ${STORE_B:-} ]] || { DEVENV_HOME=$STORE_B dv_teardown_store "$STORE_B"; }
	dv_teardown
}

# dv_teardown_store STORE: destroy the envs of a second store, then remove it.
dv_teardown_store() {
	local dir
	for dir in "$1"/envs/*/; do
		[[ -d $dir ]] && DEVENV_HOME=$1 "$DEVENV" destroy -f -e "$(basename "$dir")" >/dev/null
	done
	dv_rm_store "$1"
}

# manifest REPO TAG: the OCI manifest the registry serves.
manifest() {
	curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$DV_REGISTRY/v2/$1/manifests/$2"
}

# A second, empty store on the same disk, as a teammate's machine.
store_b() {
	STORE_B=$(mktemp -d "$(dirname "$DV_STORE")/storeb.XXXXXX")
	export STORE_B
}

@test "team cache: push from one store; up in an empty store pulls every step and runs none" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	assert_output --regexp "pushed env 'proj' \(3 steps\) as $DV_REGISTRY/team/proj-dev:cache@sha256:[0-9a-f]{64}"
	# The manifest: each step's layer carries its key; the base goes along.
	run manifest team/proj-dev cache
	assert_success
	[[ $(grep -o '"dev.devenv.cache.key"' <<<"$output" | wc -l) -eq 3 ]]
	assert_output --partial '"dev.devenv.base.ref":"busybox"'
	assert_output --regexp '"dev.devenv.base.manifest":"sha256:[0-9a-f]{64}"'
	assert_output --partial '"dev.devenv.step":"copy: app.txt -> /opt/app.txt"'

	store_b
	cd "$DV_CHECKOUT"
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	assert_output --partial "pulling the one '$REF' was built on"
	assert_line "[1/3] run: echo one >/one (pulled)"
	assert_line "[2/3] copy: app.txt -> /opt/app.txt (pulled)"
	assert_line --regexp '^\[3/3\] run: echo three .* \(pulled\)$'
	refute_output --partial 'done in'
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /one /opt/app.txt /three /var/cache/x/y'
	assert_success
	assert_output "one
app
three
x"
	# The base is kept under the Envfile's name only.
	DEVENV_HOME=$STORE_B run "$DEVENV" images
	assert_line --regexp '^localhost/busybox +latest '
	refute_output --partial '@sha256'
	# The same keys: a second up finds every step in its own cache.
	DEVENV_HOME=$STORE_B run "$DEVENV" provision
	assert_success
	assert_output --partial 'up to date'
}

@test "team cache: cache_from in the Envfile; a changed step and every step after it run here" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	"$DEVENV" halt
	printf 'cache_from: %s\n' "$REF" >>Envfile
	echo changed >app.txt
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line "[1/3] run: echo one >/one (pulled)"
	assert_line "[2/3] copy: app.txt -> /opt/app.txt"
	assert_line --regexp '^\[3/3\] run: echo three .*[^)]$'
	refute_line --regexp '^\[2/3\].*pulled'
	refute_line --regexp '^\[3/3\].*pulled'
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /opt/app.txt'
	assert_output changed
}

@test "team cache: an image base from the registry; a store that has the base takes only the steps" {
	# Base pulled from the registry in both stores: the keys start from its id.
	run "$DEVENV" push busybox "$DV_REGISTRY/base/bb:1"
	assert_success
	sed -i "s|^image: .*|image: $DV_REGISTRY/base/bb:1|" Envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	run manifest team/proj-dev cache
	refute_output --partial 'dev.devenv.base.manifest'
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	# The first up wrote Envfile.lock: the base comes by its digest.
	assert_output --partial "pulling $DV_REGISTRY/base/bb@sha256:"
	assert_output --partial "the base Envfile.lock pins"
	assert_line "[1/3] run: echo one >/one (pulled)"
	assert_line --regexp '^\[3/3\] .*\(pulled\)$'
}

@test "team cache: an unreachable or unknown cache is one warning and the steps run here" {
	store_b
	DEVENV_HOME=$STORE_B "$DEVENV" image import "$(busybox_tar)" busybox >/dev/null
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$DV_REGISTRY/team/nothing:here"
	assert_success
	assert_output --regexp "warning: cache_from '$DV_REGISTRY/team/nothing:here': .*; its steps run here"
	[[ $(grep -c "warning: cache_from" <<<"$output") -eq 1 ]]
	assert_line "[1/3] run: echo one >/one"
}

@test "team cache: a cache layer whose bytes do not match its digest is refused; the step runs here" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	# Corrupt the first step's blob in the registry's storage.
	run manifest team/proj-dev cache
	blob=$(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print([l["digest"][7:] for l in m["layers"] if "annotations" in l][0])' "$output")
	data=$DV_REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/${blob:0:2}/$blob/data
	[[ -f $data ]]
	printf 'XXXX' | dd of="$data" bs=1 seek=20 conv=notrunc status=none
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	assert_output --regexp "warning: cache_from '$REF': digest mismatch: .*; its steps run here"
	assert_line "[1/3] run: echo one >/one"
	assert_line --regexp '^\[3/3\] run: echo three .*[^)]$'
	[[ -z $(ls "$STORE_B/tmp") ]]
}

@test "team cache: push of a step not built is one line naming it; bad cache_from is an Envfile error" {
	run "$DEVENV" push "$REF"
	assert_failure
	assert_output --regexp "^devenv: Envfile:3:5: this step is not provisioned in this store; run 'devenv up' or 'devenv provision' first, then push$"
	printf 'cache_from: [ "bad ref!" ]\n' >>Envfile
	run "$DEVENV" up
	assert_failure
	assert_output --regexp "^devenv: Envfile:7:15: 'cache_from' must name images"
	[[ ! -d $DV_STORE/envs ]] || [[ -z $(ls "$DV_STORE/envs") ]]
}

# other_busybox: import into STORE_B another image named busybox (the busybox
# tar plus one file), as a teammate's own bootstrap of the same name.
other_busybox() {
	mkdir -p "$BATS_TEST_TMPDIR/extra/etc"
	echo other >"$BATS_TEST_TMPDIR/extra/etc/other"
	cp "$(busybox_tar)" "$BATS_TEST_TMPDIR/other.tar"
	tar -rf "$BATS_TEST_TMPDIR/other.tar" -C "$BATS_TEST_TMPDIR/extra" etc/other
	DEVENV_HOME=$STORE_B "$DEVENV" image import "$BATS_TEST_TMPDIR/other.tar" busybox >/dev/null
}

@test "team cache: a store whose base differs from the cache's takes the cache's, pinned by digest for the env; the store's own stays" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	run manifest team/proj-dev cache
	assert_output --regexp '"dev.devenv.base.ids":"[0-9a-f]{64}(,[0-9a-f]{64})?"'
	base=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["annotations"]["dev.devenv.base.manifest"])' "$output")
	store_b
	other_busybox
	own=$(DEVENV_HOME=$STORE_B "$DEVENV" image inspect busybox | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d.get("Id") or d.get("id"))')
	[[ -n $own ]]
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	assert_line "devenv: cache_from '$REF' was built on another 'busybox' than this store's (sha256:${own:7:12}): pulling that one, $DV_REGISTRY/team/proj-dev@$base, pinned by digest for this env; the store's 'busybox' stays as it is"
	[[ $(grep -c "built on another" <<<"$output") -eq 1 ]]
	refute_output --partial "warning: cache_from"
	assert_line "[1/3] run: echo one >/one (pulled)"
	assert_line --regexp '^\[3/3\] run: echo three .* \(pulled\)$'
	refute_output --partial 'done in'
	# The env runs on the cache's base, not on the store's own.
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /one; test -e /etc/other && echo other'
	assert_output one
	DEVENV_HOME=$STORE_B run "$DEVENV" status --json
	[[ $(dv_json image <<<"$output") == "$DV_REGISTRY/team/proj-dev@$base" ]]
	[[ $(dv_json image_for <<<"$output") == busybox ]]
	DEVENV_HOME=$STORE_B run "$DEVENV" status
	assert_line "  image:    $DV_REGISTRY/team/proj-dev@$base (the team's 'busybox', pinned by digest)"
	id=$(basename "$(dirname "$(ls "$STORE_B"/envs/*/state.json)")")
	[[ $(dv_json image_for <"$STORE_B/envs/$id/state.json") == busybox ]]
	# The store's busybox is untouched; the base is kept under its digest.
	run env DEVENV_HOME="$STORE_B" "$DEVENV" image inspect busybox
	assert_output --partial "$own"
	DEVENV_HOME=$STORE_B run "$DEVENV" images
	assert_line --regexp "^$DV_REGISTRY/team/proj-dev +<none> "
	assert_line --regexp "^localhost/busybox +latest +${own:7:12} "
	# The pin holds: halted and up again, nothing is said or pulled.
	DEVENV_HOME=$STORE_B "$DEVENV" halt
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	refute_output --partial "built on another"
	refute_output --partial "pulled"
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'test -e /etc/other && echo other; cat /three'
	assert_output three
	# reload (no --cache-from) rebuilds the env on the same pinned base.
	DEVENV_HOME=$STORE_B run "$DEVENV" reload
	assert_success
	refute_output --partial "built on another"
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'test -e /etc/other && echo other; cat /three'
	assert_output three

	# A second clone of the project (another env id) takes the same base
	# from the store, and the steps from the local cache: nothing is pulled.
	git clone -q "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/clone2"
	printf 'cache_from: %s\n' "$REF" >>"$BATS_TEST_TMPDIR/clone2/Envfile"
	cd "$BATS_TEST_TMPDIR/clone2"
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line "devenv: cache_from '$REF' was built on another 'busybox' than this store's (sha256:${own:7:12}): this env uses that one, $DV_REGISTRY/team/proj-dev@$base, pinned by digest; the store's 'busybox' stays as it is"
	refute_output --partial "pulling"
	refute_line --regexp '^\[[0-9]/3\] .*\(pulled\)$'
	refute_output --partial 'done in'
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'test -e /etc/other && echo other; cat /one /three'
	assert_output "one
three"
	# An env without cache_from still gets the store's own busybox.
	mkdir "$BATS_TEST_TMPDIR/plain" && cd "$BATS_TEST_TMPDIR/plain" && git init -q
	printf 'image: busybox\n' >Envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /etc/other'
	assert_output other
	DEVENV_HOME=$STORE_B run "$DEVENV" status --json
	[[ -z $(dv_json image_for <<<"$output") ]]
	# The pinned base cannot be removed while an env runs on it.
	DEVENV_HOME=$STORE_B run "$DEVENV" rmi "$DV_REGISTRY/team/proj-dev@$base"
	assert_failure
	assert_output --regexp "^devenv: image '$DV_REGISTRY/team/proj-dev@$base' is used by env '(proj|clone2)' \([0-9a-f]{12}\); destroy it first$"
}

@test "team cache: an env on a pinned base pushes that base along; a third store takes it" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	store_b
	other_busybox
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	assert_output --partial "pinned by digest for this env"
	# The teammate pushes elsewhere: the pinned base goes along.
	DEVENV_HOME=$STORE_B run "$DEVENV" push "$DV_REGISTRY/team/other:cache"
	assert_success
	run manifest team/other cache
	assert_output --partial '"dev.devenv.base.ref":"busybox"'
	assert_output --regexp '"dev.devenv.base.manifest":"sha256:[0-9a-f]{64}"'
	STORE_C=$(mktemp -d "$(dirname "$DV_STORE")/storec.XXXXXX")
	DEVENV_HOME=$STORE_C run "$DEVENV" up --cache-from "$DV_REGISTRY/team/other:cache"
	DEVENV_HOME=$STORE_C dv_teardown_store "$STORE_C"
	assert_success
	assert_line "[1/3] run: echo one >/one (pulled)"
	assert_line --regexp '^\[3/3\] run: echo three .* \(pulled\)$'
}

@test "team cache: a team's base pushed once as team/base and named in cache_from: every store's env runs on it, the store's own stays" {
	run "$DEVENV" push busybox "$DV_REGISTRY/team/base:1"
	assert_success
	run manifest team/base 1
	assert_output --partial '"dev.devenv.image.ref":"localhost/busybox:latest"'
	printf 'cache_from: %s\n' "$DV_REGISTRY/team/base:1" >>Envfile
	git commit -qam 'team base'
	# A teammate with a busybox of their own.
	store_b
	other_busybox
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line --regexp "^devenv: cache_from '$DV_REGISTRY/team/base:1' is another 'busybox' than this store's \(sha256:[0-9a-f]{12}\): pulling that one, $DV_REGISTRY/team/base@sha256:[0-9a-f]{64}, pinned by digest for this env; the store's 'busybox' stays as it is$"
	assert_line "[1/3] run: echo one >/one"
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /one; test -e /etc/other && echo other'
	assert_output one
	DEVENV_HOME=$STORE_B run "$DEVENV" images
	assert_line --regexp '^localhost/busybox +latest '
	# A store with no busybox takes the team's under the Envfile's name.
	STORE_C=$(mktemp -d "$(dirname "$DV_STORE")/storec.XXXXXX")
	DEVENV_HOME=$STORE_C run "$DEVENV" up
	out=$output st=$status
	DEVENV_HOME=$STORE_C run "$DEVENV" images
	imgs=$output
	DEVENV_HOME=$STORE_C dv_teardown_store "$STORE_C"
	[[ $st -eq 0 ]]
	[[ $out == *"devenv: image 'busybox' is not in the store; pulling the team's, cache_from '$DV_REGISTRY/team/base:1'"* ]]
	[[ $imgs =~ localhost/busybox\ +latest ]]
}

@test "team cache: a base digest annotation that is not a digest is not taken, and none of it reaches the terminal" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	# The same manifest under another tag, its base digest an escape code.
	run manifest team/proj-dev cache
	python3 -c '
import json, sys
m = json.loads(sys.argv[1])
m["annotations"]["dev.devenv.base.manifest"] = "sha256:\u001b[2J\u001b]0;owned\u0007"
sys.stdout.write(json.dumps(m))' "$output" >"$BATS_TEST_TMPDIR/evil.json"
	curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary @"$BATS_TEST_TMPDIR/evil.json" \
		"http://$DV_REGISTRY/v2/team/proj-dev/manifests/evil"
	store_b
	other_busybox
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$DV_REGISTRY/team/proj-dev:evil"
	assert_success
	[[ $output != *$'\e'* && $output != *$'\a'* ]]
	refute_output --partial pinned
	assert_output --partial "warning: cache_from '$DV_REGISTRY/team/proj-dev:evil' was built on another 'busybox' than this store's"
	assert_line "[1/3] run: echo one >/one"
}

@test "team cache: a new env takes the cache's base even when the store built the same steps on its own" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	store_b
	other_busybox
	# Another checkout of the store, no cache_from: the same steps, built
	# on the store's own busybox.
	git clone -q "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/solo"
	cd "$BATS_TEST_TMPDIR/solo"
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /etc/other'
	assert_output other
	# The project with the team's cache: its env is new, so it asks the
	# cache which base it was built on, and takes that one.
	cd "$DV_CHECKOUT"
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	assert_output --partial "pinned by digest for this env"
	assert_line "[1/3] run: echo one >/one (pulled)"
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'test -e /etc/other && echo other; cat /one'
	assert_output one
}

@test "team cache: a new env with nothing to build and a cache that cannot be read: no warning, the store's image" {
	git clone -q "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/solo"
	cd "$BATS_TEST_TMPDIR/solo"
	run "$DEVENV" up
	assert_success
	cd "$DV_CHECKOUT"
	run "$DEVENV" up --cache-from "$DV_REGISTRY/team/nothing:here"
	assert_success
	refute_output --partial "warning: cache_from"
	assert_line "[1/3] run: echo one >/one (cached)"
	run "$DEVENV" status --json
	[[ $(dv_json image <<<"$output") == localhost/busybox:latest ]]
}

@test "team cache: a teammate's up on the team's base keeps the committed Envfile.lock as it is; --frozen passes" {
	run "$DEVENV" up
	assert_success
	git add Envfile.lock && git commit -qm lock
	cp Envfile.lock "$BATS_TEST_TMPDIR/lock.a"
	run "$DEVENV" push "$REF"
	assert_success
	# The team's base is another id than this store's; the manifest vouches
	# for both.
	run manifest team/proj-dev cache
	assert_output --regexp '"dev.devenv.base.ids":"[0-9a-f]{64},[0-9a-f]{64}"'

	store_b
	cd "$DV_CHECKOUT"
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	assert_line --regexp '^\[3/3\] run: echo three .* \(pulled\)$'
	refute_output --partial 'Envfile.lock'
	cmp Envfile.lock "$BATS_TEST_TMPDIR/lock.a"
	DEVENV_HOME=$STORE_B run "$DEVENV" up --frozen --cache-from "$REF"
	assert_success
	refute_output --partial 'Envfile.lock'
	cmp Envfile.lock "$BATS_TEST_TMPDIR/lock.a"
	# A fresh env of that store, frozen from the start: the team's base
	# stands for the lock's.
	DEVENV_HOME=$STORE_B "$DEVENV" destroy -f >/dev/null
	DEVENV_HOME=$STORE_B run "$DEVENV" up --frozen --cache-from "$REF"
	assert_success
	refute_output --partial 'Envfile.lock'
	cmp Envfile.lock "$BATS_TEST_TMPDIR/lock.a"

	# The first store's next up leaves it as it is too.
	run "$DEVENV" up
	assert_success
	cmp Envfile.lock "$BATS_TEST_TMPDIR/lock.a"
}

@test "team cache: a teammate's frozen up in an empty store takes the team's base for the lock's" {
	run "$DEVENV" up
	assert_success
	cp Envfile.lock "$BATS_TEST_TMPDIR/lock.a"
	run "$DEVENV" push "$REF"
	assert_success
	store_b
	cd "$DV_CHECKOUT"
	DEVENV_HOME=$STORE_B run "$DEVENV" up --frozen --cache-from "$REF"
	assert_success
	assert_line --regexp '^\[3/3\] run: echo three .* \(pulled\)$'
	refute_output --partial 'Envfile.lock'
	cmp Envfile.lock "$BATS_TEST_TMPDIR/lock.a"
}

@test "team cache: an env on the team's base the lock finds in the store pushes that base, not the store's own" {
	run "$DEVENV" up
	assert_success
	git add Envfile.lock && git commit -qm lock
	run "$DEVENV" push "$REF"
	assert_success
	team=$(manifest team/proj-dev cache | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
	store_b
	other_busybox
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$REF"
	assert_success
	assert_output --partial "pinned by digest for this env"
	# Rebuilt: the lock finds the team's base, kept under its digest name.
	DEVENV_HOME=$STORE_B run "$DEVENV" reload
	assert_success
	DEVENV_HOME=$STORE_B run "$DEVENV" status --json
	[[ $(dv_json image_for <<<"$output") == busybox ]]
	DEVENV_HOME=$STORE_B run "$DEVENV" push "$DV_REGISTRY/team/other:cache"
	assert_success
	run manifest team/other cache
	assert_output --partial "\"digest\":\"$team\""
	[[ $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][0]["digest"])' "$output") == "$team" ]]
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'test -e /etc/other && echo other; cat /one'
	assert_output one
}

#!/usr/bin/env bats
# Reproducible step layers (issue 16, item 4): SOURCE_DATE_EPOCH given to
# steps and recorded in layer.json, the step's files' times clamped to it,
# the volatile files (dpkg's and apt's logs, apt's binary caches...) left
# out, and `devenv verify [STEP...]`, which rebuilds steps in staging and
# compares each layer with the cache's.

load helpers
bats_require_minimum_version 1.5.0

EPOCH=1700000000

setup() {
	dv_setup
}
teardown() {
	dv_registry_stop
	dv_teardown
}

only_key() {
	local keys
	keys=$(ls "$DV_STORE/cache")
	[[ $(wc -l <<<"$keys") == 1 ]] || { echo "keys: $keys" >&2; return 1; }
	printf '%s\n' "$keys"
}

@test "steps get SOURCE_DATE_EPOCH, their layer records it and its files' times are clamped" {
	dv_busybox_image
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: echo "$SOURCE_DATE_EPOCH" >/seen && mkdir -p /d/e && touch /d/e/f && ln -s gone /lnk
	EOF2
	SOURCE_DATE_EPOCH=$EPOCH run -0 "$DEVENV" up -q
	key=$(only_key)
	layer=$DV_STORE/layers/$key
	run -0 cat "$layer/diff/seen"
	[[ $output == "$EPOCH" ]]
	run -0 python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["source_date_epoch"])' "$layer/layer.json"
	[[ $output == "$EPOCH" ]]
	for f in seen d d/e d/e/f lnk; do
		run -0 stat -c %Y "$layer/diff/$f"
		[[ $output == "$EPOCH" ]] || { echo "$f: $output" >&2; false; }
	done
	# The exported layer: those times, and no atime or ctime.
	run -0 "$DEVENV" commit snap
	run -0 "$DEVENV" image save snap "$BATS_TEST_TMPDIR/snap.tar"
	run -0 python3 - "$BATS_TEST_TMPDIR/snap.tar" "$EPOCH" <<-'PY'
	import io, json, sys, tarfile
	outer = tarfile.open(sys.argv[1])
	idx = json.load(outer.extractfile("index.json"))
	blob = lambda d: outer.extractfile("blobs/sha256/" + d.split(":")[1])
	man = json.load(blob(idx["manifests"][0]["digest"]))
	step = tarfile.open(fileobj=io.BytesIO(blob(man["layers"][-2]["digest"]).read()))
	for m in step.getmembers():
	    assert m.mtime == int(sys.argv[2]), (m.name, m.mtime)
	    assert not {"atime", "ctime"} & set(m.pax_headers), (m.name, m.pax_headers)
	print(sorted(m.name for m in step.getmembers()))
	PY
	[[ $output == *"'seen'"* ]]
}

@test "a bad SOURCE_DATE_EPOCH is one line before anything is built" {
	dv_busybox_image
	printf 'image: busybox\nprovision:\n  - run: touch /x\n' | dv_envfile
	SOURCE_DATE_EPOCH=yesterday run -2 "$DEVENV" up -q
	[[ $output == *"SOURCE_DATE_EPOCH 'yesterday' is not a time"* ]]
	[[ $(ls "$DV_STORE/cache" | wc -l) == 0 ]]
}

@test "the volatile files are left out of a step's layer, never through a symlink" {
	dv_busybox_image
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: >-
	      mkdir -p /var/log/apt /var/cache/apt /var/lib/dpkg /var/cache/ldconfig /var/cache/debconf /opt/l &&
	      for f in /var/log/dpkg.log /var/log/alternatives.log /var/log/apt/history.log
	      /var/log/apt/term.log /var/cache/apt/pkgcache.bin /var/cache/apt/srcpkgcache.bin
	      /var/lib/dpkg/status-old /var/cache/ldconfig/aux-cache /var/cache/debconf/config.dat-old;
	      do date >$f; done &&
	      echo kept >/var/log/other.log && echo kept >/var/lib/dpkg/status &&
	      echo kept >/opt/l/x-old && ln -s /opt/l /var/cache/debconf2 &&
	      mkdir -p /srv/var/cache && ln -s /opt/l /srv/var/cache/debconf
	EOF2
	run -0 "$DEVENV" up -q
	diff=$DV_STORE/layers/$(only_key)/diff
	for f in var/log/dpkg.log var/log/alternatives.log var/log/apt/history.log var/log/apt/term.log \
		var/cache/apt/pkgcache.bin var/cache/apt/srcpkgcache.bin var/lib/dpkg/status-old \
		var/cache/ldconfig/aux-cache var/cache/debconf/config.dat-old; do
		[[ ! -e $diff/$f ]] || { echo "$f is in the layer" >&2; false; }
	done
	for f in var/log/other.log var/lib/dpkg/status opt/l/x-old; do
		[[ -f $diff/$f ]] || { echo "$f is missing" >&2; false; }
	done
	run -0 "$DEVENV" ssh -c 'test ! -e /var/log/dpkg.log && cat /var/log/other.log'
	[[ $output == kept ]]
}

@test "verify: a constant step verifies, one writing the date is named with its file" {
	dv_busybox_image
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: echo constant >/const && mkdir /d && echo x >/d/x
	  - run: date >/stamp && echo same >/same && sleep 1
	  - run: echo on top >/top
	EOF2
	export SOURCE_DATE_EPOCH=$EPOCH
	run -0 "$DEVENV" up -q
	layers=$(ls "$DV_STORE/layers" | sort)
	run -1 "$DEVENV" verify
	[[ $output == *"[1/3] run: echo constant >/const && mkdir /d && echo x >/d/x: same layer (sha256:"* ]]
	[[ $output == *"[2/3] run: date >/stamp && echo same >/same && sleep 1: differs: sha256:"* ]]
	[[ $output == *"  /stamp: content"* ]]
	[[ $output != *"  /same:"* ]]
	[[ $output == *"[3/3] run: echo on top >/top: same layer"* ]]
	run -0 "$DEVENV" verify 1 3
	[[ $output != *"[2/3]"* ]]
	run -1 "$DEVENV" verify 2
	# Nothing committed, no staging left.
	[[ $(ls "$DV_STORE/layers" | sort) == "$layers" ]]
	[[ -z $(ls "$DV_STORE/tmp") ]]
	run -2 "$DEVENV" verify 4
	[[ $output == *"'4' is no step of Envfile: give step numbers from 1 to 3"* ]]
	run -2 "$DEVENV" verify x
	# A step not built: said at its line.
	printf '  - run: echo new >/new\n' >>Envfile
	run -1 "$DEVENV" verify 4
	[[ $output == *"Envfile:6:"*"step 4 (run: echo new >/new) is not in the cache"* ]]
}

@test "verify of a layer built without SOURCE_DATE_EPOCH names the times" {
	dv_busybox_image
	printf 'image: busybox\nprovision:\n  - run: echo constant >/const\n' | dv_envfile
	run -0 "$DEVENV" up -q
	# Envfile.lock always gives one now: the layer of an older devenv
	# recorded none, and kept the build's times.
	for f in "$DV_STORE"/layers/*/layer.json; do
		grep -q source_date_epoch "$f" || continue
		python3 -c 'import json,sys; p=sys.argv[1]; o=json.load(open(p)); o.pop("source_date_epoch"); json.dump(o, open(p, "w"))' "$f"
		touch "${f%/layer.json}/diff/const"
	done
	sleep 1
	run -1 "$DEVENV" verify
	[[ $output == *"built with no SOURCE_DATE_EPOCH"* ]]
	[[ $output == *"/const: mtime"* ]]
	[[ $output != *"/const: content"* ]]
}

@test "verify: the team cache's layer for a step is compared too" {
	dv_busybox_image
	printf 'image: busybox\nprovision:\n  - run: echo constant >/const\n' | dv_envfile
	dv_registry_start "$BATS_TEST_TMPDIR/registry"
	ref=$DV_REGISTRY/team/verify:cache
	# Pushed by a store that built it without an epoch: the build's times.
	run -0 "$DEVENV" up -q
	run -0 "$DEVENV" push "$ref"
	run -0 "$DEVENV" destroy -f
	run -0 "$DEVENV" gc
	[[ -z $(ls "$DV_STORE/cache") ]]
	export SOURCE_DATE_EPOCH=$EPOCH
	run -0 "$DEVENV" up -q
	printf 'cache_from: %s\n' "$ref" >>Envfile
	run -1 "$DEVENV" verify
	[[ $output == *"[1/1] run: echo constant >/const: the team cache '$ref' has sha256:"*" for it, not what this rebuild gives"* ]]
	[[ $output == *"[1/1] run: echo constant >/const: same layer (sha256:"* ]]
	# The team's own layer, pushed again from here: the same.
	run -0 "$DEVENV" push "$ref"
	run -0 "$DEVENV" verify
	[[ $output != *"team cache"* ]]
}

@test "debian: an apt-get install step builds to the same layer in two stores, and verifies" {
	dv_debian_image
	dv_envfile <<-'EOF2'
	image: debian:bookworm
	provision:
	  - run: apt-get update -q && apt-get install -y -q --no-install-recommends hello
	EOF2
	export SOURCE_DATE_EPOCH=$EPOCH
	run -0 "$DEVENV" up -q
	run -0 "$DEVENV" verify
	[[ $output == *"[1/1] run: apt-get update"*": same layer (sha256:"* ]]
	first=${output##*sha256:}
	"$DEVENV" destroy -f >/dev/null
	export DEVENV_HOME=$BATS_TEST_TMPDIR/store2
	DV_STORE2=$DEVENV_HOME
	dv_debian_image
	run -0 "$DEVENV" up -q
	run -0 "$DEVENV" verify
	[[ ${output##*sha256:} == "$first" ]]
	"$DEVENV" destroy -f >/dev/null
	dv_rm_store "$DV_STORE2"
	export DEVENV_HOME=$DV_STORE
}

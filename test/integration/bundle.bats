#!/usr/bin/env bats
# devenv bundle: an env carried offline. A bundle made in one store, loaded
# with `image load` into a fresh one with no network at all (`unshare -n`),
# brings the env up with no step run and nothing fetched; a changed step
# runs from the bundle's inputs; a hostile bundle loads nothing; a
# bundle's layers serve its project's env only.

bats_require_minimum_version 1.5.0

load helpers

setup() {
	dv_setup
	dv_busybox_image
	DV_REPO=$BATS_TEST_TMPDIR/upstream
	STORE2=${DV_STORE}2
	NOCHECK=
}
teardown() {
	[[ -n ${DV_HTTP_PID:-} ]] && kill "$DV_HTTP_PID" 2>/dev/null
	# The second store's envs first, then the first store's checks.
	if [[ -d $STORE2 ]]; then
		local d
		for d in "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/b"; do
			[[ -f $d/Envfile ]] && (cd "$d" && DEVENV_HOME=$STORE2 "$DEVENV" destroy -f >/dev/null 2>&1)
		done
		dv_rm_store "$STORE2"
	fi
	export DEVENV_HOME=$DV_STORE
	dv_teardown
}

# No network at all: a new network namespace (only a loopback, down).
# Rootless, a user namespace first (unshare -n needs CAP_SYS_ADMIN).
offline() {
	if ((EUID == 0)); then
		unshare -n "$@"
	else
		unshare -rn --map-auto "$@" 2>/dev/null || unshare -rn "$@"
	fi
}

http_serve() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 -m http.server --bind 127.0.0.1 --directory "$1" "$port" >/dev/null 2>&1 &
	DV_HTTP_PID=$!
	DV_URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -fs -o /dev/null "$DV_URL/" && return 0
		sleep 0.05
	done
	return 1
}

# A repository, a file to download, and an Envfile with a download, a git
# step, a run step and a service.
project() {
	mkdir -p "$DV_REPO" "$BATS_TEST_TMPDIR/www"
	git -C "$DV_REPO" init -q -b main
	echo one >"$DV_REPO/version"
	git -C "$DV_REPO" add version
	git -C "$DV_REPO" -c user.email=t@t -c user.name=t commit -qm one
	printf 'tool v1\n' >"$BATS_TEST_TMPDIR/www/tool.sh"
	SUM=$(sha256sum "$BATS_TEST_TMPDIR/www/tool.sh" | cut -d' ' -f1)
	http_serve "$BATS_TEST_TMPDIR/www"
	envfile /opt/ /src
}

envfile() {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - download: $DV_URL/tool.sh
	    sha256: $SUM
	    to: $1
	  - git: file://$DV_REPO
	    ref: main
	    to: $2
	  - run: cat $2/version > /seen
	services:
	  db:
	    image: busybox
	    command: exec sleep 100000
	EOF
}

# Bundle the env of the first store, then take every source away.
bundled() {
	"$DEVENV" up
	run "$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle"
	assert_success
	assert_output --partial "wrote $BATS_TEST_TMPDIR/env.bundle"
	"$DEVENV" destroy -f >/dev/null
	kill "$DV_HTTP_PID"
	wait "$DV_HTTP_PID" 2>/dev/null || true
	DV_HTTP_PID=
	mv "$DV_REPO" "$DV_REPO.gone"
}

@test "a bundle brings the env up in a fresh store with no network: no step runs, a service starts" {
	project
	bundled
	export DEVENV_HOME=$STORE2
	run offline "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle"
	assert_success
	assert_output --partial "loaded 2 images, 3 steps for env 'proj'"
	run --separate-stderr offline "$DEVENV" up
	assert_success
	assert_line "[1/3] download: $DV_URL/tool.sh -> /opt/ (cached)"
	assert_line "[2/3] git: file://$DV_REPO @ main -> /src (cached)"
	assert_line "[3/3] run: cat /src/version > /seen (cached)"
	assert_line --partial "service 'db' started"
	run "$DEVENV" ssh -c 'cat /seen /opt/tool.sh'
	assert_output "one
tool v1"
	# Nothing of the first store was needed: its layers are gone too.
	run ls "$STORE2/inputs"
	assert_line "download-$SUM"
	# cache_trust asks cache_from images for a signature; the loaded
	# bundle (the developer's own act, for this env) still serves.
	: >signers
	printf 'cache_trust: signers\n' >>Envfile
	"$DEVENV" halt >/dev/null
	run --separate-stderr offline "$DEVENV" up
	assert_success
	assert_line "[3/3] run: cat /src/version > /seen (cached)"
}

@test "a step changed after loading runs offline from the bundle's git and download inputs" {
	project
	bundled
	export DEVENV_HOME=$STORE2
	offline "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	envfile /usr/local/bin/ /work/src
	run --separate-stderr offline "$DEVENV" up
	assert_success
	assert_line "[1/3] download: $DV_URL/tool.sh -> /usr/local/bin/"
	assert_line "[2/3] git: file://$DV_REPO @ main -> /work/src"
	run "$DEVENV" ssh -c 'cat /seen /usr/local/bin/tool.sh; git -C /work/src remote get-url origin 2>/dev/null || grep -A2 origin /work/src/.git/config | grep url'
	assert_output --partial "one
tool v1"
	assert_output --partial "file://$DV_REPO"
}

@test "a bundle's layers serve its project's env only" {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo built > /x
	EOF
	"$DEVENV" up >/dev/null
	# The Envfile.lock goes along; one that is a symlink is refused.
	ln -sf /etc/passwd Envfile.lock
	run "$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle"
	assert_failure
	assert_output --partial "Envfile.lock"
	[[ ! -e $BATS_TEST_TMPDIR/env.bundle ]]
	rm Envfile.lock
	"$DEVENV" lock >/dev/null
	"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	run python3 -c '
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
idx = json.load(t.extractfile("index.json"))
assert idx["annotations"]["dev.devenv.bundle"] == "1"
for m in idx["manifests"]:
    if m["annotations"]["dev.devenv.bundle.role"] == "lock":
        man = json.load(t.extractfile("blobs/sha256/" + m["digest"][7:]))
        print(t.extractfile("blobs/sha256/" + man["layers"][0]["digest"][7:]).read().decode(), end="")' "$BATS_TEST_TMPDIR/env.bundle"
	assert_output "$(cat Envfile.lock)"
	# Root writing into a folder a user owns: the file is the user's.
	if ((EUID == 0)); then
		mkdir "$BATS_TEST_TMPDIR/theirs"
		chown 65534:65534 "$BATS_TEST_TMPDIR/theirs"
		"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/theirs/env.bundle" >/dev/null
		[[ $(stat -c %u:%g "$BATS_TEST_TMPDIR/theirs/env.bundle") == 65534:65534 ]]
		[[ -z $(ls -A "$BATS_TEST_TMPDIR/theirs" | grep -v '^env.bundle$') ]]
	fi
	# Project B: the same Envfile in another checkout.
	mkdir "$BATS_TEST_TMPDIR/b"
	cp Envfile "$BATS_TEST_TMPDIR/b/"
	cd "$BATS_TEST_TMPDIR/b"
	# Loaded for project A (-C: its checkout) in a fresh store...
	export DEVENV_HOME=$STORE2
	run "$DEVENV" image load -C "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/env.bundle"
	assert_success
	assert_output --partial "1 step for env 'proj'"
	# ...project B builds its own (on its own base: the bundle's serves
	# project A only).
	dv_busybox_image
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo built > /x"
	"$DEVENV" destroy -f >/dev/null
	# Project A takes the bundle's layer (B's own build, which would
	# serve everyone, removed first).
	rm -f "${STORE2:?}/cache"/*
	cd "$DV_CHECKOUT"
	"$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo built > /x (cached)"
}

@test "a hostile bundle (a blob not matching its digest, a path out of the archive) loads nothing" {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo built > /x
	EOF
	"$DEVENV" up >/dev/null
	"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	export DEVENV_HOME=$STORE2
	mkdir "$BATS_TEST_TMPDIR/x"
	tar -C "$BATS_TEST_TMPDIR/x" -xf "$BATS_TEST_TMPDIR/env.bundle"
	# The step's layer changed after the bundle was made.
	key=$(python3 -c '
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
for m in idx["manifests"]:
    if m["annotations"]["dev.devenv.bundle.role"] == "env":
        man = json.load(open(d + "/blobs/sha256/" + m["digest"][7:]))
        print(man["layers"][-1]["digest"][7:])' "$BATS_TEST_TMPDIR/x")
	printf 'x' >>"$BATS_TEST_TMPDIR/x/blobs/sha256/$key"
	(cd "$BATS_TEST_TMPDIR/x" && tar -cf ../bad.bundle oci-layout index.json blobs)
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/bad.bundle"
	assert_failure
	assert_output --partial "does not match its digest"
	run "$DEVENV" up
	assert_line "[1/1] run: echo built > /x"
	"$DEVENV" destroy -f >/dev/null
	rm -rf "${STORE2:?}/cache"/*

	# An entry that climbs out of the archive.
	python3 - "$BATS_TEST_TMPDIR/x" "$BATS_TEST_TMPDIR/esc.bundle" <<-'PY'
	import io, sys, tarfile
	d, out = sys.argv[1], sys.argv[2]
	with tarfile.open(out, "w") as t:
	    t.add(d + "/oci-layout", "oci-layout")
	    t.add(d + "/index.json", "index.json")
	    data = b"pwned\n"
	    ti = tarfile.TarInfo("../../../escaped")
	    ti.size = len(data)
	    t.addfile(ti, io.BytesIO(data))
	PY
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/esc.bundle"
	assert_failure
	[[ ! -e $STORE2/escaped && ! -e $BATS_TEST_TMPDIR/escaped && ! -e /escaped ]]
	[[ -z $(ls "$STORE2/tmp") ]]
	run ls "$STORE2/cache"
	assert_output ""
}

@test "a Debian env's bundle comes up offline in a fresh store" {
	dv_debian_image || skip "no Debian base (debootstrap or mirror unreachable)"
	dv_envfile <<-EOF
	image: debian:bookworm
	provision:
	  - run: echo made > /made
	EOF
	"$DEVENV" up >/dev/null
	"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	"$DEVENV" destroy -f >/dev/null
	export DEVENV_HOME=$STORE2
	run offline "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle"
	assert_success
	run --separate-stderr offline "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo made > /made (cached)"
	run "$DEVENV" ssh -c 'cat /made /etc/debian_version'
	assert_line made
}

@test "a step layer holding a secret's value of now is not bundled" {
	dv_envfile <<-'EOF2'
	image: busybox
	secrets:
	  tok: { env: SECRET }
	provision:
	  - run: echo "old-value-123" > /opt-value
	    secrets: [tok]
	EOF2
	SECRET=first-value "$DEVENV" up >/dev/null
	SECRET=old-value-123 run "$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle"
	assert_failure 1
	assert_output --partial "secret 'tok' is in /opt-value of step 1's files; refused"
	refute_output --partial "old-value-123"
	[[ ! -e $BATS_TEST_TMPDIR/env.bundle ]]
}

@test "a kept git input that does not hold its commit is not used: the step clones from the remote" {
	mkdir -p "$DV_REPO"
	git -C "$DV_REPO" init -q -b main
	echo one >"$DV_REPO/version"
	git -C "$DV_REPO" add version
	git -C "$DV_REPO" -c user.email=t@t -c user.name=t commit -qm one
	commit=$(git -C "$DV_REPO" rev-parse HEAD)
	printf 'image: busybox\nprovision:\n  - git: file://%s\n    to: /src\n' "$DV_REPO" >Envfile
	"$DEVENV" up >/dev/null
	"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	"$DEVENV" destroy -f >/dev/null
	export DEVENV_HOME=$STORE2
	"$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	# The kept clone swapped for another repository (another commit).
	rm -rf "${STORE2:?}/inputs/git-$commit"
	git init -q -b main "$STORE2/inputs/git-$commit"
	echo planted >"$STORE2/inputs/git-$commit/version"
	git -C "$STORE2/inputs/git-$commit" add version
	git -C "$STORE2/inputs/git-$commit" -c user.email=t@t -c user.name=t commit -qm planted
	printf 'image: busybox\nprovision:\n  - git: file://%s\n    to: /elsewhere\n' "$DV_REPO" >Envfile
	run --separate-stderr "$DEVENV" up
	assert_success
	[[ $stderr == *"inputs/git-$commit' cannot be used"*"cloning from the remote"* ]]
	run "$DEVENV" ssh -c 'cat /elsewhere/version'
	assert_output one
}

@test "df counts a bundle's inputs; a plain gc keeps them, gc --caches removes them" {
	project
	bundled
	export DEVENV_HOME=$STORE2
	offline "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	run "$DEVENV" df
	assert_success
	assert_line --regexp '^Inputs +2 +0 +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B \(100%\)$'
	run "$DEVENV" df -v
	assert_line --regexp "^  download-$SUM +[0-9.]+ [KMG]?i?B\$"
	assert_line --regexp '^  git-[0-9a-f]{40} +[0-9.]+ [KMG]?i?B$'
	run "$DEVENV" df --json
	run python3 -c 'import json,sys; i=json.load(sys.stdin)["inputs"]; print(i["total"], i["active"], i["size"] == i["reclaimable"] == sum(x["size"] for x in i["items"]) > 0, sorted(x["name"][:4] for x in i["items"]))' <<<"$output"
	assert_output "2 0 True ['down', 'git-']"
	# What an older devenv's killed load left in inputs/ (no input's name):
	# a plain gc removes it, and only it.
	echo half >"$STORE2/inputs/.download-$SUM.123"
	run "$DEVENV" gc
	assert_success
	[[ -f $STORE2/inputs/download-$SUM && -d $(echo "$STORE2"/inputs/git-*) ]]
	[[ ! -e $STORE2/inputs/.download-$SUM.123 ]]
	run "$DEVENV" gc --caches
	assert_success
	assert_line --regexp '^removed 2 inputs, freed [0-9.]+ [KMG]?i?B$'
	[[ ! -e $STORE2/inputs ]]
	run "$DEVENV" df
	assert_line --regexp '^Inputs +0 +0 +0 B +0 B \(0%\)$'
}

@test "a load killed while it writes an input leaves none in inputs/; a plain gc removes what it left in tmp/" {
	project
	bundled
	export DEVENV_HOME=$STORE2
	# The download's bytes half-written, then the git clone unpacked: killed.
	# (Not under offline(): rootless, it runs a failed command twice.)
	DEVENV_FAULT=bundle.input run -137 "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle"
	run ls -A "$STORE2/inputs"
	assert_output ""
	DEVENV_FAULT=bundle.input:2 run -137 "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle"
	run ls -A "$STORE2/inputs"
	assert_output "download-$SUM"
	[[ -n $(ls -A "$STORE2/tmp") ]]
	"$DEVENV" gc >/dev/null
	run ls -A "$STORE2/tmp" "$STORE2/inputs"
	assert_output "$STORE2/inputs:
download-$SUM

$STORE2/tmp:"
	# What was whole serves: the load completes and up runs nothing.
	offline "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	run --separate-stderr offline "$DEVENV" up
	assert_success
	assert_line "[3/3] run: cat /src/version > /seen (cached)"
}

@test "a bundle's base and service images serve its project's env only, under the Envfile's names only" {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo built > /x
	services:
	  db:
	    image: busybox
	    command: exec sleep 100000
	EOF
	"$DEVENV" up >/dev/null
	"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	"$DEVENV" destroy -f >/dev/null
	# The service's entry retold by its sender: no service of this
	# Envfile, a name of the sender's choosing (index.json names no digest
	# of its own: anyone can edit it).
	python3 - "$BATS_TEST_TMPDIR/env.bundle" <<-'PY'
	import io, json, sys, tarfile
	src = tarfile.open(sys.argv[1])
	out = io.BytesIO()
	dst = tarfile.open(fileobj=out, mode="w")
	for m in src.getmembers():
	    data = src.extractfile(m).read() if m.isfile() else None
	    if m.name in ("index.json", "./index.json"):
	        idx = json.loads(data)
	        for d in idx["manifests"]:
	            a = d["annotations"]
	            if a["dev.devenv.bundle.role"] == "service":
	                a["dev.devenv.service"] = "nosuch"
	                a["io.containerd.image.name"] = "docker.io/library/planted:1"
	        data = json.dumps(idx).encode()
	        m.size = len(data)
	    dst.addfile(m, io.BytesIO(data) if data is not None else None)
	dst.close()
	open(sys.argv[1], "wb").write(out.getvalue())
	PY
	mkdir "$BATS_TEST_TMPDIR/b"
	cp Envfile "$BATS_TEST_TMPDIR/b/"
	export DEVENV_HOME=$STORE2
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle"
	assert_success
	run "$DEVENV" images
	refute_output --partial planted
	# Project A comes up on the bundle's base...
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo built > /x (cached)"
	"$DEVENV" destroy -f >/dev/null
	# ...project B (same Envfile, another checkout) is not given it.
	cd "$BATS_TEST_TMPDIR/b"
	run "$DEVENV" up
	assert_failure
	assert_output --partial "for another env"
	dv_busybox_image
	run "$DEVENV" up
	assert_success
}

@test "a bundle's git commit is remembered for its project's env only" {
	mkdir -p "$DV_REPO"
	git -C "$DV_REPO" init -q -b main
	echo one >"$DV_REPO/version"
	git -C "$DV_REPO" add version
	git -C "$DV_REPO" -c user.email=t@t -c user.name=t commit -qm one
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - git: file://$DV_REPO
	    ref: main
	    to: /src
	  - run: cat /src/version > /seen
	EOF
	"$DEVENV" up >/dev/null
	"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	"$DEVENV" destroy -f >/dev/null
	# The branch moves on; project B (same Envfile, no lock) is new.
	echo two >"$DV_REPO/version"
	git -C "$DV_REPO" -c user.email=t@t -c user.name=t commit -qam two
	mkdir "$BATS_TEST_TMPDIR/b"
	cp Envfile "$BATS_TEST_TMPDIR/b/"
	export DEVENV_HOME=$STORE2
	dv_busybox_image
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle"
	assert_success
	# B asks the remote: the bundle's commit was project A's.
	cd "$BATS_TEST_TMPDIR/b"
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /seen'
	assert_output two
	"$DEVENV" destroy -f >/dev/null
	# A (its checkout's lock set aside) still takes the bundle's commit.
	cd "$DV_CHECKOUT"
	rm Envfile.lock
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /seen'
	assert_output one
}

@test "a bundle's git input carrying an alternates file is refused; a kept input given one is not used" {
	mkdir -p "$DV_REPO"
	git -C "$DV_REPO" init -q -b main
	echo one >"$DV_REPO/version"
	git -C "$DV_REPO" add version
	git -C "$DV_REPO" -c user.email=t@t -c user.name=t commit -qm one
	commit=$(git -C "$DV_REPO" rev-parse HEAD)
	printf 'image: busybox\nprovision:\n  - git: file://%s\n    to: /src\n' "$DV_REPO" >Envfile
	"$DEVENV" up >/dev/null
	"$DEVENV" bundle -o "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	"$DEVENV" destroy -f >/dev/null
	# A repository of the host holding the commit; the input's own objects
	# gone, an alternates file naming the host's.
	host=$BATS_TEST_TMPDIR/host.git
	git clone -q --bare "$DV_REPO" "$host"
	python3 - "$BATS_TEST_TMPDIR/env.bundle" "$BATS_TEST_TMPDIR/bad.bundle" "$host/objects" <<-'PY'
	import hashlib, io, json, sys, tarfile
	src = tarfile.open(sys.argv[1])
	files = {m.name: (m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()}
	def blob(digest):
	    return files["blobs/sha256/" + digest[7:]][1]
	def put(data):
	    d = hashlib.sha256(data).hexdigest()
	    m = tarfile.TarInfo("blobs/sha256/" + d)
	    m.size = len(data)
	    files[m.name] = (m, data)
	    return "sha256:" + d, len(data)
	idx = json.loads(files["index.json"][1])
	for e in idx["manifests"]:
	    if e["annotations"]["dev.devenv.bundle.role"] != "git":
	        continue
	    man = json.loads(blob(e["digest"]))
	    old = tarfile.open(fileobj=io.BytesIO(blob(man["layers"][0]["digest"])))
	    out = io.BytesIO()
	    new = tarfile.open(fileobj=out, mode="w")
	    for m in old.getmembers():
	        if "/objects/" in "/" + m.name and m.isfile():
	            continue
	        new.addfile(m, old.extractfile(m) if m.isfile() else None)
	    alt = (sys.argv[3] + "\n").encode()
	    m = tarfile.TarInfo(".git/objects/info/alternates")
	    m.size = len(alt)
	    new.addfile(m, io.BytesIO(alt))
	    new.close()
	    man["layers"][0]["digest"], man["layers"][0]["size"] = put(out.getvalue())
	    e["digest"], e["size"] = put(json.dumps(man).encode())
	data = json.dumps(idx).encode()
	files["index.json"][0].size = len(data)
	files["index.json"] = (files["index.json"][0], data)
	with tarfile.open(sys.argv[2], "w") as t:
	    for m, data in files.values():
	        t.addfile(m, io.BytesIO(data) if data is not None else None)
	PY
	export DEVENV_HOME=$STORE2
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/bad.bundle"
	assert_failure
	assert_output --regexp "^devenv: git input sha256:[0-9a-f]{12} of the bundle carries objects/info/alternates, which would have git read from elsewhere on this machine: the bundle is refused; ask its sender for a new one$"
	[[ ! -e $STORE2/inputs/git-$commit ]]
	run ls "$STORE2/cache"
	assert_output ""

	# The bundle as made: kept as a bare clone's files and no more.
	"$DEVENV" image load "$BATS_TEST_TMPDIR/env.bundle" >/dev/null
	run ls -A "$STORE2/inputs/git-$commit" "$STORE2/inputs/git-$commit/.git"
	assert_output "$STORE2/inputs/git-$commit:
.git

$STORE2/inputs/git-$commit/.git:
HEAD
config
objects
refs"
	# A kept input given an alternates file (an older devenv's load, or
	# the store changed): not used; the step clones from the remote.
	rm -rf "$STORE2/inputs/git-$commit/.git/objects"/*
	mkdir "$STORE2/inputs/git-$commit/.git/objects/info"
	echo "$host/objects" >"$STORE2/inputs/git-$commit/.git/objects/info/alternates"
	printf 'image: busybox\nprovision:\n  - git: file://%s\n    to: /elsewhere\n' "$DV_REPO" >Envfile
	run --separate-stderr "$DEVENV" up
	assert_success
	[[ $stderr == *"inputs/git-$commit' cannot be used (it carries objects/info/alternates); cloning from the remote"* ]]
	run "$DEVENV" ssh -c 'cat /elsewhere/version'
	assert_output one
}

#!/usr/bin/env bats
# Issue 16's "done when", end to end: a project committed with its
# Envfile.lock builds the same layers (the same diff_ids) in a second store,
# from a clone of the checkout, later (at least 2 s: every time a build
# stamps is clamped to the lock's SOURCE_DATE_EPOCH) and, on Debian, against
# the dated archive the lock pins (apt_snapshot; helpers.bash's signed
# archive of devenv-probe, served on 127.0.0.1), its volatile files (dpkg's
# and apt's logs, apt's binary caches...) left out. `up --frozen` builds
# it there, the lock stays as committed, and `devenv verify` passes. And
# the comparison has teeth: another SOURCE_DATE_EPOCH in the environment
# (it wins over the lock's) gives other diff_ids, in a third store (the
# cache keys leave the epoch out: a store that has the steps takes them).
#
# The diff_ids compared are the committed image's config's rootfs.diff_ids
# (`devenv commit` + `image inspect`): what a push publishes, each step's
# layer exported and hashed; the base's come first (the same base, loaded
# from the same archive), then one per step, then the commit's own layer.
# verify alone would not do: it compares a store's cache with a rebuild in
# that same store. Its "same layer (sha256:...)" lines in the second store
# (its cached layers' diff_ids) are checked against the first store's too.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	local rc=0
	dv_apt_archive "$BATS_FILE_TMPDIR" 20261101T000000Z=1 || rc=$?
	((rc != 2)) || return 0 # a tool is missing: the Debian test skips
	((rc == 0)) || return 1
}

setup() {
	umask 022 # the first checkout's; the clone's is 002
	dv_setup
	BASE_DIR=$(dirname "$DV_STORE")
	EXTRA_STORES=()
}

teardown() {
	local main=${DV_STORE:-} own=${DV_OWN_BASE:-} s rc=0
	dv_apt_serve_stop
	for s in "${EXTRA_STORES[@]}"; do
		export DV_STORE=$s DEVENV_HOME=$s DV_OWN_BASE=
		dv_teardown || rc=1
	done
	export DV_STORE=$main DEVENV_HOME=$main DV_OWN_BASE=$own
	dv_teardown || rc=1
	return "$rc"
}

# use_store DIR: a fresh store for what follows (torn down by teardown).
use_store() {
	export DEVENV_HOME=$1
	EXTRA_STORES+=("$1")
}

# step_diff_ids BASE N: the diff_ids of the env's N step layers, one a line:
# the env committed as an image, its config's rootfs.diff_ids after BASE's.
step_diff_ids() {
	"$DEVENV" commit repro-check >/dev/null || return 1
	"$DEVENV" image inspect "$1" repro-check | python3 -c '
import json, sys
base, img = (o["Config"]["rootfs"]["diff_ids"] for o in json.load(sys.stdin))
n = int(sys.argv[1])
assert img[:len(base)] == base and len(img) == len(base) + n + 1, (base, img)
print("\n".join(img[len(base):len(base) + n]))
' "$2"
}

# verified_diff_ids: `devenv verify`'s "same layer (sha256:...)" digests,
# one a line; fails (with verify's output) unless every step verifies.
verified_diff_ids() {
	local out
	out=$("$DEVENV" verify 2>&1) || {
		printf 'verify failed:\n%s\n' "$out" >&2
		return 1
	}
	sed -n 's/^\[[0-9]*\/[0-9]*\] .*: same layer (\(sha256:[0-9a-f]\{64\}\))$/\1/p' <<<"$out"
}

# commit_and_clone: the checkout committed with its Envfile.lock, cloned to
# $BASE_DIR/clone/proj (another path: another env id), cd'd into, by a
# teammate whose umask is 002 (Ubuntu's and Fedora's for a user with a
# group of their own): the clone's files are group-writable, which no
# layer may depend on.
commit_and_clone() {
	git add -A && git commit -qm "the project, with its Envfile.lock" &&
		git ls-files --error-unmatch Envfile.lock >/dev/null &&
		(umask 002 && git clone -q "$DV_CHECKOUT" "$BASE_DIR/clone/proj") &&
		cd "$BASE_DIR/clone/proj" &&
		[[ $(stat -c %a app.conf "$DV_CHECKOUT/app.conf") == $'664\n644' ]]
}

# at_least_2s_after T: wait until 2 s have passed since T (date +%s).
at_least_2s_after() {
	while (($(date +%s) < $1 + 2)); do sleep 0.2; done
}

same_lines() {
	[[ $1 == "$2" ]] || {
		printf 'expected:\n%s\ngot:\n%s\n' "$1" "$2" >&2
		return 1
	}
}

@test "reproducible: busybox: a committed project builds the same layers in a second store, later; another epoch does not" {
	dv_busybox_image
	printf 'listen 8080\n' >app.conf
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: echo constant >/etc/constant && mkdir -p /opt/app && echo 1 >/opt/app/version
	  - copy: app.conf
	    to: /etc/app.conf
	EOF2
	run -0 "$DEVENV" up -q
	built=$(date +%s)
	epoch=$(python3 -c 'import json; print(json.load(open("Envfile.lock"))["source_date_epoch"])')
	((epoch > 0))
	first=$(step_diff_ids busybox 2)
	[[ $(wc -l <<<"$first") == 2 ]]
	commit_and_clone

	use_store "$BASE_DIR/store2"
	dv_busybox_image
	at_least_2s_after "$built"
	run -0 "$DEVENV" up -q --frozen
	run -0 git status --porcelain
	[[ -z $output ]] # the lock as committed
	same_lines "$first" "$(step_diff_ids busybox 2)"
	same_lines "$first" "$(verified_diff_ids)"
	run -0 "$DEVENV" ssh -c 'cat /etc/constant /etc/app.conf; stat -c %a /etc/app.conf'
	[[ $output == "constant"*"listen 8080"*"644" ]]

	# Not the lock's epoch: every step's layer differs (its files' times),
	# though each still verifies against itself.
	use_store "$BASE_DIR/store3"
	dv_busybox_image
	SOURCE_DATE_EPOCH=$((epoch - 86400)) run -0 "$DEVENV" up -q --frozen
	other=$(step_diff_ids busybox 2)
	[[ $(wc -l <<<"$other") == 2 ]]
	[[ -z $(comm -12 <(sort <<<"$first") <(sort <<<"$other")) ]] ||
		{ printf 'same diff_ids with another epoch:\n%s\n' "$other" >&2; false; }
	verified_diff_ids >/dev/null # with the epoch its layers record
}

@test "reproducible: debian: apt_snapshot + Envfile.lock: the same layers in a second store, later, against the dated archive" {
	[[ -s $BATS_FILE_TMPDIR/probe.gpg ]] || skip "apt-ftparchive, gpg or dpkg-deb is missing (scripts/install-deps)"
	dv_debian_image
	dv_apt_serve "$BATS_FILE_TMPDIR"
	cp "$BATS_FILE_TMPDIR/probe.gpg" probe.gpg
	printf 'listen 8080\n' >app.conf
	# The sources in a step of their own: a step's apt reads them as the
	# step starts (README: Dated package archives).
	dv_envfile <<-EOF2
	image: debian:bookworm
	network: host
	apt_snapshot: 2026-11-01T00:00:00Z
	apt_snapshot_url: http://127.0.0.1:$APT_PORT/archive/
	provision:
	  - copy: probe.gpg
	    to: /etc/apt/keyrings/devenv-probe.gpg
	  - run: >-
	      rm -f /etc/apt/sources.list.d/* &&
	      echo 'deb [signed-by=/etc/apt/keyrings/devenv-probe.gpg] http://deb.debian.org/debian bookworm main' >/etc/apt/sources.list
	  - run: apt-get update -q && apt-get install -y -q devenv-probe
	  - run: echo constant >/etc/constant
	  - copy: app.conf
	    to: /etc/app.conf
	EOF2
	run -0 "$DEVENV" up -q
	built=$(date +%s)
	# The lock pins the snapshot, and its epoch is the snapshot's time.
	run -0 python3 -c 'import json; l = json.load(open("Envfile.lock")); print(l["apt_snapshot"], l["source_date_epoch"])'
	[[ $output == "2026-11-01T00:00:00Z 1793491200" ]]
	first=$(step_diff_ids debian:bookworm 5)
	[[ $(wc -l <<<"$first") == 5 ]]
	commit_and_clone

	use_store "$BASE_DIR/store2"
	dv_debian_image
	at_least_2s_after "$built"
	run -0 "$DEVENV" up -q --frozen
	run -0 git status --porcelain
	[[ -z $output ]]
	run -0 "$DEVENV" ssh -c 'cat /usr/share/devenv-probe/version /etc/constant'
	[[ $output == "1"*"constant" ]]
	same_lines "$first" "$(step_diff_ids debian:bookworm 5)"
	same_lines "$first" "$(verified_diff_ids)"

	# Another epoch in the environment (it wins over the lock's): every
	# step's layer differs, the apt step's too.
	use_store "$BASE_DIR/store3"
	dv_debian_image
	SOURCE_DATE_EPOCH=$((1793491200 - 86400)) run -0 "$DEVENV" up -q --frozen
	other=$(step_diff_ids debian:bookworm 5)
	[[ $(wc -l <<<"$other") == 5 ]]
	[[ -z $(comm -12 <(sort <<<"$first") <(sort <<<"$other")) ]] ||
		{ printf 'same diff_ids with another epoch:\n%s\n' "$other" >&2; false; }
}

#!/usr/bin/env bats
# attacks.bats - issue 11's attacks, one test each: a repository just cloned
# is untrusted input, and every process in an env is hostile to the host.
# Each test failed on the code before the defence it checks (the commit
# that adds the test says so), and runs as root and rootless (where the
# attack applies there; a skip says why when it does not).
#
# Sections, in the issue's order: ownership of the checkout and the .git
# way out; host fds and terminals; paths opened race-free; the default
# sandbox; trust; volumes and the team cache.

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }

# ---- paths opened race-free ----
#
# A process of the env (or anything else writing the checkout) swaps a
# folder for a symlink to '/' and back as fast as it can while devenv
# resolves a `copy:` or `mounts:` source through it. The Envfile names
# x/<the secret's absolute path>: inside the checkout that is a harmless
# file, through the symlink it is the host's secret. As root the secret is
# a root-only file; without root devenv cannot read such a file at all, so
# there the secret is a private file of the user's outside the checkout
# (an ~/.ssh key, say). Nothing may ever bring its content into a layer or
# an env.

# paths_setup: the secret ($PATHS_SECRET/file, holding $PATHS_MARKER) and
# its harmless twin in the checkout under x/; $PATHS_REL is the twin's
# folder relative to the checkout.
paths_setup() {
	PATHS_MARKER="host-secret-$RANDOM$RANDOM"
	PATHS_SECRET=$(dirname "$DV_CHECKOUT")/secret/a/b/c
	PATHS_REL=x${PATHS_SECRET}
	mkdir -p "$PATHS_SECRET" "$PATHS_REL"
	printf '%s\n' "$PATHS_MARKER" >"$PATHS_SECRET/file"
	chmod 0600 "$PATHS_SECRET/file"
	chmod 0700 "$(dirname "$DV_CHECKOUT")/secret"
	echo harmless >"$PATHS_REL/file"
	ln -s / y
}

# paths_racer_start A B: exchange A and B with renameat2(RENAME_EXCHANGE)
# in a loop, as fast as it can, so that A is always one or the other;
# PATHS_RACER is its pid. It ends by itself after a minute, and holds no fd
# of bats', so that a test failing before paths_racer_stop hangs nothing.
paths_racer_start() {
	timeout 60 python3 - "$1" "$2" >/dev/null 2>&1 3>&- <<-'PY' &
	import ctypes, os, sys
	libc = ctypes.CDLL(None, use_errno=True)
	a, b = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
	swap = libc.renameat2
	while True:
	    swap(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
	PY
	PATHS_RACER=$!
}

# paths_racer_stop: end the racer.
paths_racer_stop() {
	kill "$PATHS_RACER" 2>/dev/null
	wait "$PATHS_RACER" 2>/dev/null || true
}

# paths_check_failure VERB: count $status and $output of a run in ok and
# escaped; a failure must be one line at the Envfile position: at load,
# "... is outside the checkout" (exit 2); at use, "... now leads outside the
# checkout (a symlink?); nothing was VERB" (exit 1). Else say so, and 1.
paths_check_failure() {
	local at='^devenv: Envfile:[0-9]+:[0-9]+: '
	if ((status == 0)); then
		ok=$((ok + 1))
	elif ((${#lines[@]} == 1 && status == 1)) &&
		[[ $output =~ ${at}.*\ now\ leads\ outside\ the\ checkout\ \(a\ symlink\?\)\;\ nothing\ was\ $1$ ]]; then
		escaped=$((escaped + 1))
	elif ! ((${#lines[@]} == 1 && status == 2)) || ! [[ $output =~ ${at}.*\ is\ outside\ the\ checkout ]]; then
		echo "unexpected failure (status $status): $output" >&2
		return 1
	fi
}

# paths_store_has_marker: does any file of the store hold the marker?
# (Without root the layers' files belong to subordinate ids.)
paths_store_has_marker() {
	if ((EUID == 0)); then
		grep -rqF -- "$PATHS_MARKER" "$DV_STORE"
	else
		unshare --map-root-user --map-auto grep -rqF -- "$PATHS_MARKER" "$DV_STORE"
	fi
}

@test "paths: a folder swapped for a symlink to / during 50 provisions: 'copy' never takes a host file" {
	local i leaks=0 ok=0 escaped=0
	dv_busybox_image
	paths_setup
	paths_racer_start x y
	for ((i = 0; i < 50; i++)); do
		# A new 'to' each time: a new key, so the copy really runs.
		printf 'image: busybox\nprovision:\n  - copy: %s/file\n    to: /got-%d\n' \
			"$PATHS_REL" "$i" | dv_envfile
		run "$DEVENV" provision -q
		paths_check_failure copied || break
		if paths_store_has_marker; then
			leaks=$((leaks + 1))
			echo "provision $i copied the host's secret into a layer" >&2
			break
		fi
	done
	paths_racer_stop
	echo "# 50 provisions: $ok succeeded, $escaped stopped at use, $leaks leaked" >&3
	((i == 50 || leaks))
	((leaks == 0))
	# The race was really run: some provisions got through.
	((ok > 0))
}

@test "paths: a folder swapped for a symlink to / during 50 ups: 'mounts' never mounts a host folder" {
	local i leaks=0 ok=0 escaped=0
	dv_busybox_image
	paths_setup
	printf 'image: busybox\nmounts: ["./%s:/data"]\n' "$PATHS_REL" | dv_envfile
	paths_racer_start x y
	for ((i = 0; i < 50; i++)); do
		run "$DEVENV" up -q
		paths_check_failure mounted || break
		if ((status == 0)); then
			run "$DEVENV" ssh -c 'cat /data/file'
			if [[ $output == *"$PATHS_MARKER"* ]]; then
				leaks=$((leaks + 1))
				echo "up $i mounted the host's secret folder at /data" >&2
				break
			fi
			"$DEVENV" halt -q >/dev/null
		fi
	done
	paths_racer_stop
	echo "# 50 ups: $ok started, $escaped stopped at use, $leaks leaked" >&3
	((i == 50 || leaks))
	((leaks == 0))
	((ok > 0))
}

# paths_store_cat FILE...: cat files of the store (its layers' files
# belong to subordinate ids without root).
paths_store_cat() {
	if ((EUID == 0)); then
		cat "$@"
	else
		unshare --map-root-user --map-auto cat "$@"
	fi
}

@test "paths: a file swapped during 50 provisions: every layer holds what its key was made from" {
	local i ok=0 escaped=0 layer name got id poisoned=0 checked=0
	local changed="^devenv: Envfile:3:5: 'copy' path 'f.txt' changed while (this command ran|it was being copied); nothing was cached; run the command again\$"
	dv_busybox_image
	printf 'AAAA\n' >f.txt
	printf 'BBBB\n' >f.alt
	# the racer, on two files: f.txt holds one content or the other
	paths_racer_start f.txt f.alt
	for ((i = 0; i < 50; i++)); do
		printf 'image: busybox\nprovision:\n  - copy: f.txt\n    to: /got-%d\n' "$i" | dv_envfile
		run "$DEVENV" provision -q
		if ((status == 0)); then
			ok=$((ok + 1))
		elif ((status == 1)) && [[ $output =~ $changed ]]; then
			escaped=$((escaped + 1))
		else
			paths_racer_stop
			echo "unexpected failure (status $status): $output" >&2
			return 1
		fi
	done
	paths_racer_stop
	echo "# 50 provisions: $ok succeeded, $escaped saw the file change" >&3
	((ok > 0))
	# Each layer that holds a copy must be the one its content keys to:
	# provision that content, at rest, in another checkout.
	mkdir "$DV_CHECKOUT/../check"
	cd "$DV_CHECKOUT/../check"
	for layer in "$DV_STORE"/layers/*/diff/got-*; do
		name=${layer##*/}
		got=$(paths_store_cat "$layer")
		printf '%s\n' "$got" >f.txt
		printf 'image: busybox\nprovision:\n  - copy: f.txt\n    to: /%s\n' "$name" | dv_envfile
		"$DEVENV" provision -q >/dev/null
		id=$(python3 -c 'import glob, json, os, sys
for f in glob.glob(sys.argv[1] + "/envs/*/state.json"):
    s = json.load(open(f))
    if s["checkout"] == os.path.realpath("."):
        print(s["steps"][0])' "$DV_STORE")
		checked=$((checked + 1))
		if [[ $id != "$(basename "$(dirname "$(dirname "$layer")")")" ]]; then
			poisoned=$((poisoned + 1))
			echo "the layer of /$name holds '$got', which is not what its key was made from" >&2
		fi
	done
	echo "# $checked layers checked, $poisoned hold what their key does not say" >&3
	((checked > 0))
	((poisoned == 0))
}

# The mount of a host path is cloned in a helper's own mount namespace
# (provision/hostmount.c): made private there first, the clone is no peer
# of the host's mounts even where those are shared (systemd's default).
# Passes before this change too (the clone was made in the container's
# private namespace then); it guards the new helper.
@test "paths: a mount the env makes below a host mount never reaches the host, even where the host's mounts are shared" {
	dv_need_host_root "a shared mount namespace of the host's needs root"
	dv_busybox_image
	mkdir -p data/sub
	printf 'image: busybox\nmounts: ["./data:/data"]\nsecurity: {cap_add: [SYS_ADMIN], seccomp: unconfined}\n' |
		dv_envfile
	# A mount namespace whose mounts are all shared stands for such a host.
	run unshare -m --propagation shared bash -c '
		"$DEVENV" up -q || exit 3
		"$DEVENV" ssh -c "mount -t tmpfs env-tmpfs /data/sub" || exit 4
		findmnt -rn -o SOURCE,TARGET | grep -F "env-tmpfs"
		exit 0'
	assert_success
	assert_output ""
}

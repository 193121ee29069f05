# test/integration/helpers.bash - sourced by every .bats file (`load helpers`).
#
# A test usually reads:
#
#	setup()    { dv_setup; }            # fresh store + fresh git checkout, cd'd into
#	teardown() { dv_teardown; }         # destroy its envs, check no mounts, remove
#
#	@test "up runs the provisioning steps" {
#		dv_busybox_image
#		dv_envfile <<-'EOF'
#		image: busybox
#		provision:
#		  - run: echo hi > /hi
#		EOF
#		run "$DEVENV" up
#		assert_success
#	}
#
# Assertions come from Debian's bats-support, bats-assert and bats-file
# (scripts/install-deps installs them): assert_success, assert_failure N,
# assert_output [--partial|--regexp], assert_line, refute_output,
# assert_equal, assert_file_exists...
#
# busybox_tar also works outside bats (bench/run sources this file).

DV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEVENV=${DEVENV:-$DV_ROOT/devenv}
export DV_ROOT DEVENV

# Where busybox_tar keeps its tarballs between runs. Bump DV_BUSYBOX_RECIPE
# whenever busybox_tar's output changes, so old cache entries are not reused.
DV_TEST_CACHE=${DV_TEST_CACHE:-/var/tmp/devenv-test-cache}
DV_BUSYBOX_RECIPE=1

if [[ -n ${BATS_VERSION:-} ]]; then
	for _dv_lib in bats-support bats-assert bats-file; do
		bats_load_library "$_dv_lib" || {
			echo "helpers.bash: cannot load $_dv_lib (run scripts/install-deps)" >&2
			return 1
		}
	done
	unset _dv_lib
fi

# The integration tests run twice (scripts/run-tests): as root, and then
# rootless, as an unprivileged user the run creates, with DV_ROOTLESS_TESTS=1.
DV_ROOTLESS=0
((EUID != 0)) && DV_ROOTLESS=1
export DV_ROOTLESS

# dv_need_root: skip the test, saying why, unless we are root or this is
# the rootless pass.
dv_need_root() {
	((EUID == 0)) || [[ ${DV_ROOTLESS_TESTS:-} == 1 ]] ||
		skip "needs root, or DV_ROOTLESS_TESTS=1 as a user with /etc/subuid: runs real containers"
}

# dv_need_host_root WHY: skip the test in the rootless pass, saying why
# (something only root of the host can do).
dv_need_host_root() {
	((EUID == 0)) || skip "rootless: $1"
}

# dv_cgroup_delegables: the devenv/ folders devenv needs delegated without
# root: each v1 hierarchy with cpu, cpuacct, memory, pids or freezer, and a
# cgroup2 one offering cpu, memory or pids.
dv_cgroup_delegables() {
	local target fstype opts
	findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS | while read -r target fstype opts; do
		if [[ $fstype == cgroup2 ]]; then
			grep -qwE 'cpu|memory|pids' "$target/cgroup.controllers" 2>/dev/null || continue
		else
			grep -qwE 'cpu|cpuacct|memory|pids|freezer' <<<"${opts//,/ }" || continue
		fi
		printf '%s/devenv\n' "$target"
	done
}

# dv_need_cgroups: skip the test in the rootless pass unless every folder of
# dv_cgroup_delegables is ours (README "Without root").
dv_need_cgroups() {
	((EUID == 0)) && return 0
	local d n=0
	while read -r d; do
		[[ -w $d ]] || skip "rootless: no cgroup is delegated to this user here (rootless.bats tests the fallback)"
		n=$((n + 1))
	done < <(dv_cgroup_delegables)
	((n)) || skip "rootless: this machine has no cgroup hierarchy devenv uses"
}

# dv_need_rootless: skip the test unless this is the rootless pass.
dv_need_rootless() {
	((EUID != 0)) || skip "rootless only: runs in the rootless pass"
}

# dv_rm_store DIR: remove a store; without root its image files belong to
# our subordinate ids, so rm runs as root of a user namespace mapping them.
dv_rm_store() {
	if ((EUID == 0)); then
		rm -rf --one-file-system "$@"
	else
		unshare --map-root-user --map-auto rm -rf --one-file-system "$@"
	fi
}

# dv_setup [NAME]: a fresh DEVENV_HOME and a fresh git checkout folder named
# NAME (default "proj", which is then the env's default name), and cd into it.
# Sets DEVENV_HOME (exported), DV_STORE (= DEVENV_HOME), DV_CHECKOUT.
#
# The store must be on a real disk filesystem: overlayfs needs its upper and
# work folders on one filesystem that supports trusted.* xattrs, and the
# layers are renamed into place. BATS_TEST_TMPDIR is used when it is on such
# a filesystem (here /tmp is ext4), else a folder under /var/tmp.
dv_setup() {
	local name=${1:-proj} base fstype
	dv_need_root
	[[ -x $DEVENV ]] || {
		echo "dv_setup: '$DEVENV' is missing: run make" >&2
		return 1
	}
	base=${BATS_TEST_TMPDIR:?dv_setup runs inside a bats test}
	fstype=$(stat -f -c %T "$base")
	case $fstype in
	ext2/ext3 | xfs | btrfs) DV_OWN_BASE= ;;
	*)
		base=$(mktemp -d /var/tmp/devenv-test.XXXXXX)
		DV_OWN_BASE=$base
		;;
	esac
	DV_STORE=$base/store
	DV_CHECKOUT=$base/$name
	export DEVENV_HOME=$DV_STORE
	# What an Envfile asks for beyond the default sandbox (host mounts,
	# cap_add, network: host, cache_from...) runs here without the trust
	# prompt, as in CI (README: Security). The tests of the prompt itself
	# (attacks.bats, trust) unset it.
	export DEVENV_ALLOW=1
	# The runner's own ~/.config/devenv/config.yaml (dotfiles...) stays
	# out of the tests: dotfiles.bats writes one of its own here.
	export XDG_CONFIG_HOME=$base/config
	export DV_STORE DV_CHECKOUT DV_OWN_BASE
	mkdir -p "$DV_CHECKOUT"
	git -C "$DV_CHECKOUT" init -q
	git -C "$DV_CHECKOUT" config user.email test@devenv.invalid
	git -C "$DV_CHECKOUT" config user.name "devenv test"
	cd "$DV_CHECKOUT" || return 1
}

# dv_teardown: destroy every env in the test's store (ignoring errors), kill
# whatever still runs in a container of that store, check that nothing is
# mounted under the store and that no cgroup of the store is left, then
# remove it without crossing into another filesystem. Fails the test when a
# process survived destroy, a mount or a cgroup was left behind (saying
# which). Leftovers are found from the kernel's side (mount tables naming
# the store, cgroup folders named with its store id), not through the
# devenv under test, and only this store's: other devenvs may run here.
# First it ends the test's ssh-agent, if it started one.
dv_teardown() {
	local store=${DV_STORE:-} dir id problems=0 i out
	local -a pids=() leftovers=()
	dv_ssh_agent_stop
	[[ -n $store && -d $store ]] || return 0
	cd / || return 1

	for dir in "$store"/envs/*/; do
		[[ -d $dir ]] || continue
		id=$(basename "$dir")
		# A destroy that fails here is a bug the test did not look for.
		if ! out=$(timeout 60 "$DEVENV" destroy -f -e "$id" 2>&1); then
			echo "dv_teardown: 'devenv destroy -f -e $id' failed: $out" >&2
			problems=1
		fi
	done

	mapfile -t pids < <(dv_procs_in_store "$store")
	if ((${#pids[@]})); then
		echo "dv_teardown: still running in this store's containers after destroy: ${pids[*]}; killing them" >&2
		kill -KILL "${pids[@]}" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			[[ -z $(dv_procs_in_store "$store") ]] && break
			sleep 0.05
		done
		problems=1
	fi

	# Removed by destroy (an env's) or by the build that made it; a test
	# that kills devenv runs gc (crash.bats). The kernel may take a moment
	# to let go of a cgroup whose last process just died.
	for ((i = 0; i < 40; i++)); do
		mapfile -t leftovers < <(dv_cgroups_of_store "$store")
		((${#leftovers[@]})) || break
		sleep 0.05
	done
	if ((${#leftovers[@]})); then
		echo "dv_teardown: cgroups of this store left after destroy: ${leftovers[*]}; removing them" >&2
		printf '%s\n' "${leftovers[@]}" | sort -r | while read -r d; do
			rmdir "$d" 2>/dev/null
		done
		problems=1
	fi

	mapfile -t leftovers < <(dv_mounts_under "$store")
	if ((${#leftovers[@]})); then
		echo "dv_teardown: left mounted under the store: ${leftovers[*]}" >&2
		# Deepest first, lazily, so the rm below cannot reach into them.
		printf '%s\n' "${leftovers[@]}" | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null
		done
		problems=1
	fi

	dv_rm_store "$store"
	[[ -n ${DV_OWN_BASE:-} ]] && dv_rm_store "$DV_OWN_BASE"
	unset DV_STORE DEVENV_HOME
	return "$problems"
}

# dv_procs_in_store DIR: pids of processes whose mount namespace has an
# overlay with its upper or lower folders under DIR: the inits and
# everything else running in that store's envs and build containers.
# Processes in our own mount namespace are never listed, whatever it holds.
dv_procs_in_store() {
	local dir=${1%/} self f pid
	self=$(readlink /proc/self/ns/mnt)
	for f in /proc/[0-9]*/mountinfo; do
		grep -qF -e "=$dir/" -e ":$dir/" "$f" 2>/dev/null || continue
		pid=${f#/proc/}
		pid=${pid%/mountinfo}
		[[ $(readlink "/proc/$pid/ns/mnt" 2>/dev/null) == "$self" ]] && continue
		printf '%s\n' "$pid"
	done
}

# dv_cgroups_of_store DIR: the cgroup folders of the store DIR, in every
# hierarchy devenv uses: devenv/<store id>-<env id> (and what is below it)
# and devenv/build-<store id>-<pid>; none when it has no store id yet.
dv_cgroups_of_store() {
	local sid d
	sid=$(cat "${1%/}/store-id" 2>/dev/null) || return 0
	[[ $sid =~ ^[0-9a-f]{8}$ ]] || return 0
	for d in $(dv_cgroup_delegables); do
		compgen -G "$d/$sid-*" | while read -r c; do
			find "$c" -type d
		done
		compgen -G "$d/build-$sid-*"
	done
	return 0
}

# dv_pgrep_store PGREP_ARGS...: the pids pgrep finds that belong to the
# test's store ($DV_STORE): running in one of its containers (an overlay of
# it in their mount namespace) or holding one of its files open (a
# service's log relay). Never another devenv's processes.
dv_pgrep_store() {
	local dir=${DV_STORE%/} pid
	for pid in $(pgrep "$@"); do
		if grep -qF -e "=$dir/" -e ":$dir/" "/proc/$pid/mountinfo" 2>/dev/null ||
			ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF -- "-> $dir/"; then
			printf '%s\n' "$pid"
		fi
	done
	return 0
}

# dv_mounts_under DIR: mount points at or under DIR in our mount namespace.
dv_mounts_under() {
	local dir=${1%/}
	findmnt -rn -o TARGET | awk -v d="$dir" '$0 == d || index($0, d "/") == 1'
}

# dv_proc_start PID: the process's start time (field 22 of /proc/PID/stat),
# empty when it does not exist. Field 2 may hold spaces: cut after its ')'.
dv_proc_start() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	awk '{ print $20 }' <<<"$stat"
}

# dv_json FIELD: print FIELD of the JSON object on stdin (empty for null).
dv_json() {
	python3 -c '
import json, sys
v = json.load(sys.stdin).get(sys.argv[1])
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))
' "$1"
}

# dv_init_pid [ID]: pid of the env's init, from `devenv status --json`; empty
# when halted. Without ID, the env of the current folder.
dv_init_pid() {
	if (($#)); then
		dv_init_pid_of "$1"
	else
		"$DEVENV" status --json | dv_json pid
	fi
}
dv_init_pid_of() {
	"$DEVENV" status --json -e "$1" | dv_json pid
}

# dv_wait SECONDS COMMAND...: run COMMAND until it succeeds, every 50 ms,
# for at most SECONDS; 1 if it never did. A test that must let something
# happen first waits for the sign that it has, never for a fixed time.
dv_wait() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}

# dv_child PARENT NAME: the pid of PARENT's child process named NAME, once
# it runs (waiting up to 5 s); fails, saying so, when none does.
dv_child() {
	if dv_wait 5 pgrep -x -P "$1" "$2" >/dev/null; then
		pgrep -x -P "$1" "$2"
	else
		echo "dv_child: no process $2 under $1" >&2
		return 1
	fi
}

# dv_gone PID: the process PID ends (within 5 s); fails, saying so, if not.
dv_gone() {
	dv_wait 5 bash -c "! kill -0 $1 2>/dev/null" || {
		echo "dv_gone: process $1 is still running" >&2
		return 1
	}
}

# dv_assert_confined PID: the process runs as devenv's host-side helpers do
# (ARCHITECTURE "Host-side helpers"): no effective, permitted or ambient
# capability, no_new_privs, a seccomp filter, in a session of its own.
dv_assert_confined() {
	run grep -E '^(CapEff|CapPrm|CapAmb|NoNewPrivs|Seccomp):' "/proc/$1/status"
	assert_line --regexp '^CapEff:\s+0+$'
	assert_line --regexp '^CapPrm:\s+0+$'
	assert_line --regexp '^CapAmb:\s+0+$'
	assert_line --regexp '^NoNewPrivs:\s+1$'
	assert_line --regexp '^Seccomp:\s+2$'
	assert_equal "$(ps -o sid= -p "$1" | tr -d ' ')" "$1"
}

# dv_envfile [PATH]: write stdin to PATH (default ./Envfile).
dv_envfile() {
	cat >"${1:-Envfile}"
}

# busybox_tar: print the path of a root filesystem tarball made from
# /bin/busybox (busybox-static): bin/busybox and a relative symlink for each
# applet where `busybox --list-full` puts it, etc/passwd and etc/group with
# root, /tmp and /var/tmp 1777, empty proc sys dev. Built once and cached
# under $DV_TEST_CACHE, keyed by the binary's sha256; a lock makes
# concurrent callers wait for one build. The tar is byte-for-byte
# reproducible (sorted, mtime 0, owner 0), so its image id is stable too.
busybox_tar() {
	local bb=/bin/busybox key tar
	[[ -x $bb ]] || {
		echo "busybox_tar: $bb is missing (apt-get install busybox-static)" >&2
		return 1
	}
	key=$(sha256sum "$bb" | cut -c1-16)
	tar=$DV_TEST_CACHE/busybox-$key-r$DV_BUSYBOX_RECIPE.tar
	if [[ ! -s $tar ]]; then
		mkdir -p "$DV_TEST_CACHE" || return 1
		(
			flock 9 || exit 1
			[[ -s $tar ]] && exit 0
			_dv_build_busybox_tar "$bb" "$tar"
		) 9>"$DV_TEST_CACHE/lock" || return 1
	fi
	printf '%s\n' "$tar"
}

_dv_build_busybox_tar() {
	local bb=$1 out=$2 root path dir up rc
	root=$(mktemp -d "$DV_TEST_CACHE/build.XXXXXX") || return 1
	(
		set -e
		umask 022
		cd "$root"
		mkdir -p bin sbin usr/bin usr/sbin usr/local/bin etc root home \
			tmp var/tmp run proc sys dev
		chmod 0700 root
		chmod 1777 tmp var/tmp
		cp "$bb" bin/busybox
		chmod 0755 bin/busybox
		"$bb" --list-full | while read -r path; do
			case $path in bin/busybox | linuxrc | "") continue ;; esac
			dir=${path%/*}
			[[ $dir == "$path" ]] && dir=.
			mkdir -p "$dir"
			# Relative targets, so the link resolves inside the root
			# wherever the root is looked at from.
			if [[ $dir == bin ]]; then
				up=busybox
			else
				up=$(sed 's|[^/]*|..|g' <<<"$dir")/bin/busybox
			fi
			[[ -e $path || -L $path ]] || ln -s "$up" "$path"
		done
		printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >etc/passwd
		printf 'root:x:0:\nnogroup:x:65534:\n' >etc/group
		chmod 0644 etc/passwd etc/group
		tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
			--format=gnu -cf "$out.tmp" -- *
		mv -f "$out.tmp" "$out"
	)
	rc=$?
	rm -rf --one-file-system "$root" "$out.tmp"
	return "$rc"
}

# dv_busybox_image [NAME]: import the busybox tarball into the test's store
# as NAME (default "busybox", stored as localhost/busybox:latest).
dv_busybox_image() {
	local tar
	tar=$(busybox_tar) || return 1
	"$DEVENV" image import "$tar" "${1:-busybox}" >/dev/null
}

# The shared Debian base. Tests of real distributions load debian:bookworm
# from an OCI archive (`image save`'s) instead of bootstrapping it each
# (~20 s each; a load is ~1 s): the first test of a run that needs it
# bootstraps debian:bookworm into a scratch store under $DV_TEST_BASE and
# saves it there as bookworm-DAY-MIRROR.oci.tar, under a lock (flock of the
# folder itself), while the others wait. DAY is today's date (UTC), MIRROR
# a hash of the apt sources devenv's bootstrap reads its mirror from, so a
# day's runs share one base and a new day or another mirror makes a new
# one. The folder is sticky and writable by all, as /tmp, so that the
# rootless pass of scripts/run-tests loads the root pass's archive; each
# user removes its own archives of earlier days.
# Bump DV_DEBIAN_RECIPE when what `image bootstrap` builds changes, so that
# an archive of the old recipe made earlier the same day is not reused.
DV_TEST_BASE=${DV_TEST_BASE:-/var/tmp/devenv-test-base}
DV_DEBIAN_RECIPE=1

# dv_debian_key: DAY-MIRROR-rRECIPE for the archive's name.
dv_debian_key() {
	local h
	h=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | sha256sum | cut -c1-12)
	printf '%s-%s-r%s\n' "$(date -u +%Y%m%d)" "$h" "$DV_DEBIAN_RECIPE"
}

# dv_debian_archive: print the path of today's debian:bookworm archive,
# bootstrapping and saving it first when it is missing. Its bootstrap's
# output goes to stderr, and to $DV_TEST_BASE/bootstrap-KEY.log on failure.
dv_debian_archive() {
	local key out
	key=$(dv_debian_key)
	out=$DV_TEST_BASE/bookworm-$key.oci.tar
	if [[ ! -s $out ]]; then
		if [[ ! -d $DV_TEST_BASE ]]; then
			mkdir -p "$DV_TEST_BASE" 2>/dev/null || return 1
			chmod 1777 "$DV_TEST_BASE" 2>/dev/null
		fi
		(
			flock 9 || exit 1
			[[ -s $out ]] && exit 0
			_dv_build_debian_archive "$out"
		) 9<"$DV_TEST_BASE" || return 1
	fi
	printf '%s\n' "$out"
}

_dv_build_debian_archive() {
	local out=$1 scratch rc log f
	scratch=$(mktemp -d "$DV_TEST_BASE/build.XXXXXX") || return 1
	log=$scratch.log
	(
		export DEVENV_HOME=$scratch/store
		"$DEVENV" image bootstrap debian:bookworm &&
			"$DEVENV" image save debian:bookworm "$out.tmp.$$" &&
			chmod 0644 "$out.tmp.$$" && mv -f "$out.tmp.$$" "$out"
	) >"$log" 2>&1
	rc=$?
	if ((rc)); then
		cp "$log" "${out%.oci.tar}.log" 2>/dev/null
		cat "$log" >&2
	fi
	rm -f "$out.tmp.$$" "$log"
	dv_rm_store "$scratch"
	# Earlier days' archives of ours (another user's stay theirs).
	for f in "$DV_TEST_BASE"/bookworm-*.oci.tar; do
		[[ $f == "$out" || ! -O $f ]] || rm -f "$f"
	done
	return "$rc"
}

# dv_debian_image [NAME]: debian:bookworm (or NAME) in the test's store,
# loaded from the shared archive. Skips the test, saying why, when the
# bootstrap failed and the mirror it named does not answer (no network);
# any other failure fails the test with the bootstrap's output.
dv_debian_image() {
	local archive errf=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:?dv_debian_image runs inside bats}}/debian-base.err mirror
	if ! archive=$(dv_debian_archive 2>"$errf"); then
		mirror=$(sed -n 's/^devenv: building .* with mmdebstrap from \(.*\)$/\1/p' "$errf" | head -n 1)
		if [[ -n $mirror ]] && ! curl -fsS --max-time 10 -o /dev/null "$mirror/dists/bookworm/Release" 2>/dev/null; then
			skip "no Debian mirror reachable: $mirror does not answer"
		fi
		cat "$errf" >&2
		return 1
	fi
	"$DEVENV" image load "$archive" "${1:-debian:bookworm}" >/dev/null
}

# Images derived from the shared Debian base: each is built once per run,
# by the first test that asks for it, and kept beside the base for the
# rest of the run and the day's other runs.

# _dv_derived_image NAME STEM RECIPE SRC [CONFIG]: NAME in the test's store,
# loaded from $DV_TEST_BASE/STEM-KEY-rRECIPE.oci.tar (KEY: dv_debian_key).
# The first caller makes that archive, under the base's lock while the
# others wait: up + commit in a scratch copy of the checkout folder SRC,
# whose Envfile builds on debian:bookworm, then CONFIG (JSON, optional) set
# in the image's OCI config by test/fixtures/oci_config.py. It removes the
# caller's own archives of STEM of other keys (earlier days). Skips or
# fails as dv_debian_image when there is no base; a failed build's output
# goes to stderr. Bump RECIPE when what SRC builds changes.
_dv_derived_image() {
	local name=$1 stem=$2 recipe=$3 src=$4 config=${5:-} base out
	base=$(dv_debian_archive 2>/dev/null) || { dv_debian_image; return 1; }
	out=$DV_TEST_BASE/$stem-$(dv_debian_key)-r$recipe.oci.tar
	if [[ ! -s $out ]]; then
		(
			flock 9 || exit 1
			[[ -s $out ]] && exit 0
			_dv_build_derived_archive "$base" "$stem" "$out" "$src" "$config"
		) 9<"$DV_TEST_BASE" || return 1
	fi
	"$DEVENV" image load "$out" "$name" >/dev/null
}

_dv_build_derived_archive() {
	local base=$1 stem=$2 out=$3 src=$4 config=$5 dir rc f
	dir=$(mktemp -d "$DV_TEST_BASE/derive.XXXXXX") || return 1
	(
		set -e
		export DEVENV_HOME=$dir/store
		cp -r "$src" "$dir/co"
		cd "$dir/co"
		git init -q .
		"$DEVENV" image load "$base" debian:bookworm >/dev/null
		"$DEVENV" up -q
		"$DEVENV" commit derived-build >/dev/null
		"$DEVENV" destroy -f >/dev/null
		if [[ -n $config ]]; then
			"$DEVENV" image save derived-build "$dir/built.tar" >/dev/null
			python3 "$DV_ROOT/test/fixtures/oci_config.py" "$dir/built.tar" "$out.tmp.$$" "$config"
		else
			"$DEVENV" image save derived-build "$out.tmp.$$" >/dev/null
		fi
		chmod 0644 "$out.tmp.$$"
		mv -f "$out.tmp.$$" "$out"
	) >"$dir.log" 2>&1
	rc=$?
	((rc)) && cat "$dir.log" >&2
	rm -f "$out.tmp.$$" "$dir.log"
	dv_rm_store "$dir"
	# STEM's archives of other keys (STEM-DAY-MIRROR-rN-rM.oci.tar; a
	# longer stem that starts with this one is another image's).
	for f in "$DV_TEST_BASE/$stem"-*.oci.tar; do
		[[ $f != "$out" && -O $f &&
			${f#"$DV_TEST_BASE/$stem-"} =~ ^[0-9]{8}-[0-9a-f]{12}-r[0-9]+-r[0-9]+\.oci\.tar$ ]] && rm -f "$f"
	done
	return "$rc"
}

# dv_postgres_image: postgres:15 in the test's store: the stand-in for
# Docker Hub's image (test/fixtures/postgres: Debian's PostgreSQL 15 and an
# entrypoint honouring POSTGRES_PASSWORD), derived from the shared Debian
# base and given the real image's Entrypoint, Cmd and Env. Bump
# DV_POSTGRES_RECIPE when test/fixtures/postgres changes.
DV_POSTGRES_RECIPE=1
dv_postgres_image() {
	_dv_derived_image postgres:15 postgres15 "$DV_POSTGRES_RECIPE" "$DV_ROOT/test/fixtures/postgres" \
		'{"Entrypoint":["/usr/local/bin/docker-entrypoint.sh"],"Cmd":["postgres"],"Env":["PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","PGDATA=/var/lib/postgresql/data","LANG=C.UTF-8"]}'
}

# dv_debian_with NAME PKG...: NAME in the test's store: debian:bookworm with
# Debian's packages PKG... (and what they recommend left out), derived from
# the shared base once per run and package list. Neither apt's lists nor
# the host keys openssh-server makes stay in the image. Bump
# DV_DEBIAN_WITH_RECIPE when the step below changes.
DV_DEBIAN_WITH_RECIPE=1
dv_debian_with() {
	local name=$1 src pkgs
	shift
	pkgs=$(printf '%s\n' "$@" | sort -u | paste -sd' ')
	src=$(mktemp -d "${BATS_TEST_TMPDIR:?dv_debian_with runs inside a bats test}/debian-with.XXXXXX") || return 1
	cat >"$src/Envfile" <<-EOF
	image: debian:bookworm
	provision:
	  - run: >-
	      apt-get update -q &&
	      apt-get install -y -q --no-install-recommends $pkgs &&
	      rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
	EOF
	_dv_derived_image "$name" "bookworm+${pkgs// /+}" "$DV_DEBIAN_WITH_RECIPE" "$src"
}

# dv_registry_start DIR [IP [STORAGE]]: start Debian's docker-registry on a
# free port of IP (default 127.0.0.1), storing under STORAGE (default
# DIR/storage), its config and log in DIR, for the calling file
# (from setup_file). With DV_REGISTRY_HTPASSWD=FILE it wants Basic auth
# from the users of that htpasswd file (bcrypt). Sets and exports DV_REGISTRY (host:port),
# DV_REGISTRY_PID and DV_REGISTRY_STORAGE. dv_registry_stop ends it.
dv_registry_start() {
	local dir=$1 ip=${2:-127.0.0.1} storage=${3:-$1/storage} port i
	command -v docker-registry >/dev/null || {
		echo "dv_registry_start: docker-registry is missing (run scripts/install-deps)" >&2
		return 1
	}
	mkdir -p "$dir" "$storage" || return 1
	port=$(python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$ip")
	cat >"$dir/config.yml" <<-YML
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: true
	storage:
	  filesystem:
	    rootdirectory: $storage
	  delete:
	    enabled: true
	http:
	  addr: $ip:$port
	YML
	if [[ -n ${DV_REGISTRY_HTPASSWD:-} ]]; then
		printf 'auth:\n  htpasswd:\n    realm: devenv-test\n    path: %s\n' \
			"$DV_REGISTRY_HTPASSWD" >>"$dir/config.yml"
	fi
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	DV_REGISTRY_PID=$!
	DV_REGISTRY=$ip:$port
	DV_REGISTRY_STORAGE=$storage
	export DV_REGISTRY DV_REGISTRY_PID DV_REGISTRY_STORAGE
	for ((i = 0; i < 100; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$DV_REGISTRY/v2/") =~ ^(200|401)$ ]] && return 0
		kill -0 "$DV_REGISTRY_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "dv_registry_start: the registry did not start:" >&2
	cat "$dir/log" >&2
	return 1
}

dv_registry_stop() {
	[[ -n ${DV_REGISTRY_PID:-} ]] || return 0
	kill "$DV_REGISTRY_PID" 2>/dev/null
	wait "$DV_REGISTRY_PID" 2>/dev/null || true
	DV_REGISTRY_PID=
}

# authproxy_start: a bearer-token front (test/fixtures/authproxy.py) to the
# file's registry, for this test; sets PROXY (host:port).
authproxy_start() {
	local i
	python3 "$DV_ROOT/test/fixtures/authproxy.py" "$BATS_TEST_TMPDIR/proxy.port" "$DV_REGISTRY" &
	PROXY_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $BATS_TEST_TMPDIR/proxy.port ]] && break
		sleep 0.05
	done
	PROXY=127.0.0.1:$(cat "$BATS_TEST_TMPDIR/proxy.port")
}

authproxy_stop() {
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null || true
}

# mktar OUT: write a tarball from python's tarfile, entries given on stdin as
# lines "KIND NAME [TARGET]" (KIND: file, dir, sym, link, chr).
mktar() {
	python3 -c '
import io, sys, tarfile
out = sys.argv[1]
with tarfile.open(out, "w") as t:
    for line in sys.stdin:
        parts = line.split()
        if not parts: continue
        kind, name = parts[0], parts[1]
        ti = tarfile.TarInfo(name)
        ti.mode = 0o755 if kind == "dir" else 0o644
        data = b""
        if kind == "dir": ti.type = tarfile.DIRTYPE
        elif kind == "sym": ti.type = tarfile.SYMTYPE; ti.linkname = parts[2]
        elif kind == "link": ti.type = tarfile.LNKTYPE; ti.linkname = parts[2]
        elif kind == "chr": ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3
        else: data = b"x\n"; ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data else None)
' "$1"
}

# dv_free_port: a TCP port nothing listens on now (other tests run beside us).
dv_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# dv_fetch URL: the page, retrying for up to about 3 s while servers start.
dv_fetch() {
	local i
	for ((i = 0; i < 30; i++)); do
		curl -fsS --max-time 3 "$1" && return 0
		sleep 0.1
	done
	return 1
}

# dv_ssh_keygen FILE COMMENT: a new ed25519 key pair, no passphrase, at FILE
# (private) and FILE.pub.
dv_ssh_keygen() {
	ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1"
}

# dv_ssh_agent_start [KEY...]: the test's own ssh-agent (its socket in
# BATS_TEST_TMPDIR), holding the private keys KEY...; SSH_AUTH_SOCK and
# SSH_AGENT_PID name it. dv_teardown ends it (dv_ssh_agent_stop), and
# only it: an SSH_AGENT_PID the tests inherited is the user's own agent.
dv_ssh_agent_start() {
	eval "$(ssh-agent -s -a "${BATS_TEST_TMPDIR:?dv_ssh_agent_start runs inside a bats test}/agent.sock")" >/dev/null ||
		return 1
	DV_SSH_AGENT_PID=$SSH_AGENT_PID
	(($# == 0)) || ssh-add -q "$@"
}

dv_ssh_agent_stop() {
	[[ -n ${DV_SSH_AGENT_PID:-} ]] || return 0
	kill "$DV_SSH_AGENT_PID" 2>/dev/null
	DV_SSH_AGENT_PID=
}

# A small signed dated Debian archive, as snapshot.debian.org lays one out,
# for the tests of apt_snapshot (aptsnap.bats, reproducible.bats).

# dv_apt_archive DIR STAMP=VERSION...: under DIR/www/archive/debian/STAMP/
# (dists/bookworm, pool/main), one per STAMP (YYYYMMDDTHHMMSSZ), a bookworm
# main archive holding the package devenv-probe at VERSION (it installs
# /usr/share/devenv-probe/version), made with dpkg-deb and apt-ftparchive;
# its Release dated in the past and expired (Valid-Until), as a snapshot's
# is, signed (InRelease, Release.gpg) by a throw-away gpg key made the first
# time in DIR/gnupg, whose public key is DIR/probe.gpg (what an env's
# Signed-By names). Returns 2 when apt-ftparchive, gpg or dpkg-deb is
# missing (scripts/install-deps: apt-utils gpg), so setup_file can let
# each test skip.
dv_apt_archive() {
	local dir=$1 spec
	local -x GNUPGHOME=$dir/gnupg
	shift
	command -v apt-ftparchive >/dev/null && command -v gpg >/dev/null &&
		command -v dpkg-deb >/dev/null || return 2
	if [[ ! -s $dir/probe.gpg ]]; then
		mkdir -p -m 0700 "$GNUPGHOME" || return 1
		gpg --batch -q --passphrase '' --quick-gen-key \
			'devenv apt_snapshot test <tests@example.invalid>' ed25519 sign never 2>/dev/null &&
			gpg --batch -q --export >"$dir/probe.gpg" || return 1
	fi
	for spec in "$@"; do
		_dv_apt_dated "$dir" "${spec%%=*}" "${spec#*=}" || return 1
	done
	# The agent gpg started for this GNUPGHOME (ours only).
	gpgconf --kill gpg-agent 2>/dev/null
	return 0
}

_dv_apt_dated() {
	local dir=$1 stamp=$2 version=$3 root=$1/www/archive/debian/$2 pkg=$1/pkg-$3
	mkdir -p "$root/pool/main" "$root/dists/bookworm/main/binary-amd64" "$pkg/DEBIAN" \
		"$pkg/usr/share/devenv-probe" || return 1
	printf 'Package: devenv-probe\nVersion: %s\nArchitecture: all\nMaintainer: devenv tests <tests@example.invalid>\nDescription: devenv apt_snapshot probe\n' \
		"$version" >"$pkg/DEBIAN/control"
	echo "$version" >"$pkg/usr/share/devenv-probe/version"
	dpkg-deb --root-owner-group -b "$pkg" "$root/pool/main/devenv-probe_${version}_all.deb" >/dev/null &&
		(cd "$root" && apt-ftparchive packages pool >dists/bookworm/main/binary-amd64/Packages) || return 1
	# Dated in the past and expired: a snapshot's Release is so.
	apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm \
		-o APT::FTPArchive::Release::Codename=bookworm \
		-o APT::FTPArchive::Release::Architectures=amd64 \
		-o APT::FTPArchive::Release::Components=main \
		-o APT::FTPArchive::Release::ValidTime=1 \
		-o "APT::FTPArchive::Release::Date=Sat, 01 Nov 2025 00:00:00 UTC" \
		-o "APT::FTPArchive::Release::Valid-Until=Sat, 08 Nov 2025 00:00:00 UTC" \
		release "$root/dists/bookworm" >"$dir/Release" &&
		mv "$dir/Release" "$root/dists/bookworm/Release" &&
		gpg --batch -q --yes --clearsign -o "$root/dists/bookworm/InRelease" "$root/dists/bookworm/Release" &&
		gpg --batch -q --yes -abs -o "$root/dists/bookworm/Release.gpg" "$root/dists/bookworm/Release"
}

# dv_apt_serve DIR: serve DIR/www with python3's http.server on a free
# port of 127.0.0.1 (the archive's URL: http://127.0.0.1:$APT_PORT/archive/;
# a step reaches it with `network: host`), for this test; sets APT_PORT
# and APT_SERVER (its pid). dv_apt_serve_stop ends it.
dv_apt_serve() {
	APT_PORT=$(dv_free_port)
	timeout 300 python3 -m http.server --bind 127.0.0.1 --directory "$1/www" \
		"$APT_PORT" >/dev/null 2>&1 &
	APT_SERVER=$!
	dv_fetch "http://127.0.0.1:$APT_PORT/" >/dev/null 2>&1 || {
		echo "dv_apt_serve: python3's http.server did not answer on 127.0.0.1:$APT_PORT" >&2
		return 1
	}
}

dv_apt_serve_stop() {
	[[ -n ${APT_SERVER:-} ]] || return 0
	kill "$APT_SERVER" 2>/dev/null
	wait "$APT_SERVER" 2>/dev/null || true
	APT_SERVER=
}

# The remote path's fixture (remote.bats, bench/remote.sh): an OpenSSH
# server on 127.0.0.1 playing "another host", and an account there with a
# store of its own.
#
# dv_sshd_start DIR: Debian's sshd on a free port of 127.0.0.1, its host key,
# config, pid file and log under DIR, for the calling test or file. The
# remote account is DV_REMOTE_USER: as root, the local user "devenv-remote"
# (made the first time, with subordinate ids 400000-465535 so that it runs
# rootless envs); without root (sshd cannot log in as another user then),
# the test's own user. Either way the account's HOME, DEVENV_HOME and
# XDG_CONFIG_HOME are folders of the fixture's (sshd's SetEnv), in
# DV_REMOTE_BASE (under /var/tmp: an ext4 folder the account can reach),
# so its store, checkouts and copied devenv are this fixture's alone.
# A throw-away key is the only one authorised; the client's side is
# DIR/ssh_config (Host devenv-remote: 127.0.0.1, the port, the user, the
# key, a known_hosts holding the host key, no agent, no other config).
# Sets and exports DV_SSHD_PORT, DV_SSHD_PID, DV_SSH_CONFIG, DV_REMOTE_USER,
# DV_REMOTE_HOME, DV_REMOTE_STORE, DV_REMOTE_BASE, DV_REMOTE_URL
# (ssh://USER@127.0.0.1:PORT) and DEVENV_SSH ("ssh -F DIR/ssh_config": how
# devenv runs ssh). dv_sshd_stop ends sshd and removes DV_REMOTE_BASE.
dv_sshd_start() {
	local dir=$1 sshd=/usr/sbin/sshd i
	[[ -x $sshd ]] || {
		echo "dv_sshd_start: $sshd is missing (run scripts/install-deps: openssh-server)" >&2
		return 1
	}
	mkdir -p "$dir" || return 1
	if ((EUID == 0)); then
		DV_REMOTE_USER=devenv-remote
		if ! id -u "$DV_REMOTE_USER" >/dev/null 2>&1; then
			useradd -m -s /bin/bash "$DV_REMOTE_USER" || return 1
		fi
		# No password, not locked: sshd without PAM refuses a "!" account.
		[[ $(getent shadow "$DV_REMOTE_USER" | cut -d: -f2) == '*' ]] || usermod -p '*' "$DV_REMOTE_USER"
		grep -q "^$DV_REMOTE_USER:" /etc/subuid || usermod --add-subuids 400000-465535 "$DV_REMOTE_USER"
		grep -q "^$DV_REMOTE_USER:" /etc/subgid || usermod --add-subgids 400000-465535 "$DV_REMOTE_USER"
		# sshd's privilege separation folder (no systemd here to make it).
		mkdir -p -m 0755 /run/sshd
	else
		DV_REMOTE_USER=$(id -un)
	fi
	DV_REMOTE_BASE=$(mktemp -d /var/tmp/devenv-remote.XXXXXX) || return 1
	chmod 0755 "$DV_REMOTE_BASE"
	DV_REMOTE_HOME=$DV_REMOTE_BASE/home
	DV_REMOTE_STORE=$DV_REMOTE_BASE/home/store
	mkdir -p "$DV_REMOTE_HOME" "$DV_REMOTE_STORE" "$DV_REMOTE_HOME/.config" || return 1
	((EUID == 0)) && chown -R "$DV_REMOTE_USER:" "$DV_REMOTE_HOME"
	ssh-keygen -q -t ed25519 -N '' -C devenv-test-host -f "$dir/host_key" || return 1
	ssh-keygen -q -t ed25519 -N '' -C devenv-test-client -f "$dir/client_key" || return 1
	# sshd reads it as the account: in the base, which it can reach.
	cp "$dir/client_key.pub" "$DV_REMOTE_BASE/authorized_keys"
	chmod 0644 "$DV_REMOTE_BASE/authorized_keys"
	DV_SSHD_PORT=$(dv_free_port)
	cat >"$dir/sshd_config" <<-CONF
	ListenAddress 127.0.0.1:$DV_SSHD_PORT
	HostKey $dir/host_key
	PidFile $dir/sshd.pid
	AuthorizedKeysFile $DV_REMOTE_BASE/authorized_keys
	AllowUsers $DV_REMOTE_USER
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	PubkeyAuthentication yes
	UsePAM no
	StrictModes no
	PermitRootLogin no
	X11Forwarding no
	AllowTcpForwarding local
	AllowAgentForwarding no
	PermitUserEnvironment no
	MaxStartups 100:30:200
	MaxSessions 50
	LogLevel ERROR
	SetEnv HOME=$DV_REMOTE_HOME DEVENV_HOME=$DV_REMOTE_STORE XDG_CONFIG_HOME=$DV_REMOTE_HOME/.config
	CONF
	"$sshd" -f "$dir/sshd_config" -E "$dir/sshd.log" -D &
	DV_SSHD_PID=$!
	printf '[127.0.0.1]:%s %s\n' "$DV_SSHD_PORT" "$(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
	cat >"$dir/ssh_config" <<-CONF
	Host devenv-remote 127.0.0.1
	  HostName 127.0.0.1
	  Port $DV_SSHD_PORT
	  User $DV_REMOTE_USER
	  IdentityFile $dir/client_key
	  IdentitiesOnly yes
	  IdentityAgent none
	  UserKnownHostsFile $dir/known_hosts
	  GlobalKnownHostsFile /dev/null
	  StrictHostKeyChecking yes
	  UpdateHostKeys no
	  PasswordAuthentication no
	  KbdInteractiveAuthentication no
	  LogLevel ERROR
	CONF
	chmod 0600 "$dir/client_key"
	DV_SSH_CONFIG=$dir/ssh_config
	DEVENV_SSH="ssh -F $dir/ssh_config"
	DV_REMOTE_URL="ssh://$DV_REMOTE_USER@127.0.0.1:$DV_SSHD_PORT"
	export DV_SSHD_PORT DV_SSHD_PID DV_SSH_CONFIG DV_REMOTE_USER DV_REMOTE_HOME DV_REMOTE_STORE \
		DV_REMOTE_BASE DV_REMOTE_URL DEVENV_SSH
	for ((i = 0; i < 100; i++)); do
		[[ -s $dir/sshd.pid ]] && break
		kill -0 "$DV_SSHD_PID" 2>/dev/null || break
		sleep 0.05
	done
	ssh -F "$DV_SSH_CONFIG" -o BatchMode=yes devenv-remote true 2>/dev/null && return 0
	echo "dv_sshd_start: sshd does not let $DV_REMOTE_USER in on 127.0.0.1:$DV_SSHD_PORT:" >&2
	cat "$dir/sshd.log" >&2
	ssh -F "$DV_SSH_CONFIG" -o BatchMode=yes devenv-remote true >&2
	return 1
}

# dv_sshd_stop: end dv_sshd_start's sshd (and the sessions it still
# serves), destroy what the remote account's store still runs, and remove
# DV_REMOTE_BASE.
dv_sshd_stop() {
	local id
	if [[ -n ${DV_REMOTE_BASE:-} && -d $DV_REMOTE_STORE/envs ]]; then
		for id in $(ls "$DV_REMOTE_STORE/envs" 2>/dev/null); do
			[[ -d $DV_REMOTE_STORE/envs/$id ]] || continue
			dv_remote "$DEVENV" destroy -f -e "$id" >/dev/null 2>&1 ||
				echo "dv_sshd_stop: the remote's 'devenv destroy -f -e $id' failed" >&2
		done
	fi
	if [[ -n ${DV_SSHD_PID:-} ]]; then
		kill "$DV_SSHD_PID" 2>/dev/null
		wait "$DV_SSHD_PID" 2>/dev/null || true
		DV_SSHD_PID=
	fi
	if [[ -n ${DV_REMOTE_BASE:-} && -d $DV_REMOTE_BASE ]]; then
		dv_rm_store "$DV_REMOTE_BASE"
	fi
	DV_REMOTE_BASE=
}

# dv_remote COMMAND...: run COMMAND here as the remote account would over
# ssh (its user, HOME, DEVENV_HOME, XDG_CONFIG_HOME and a plain PATH), to
# prepare or inspect its side without ssh: `dv_remote "$DEVENV" image
# import ...`.
dv_remote() {
	local -a envv=(HOME="$DV_REMOTE_HOME" DEVENV_HOME="$DV_REMOTE_STORE"
		XDG_CONFIG_HOME="$DV_REMOTE_HOME/.config" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
	if ((EUID == 0)); then
		(cd / && runuser -u "$DV_REMOTE_USER" -- env -i "${envv[@]}" "$@")
	else
		(cd / && env -i "${envv[@]}" "$@")
	fi
}

# dv_remote_busybox [NAME]: the busybox image in the remote account's store.
dv_remote_busybox() {
	local tar
	tar=$(busybox_tar) || return 1
	dv_remote "$DEVENV" image import "$tar" "${1:-busybox}" >/dev/null
}

#!/usr/bin/env bats
# crash.bats: devenv killed anywhere leaves nothing that hangs or strands.
#
# DEVENV_FAULT=POINT[:N][:term|:hup] makes devenv kill itself at a fault
# point (util/fault.h; README "Testing"). After each kill: the next
# `destroy` and `gc` finish within 10 s, no process of this devenv build or
# of the store's containers is left a second later, no build cgroup of the
# killed pid is left, tmp/ is empty after gc, and what a rebuild caches is
# what a fresh store builds. scripts/crashtest kills at random moments.

load helpers

setup() {
	dv_setup
	dv_busybox_image
}

teardown() { dv_teardown; }

# crash_procs: processes of this devenv build (a clone child before its
# exec, the network helper) and whatever runs in the store's containers.
crash_procs() {
	local exe pid
	exe=$(readlink -f "$DEVENV")
	for pid in /proc/[0-9]*; do
		[[ $(readlink "$pid/exe" 2>/dev/null) == "$exe" ]] && echo "${pid#/proc/}"
	done
	dv_procs_in_store "$DV_STORE"
}

# crash_no_procs: none of crash_procs within 2 s; else fail, naming them.
crash_no_procs() {
	local i left
	for ((i = 0; i < 40; i++)); do
		left=$(crash_procs)
		[[ -z $left ]] && return 0
		sleep 0.05
	done
	for i in $left; do
		echo "left running: $i $(tr '\0' ' ' <"/proc/$i/cmdline" 2>/dev/null)"
	done
	return 1
}

# crash_run POINT CMD...: run devenv CMD with DEVENV_FAULT=POINT, expect it
# killed (status >= 128); sets CRASH_PID to the pid it had.
crash_run() {
	local point=$1 rc=0
	shift
	DEVENV_FAULT=$point "$DEVENV" "$@" >"$BATS_TEST_TMPDIR/crash.out" 2>&1 </dev/null 3>&- &
	CRASH_PID=$!
	wait "$CRASH_PID" || rc=$?
	if ((rc < 128)); then
		echo "devenv $* was not killed at '$point' (exit $rc):"
		cat "$BATS_TEST_TMPDIR/crash.out"
		return 1
	fi
}

# crash_clean: what every kill must leave: destroy and gc within 10 s, no
# process, no build cgroup of the killed pid, tmp/ empty.
crash_clean() {
	local out d sid
	# (An env killed before it was ever recorded is not there to destroy.)
	out=$(timeout 10 "$DEVENV" destroy -f 2>&1) || [[ $out == *"no env here to destroy"* ]] || {
		echo "destroy after the kill: $out"
		return 1
	}
	out=$(timeout 10 "$DEVENV" gc 2>&1) || {
		echo "gc after the kill: $? $out"
		return 1
	}
	crash_no_procs || return 1
	# this store's (another devenv may build meanwhile)
	sid=$(cat "$DV_STORE/store-id" 2>/dev/null) || sid=none
	for d in $(dv_cgroup_delegables); do
		compgen -G "$d/build-$sid-$CRASH_PID" >/dev/null && {
			echo "left: $(compgen -G "$d/build-$sid-$CRASH_PID")"
			return 1
		}
	done
	out=$(ls -A "$DV_STORE/tmp")
	[[ -z $out ]] || {
		echo "left in tmp/: $out"
		return 1
	}
}

# crash_tree DIR: a digest of a layer's files: names, kinds, modes, link
# targets, contents; no times (a rebuild has others).
crash_tree() {
	(
		cd "$1" || exit 1
		find . -printf '%p %y %m %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
	) | sha256sum | cut -d' ' -f1
}

# crash_layers_equal_fresh: every layer of the store equals the one a
# fresh store builds from the same Envfile (the layer ids are the step keys).
crash_layers_equal_fresh() {
	local fresh=$BATS_TEST_TMPDIR/fresh l n=0
	DEVENV_HOME=$fresh dv_busybox_image
	DEVENV_HOME=$fresh "$DEVENV" up -q >/dev/null || return 1
	for l in "$DV_STORE"/layers/*/; do
		l=$(basename "$l")
		[[ -d $fresh/layers/$l ]] || continue
		n=$((n + 1))
		[[ $(crash_tree "$DV_STORE/layers/$l/diff") == $(crash_tree "$fresh/layers/$l/diff") ]] || {
			echo "layer $l differs from a clean rebuild"
			return 1
		}
	done
	DEVENV_HOME=$fresh "$DEVENV" destroy -f >/dev/null
	dv_rm_store "$fresh"
	((n >= 2)) || {
		echo "only $n layers compared"
		return 1
	}
}

halted_env() {
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	"$DEVENV" up -q && "$DEVENV" halt >/dev/null
}

@test "up killed at the cgroup join (the issue's gdb reproduction): destroy and gc do not wait, nothing is left" {
	halted_env
	crash_run launch.cgroup up
	run timeout 5 "$DEVENV" destroy -f
	assert_success
	run timeout 5 "$DEVENV" gc
	assert_success
	crash_no_procs
	# Nothing holds the output: `devenv up | tee log` returns.
	halted_env
	run timeout 10 bash -c 'DEVENV_FAULT=launch.cgroup "$DEVENV" up 2>&1 | cat'
	assert_success
}

@test "up killed at each stage of start-up, before its commit point: the env stays halted, nothing is left" {
	local point
	halted_env
	for point in up.plan up.record up.cgroup up.start launch.clone launch.cloned launch.cgroup \
		launch.joined launch.released launch.exec up.started up.net up.state up.state:term \
		up.state:hup launch.cgroup:term launch.exec:hup; do
		crash_run "$point" up
		crash_no_procs || {
			echo "after the kill at '$point'"
			return 1
		}
		run "$DEVENV" status
		assert_output --partial halted
		[[ -z $(dv_init_pid) ]]
		# The next up starts it, at once.
		run timeout 10 "$DEVENV" up -q
		assert_success
		run timeout 10 "$DEVENV" halt
		assert_success
	done
	CRASH_PID=0
	crash_clean
}

@test "a first up killed before its commit point: destroy leaves no cgroup of the env" {
	local id d
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	crash_run up.state up
	id=$("$DEVENV" status --json | dv_json id)
	run timeout 10 "$DEVENV" destroy -f
	assert_success
	for d in $(dv_cgroup_delegables); do
		! compgen -G "$d/*$id" >/dev/null || {
			echo "left: $(compgen -G "$d/*$id")"
			return 1
		}
	done
	crash_run up.cgroup up
	run timeout 10 "$DEVENV" destroy -f
	for d in $(dv_cgroup_delegables); do
		! compgen -G "$d/*$id" >/dev/null || {
			echo "left: $(compgen -G "$d/*$id")"
			return 1
		}
	done
	crash_no_procs
}

@test "up killed after its commit point: the env runs and is recorded" {
	local point pid
	halted_env
	for point in up.committed up.services up.on_up; do
		crash_run "$point" up
		pid=$(dv_init_pid)
		[[ -n $pid ]] && kill -0 "$pid"
		run timeout 10 "$DEVENV" ssh -c 'echo in-env'
		assert_output in-env
		run timeout 10 "$DEVENV" halt
		assert_success
	done
	crash_clean
}

@test "a service start killed before its commit point leaves no service running" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	    command: sleep 1000
	EOF
	local point
	for point in services.started services.state; do
		crash_run "$point" up
		run timeout 10 "$DEVENV" halt
		assert_success
		crash_clean || {
			echo "after the kill at '$point'"
			return 1
		}
	done
}

@test "a build step killed at each stage: nothing of it is left, and every cached layer equals a clean rebuild" {
	local point
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: mkdir -p /srv/a && echo one > /srv/a/one && ln -s one /srv/a/link
	  - run: sleep 30; echo two > /srv/two
	  - run: echo three > /srv/three && chmod 600 /srv/three && rm /srv/a/one
	EOF
	for point in build.run build.run:2 run.running:2 run.running:2:term run.running:2:hup build.ran \
		build.commit:2 build.committed:3 build.cached:1 launch.cgroup:2 launch.exec:3; do
		# The step that sleeps is cut short where it would only wait.
		sed -i "s/sleep 30; //" Envfile
		[[ $point == run.running* ]] && sed -i "s/- run: echo two/- run: sleep 30; echo two/" Envfile
		crash_run "$point" up
		crash_clean || {
			echo "after the kill at '$point'"
			return 1
		}
	done
	sed -i "s/sleep 30; //" Envfile
	run timeout 60 "$DEVENV" up -q
	assert_success
	crash_layers_equal_fresh
}

@test "commit, destroy and gc killed half-way leave nothing gc cannot remove" {
	local point
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo one > /one
	EOF
	"$DEVENV" up -q
	"$DEVENV" ssh -c 'head -c 300000 /dev/urandom > /big'
	# Killed while the env is frozen: the next command thaws it (it was
	# not suspended by anyone).
	for point in commit.frozen commit.imported; do
		crash_run "$point" commit snap
		run timeout 10 "$DEVENV" up
		assert_success
		assert_output --partial "already running"
		run timeout 10 "$DEVENV" ssh -c 'echo thawed'
		assert_output thawed
	done
	crash_run destroy.halted destroy -f
	crash_run destroy.renamed destroy -f
	run timeout 10 "$DEVENV" gc
	assert_success
	# A layer nothing uses any more, then gc killed as it removes it.
	sed -i 's/one/uno/' Envfile
	"$DEVENV" up -q
	"$DEVENV" destroy -f >/dev/null
	crash_run gc.renamed gc
	crash_clean
	run ls "$DV_STORE/envs"
	refute_output --partial .lock
}

@test "a lock wait names the live holder, never a dead pid written in the lock file" {
	local id holder
	halted_env
	id=$("$DEVENV" status --json | dv_json id)
	# A dead pid in the file, the lock held by a live process.
	echo 999999 >"$DV_STORE/envs/$id.lock"
	flock "$DV_STORE/envs/$id.lock" sleep 30 &
	holder=$!
	sleep 0.3
	run timeout 2 "$DEVENV" halt
	kill "$holder"
	wait "$holder" || true
	assert_failure 124
	refute_output --partial 999999
	assert_output --regexp "waiting for env $id \(held by pid [0-9]+: (flock|sleep)"
}

@test "destroy removes the env's lock file, and a command that waited for it finds no env" {
	local id waiter
	halted_env
	id=$("$DEVENV" status --json | dv_json id)
	run "$DEVENV" destroy -f
	assert_success
	[[ ! -e $DV_STORE/envs/$id.lock ]]
	# A destroy as another devenv does it (the env and its lock removed
	# while the lock is held), and a halt waiting meanwhile.
	halted_env
	flock "$DV_STORE/envs/$id.lock" sh -c "sleep 1; rm -rf '$DV_STORE/envs/$id' '$DV_STORE/envs/$id.lock'" &
	sleep 0.3
	run timeout 10 "$DEVENV" halt
	wait
	assert_failure
	assert_output --partial "destroyed meanwhile"
	run ls -A "$DV_STORE/envs"
	assert_output ""
}

@test "30 kills at random moments of up, provision, reload, commit and ssh: each recovered whole (scripts/crashtest)" {
	run timeout 900 "$DV_ROOT/scripts/crashtest" 30
	assert_success
	assert_output --partial "30 clean recoveries, 0 differing layers"
}

@test "a Debian env: up killed at each stage of start-up leaves nothing, and it starts again" {
	local point
	dv_debian_image
	dv_envfile <<-'EOF'
	image: debian:bookworm
	provision:
	  - run: echo built > /etc/crash-built
	EOF
	crash_run build.run up
	crash_clean
	"$DEVENV" up -q
	"$DEVENV" halt >/dev/null
	for point in launch.cgroup launch.exec up.state up.state:term; do
		crash_run "$point" up
		crash_no_procs
		[[ -z $(dv_init_pid) ]]
	done
	run timeout 20 "$DEVENV" up -q
	assert_success
	run "$DEVENV" ssh -c 'cat /etc/crash-built'
	assert_output built
	crash_clean
}

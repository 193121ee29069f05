#!/usr/bin/env bats
# The provisioning cache: hits, misses, invalidation, failures, interrupts.

load helpers

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

five_steps() {
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo 1 > /s1
	  - run: echo ${1:-2} > /s2
	  - copy: req.txt
	    to: /req.txt
	  - run: echo 4 > /s4
	  - run: cat /s1 /s2 /req.txt /s4 > /all
	EOF
}

layer_count() {
	find "$DV_STORE/layers" -mindepth 1 -maxdepth 1 -type d | wc -l
}

@test "second up is all cache hits; changing step 2 reruns exactly 2..5" {
	echo flask >req.txt
	five_steps 2
	run "$DEVENV" up
	assert_success
	refute_output --partial "(cached)"
	"$DEVENV" halt
	run "$DEVENV" up
	assert_success
	[[ $(grep -c "(cached)" <<<"$output") == 5 ]]

	"$DEVENV" halt
	five_steps two
	run "$DEVENV" up
	assert_success
	assert_line "[1/5] run: echo 1 > /s1 (cached)"
	assert_line "[2/5] run: echo two > /s2"
	assert_line "[3/5] copy: req.txt -> /req.txt"
	assert_line "[4/5] run: echo 4 > /s4"
	assert_line "[5/5] run: cat /s1 /s2 /req.txt /s4 > /all"
	assert_output --partial "its files outside the checkout were reset"
	run "$DEVENV" ssh -c 'cat /all'
	assert_output "1
two
flask
4"
}

@test "editing a copied file, without staging it in git, reruns that step and later ones" {
	echo flask >req.txt
	git add req.txt
	git commit -qm req
	five_steps
	"$DEVENV" up
	"$DEVENV" halt
	echo django >>req.txt
	run "$DEVENV" up
	assert_success
	assert_line "[2/5] run: echo 2 > /s2 (cached)"
	assert_line "[3/5] copy: req.txt -> /req.txt"
	assert_line "[5/5] run: cat /s1 /s2 /req.txt /s4 > /all"
	run "$DEVENV" ssh -c 'cat /req.txt'
	assert_output "flask
django"
}

@test "the same Envfile gives the same layer ids in two stores" {
	echo flask >req.txt
	five_steps
	"$DEVENV" up
	first=$(ls "$DV_STORE/layers" | sort)
	"$DEVENV" destroy -f

	other=$DV_STORE.2
	DEVENV_HOME=$other "$DEVENV" image import "$(busybox_tar)" busybox
	DEVENV_HOME=$other "$DEVENV" up
	second=$(ls "$other/layers" | sort)
	DEVENV_HOME=$other "$DEVENV" destroy -f
	dv_rm_store "$other"
	[[ $(wc -l <<<"$first") == 6 ]]
	[[ $first == "$second" ]]
}

@test "a failing step stops up with its Envfile line and caches nothing" {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo ok > /ok
	  - run: echo about to fail; exit 7
	  - run: echo never
	EOF
	run "$DEVENV" up
	assert_failure 1
	assert_line "about to fail"
	assert_line "devenv: Envfile:4:5: provisioning step 2 failed with exit status 7; step 1 is cached, nothing of step 2 was kept"
	refute_line --partial "[3/3]"
	[[ $(layer_count) == 2 ]]
	[[ -z $(ls -A "$DV_STORE/tmp") ]]
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") == "not created" ]]
}

@test "^C during a step leaves nothing half-made" {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo partial > /partial; sleep 30
	EOF
	"$DEVENV" up >out 2>&1 3>&- &
	pid=$!
	for _ in $(seq 100); do grep -q "1/1" out && break; sleep 0.1; done
	sleep 0.5
	kill -INT "$pid"
	wait "$pid" && rc=0 || rc=$?
	cat out
	[[ $rc == 130 ]]
	grep -q "step 1 interrupted; nothing of step 1 was kept" out
	[[ $(layer_count) == 1 ]]
	[[ -z $(ls -A "$DV_STORE/tmp") ]]
	# the step's processes die with its pid namespace (allow the kernel a
	# moment to finish tearing it down); only this store's are looked at,
	# whatever else runs on the machine
	for _ in $(seq 50); do [[ -z $(dv_procs_in_store "$DV_STORE") ]] && break; sleep 0.1; done
	[[ -z $(dv_procs_in_store "$DV_STORE") ]]
}

@test "gc removes the layers nothing refers to and says how much it freed" {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: dd if=/dev/zero of=/big bs=1M count=4 2>/dev/null
	EOF
	"$DEVENV" up
	run "$DEVENV" gc
	assert_success
	assert_output "removed 0 layers, freed 0 B"
	[[ $(ls "$DV_STORE/seccomp" | grep -c '\.bpf$') == 1 ]]
	"$DEVENV" destroy -f
	run "$DEVENV" gc
	assert_success
	assert_output --regexp "^removed 1 layer, freed [4-9]\.[0-9] MiB$"
	# the compiled seccomp program no env uses goes too
	[[ $(ls "$DV_STORE/seccomp" | grep -c '\.bpf$') == 0 ]]
	[[ $(layer_count) == 1 ]]
	run "$DEVENV" images
	assert_line --regexp '^localhost/busybox +latest '
}

#!/usr/bin/env bats
# The sandbox (README "Security"): from inside an env, with the static
# prober test/fixtures/probe copied into the checkout (mounted at /workspace).

load helpers

setup() {
	dv_setup
	[[ -x $DV_ROOT/test/fixtures/probe ]] || {
		echo "test/fixtures/probe is missing: run make" >&2
		return 1
	}
	cp "$DV_ROOT/test/fixtures/probe" "$DV_CHECKOUT/probe"
}
teardown() { dv_teardown; }

# dv_up_busybox [ENVFILE LINES...]: an env on busybox, up.
dv_up_busybox() {
	dv_busybox_image
	printf '%s\n' "image: busybox" "$@" | dv_envfile
	run "$DEVENV" up
	assert_success
}

@test "sandbox: the default escapes fail with Docker's errnos" {
	local disk maj min
	dv_up_busybox
	disk=$(findmnt -no SOURCE / | sed 's/\[.*//')
	[[ -b $disk ]] || disk=/dev/vda
	maj=$(stat -c '%t' "$disk") min=$(stat -c '%T' "$disk")
	run "$DEVENV" ssh -- ./probe mountnx mount umount userns keyctl io_uring bpf vsock alg inet clone3 nosys \
		ptrace1 reboot init_module settimeofday clock_settime exe1 capset sys \
		mknod $((16#$maj)) $((16#$min))
	assert_success
	# No CAP_MKNOD (podman's set), so no device node can be made, and
	# there is none to read. Rootless, the host's files under /sys belong
	# to an id outside the env's map (EACCES comes before EROFS).
	local sys=EROFS mknod=EPERM readdisk=ENOENT
	((DV_ROOTLESS)) && sys=EACCES
	assert_output - <<-EOF
	mountnx: EPERM
	mount: EPERM
	umount: EPERM
	userns: EPERM
	keyctl: EPERM
	io_uring: EPERM
	bpf: EPERM
	vsock: EPERM
	alg: EPERM
	inet: OK
	clone3: ENOSYS
	nosys: ENOSYS
	ptrace1: EPERM
	reboot: EPERM
	init_module: EPERM
	settimeofday: EPERM
	clock_settime: EPERM
	exe1: EACCES
	capset: EPERM
	sys: $sys
	mknod: $mknod
	readdisk: $readdisk
	EOF
}

@test "sandbox: masked and read-only /proc and /sys paths" {
	dv_up_busybox
	# /proc/kcore and /proc/sysrq-trigger: masked or read-only when this
	# kernel has them, else absent.
	run "$DEVENV" ssh -- ./probe kcore sysrq write /proc/sys/kernel/hostname read /proc/interrupts \
		read /proc/timer_list read /proc/keys
	assert_success
	# Rootless, this kernel leaves both out of a user namespace's /proc, and
	# /proc/sys belongs to an id outside the env's map (EACCES before EROFS).
	if [[ -e /proc/kcore ]] && ((!DV_ROOTLESS)); then assert_line 'kcore: E61'; else assert_line --regexp '^kcore: (E61|ENOENT)$'; fi
	if [[ -e /proc/sysrq-trigger ]] && ((!DV_ROOTLESS)); then assert_line 'sysrq: EROFS'; else assert_line --regexp '^sysrq: (EROFS|ENOENT)$'; fi
	if ((DV_ROOTLESS)); then assert_line 'write: EACCES'; else assert_line 'write: EROFS'; fi
	# each masked file reads as /dev/null
	assert_equal "$(grep -c '^read: 0$' <<<"$output")" 3
	run "$DEVENV" ssh -c 'ls -A /proc/acpi /sys/firmware; touch /proc/acpi/x 2>&1; grep -c " /proc/sys ro," /proc/self/mountinfo'
	assert_line --partial 'Read-only file system'
	assert_line '1'
}

@test "sandbox: podman's caps for root, none after setuid, no_new_privs" {
	dv_up_busybox
	run "$DEVENV" ssh -- ./probe capeff capprm capbnd capinh capamb nnp setuid
	assert_success
	assert_output - <<-'EOF'
	capeff: 00000000800405fb
	capprm: 00000000800405fb
	capbnd: 00000000800405fb
	capinh: 00000000800405fb
	capamb: 0000000000000000
	nnp: 1
	setuid-capeff: 0000000000000000
	setuid-capprm: 0000000000000000
	setuid: OK
	EOF
	# and the same for the env's init, which everything else descends from
	run "$DEVENV" ssh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/1/status'
	assert_line --regexp '^CapEff:[[:space:]]+00000000800405fb$'
	assert_line --regexp '^CapBnd:[[:space:]]+00000000800405fb$'
	assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
}

@test "sandbox: no host fd or directory reaches the command" {
	dv_up_busybox
	# an extra fd on a host folder, and a host cwd outside the checkout
	cd /tmp
	run "$DEVENV" ssh -e proj -- /workspace/probe fds cwd dotdot 9</ 8>/tmp/x-$$
	rm -f /tmp/x-$$
	assert_success
	assert_output - <<-'EOF'
	fds: OK
	cwd: /workspace
	dotdot: OK
	EOF
}

@test "sandbox: seccomp unconfined lets mount past the filter; caps still stop it" {
	dv_up_busybox "security:" "  seccomp: unconfined"
	run "$DEVENV" ssh -- ./probe mountnx mount clone3 capeff nnp
	assert_success
	# mount now reaches the kernel: it looks the target up (ENOENT), then
	# wants CAP_SYS_ADMIN (EPERM); clone3 with no arguments reaches it too
	# (EINVAL rather than the filter's ENOSYS)
	assert_output - <<-'EOF'
	mountnx: ENOENT
	mount: EPERM
	clone3: EINVAL
	capeff: 00000000800405fb
	nnp: 1
	EOF
	run cat "$DV_STORE"/envs/*/state.json
	assert_output --partial '"seccomp":""'
}

@test "sandbox: cap_add and cap_drop" {
	dv_up_busybox "security:" "  cap_add: [net_admin, CAP_SYS_TIME, MKNOD]" "  cap_drop: [SETFCAP]"
	run "$DEVENV" ssh -- ./probe capeff mknod 1 3 clock_settime
	assert_success
	# 800405fb + NET_ADMIN (12) + SYS_TIME (25) + MKNOD (27) - SETFCAP (31)
	assert_line "capeff: $(printf '%016x' $(((0x800405fb | 1 << 12 | 1 << 25 | 1 << 27) & ~(1 << 31))))"
	# MKNOD given back: the node is made (not rootless: no device node
	# there at all), and still cannot be opened (nodev)
	if ((DV_ROOTLESS)); then
		assert_line 'mknod: EPERM'
		assert_line 'readdisk: ENOENT'
	else
		assert_line 'mknod: OK'
		assert_line 'readdisk: EACCES'
	fi
	# with CAP_SYS_TIME the profile allows clock_settime (setting the same
	# time); rootless that capability is the user namespace's, and the clock
	# is the host's: the kernel still refuses
	if ((DV_ROOTLESS)); then assert_line 'clock_settime: EPERM'; else assert_line 'clock_settime: OK'; fi
}

@test "sandbox: provisioning steps run in the same sandbox" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: probe
	    to: /probe
	  - run: /probe mount keyctl capeff nnp > /result
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /result'
	assert_output - <<-'EOF'
	mount: EPERM
	keyctl: EPERM
	capeff: 00000000800405fb
	nnp: 1
	EOF
}

@test "sandbox: the compiled filter is stored once and reused" {
	dv_up_busybox
	run ls "$DV_STORE/seccomp"
	assert_success
	assert_output --regexp '^[0-9a-f]{64}\.bpf$'
	run "$DEVENV" halt
	run "$DEVENV" up
	assert_success
	assert_equal "$(ls "$DV_STORE/seccomp" | wc -l)" 1
}

# What Docker's profile allows must work in a real distribution: apt-get
# (its sandboxed methods drop to the _apt user), gcc, the compiled program,
# git and python. Slow (apt-get; the shared Debian base, helpers.bash): one
# test only, in both passes (rootless: inside the user namespace).
@test "sandbox: apt-get install, gcc, git and python work in debian:bookworm" {
	dv_debian_image
	cat >hello.c <<-'EOF'
	#include <stdio.h>
	#include <pthread.h>
	static void *run(void *a) { return a; }
	int main(void) { pthread_t t; pthread_create(&t, NULL, run, NULL); pthread_join(t, NULL); puts("hello from gcc"); return 0; }
	EOF
	dv_envfile <<-'EOF'
	image: debian:bookworm
	provision:
	  - run: apt-get update -q && apt-get install -y -q --no-install-recommends gcc libc6-dev git python3-minimal
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'gcc -pthread -o /tmp/hello hello.c && /tmp/hello && grep -E "^(CapEff|Seccomp):" /proc/self/status'
	assert_success
	assert_line 'hello from gcc'
	assert_line --regexp '^CapEff:[[:space:]]+00000000800405fb$'
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
	run "$DEVENV" ssh -c 'git init -q /tmp/r && cd /tmp/r && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m one && git log --format=%s && python3 -c "import os, subprocess; print(os.getuid(), subprocess.run([\"true\"]).returncode)"'
	assert_success
	assert_output $'one\n0 0'
}

@test "sandbox: status says which sandbox the env runs under" {
	dv_up_busybox
	run "$DEVENV" status --json
	[[ $(dv_json seccomp <<<"$output") == filtered ]]
	[[ $(dv_json caps <<<"$output") == 800405fb ]]
	run "$DEVENV" status
	assert_line "  sandbox:  seccomp filter on, podman's default capabilities, no_new_privs"
	printf '%s\n' "image: busybox" "security:" "  seccomp: unconfined" "  cap_add: [NET_ADMIN]" | dv_envfile
	"$DEVENV" reload
	run "$DEVENV" status --json
	[[ $(dv_json seccomp <<<"$output") == unconfined ]]
	[[ $(dv_json caps <<<"$output") == 800415fb ]]
}

# CVE-2023-25809 (rootless runc): the host's cgroup tree is not writable
# inside: neither a new file nor another cgroup's cgroup.procs can be
# written. In a network namespace of its own (the default) the env gets a
# fresh sysfs, with no cgroupfs under it at all; rootless on the host's
# network (where no new sysfs may be mounted), /sys is the host's, bound
# read-only, cgroup files included.
@test "sandbox: /sys/fs/cgroup cannot be written from inside" {
	local try='touch /sys/fs/cgroup/x 2>&1 && echo CREATED; n=0; for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs; do [ -e "$f" ] || continue; n=$((n+1)); if echo $$ 2>/dev/null > "$f"; then echo "WROTE $f"; fi; done; echo "procs files: $n"'
	dv_up_busybox
	run "$DEVENV" ssh -c "$try"
	assert_success
	assert_line --regexp "^touch: /sys/fs/cgroup/x: (Read-only file system|Permission denied|No such file or directory)$"
	refute_output --partial CREATED
	refute_output --partial WROTE
	printf '%s\n' "image: busybox" "network: host" | dv_envfile
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c "$try"
	assert_success
	assert_line --regexp "^touch: /sys/fs/cgroup/x: (Read-only file system|Permission denied|No such file or directory)$"
	refute_output --partial CREATED
	refute_output --partial WROTE
	if ((DV_ROOTLESS)); then refute_line 'procs files: 0'; fi
}

# CVE-2021-41091: another user of the host cannot read the store or run a
# setuid file of an extracted rootfs.
@test "sandbox: another host user cannot read the store" {
	dv_up_busybox
	[[ $(stat -c %a "$DV_STORE") == 700 ]]
	for d in layers envs images cache; do
		[[ $(stat -c %a "$DV_STORE/$d") == 700 ]]
	done
	if ((EUID == 0)); then
		run runuser -u nobody -- ls "$DV_STORE/layers"
		assert_failure
	fi
}

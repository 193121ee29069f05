#!/usr/bin/env bats
# devenv without root (README "Without root"). Most tests run in the
# rootless pass of scripts/run-tests (an unprivileged user with an
# /etc/subuid range); the single-id test runs in the root pass, which can
# create a user without one. Every other suite runs in both passes too.

load helpers
bats_require_minimum_version 1.5.0

setup() { dv_setup; }
teardown() {
	local d
	# give back what the delegation test handed out, whatever happened
	for d in "${DV_DELEGATED[@]}"; do
		chown root "$d" 2>/dev/null
	done
	dv_teardown
}
DV_DELEGATED=()

@test "rootless: the store defaults to XDG_DATA_HOME/devenv, and the env's user namespace maps our subordinate ids" {
	dv_need_rootless
	local start count
	IFS=: read -r _ start count < <(grep -E "^($(id -un)|$(id -u)):" /etc/subuid | head -1)
	[[ -n $start ]]
	((count > 65536)) && count=65536
	unset DEVENV_HOME
	export XDG_DATA_HOME=$BATS_TEST_TMPDIR/xdg
	# the default store, so that dv_teardown cleans it up
	DV_STORE=$XDG_DATA_HOME/devenv
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	[[ -d $XDG_DATA_HOME/devenv/envs ]]
	run "$DEVENV" ssh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u'
	assert_success
	assert_equal "$(awk '{ print $1, $2, $3 }' <<<"$output" | sed -n 1,2p)" \
		"$(printf '0 %s 1\n1 %s %s' "$(id -u)" "$start" "$count")"
	assert_line 0
	run "$DEVENV" status
	assert_line "  rootless: user namespace with your subordinate ids; no delegated cgroup: memory and cpus limits not enforced, pids by RLIMIT_NPROC"
	run "$DEVENV" status --json
	[[ $(dv_json rootless <<<"$output") == True ]]
	[[ $(dv_json checkout_ownership <<<"$output") == rootless ]]
}

@test "rootless: root's files in the checkout are ours, another id of the env is a subordinate id until halt" {
	dv_need_rootless
	local start
	IFS=: read -r _ start _ < <(grep -E "^($(id -un)|$(id -u)):" /etc/subuid | head -1)
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up
	run "$DEVENV" ssh -c 'mkdir -p by-root/sub && echo hi > by-root/sub/f && touch by-nobody && chown 65534:65534 by-nobody'
	assert_success
	assert_equal "$(stat -c %u:%g by-root/sub/f)" "$(id -u):$(id -g)"
	assert_equal "$(stat -c %u by-nobody)" "$((start + 65533))"
	run "$DEVENV" ssh --user 65534 -c 'id -u; touch /tmp/n && stat -c %u /tmp/n'
	assert_success
	assert_output $'65534\n65534'
	run "$DEVENV" status
	assert_line "  checkout ownership: rootless (root in the env is uid $(id -u) on the host; other ids of the env are your subordinate ids until halt gives their files back to you)"
	# halt gives the subordinate id's files back, without their s-bits
	"$DEVENV" ssh -c 'chmod 6755 by-nobody'
	run "$DEVENV" halt
	assert_success
	assert_equal "$(stat -c %u:%g:%a by-nobody)" "$(id -u):$(id -g):755"
	# what we own we can still remove from the host
	rm -rf by-root
}

@test "rootless: where keep-id cannot be had, user: is made with our uid number, and up says why and what that means" {
	dv_need_rootless
	! dv_keepid_possible || skip "keep-id works here: the keep-id tests below cover user:"
	dv_busybox_image
	printf 'image: busybox\nuser: dev\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	assert_line --partial "devenv: note: without root, user 'dev' is you in the env only where /dev/fuse and fuse-overlayfs can be used, and here "
	assert_line --partial "so root in the env is you, and user 'dev' (uid $(id -u) in the env) is a subordinate id of yours that cannot write the checkout (README: Without root)"
	run "$DEVENV" ssh -c 'id -un; id -u; echo $HOME'
	assert_success
	assert_output "$(printf 'dev\n%s\n/home/dev' "$(id -u)")"
}

@test "rootless: without a delegated cgroup, up warns, a fork bomb stops at pids by RLIMIT_NPROC, suspend says why" {
	dv_need_rootless
	local n d all=1
	while read -r d; do
		[[ -w $d ]] || all=0
	done < <(dv_cgroup_delegables)
	((all == 0)) || skip "every cgroup devenv uses is delegated here: resources.bats covers it"
	dv_busybox_image
	printf 'image: busybox\nresources: { memory: 64M, pids: 32 }\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	assert_line 'devenv: warning: no cgroup is delegated to this user here: `resources` memory is not enforced (README: Without root)'
	assert_line 'devenv: note: no pids cgroup here: pids is enforced per user of the env with RLIMIT_NPROC'
	run "$DEVENV" ssh -c 'grep "Max processes" /proc/self/limits'
	assert_output --regexp '^Max processes +32 +32 +processes'
	# bounded bomb: 200 sleepers asked for, 32 processes allowed (the
	# shell gives up at the first fork refused)
	run timeout 60 "$DEVENV" ssh -c 'i=0; while [ $i -lt 200 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done'
	assert_output --partial "can't fork"
	n=$(dv_procs_in_store "$DV_STORE" | wc -l)
	((n >= 20 && n <= 33))
	# the host forks freely and devenv answers
	run timeout 10 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; echo ok'
	assert_output ok
	run "$DEVENV" suspend
	assert_failure 1
	assert_output "devenv: cannot suspend env 'proj': without root that needs a cgroup freezer delegated to this user, and none is (README: Without root)"
	run timeout 30 "$DEVENV" halt
	assert_success
	[[ -z $(dv_procs_in_store "$DV_STORE") ]]
}

@test "rootless: the store's files are removed by destroy and gc, even the subordinate ids' and mode 000 ones" {
	dv_need_rootless
	dv_busybox_image
	printf 'image: busybox\nprovision:\n  - run: mkdir -p /locked/in && chown -R 65534 /locked && chmod 000 /locked/in /locked\n' | dv_envfile
	"$DEVENV" up
	"$DEVENV" ssh -c 'mkdir -p /var/x/y && chown -R 123:123 /var/x && chmod 000 /var/x/y /var/x'
	run "$DEVENV" destroy -f
	assert_success
	[[ -z $(ls "$DV_STORE/envs" | grep -v lock) ]]
	run "$DEVENV" gc
	assert_success
	run "$DEVENV" rmi busybox
	assert_success
	run "$DEVENV" gc
	assert_success
	assert_equal "$(ls "$DV_STORE/layers" | wc -l)" 0
}

@test "single-id map: a user without /etc/subuid gets a note, and up, ssh and destroy work as the one root" {
	dv_need_host_root "creates a user without a subordinate id range"
	local user=devenv-single home tar out
	id -u "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
	sed -i "/^$user:/d" /etc/subuid /etc/subgid
	home=$(getent passwd "$user" | cut -d: -f6)
	tar=$(busybox_tar)
	cp "$tar" "$home/busybox.tar"
	cp "$DEVENV" "$home/devenv"
	rm -rf "$home/proj" "$home/.local/share/devenv"
	mkdir -p "$home/proj"
	printf 'image: busybox\n' >"$home/proj/Envfile"
	chown -R "$user:" "$home/busybox.tar" "$home/proj" "$home/devenv"
	as_single() { runuser -u "$user" -- env -i HOME="$home" PATH="$PATH" sh -c "cd ~/proj && $1" 2>&1; }
	out=$(as_single "~/devenv image import ~/busybox.tar busybox")
	[[ $out == *"note: single-id user namespace (no /etc/subuid and /etc/subgid range for this user): only root exists in the env"* ]]
	out=$(as_single "~/devenv up")
	[[ $out == *"is up"* ]]
	out=$(as_single "~/devenv ssh -c 'cat /proc/self/uid_map; touch mine; ls /dev/pts'")
	assert_equal "$(awk '{ print $1, $2, $3 }' <<<"$out" | head -1)" "0 $(id -u "$user") 1"
	assert_equal "$(stat -c %U "$home/proj/mine")" "$user"
	out=$(as_single "~/devenv ssh --user 1000 -c id; echo status=\$?")
	assert_equal "$out" "devenv: uid 1000 or gid 1000 does not exist in this rootless env's user namespace (it holds root and your /etc/subuid range; with a single-id map, root only)
status=125"
	out=$(as_single "~/devenv status")
	[[ $out == *"rootless: single-id user namespace (only root in the env)"* ]]
	out=$(as_single "~/devenv destroy -f && ~/devenv rmi busybox && ~/devenv gc && ls ~/.local/share/devenv/layers | wc -l")
	[[ ${out##*$'\n'} == 0 ]]
	userdel -r "$user" 2>/dev/null || true
}

@test "rootless with delegated cgroup folders: limits, OOM report, suspend and removal work as with root" {
	dv_need_host_root "hands the cgroup folders to a user"
	local user=devenv-deleg home tar out id d
	id -u "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
	grep -q "^$user:" /etc/subuid || usermod --add-subuids 400000-465535 --add-subgids 400000-465535 "$user"
	home=$(getent passwd "$user" | cut -d: -f6)
	mapfile -t DV_DELEGATED < <(dv_cgroup_delegables)
	((${#DV_DELEGATED[@]})) || skip "this machine has no cgroup hierarchy with those controllers"
	for d in "${DV_DELEGATED[@]}"; do
		mkdir -p "$d" && chown "$user" "$d"
	done
	tar=$(busybox_tar)
	rm -rf "$home/proj" "$home/.local/share/devenv"
	mkdir -p "$home/proj"
	cp "$tar" "$home/busybox.tar"
	cp "$DEVENV" "$home/devenv"
	printf 'image: busybox\nresources: { memory: 48M, pids: 32, cpus: 0.5 }\n' >"$home/proj/Envfile"
	chown -R "$user:" "$home/busybox.tar" "$home/proj" "$home/devenv"
	as_deleg() { runuser -u "$user" -- env -i HOME="$home" PATH="$PATH" sh -c "cd ~/proj && $1" 2>&1; }
	out=$(as_deleg "~/devenv image import ~/busybox.tar busybox >/dev/null && ~/devenv up")
	# (no warning about limits; where /dev/net/tun is not this user's, one
	# says the env has no outbound network)
	[[ $out == *"is up"* && $(grep -v 'warning: network: private: ' <<<"$out") != *warning* ]]
	id=$(as_deleg "~/devenv status --json" | dv_json id)
	# (the cgroup's name: the store's id, then the env's)
	id=$(cat "$home/.local/share/devenv/store-id")-$id
	for d in "${DV_DELEGATED[@]}"; do
		[[ -d $d/$id ]]
		[[ $(stat -c %U "$d/$id") == "$user" ]]
	done
	out=$(as_deleg "~/devenv status")
	[[ $out == *"rootless: user namespace with your subordinate ids; limits in a delegated cgroup"* ]]
	out=$(as_deleg "~/devenv ssh -c 'dd if=/dev/zero of=/dev/null bs=100M count=1'; ~/devenv status")
	[[ $out == *"out of memory: 1 process OOM-killed"* ]]
	out=$(as_deleg "~/devenv suspend && ~/devenv status && ~/devenv resume && ~/devenv ssh -c 'echo alive'")
	[[ $out == *"): suspended"* && $out == *alive* ]]
	out=$(as_deleg "~/devenv destroy -f")
	for d in "${DV_DELEGATED[@]}"; do
		[[ ! -e $d/$id ]]
	done
}

# keep-id (README "Without root"): needs /dev/fuse openable by this user and
# fuse-overlayfs; where they are missing, the test above's note is checked.
dv_need_keepid() {
	dv_need_rootless
	command -v fuse-overlayfs >/dev/null || skip "keep-id needs fuse-overlayfs (Debian package fuse-overlayfs)"
	# devenv opens it in its user namespace, without our supplementary
	# groups: only its mode for others counts (ACLs aside)
	[[ -c /dev/fuse && $(stat -c %a /dev/fuse) == *6 ]] ||
		skip "keep-id needs /dev/fuse open to everyone (Debian's udev makes it 0666; here: $(stat -c '%A %U:%G' /dev/fuse 2>&1))"
}
dv_keepid_possible() {
	command -v fuse-overlayfs >/dev/null && [[ -c /dev/fuse && $(stat -c %a /dev/fuse) == *6 ]]
}

@test "keep-id: with user:, the user is us inside and writes the checkout as us; /etc/passwd stays root's; root is a subordinate id" {
	dv_need_keepid
	local start
	IFS=: read -r _ start _ < <(grep -E "^($(id -un)|$(id -u)):" /etc/subuid | head -1)
	dv_busybox_image
	printf 'image: busybox\nuser: dev\non_up:\n  - run: id -un > on-up-by\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	refute_output --partial "note: without root"
	assert_equal "$(cat on-up-by)" dev
	assert_equal "$(stat -c %u:%g on-up-by)" "$(id -u):$(id -g)"
	run "$DEVENV" ssh -c 'id -un; id -u; echo $HOME; stat -c %u:%U /etc/passwd /; touch by-user; mkdir -p dir/sub; echo hi > dir/sub/f'
	assert_success
	assert_output "$(printf 'dev\n%s\n/home/dev\n0:root\n0:root' "$(id -u)")"
	assert_equal "$(stat -c %u:%g by-user dir/sub/f)" "$(printf '%s:%s\n%s:%s' "$(id -u)" "$(id -g)" "$(id -u)" "$(id -g)")"
	# the user cannot write root's files; root can, and is not us
	run "$DEVENV" ssh -c 'echo x >> /etc/passwd'
	assert_failure
	run "$DEVENV" ssh --user 0 -c 'id -u; echo "# root was here" >> /etc/passwd && touch by-root && cat /proc/self/uid_map'
	assert_success
	assert_line 0
	assert_equal "$(stat -c %u by-root)" "$start"
	assert_line --regexp "^ +0 +1 +$(id -u)\$"
	assert_line --regexp "^ +$(id -u) +0 +1\$"
	run "$DEVENV" status
	assert_line "  checkout ownership: rootless, keep-id (user 'dev', uid $(id -u) in the env, is uid $(id -u) on the host; root and the env's other ids are your subordinate ids until halt gives their files back to you)"
	run "$DEVENV" status --json
	[[ $(dv_json userns_map <<<"$output") == keep-id ]]
	# halt gives root's file back; a halted up keeps what root and the user wrote
	run "$DEVENV" halt
	assert_success
	assert_equal "$(stat -c %u by-root)" "$(id -u)"
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'tail -1 /etc/passwd; stat -c %U /home/dev; ls /workspace/by-user'
	assert_success
	assert_output "$(printf '# root was here\ndev\n/workspace/by-user')"
}

@test "keep-id: changing user: recreates the env; without user: root is us again" {
	dv_need_keepid
	dv_busybox_image
	printf 'image: busybox\nuser: dev\n' | dv_envfile
	"$DEVENV" up
	"$DEVENV" ssh --user 0 -c 'touch /kept-in-upper'
	printf 'image: busybox\n' | dv_envfile
	run "$DEVENV" reload
	assert_success
	assert_line --partial "was recreated for its new user namespace map"
	run "$DEVENV" ssh -c 'id -u; ls /kept-in-upper; touch by-root'
	assert_output --partial "No such file"
	assert_line 0
	assert_equal "$(stat -c %u by-root)" "$(id -u)"
	run "$DEVENV" status --json
	[[ -z $(dv_json userns_map <<<"$output") ]]
}

@test "keep-id: commit of a keep-id env is a layer like any: opaque folders, whiteouts and ids survive, fuse-overlayfs's marks do not" {
	dv_need_keepid
	dv_busybox_image
	printf 'image: busybox\nuser: dev\n' | dv_envfile
	"$DEVENV" up
	run "$DEVENV" ssh --user 0 -c 'rm -rf /usr/sbin && mkdir /usr/sbin && touch /usr/sbin/only && mkdir /newdir && touch /newdir/a && rm /sbin/reboot && chown 33:44 /newdir/a'
	assert_success
	run "$DEVENV" ssh -c 'touch ~/mine'
	assert_success
	run "$DEVENV" commit snap:1
	assert_success
	# one opaque mark per folder, no ".wh..opq" of fuse-overlayfs's own
	"$DEVENV" image save snap:1 "$BATS_TEST_TMPDIR/snap.tar"
	mkdir "$BATS_TEST_TMPDIR/snap" && tar -xf "$BATS_TEST_TMPDIR/snap.tar" -C "$BATS_TEST_TMPDIR/snap"
	run bash -c 'for b in "$1"/blobs/sha256/*; do tar -tzf "$b" 2>/dev/null || tar -tf "$b" 2>/dev/null; done | grep "\.wh\." | sort' _ "$BATS_TEST_TMPDIR/snap"
	assert_output "$(printf 'home/dev/.wh..wh..opq\nnewdir/.wh..wh..opq\nsbin/.wh.reboot\nusr/sbin/.wh..wh..opq')"
	"$DEVENV" destroy -f >/dev/null
	printf 'image: snap:1\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'ls -A /usr/sbin /newdir; stat -c %u:%g /newdir/a; stat -c %u /home/dev/mine /etc/passwd; ls /sbin/reboot'
	assert_output "$(printf '/newdir:\na\n\n/usr/sbin:\nonly\n33:44\n%s\n0\nls: /sbin/reboot: No such file or directory' "$(id -u)")"
}

# The issue's test: a real Debian env, root steps with apt-get, then the
# user (ssh's default with `user:`) writes the checkout: the file is ours.
@test "keep-id on debian:bookworm: root steps apt-get install, then ssh as the user writes the checkout as us" {
	dv_need_keepid
	dv_debian_image
	dv_envfile <<-'EOF'
	image: debian:bookworm
	user: dev
	provision:
	  - run: apt-get update -q && apt-get install -y -q --no-install-recommends jq
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'id -un; echo "{\"by\": \"$(id -un)\"}" | jq -c . > from-user.json && cat from-user.json; stat -c %U:%G /etc/passwd /usr/bin/jq; ls -ld ~ | cut -d" " -f3'
	assert_success
	assert_output "$(printf 'dev\n{"by":"dev"}\nroot:root\nroot:root\ndev')"
	assert_equal "$(stat -c %u:%g from-user.json)" "$(id -u):$(id -g)"
	# root manages packages in the env (no outbound network needed to remove)
	run "$DEVENV" ssh --user 0 -c 'apt-get remove -y -q jq >/dev/null 2>&1 && dpkg -s jq 2>&1 | head -1; ls /usr/bin/jq'
	assert_output "$(printf "dpkg-query: package 'jq' is not installed and no information is available\nls: cannot access '/usr/bin/jq': No such file or directory")"
}

@test "keep-id: services join the env's network, forwarded ports reach the user's server" {
	dv_need_keepid
	local sport hport
	sport=$(dv_free_port) hport=$(dv_free_port)
	dv_busybox_image
	dv_envfile <<-EOF
	image: busybox
	user: dev
	ports: ["127.0.0.1:$hport:8080"]
	services:
	  db:
	    image: busybox
	    command: mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 127.0.0.1:$sport -h /www
	EOF
	run --separate-stderr "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c "id -un; wget -qO- http://db:$sport/; mkdir -p www && echo 'from the user' > www/index.html && httpd -p 8080 -h www && echo started"
	assert_success
	assert_output "$(printf 'dev\npong\nstarted')"
	run dv_fetch "http://127.0.0.1:$hport/"
	assert_output "from the user"
	assert_equal "$(stat -c %u www/index.html)" "$(id -u)"
}

@test "keep-id: destroy -e of a running keep-id env whose state.json is damaged ends its init and fuse-overlayfs" {
	dv_need_keepid
	local id pid server i
	dv_busybox_image
	printf 'image: busybox\nuser: dev\n' | dv_envfile
	"$DEVENV" up
	id=$("$DEVENV" status --json | dv_json id)
	pid=$(dv_init_pid)
	server=$(pgrep -u "$(id -u)" -f "fuse-overlayfs .*$DV_STORE/envs/$id/upper")
	[[ -n $pid && -n $server ]]
	echo garbage >"$DV_STORE/envs/$id/state.json"
	run "$DEVENV" destroy -f -e "$id"
	assert_success
	assert_output "damaged env $id destroyed (the checkout and named volumes are kept)"
	# (the init is a subordinate id's: kill -0 would say EPERM, not gone)
	alive() { local s; s=$(ps -o stat= -p "$1") && [[ $s != Z* ]]; }
	for ((i = 0; i < 50; i++)); do alive "$pid" || alive "$server" || break; sleep 0.1; done
	! alive "$pid"
	! alive "$server"
}

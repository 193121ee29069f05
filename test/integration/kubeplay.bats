#!/usr/bin/env bats
# The Pod `devenv kube generate` writes, played by a real engine (issue 17,
# item 2): Debian's podman reads it with `podman kube play`, each container
# has the env, mounts, ports, capabilities and user the Envfile asked for
# (`podman inspect`), `podman kube generate` reads the Pod back, and the
# running Pod serves the env's provisioned file and a service by its name.
#
# The set-up that starts a Pod's infra container on these machines (README
# "Played by podman"): root here lacks CAP_SYS_RESOURCE, so crun cannot
# raise RLIMIT_NOFILE to the 1048576 that a root podman asks for by default
# ("setrlimit `RLIMIT_NOFILE`: Operation not permitted"), and no Pod field
# or kube play option changes what the infra container asks for. A
# containers.conf (CONTAINERS_CONF, the test's own) whose default_ulimits
# stay at or under this process's hard limits does: podman applies them to
# the infra container too. A rootless podman asks for no more than its own
# limits and needs none of it. crun also wants the v1 hugetlb hierarchy
# mounted on this hybrid cgroup layout (as push.bats).
#
# Root plays into the system's podman store (its network's addresses are
# allocated there) and removes every pod, volume and image it made;
# rootless podman gets a store, a run folder and a pause process of the
# file's own, all removed at the end.

load helpers

setup_file() {
	command -v podman >/dev/null || return 0
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	kp_podman_setup
}

teardown_file() {
	kp_podman_teardown
	dv_registry_stop
}

setup() {
	command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps)"
	# A name of this run's: root's podman store is the machine's.
	KP_POD=kp-$(printf '%04x' $((RANDOM % 65536)))
	dv_setup "$KP_POD"
	KP_YAML=$BATS_TEST_TMPDIR/pod.yaml
	KP_PLAYED=
}

teardown() {
	local rc=0
	[[ -z ${KP_SERVER:-} ]] || kill "$KP_SERVER" 2>/dev/null
	kp_down || rc=1
	dv_teardown || rc=1
	return "$rc"
}

# --- podman, as this file runs it --------------------------------------------

# kp_podman_setup: CONTAINERS_CONF and, without root, a store and run
# folder of the file's own (KP_PODMAN: the podman command line).
kp_podman_setup() {
	local nofile nproc
	export KP_PODMAN="podman"
	# At or under our hard limits: crun may set those without
	# CAP_SYS_RESOURCE.
	nofile=$(ulimit -Hn)
	[[ $nofile == unlimited ]] && nofile=1048576
	nproc=$(ulimit -Hu)
	[[ $nproc == unlimited ]] || ((nproc > 32768)) && nproc=32768
	printf '[containers]\ndefault_ulimits = [\n  "nofile=%s:%s",\n  "nproc=%s:%s",\n]\n' \
		"$nofile" "$nofile" "$nproc" "$nproc" >"$BATS_FILE_TMPDIR/containers.conf"
	export CONTAINERS_CONF=$BATS_FILE_TMPDIR/containers.conf
	if ((EUID == 0)); then
		if [[ ! -e /sys/fs/cgroup/cgroup.controllers ]] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
			mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
		fi
		return 0
	fi
	# Rootless: the file's own store, run folder (and so pause process).
	export XDG_RUNTIME_DIR=$BATS_FILE_TMPDIR/xdg
	mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
	KP_PODMAN="podman --root $BATS_FILE_TMPDIR/podman/root --runroot $BATS_FILE_TMPDIR/podman/run --storage-driver overlay"
	export KP_PODMAN
}

kp_podman_teardown() {
	local pid
	[[ -n ${KP_PODMAN:-} ]] || return 0
	((EUID == 0)) && return 0
	$KP_PODMAN system reset -f >/dev/null 2>&1
	pid=$(cat "$XDG_RUNTIME_DIR/libpod/tmp/pause.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
	rm -rf "$BATS_FILE_TMPDIR/podman" 2>/dev/null ||
		unshare --map-root-user --map-auto rm -rf "$BATS_FILE_TMPDIR/podman"
	return 0
}

# kp PODMAN-ARGS...: podman as this file runs it.
kp() {
	$KP_PODMAN "$@"
}

# kp_play [ARGS...]: podman kube play the test's YAML (from the test
# registry, plain http). With KP_NETWORK=none or host, --network so and
# the env's ports left out (podman refuses any port mapping there, a bare
# containerPort too): kp_network says so.
kp_play() {
	local yaml=$KP_YAML
	KP_PLAYED=1
	if [[ ${KP_NETWORK:-} == none || ${KP_NETWORK:-} == host ]]; then
		yaml=$BATS_TEST_TMPDIR/played.yaml
		awk '/^    ports:$/ { skip = 1; next }
			skip && /^(    -|      )/ { next }
			{ skip = 0; print }' "$KP_YAML" >"$yaml"
	fi
	run kp kube play --tls-verify=false ${KP_NETWORK:+--network "$KP_NETWORK"} "$@" "$yaml"
}

# kp_down: the Pod, its claims' volumes and the images it pulled, gone;
# fails naming what is left.
kp_down() {
	local v left
	[[ -n ${KP_PLAYED:-} ]] || return 0
	# (no stop timeout: busybox httpd, pid 1 of its container, ignores
	# SIGTERM, and kube down would wait 10 s for it)
	kp pod rm -f -t 0 "$KP_POD" >/dev/null 2>&1 || true
	kp kube down "$KP_YAML" >/dev/null 2>&1 || true
	for v in $(kp volume ls -q --filter "name=^$KP_POD"); do
		kp volume rm -f "$v" >/dev/null
	done
	# The names of this file's registry only (its port is this run's): an
	# image that has other names too keeps them.
	for v in $(kp_images); do
		kp rmi "$v" >/dev/null 2>&1 || true
	done
	KP_PLAYED=
	left=$(
		kp ps -a --format '{{.Names}}' --filter "pod=$KP_POD" 2>/dev/null
		kp pod ls -q --filter "name=^$KP_POD\$"
		kp volume ls -q --filter "name=^$KP_POD"
		kp_images
	)
	[[ -z $left ]] || {
		echo "kp_down: left behind: $left" >&2
		return 1
	}
}

# kp_images: the names podman has for images of this file's registry.
kp_images() {
	kp images --format '{{.Repository}} {{.Tag}} {{.Digest}}' |
		awk -v r="$DV_REGISTRY/" 'index($1, r) == 1 { print ($2 == "<none>" ? $1 "@" $3 : $1 ":" $2) }' |
		sort -u
}

# kp_network: without root, podman's slirp4netns needs /dev/net/tun (0666 on
# Debian; 0600 root's on this machine): else the Pod shares the host's
# network, said on the TAP stream.
kp_network() {
	KP_NETWORK=
	((EUID == 0)) && return 0
	[[ -r /dev/net/tun && -w /dev/net/tun ]] && return 0
	KP_NETWORK=none
	echo "# rootless: /dev/net/tun is not open to this user (slirp4netns needs it): the Pod runs with --network none (its loopback only), without its ports" >&3
}

# --- the YAML ----------------------------------------------------------------

# kp_push: push the env (in the current checkout) to the test registry;
# KP_IMAGE is its reference pinned by digest.
kp_push() {
	run "$DEVENV" push "$DV_REGISTRY/kubeplay/$KP_POD:1"
	assert_success
	KP_IMAGE=$(sed -n 's/^pushed env .* as \([^ ]*\):1@\(sha256:[0-9a-f]*\)$/\1@\2/p' <<<"$output")
	[[ -n $KP_IMAGE ]]
}

# kp_generate ARGS...: the env's Pod (`devenv kube generate ARGS...`) in
# KP_YAML; KP_CLAIM is its first claim's name.
kp_generate() {
	run "$DEVENV" kube generate "$@" -o "$KP_YAML"
	assert_success
	KP_CLAIM=$(sed -n 's/^      claimName: "\(.*\)"$/\1/p' "$KP_YAML" | head -n 1)
}

# kp_serve DIR: serve DIR with python3's http.server on a free port of
# 127.0.0.1 (KP_PORT) for this test (KP_SERVER: its pid, which teardown
# ends).
kp_serve() {
	KP_PORT=$(dv_free_port)
	timeout 300 python3 -m http.server --bind 127.0.0.1 --directory "$1" "$KP_PORT" >/dev/null 2>&1 &
	KP_SERVER=$!
	dv_fetch "http://127.0.0.1:$KP_PORT/" >/dev/null 2>&1
}

# kp_busybox_env: a busybox env with a provisioned file, a service (busybox
# httpd on a free port, serving the volume it shares with the env), a port,
# a capability beyond the default set and one less, and an on_up step;
# pushed, and its Pod generated, the service's image (only in this store)
# pushed beside it (--push). KP_SVC_IMAGE: the service's image in the YAML.
kp_busybox_env() {
	dv_busybox_image
	KP_SVC_PORT=$(dv_free_port)
	KP_HOSTPORT=$(dv_free_port)
	dv_envfile <<-EOF
	image: busybox
	env:
	  GREETING: hello
	ports: ["127.0.0.1:$KP_HOSTPORT:8000"]
	security:
	  cap_add: [NET_ADMIN]
	  cap_drop: [SETFCAP]
	volumes: ["data:/data"]
	services:
	  web:
	    image: busybox
	    command: ["httpd", "-f", "-p", "$KP_SVC_PORT", "-h", "/www"]
	    volumes: ["data:/www"]
	    healthcheck:
	      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:$KP_SVC_PORT/"]
	      interval: 1s
	provision:
	  - run: echo provisioned > /etc/provisioned
	on_up:
	  - run: echo "\$GREETING from on_up" > /data/index.html
	EOF
	echo from-the-checkout >hello.txt
	run "$DEVENV" up
	assert_success
	kp_push
	# The env's own forward holds the host port: the Pod takes it over.
	run "$DEVENV" halt
	assert_success
	kp_generate --push
	KP_SVC_IMAGE=$(sed -n "s|^    image: \"\($DV_REGISTRY/kubeplay/$KP_POD@sha256:[0-9a-f]*\)\"\$|\1|p" "$KP_YAML" |
		grep -vxF "$KP_IMAGE")
	[[ -n $KP_SVC_IMAGE ]]
}

# kp_on_up: the on_up sequence printed after the YAML, each `kubectl exec
# POD -c CTR --` run as `podman exec POD-CTR` (the same words after it).
kp_on_up() {
	local line
	while read -r line; do
		line=${line#"#   kubectl exec $KP_POD -c $KP_POD -- "}
		eval "kp exec $KP_POD-$KP_POD $line" || return 1
	done < <(grep "^#   kubectl exec $KP_POD -c $KP_POD -- " "$KP_YAML")
}

# --- the tests ---------------------------------------------------------------

@test "kube play: the Pod and its claim are created; each container has the env, mounts, ports, capabilities the Envfile asked for" {
	kp_network
	kp_busybox_env
	kp_play --start=false
	assert_success
	assert_output --partial "Pod:"

	run kp pod inspect "$KP_POD" --format '{{.Name}} {{.NumContainers}}'
	assert_success
	assert_output "$KP_POD 3"
	# The env's container: its environment, checkout, volume and sandbox.
	env_ctr=$KP_POD-$KP_POD
	run kp inspect "$env_ctr" --format '{{range .Config.Env}}{{println .}}{{end}}'
	assert_success
	assert_line GREETING=hello
	run kp inspect "$env_ctr" --format '{{range .Mounts}}{{println .Type .Source .Destination .Name}}{{end}}'
	assert_success
	assert_line "bind $DV_CHECKOUT /workspace "
	assert_line --regexp "^volume .* /data $KP_CLAIM\$"
	run kp inspect "$env_ctr" --format '{{.Config.WorkingDir}} {{json .EffectiveCaps}}'
	assert_success
	assert_output '/workspace ["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_NET_ADMIN","CAP_NET_BIND_SERVICE","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"]'
	run kp inspect "$env_ctr" --format '{{json .HostConfig.SecurityOpt}}'
	assert_output --partial no-new-privileges
	# The port: on the host's loopback, as `up` forwards it.
	if [[ $KP_NETWORK != none ]]; then
		run kp pod inspect "$KP_POD" --format '{{json .InfraConfig.PortBindings}}'
		assert_success
		assert_output "{\"8000/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$KP_HOSTPORT\"}]}"
	fi
	# The service: its image, command, the volume it shares with the env.
	run kp inspect "$KP_POD-web" --format '{{.ImageName}} {{.Config.Entrypoint}}'
	assert_success
	assert_output "$KP_SVC_IMAGE httpd -f -p $KP_SVC_PORT -h /www"
	run kp inspect "$KP_POD-web" --format '{{range .Mounts}}{{println .Type .Destination .Name}}{{end}}'
	assert_line "volume /www $KP_CLAIM"
	# ... and the default sandbox, as root, whatever the env's security says.
	run kp inspect "$KP_POD-web" --format '{{json .EffectiveCaps}} {{json .HostConfig.SecurityOpt}} user={{.Config.User}}'
	assert_output --partial '["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"] '
	assert_output --partial no-new-privileges
	assert_output --regexp ' user=$'
	run kp volume ls -q --filter "name=^$KP_POD"
	assert_output "$KP_CLAIM"
	# The env's image is the pushed one, by digest.
	run kp inspect "$env_ctr" --format '{{.ImageName}}'
	assert_output "$KP_IMAGE"
}

@test "kube play: podman kube generate reads the Pod back" {
	kp_network
	kp_busybox_env
	kp_play --start=false
	assert_success
	# (its warnings, on stderr, say it truncates podman's own annotations)
	kp kube generate "$KP_POD" >"$BATS_TEST_TMPDIR/back.yaml" 2>"$BATS_TEST_TMPDIR/back.err"
	run cat "$BATS_TEST_TMPDIR/back.yaml"
	assert_line --regexp "^  name: $KP_POD\$"
	assert_line --regexp "^    image: $KP_IMAGE\$"
	assert_line --regexp "^    image: $KP_SVC_IMAGE\$"
	assert_line --regexp "^      claimName: $KP_CLAIM\$"
	assert_line --regexp "^      path: $DV_CHECKOUT\$"
	assert_line "    - web"
	assert_line "    workingDir: /workspace"
	if [[ $KP_NETWORK != none ]]; then
		assert_line "      hostPort: $KP_HOSTPORT"
	fi
	# ... and what it wrote plays again.
	kp_down
	cp "$BATS_TEST_TMPDIR/back.yaml" "$KP_YAML"
	kp_play --start=false
	assert_success
	run kp pod inspect "$KP_POD" --format '{{.NumContainers}}'
	assert_output 3
}

@test "kube play: the running Pod has the env's provisioned file and checkout, on_up's sequence runs, a service answers its name, the port answers here" {
	kp_network
	kp_busybox_env
	kp_play
	assert_success
	env_ctr=$KP_POD-$KP_POD
	run kp exec "$env_ctr" cat /etc/provisioned /workspace/hello.txt
	assert_success
	assert_output $'provisioned\nfrom-the-checkout'
	# The on_up sequence printed after the YAML writes the page.
	run kp_on_up
	assert_success
	# The service shares the Pod's loopback...
	run kp exec "$env_ctr" sh -c "for i in \$(seq 50); do wget -q -O- http://127.0.0.1:$KP_SVC_PORT/ 2>/dev/null && exit; sleep 0.1; done; exit 1"
	assert_success
	assert_output "hello from on_up"
	if [[ $KP_NETWORK == none ]]; then
		echo "# rootless without /dev/net/tun: not checked: the service by its name (podman 4.3 leaves hostAliases out of /etc/hosts under --network none) and the hostPort" >&3
		return 0
	fi
	# ... and answers its name (hostAliases), as in `up`'s env.
	run kp exec "$env_ctr" wget -q -O- "http://web:$KP_SVC_PORT/"
	assert_success
	assert_output "hello from on_up"
	run kp exec -d "$env_ctr" httpd -f -p 8000 -h /workspace
	assert_success
	run dv_fetch "http://127.0.0.1:$KP_HOSTPORT/hello.txt"
	assert_success
	assert_output from-the-checkout
}

@test "kube play: after kube down, the Pod played again finds its claim's volume and data (the Pod alone: podman 4.3 refuses a claim whose volume exists)" {
	kp_network
	kp_busybox_env
	kp_play
	assert_success
	run kp exec "$KP_POD-$KP_POD" sh -c 'echo kept >/data/kept'
	assert_success
	# (stopped first without a timeout: busybox httpd, pid 1 of its
	# container, ignores SIGTERM, and kube down would wait 10 s for it)
	run kp pod stop -t 0 "$KP_POD"
	assert_success
	run kp kube down "$KP_YAML"
	assert_success
	run kp pod ls -q --filter "name=^$KP_POD\$"
	assert_output ""
	run kp volume ls -q --filter "name=^$KP_POD"
	assert_output "$KP_CLAIM"
	kp_play
	assert_failure
	assert_output --partial "volume with name $KP_CLAIM already exists"
	kp pod rm -f -t 0 "$KP_POD" >/dev/null 2>&1 || true
	# The Pod's document alone (what the README says to do).
	awk '/^---$/ { doc = ""; keep = 0 } /^kind: Pod$/ { keep = 1 }
		{ doc = doc $0 "\n" } keep && doc != "" { printf "%s", doc; doc = "" }' \
		"$KP_YAML" >"$BATS_TEST_TMPDIR/pod-only.yaml"
	run grep -c PersistentVolumeClaim "$BATS_TEST_TMPDIR/pod-only.yaml"
	assert_output 0
	cp "$BATS_TEST_TMPDIR/pod-only.yaml" "$KP_YAML"
	kp_play
	assert_success
	run kp exec "$KP_POD-$KP_POD" cat /data/kept
	assert_success
	assert_output kept
}

@test "kube play: a network: host env: the Pod is on the host's network, its port the host's" {
	dv_busybox_image
	port=$(dv_free_port)
	dv_envfile <<-EOF
	image: busybox
	network: host
	ports: ["$port:$port"]
	provision:
	  - run: echo provisioned > /etc/provisioned
	EOF
	run "$DEVENV" up
	assert_success
	kp_push
	run "$DEVENV" halt
	assert_success
	kp_generate
	run grep -c '^  hostNetwork: true$' "$KP_YAML"
	assert_output 1
	kp_play
	assert_success
	run kp pod inspect "$KP_POD" --format '{{.InfraConfig.HostNetwork}}'
	assert_output true
	run kp exec -d "$KP_POD-$KP_POD" httpd -f -p "127.0.0.1:$port" -h /etc
	assert_success
	run dv_fetch "http://127.0.0.1:$port/provisioned"
	assert_success
	assert_output provisioned
}

@test "kube play: a Debian env with git and a user, --clone: the init container clones origin at the commit; the env runs as runAsUser with its provisioned file" {
	dv_debian_with debian-git git
	dv_envfile <<-'EOF'
	image: debian-git
	user: dev
	env:
	  LANG: C.UTF-8
	provision:
	  - run: echo "provisioned on $(. /etc/os-release && echo "$ID $VERSION_ID")" > /etc/provisioned
	EOF
	echo one >hello.txt
	git add -A && git commit -qm one
	commit=$(git rev-parse HEAD)
	echo two >hello.txt
	git commit -qam two
	# origin: a bare copy served over git's dumb http on loopback, a
	# commit ahead of the checkout's, which the Pod must check out.
	git clone -q --bare . "$BATS_TEST_TMPDIR/srv/origin.git"
	git --git-dir="$BATS_TEST_TMPDIR/srv/origin.git" update-server-info
	kp_serve "$BATS_TEST_TMPDIR/srv"
	git remote add origin "http://127.0.0.1:$KP_PORT/origin.git"
	git reset -q --hard "$commit"
	run "$DEVENV" up
	assert_success
	kp_push
	run "$DEVENV" halt
	assert_success
	kp_generate --clone
	# The Pod on the host's network: the clone reaches the loopback server.
	KP_NETWORK=host
	kp_play
	assert_success
	env_ctr=$KP_POD-$KP_POD
	run kp inspect "$env_ctr" --format '{{.Config.User}} {{.Config.WorkingDir}} {{.ImageName}}'
	assert_output "1000:1000 /workspace $KP_IMAGE"
	run kp exec "$env_ctr" sh -c 'cat /etc/provisioned; id -u; id -g; echo "$LANG"; pwd; cat hello.txt; git rev-parse HEAD'
	assert_success
	assert_output "$(printf 'provisioned on debian 12\n1000\n1000\nC.UTF-8\n/workspace\none\n%s' "$commit")"
	# The emptyDir is a volume of this Pod's own: podman (4.3) makes it a
	# volume named as the Pod's volume is, which every Pod naming its
	# volume so would share.
	run kp inspect "$env_ctr" --format '{{range .Mounts}}{{println .Type .Name .Destination}}{{end}}'
	assert_line "volume $KP_POD-checkout /workspace"
	# The clone ran once (podman removes an init container once it ran),
	# and the env's container runs, never restarted.
	run kp ps -a --format '{{.Names}}' --filter "pod=$KP_POD"
	refute_line --regexp -- '-clone$'
	run kp inspect "$env_ctr" --format '{{.State.Status}} {{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}'
	assert_output "running 0 on-failure"
}

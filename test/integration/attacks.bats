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

# ---- the default sandbox ----
# podman's capabilities (no NET_RAW), a network namespace of the env's own
# by default, slirp4netns and devenv-net without privileges (README:
# Networking and ports, Security). The prober (test/fixtures/probe) goes
# in through the checkout.

# sandbox_up [ENVFILE LINES...]: an env on busybox, with the prober, up.
sandbox_up() {
	dv_busybox_image
	cp "$DV_ROOT/test/fixtures/probe" "$DV_CHECKOUT/probe"
	printf '%s\n' "image: busybox" "$@" | dv_envfile
	run "$DEVENV" up
	assert_success
}

# sandbox_chatter MARKER: for a few seconds, the host sends UDP datagrams
# holding MARKER to its own 127.0.0.1 (what a sniffer on the host's
# loopback would read).
sandbox_chatter() {
	timeout 8 python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + 6
while time.time() < end:
    s.sendto(sys.argv[1].encode(), ("127.0.0.1", 9))
    time.sleep(0.05)' "$1" &
}

# sandbox_state FIELD: a field of the env's net_helpers in state.json.
sandbox_state() {
	python3 -c 'import glob, json, sys; print(json.load(open(glob.glob(sys.argv[1] + "/envs/*/state.json")[0]))["net_helpers"][sys.argv[2]])' "$DV_STORE" "$1"
}

@test "sandbox attack: a packet sniffer in a default env reads nothing of the host's loopback" {
	local marker=devenv-sniff-$RANDOM$RANDOM
	sandbox_up
	sandbox_chatter "$marker"
	# (before: "sniff: OK", the host's datagram read through AF_PACKET)
	run "$DEVENV" ssh -- ./probe packet raw sniff "$marker" 3
	assert_success
	assert_output - <<-'EOF'
	packet: EPERM
	raw: EPERM
	sniff: EPERM
	EOF
}

@test "sandbox attack: on the host's network too, the default caps open no packet socket; cap_add: [NET_RAW] does" {
	local marker=devenv-sniff-$RANDOM$RANDOM
	sandbox_up "network: host"
	sandbox_chatter "$marker"
	run "$DEVENV" ssh -- ./probe capeff packet sniff "$marker" 3
	assert_success
	assert_output - <<-'EOF'
	capeff: 00000000800405fb
	packet: EPERM
	sniff: EPERM
	EOF
	# Given back on request (a trust request): raw sockets work again
	# (root of the host only: rootless, NET_RAW is the user namespace's,
	# and the host's network namespace is not).
	printf '%s\n' "image: busybox" "network: host" "security:" "  cap_add: [NET_RAW]" | dv_envfile
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -- ./probe packet raw
	assert_success
	if ((DV_ROOTLESS)); then
		assert_output $'packet: EPERM\nraw: EPERM'
	else
		assert_output $'packet: OK\nraw: OK'
	fi
}

@test "sandbox: ping works in a default env without NET_RAW (ICMP datagram sockets), for root and another user" {
	sandbox_up
	run "$DEVENV" status --json
	[[ $(dv_json network <<<"$output") == private ]]
	run "$DEVENV" ssh -- ./probe raw icmp
	assert_success
	assert_output $'raw: EPERM\nicmp: OK'
	run "$DEVENV" ssh --user 65534 -- /workspace/probe icmp
	assert_success
	assert_output 'icmp: OK'
	# every group the env has may (rootless: those its namespace maps)
	run "$DEVENV" ssh -c 'cat /proc/sys/net/ipv4/ping_group_range'
	if ((DV_ROOTLESS)); then assert_output $'0\t65536'; else assert_output $'0\t2147483647'; fi
}

@test "sandbox attack: a default env cannot reach a service on the host's 127.0.0.1" {
	local p srv
	p=$(dv_free_port)
	mkdir -p "$BATS_TEST_TMPDIR/www" && echo "host secret" >"$BATS_TEST_TMPDIR/www/index.html"
	timeout 60 python3 -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$p" >/dev/null 2>&1 &
	srv=$!
	dv_fetch "http://127.0.0.1:$p/" >/dev/null
	sandbox_up
	# (before: "host secret", the env being on the host's network) Not
	# through slirp4netns's gateway either (--disable-host-loopback).
	# (nc: busybox's wget crashes on a refused connection)
	run "$DEVENV" ssh -c "for a in 127.0.0.1 10.0.2.2; do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 \$a $p 2>&1; echo \"\$a: \$?\"; done"
	assert_success
	refute_output --partial "host secret"
	assert_line "127.0.0.1: 1"
	assert_line "10.0.2.2: 1"
	kill "$srv" 2>/dev/null || true
}

@test "sandbox attack: a default env cannot connect to the host's abstract unix sockets" {
	local name=devenv-x11-$RANDOM$RANDOM
	# a listener on @NAME, as an X server's @/tmp/.X11-unix/X0
	local srv
	timeout 60 python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1])
s.listen(8)
time.sleep(60)' "$name" &
	srv=$!
	for ((i = 0; i < 50; i++)); do grep -q "@$name" /proc/net/unix && break; sleep 0.1; done
	grep -q "@$name" /proc/net/unix
	sandbox_up
	# (before: "abstract: OK")
	run "$DEVENV" ssh -- ./probe abstract "$name"
	assert_success
	assert_output "abstract: ECONNREFUSED"
	kill "$srv" 2>/dev/null || true
}

@test "sandbox: slirp4netns runs with --enable-sandbox --enable-seccomp" {
	[[ -r /dev/net/tun && -w /dev/net/tun ]] ||
		skip "/dev/net/tun is not open to this user here: no slirp4netns to check"
	sandbox_up
	local pid
	pid=$(sandbox_state outbound_pid)
	[[ $pid -gt 0 && $(cat "/proc/$pid/comm") == slirp4netns ]]
	run bash -c "tr '\0' '\n' </proc/$pid/cmdline"
	assert_line --index 0 --regexp '/slirp4netns$'
	assert_line --enable-sandbox
	assert_line --enable-seccomp
	assert_line --disable-host-loopback
	run grep -E '^(CapEff|NoNewPrivs|Seccomp):' "/proc/$pid/status"
	# what --enable-sandbox leaves it: CAP_NET_BIND_SERVICE at most
	assert_line --regexp '^CapEff:[[:space:]]+0000000000000(0|4)00$'
	assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
	# and it did set up the env's way out
	run "$DEVENV" ssh -c 'ip route'
	assert_line --regexp '^default via 10\.0\.2\.2 dev tap0'
}

@test "sandbox: devenv-net keeps no privilege once set up: CapEff 0, NoNewPrivs 1, Seccomp 2, as the checkout's owner" {
	local hp pid maker= p
	hp=$(dv_free_port)
	# a checkout owned by someone else than root: the helper becomes them
	((DV_ROOTLESS)) || chown -R 1000:1000 "$DV_CHECKOUT"
	sandbox_up "ports: [\"$hp:8000\"]" "on_up:" "  - run: mkdir -p /www && echo relayed > /www/index.html && httpd -p 8000 -h /www"
	pid=$(sandbox_state helper_pid)
	[[ $pid -gt 0 && $(cat "/proc/$pid/comm") == devenv-net ]]
	run dv_fetch "http://127.0.0.1:$hp/"
	assert_output relayed
	# the helper and its socket maker (its child in the env's namespace)
	for p in $(cat "/proc/$pid/task/$pid/children"); do
		[[ $(cat "/proc/$p/comm") == devenv-net ]] && maker=$p
	done
	[[ -n $maker ]]
	for p in "$pid" "$maker"; do
		run grep -E '^(Uid|CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' "/proc/$p/status"
		assert_line --regexp '^CapEff:[[:space:]]+0000000000000000$'
		assert_line --regexp '^CapPrm:[[:space:]]+0000000000000000$'
		assert_line --regexp '^CapBnd:[[:space:]]+0000000000000000$'
		assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
		assert_line --regexp '^Seccomp:[[:space:]]+2$'
		# rootless: root of devenv's user namespace, which is this user
		if ((DV_ROOTLESS)); then
			assert_line --regexp "^Uid:[[:space:]]+$EUID[[:space:]]+$EUID[[:space:]]+$EUID[[:space:]]+$EUID$"
		else
			assert_line --regexp '^Uid:[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000$'
		fi
	done
	# It still relays, and still ends with the env's init (taking
	# slirp4netns with it through its exit fd).
	run dv_fetch "http://127.0.0.1:$hp/"
	assert_output relayed
	kill -KILL "$(dv_init_pid)"
	for ((i = 0; i < 50; i++)); do
		[[ ! -d /proc/$pid ]] || grep -q '^State:.*Z' "/proc/$pid/status" && break
		sleep 0.1
	done
	[[ ! -d /proc/$pid ]] || grep -q '^State:.*Z' "/proc/$pid/status"
}

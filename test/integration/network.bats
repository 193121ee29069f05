#!/usr/bin/env bats
# network: private (the default)|host, ports forwarded from the host,
# slirp4netns for a private env's outbound traffic, `devenv port`.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
}
teardown() {
	[[ -n ${HOSTSRV:-} ]] && kill "$HOSTSRV" 2>/dev/null
	dv_teardown
}

# port_open PORT [IP]: does something accept on IP:PORT of the host?
port_open() {
	python3 -c 'import socket, sys
s = socket.socket()
s.settimeout(2)
sys.exit(0 if s.connect_ex((sys.argv[2], int(sys.argv[1]))) == 0 else 1)' "$1" "${2:-127.0.0.1}"
}

# web_envfile NETWORK PORTS_LINE CPORT: an env whose on_up starts busybox
# httpd on CPORT, serving "hello from the env".
web_envfile() {
	dv_envfile <<-EOF
	image: busybox
	network: $1
	ports: $2
	on_up:
	  - run: mkdir -p /www && echo "hello from the env" > /www/index.html && httpd -p 127.0.0.1:$3 -h /www
	EOF
}

# fetch PORT: the page at 127.0.0.1:PORT, retrying briefly.
fetch() {
	dv_fetch "http://127.0.0.1:$1/"
}

@test "host: a forward to another port reaches the env's server, and halt frees the port" {
	local hp cp
	hp=$(dv_free_port)
	cp=$(dv_free_port)
	web_envfile host "[\"$hp:$cp\"]" "$cp"
	run "$DEVENV" up
	assert_success
	run fetch "$hp"
	assert_success
	assert_output "hello from the env"
	# host mode: the env's server is on the host's loopback itself.
	run fetch "$cp"
	assert_output "hello from the env"

	run "$DEVENV" port
	assert_success
	assert_output "$cp/tcp -> 127.0.0.1:$hp"

	run "$DEVENV" halt
	assert_success
	run port_open "$hp"
	assert_failure
	run "$DEVENV" port
	assert_failure
	assert_output --partial "is not running"

	run "$DEVENV" up
	assert_success
	run fetch "$hp"
	assert_output "hello from the env"
}

@test "private: the forward connects inside the env; the env cannot see the host's loopback" {
	local hp cp
	hp=$(dv_free_port)
	cp=$(dv_free_port)
	web_envfile private "[\"127.0.0.1:$hp:$cp\"]" "$cp"
	python3 -m http.server --bind 127.0.0.1 "$cp" >/dev/null 2>&1 &
	HOSTSRV=$!
	for ((i = 0; i < 50; i++)); do port_open "$cp" && break; sleep 0.1; done
	run "$DEVENV" up
	assert_success
	run fetch "$hp"
	assert_success
	assert_output "hello from the env"
	# The host's own 127.0.0.1:$cp is the python server, not the env's.
	run curl -fsS --max-time 3 "http://127.0.0.1:$cp/"
	assert_success
	refute_output --partial "hello from the env"
	# Isolation: inside, 127.0.0.1:$cp is the env's httpd, never the host's.
	run "$DEVENV" ssh -c "wget -O - http://127.0.0.1:$cp/ 2>/dev/null"
	assert_success
	assert_output "hello from the env"
	run "$DEVENV" ssh -c "cat /etc/resolv.conf; ip addr 2>/dev/null | grep -c 'inet ' || true"
	assert_success
	assert_line "nameserver 10.0.2.3"

	run "$DEVENV" port --json
	assert_success
	[[ $(python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; print(p["container_port"], p["host_ip"], p["host_port"], p["protocol"])' <<<"$output") == "$cp 127.0.0.1 $hp tcp" ]]
}

@test "private: a container port with nothing listening closes that connection only" {
	local hp cp hp2
	hp=$(dv_free_port)
	hp2=$(dv_free_port)
	cp=$(dv_free_port)
	web_envfile private "[\"$hp:$cp\", \"$hp2:9\"]" "$cp"
	run "$DEVENV" up
	assert_success
	run curl -sS --max-time 3 "http://127.0.0.1:$hp2/"
	assert_failure
	# A client that connects and vanishes.
	python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.close()' "$hp"
	run fetch "$hp"
	assert_success
	assert_output "hello from the env"
	# A big reply passes through whole.
	"$DEVENV" ssh -c 'dd if=/dev/urandom of=/www/big bs=64k count=64 2>/dev/null; md5sum /www/big' >"$BATS_TEST_TMPDIR/sum"
	run curl -fsS --max-time 10 -o "$BATS_TEST_TMPDIR/big" "http://127.0.0.1:$hp/big"
	assert_success
	[[ $(md5sum <"$BATS_TEST_TMPDIR/big" | cut -d' ' -f1) == $(cut -d' ' -f1 "$BATS_TEST_TMPDIR/sum") ]]
}

@test "a port taken on the host stops up before anything starts" {
	local hp
	hp=$(dv_free_port)
	python3 -m http.server --bind 127.0.0.1 "$hp" >/dev/null 2>&1 &
	HOSTSRV=$!
	for ((i = 0; i < 50; i++)); do port_open "$hp" && break; sleep 0.1; done
	dv_envfile <<-EOF
	image: busybox
	network: private
	provision:
	  - run: echo built > /built
	ports: ["$hp:80"]
	EOF
	run "$DEVENV" up
	assert_failure 1
	local by="pid $HOSTSRV (python3)" # (ports.bats: without root, whose)
	((DV_ROOTLESS)) && by="a process of yours ('ss -ltnp' names it)"
	assert_output "devenv: Envfile:5:9: port $hp on 127.0.0.1 is already in use on this host, held by $by; free it, or write \"auto:80\" for a free port of devenv's choosing"
	[[ ! -d $DV_STORE/envs/$(ls "$DV_STORE/envs" 2>/dev/null | grep -v lock | head -1)/upper ]] || [[ -z $(ls "$DV_STORE/envs" | grep -v lock) ]]
	[[ -z $(dv_procs_in_store "$DV_STORE") ]]
	# Host mode with equal ports: the app would bind it itself, so it must be free too.
	sed -i 's/network: private/network: host/; s/:80"/:'"$hp"'"/' Envfile
	run "$DEVENV" up
	assert_failure 1
	assert_output --partial "port $hp on 127.0.0.1 is already in use on this host"
}

@test "two ports entries for one host port are an Envfile error" {
	dv_envfile <<-'EOF'
	image: busybox
	ports: ["8000:8000", "127.0.0.1:8000:9000"]
	EOF
	run "$DEVENV" up
	assert_failure 2
	assert_output --partial "Envfile:2:22: host port 8000 is already forwarded"
}

@test "private: outbound traffic goes through slirp4netns to the host's address" {
	command -v slirp4netns >/dev/null || skip "slirp4netns is not installed"
	[[ -r /dev/net/tun && -w /dev/net/tun ]] ||
		skip "/dev/net/tun is not open to this user here (slirp4netns needs it; see the next test)"
	local ip p
	ip=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1) }')
	[[ -n $ip ]] || skip "this host has no default route"
	p=$(dv_free_port)
	mkdir -p "$BATS_TEST_TMPDIR/www" && echo "hello from the host" >"$BATS_TEST_TMPDIR/www/index.html"
	python3 -m http.server --bind "$ip" --directory "$BATS_TEST_TMPDIR/www" "$p" >/dev/null 2>&1 &
	HOSTSRV=$!
	printf 'image: busybox\nnetwork: private\n' >Envfile
	run "$DEVENV" up
	assert_success
	refute_output --partial "neither slirp4netns nor pasta"
	for ((i = 0; i < 50; i++)); do port_open "$p" "$ip" && break; sleep 0.1; done
	# (busybox's wget -q crashes here: its progress bar is on stderr instead)
	run "$DEVENV" ssh -c "timeout 5 wget -O - http://$ip:$p/ 2>/dev/null"
	assert_success
	assert_output "hello from the host"
	# Isolation: the host's loopback is not reachable from the env.
	run "$DEVENV" ssh -c "timeout 5 wget -O - http://10.0.2.2:$p/ 2>/dev/null"
	assert_failure
	# slirp4netns starts alongside the init, and up returns once it is
	# ready: an ssh right after up goes out at once, every time.
	for ((i = 0; i < 5; i++)); do
		"$DEVENV" halt >/dev/null
		"$DEVENV" up >/dev/null
		run "$DEVENV" ssh -c "timeout 5 wget -O - http://$ip:$p/ 2>/dev/null"
		assert_output "hello from the host"
	done

	# halt stops slirp4netns too.
	run "$DEVENV" status --json
	pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["net_helpers"]["outbound_pid"])' "$DV_STORE/envs/$(ls "$DV_STORE/envs" | grep -v lock)/state.json")
	[[ $pid -gt 0 && -d /proc/$pid ]]
	run "$DEVENV" halt
	assert_success
	# Killed, not waited for: its exit tears its tap device down, which
	# takes the kernel a grace period. Gone within a moment (or a zombie
	# this machine's pid 1 has yet to reap).
	for ((i = 0; i < 50; i++)); do
		[[ ! -d /proc/$pid ]] || grep -q '^State:.*Z' "/proc/$pid/status" && break
		sleep 0.02
	done
	[[ ! -d /proc/$pid ]] || grep -q '^State:.*Z' "/proc/$pid/status"
}

@test "private where slirp4netns cannot run: one warning, the env and its forwards still work" {
	command -v slirp4netns >/dev/null || skip "slirp4netns is not installed"
	[[ -r /dev/net/tun && -w /dev/net/tun ]] && skip "/dev/net/tun is usable here: slirp4netns works"
	local hp cp
	hp=$(dv_free_port)
	cp=$(dv_free_port)
	web_envfile private "[\"$hp:$cp\"]" "$cp"
	run "$DEVENV" up
	assert_success
	assert_line "devenv: warning: network: private: slirp4netns cannot open /dev/net/tun (Permission denied); the env has no outbound network (as root: chmod 0666 /dev/net/tun, its usual mode)"
	[[ $(grep -c "devenv: warning" <<<"$output") == 1 ]]
	run fetch "$hp"
	assert_output "hello from the env"
}

@test "private without slirp4netns or pasta: one clear line, the env still runs" {
	printf 'image: busybox\nnetwork: private\n' >Envfile
	DEVENV_OUTBOUND=none run "$DEVENV" up
	assert_success
	assert_line "devenv: warning: network: private: neither slirp4netns nor pasta is installed; the env has no outbound network (apt-get install slirp4netns)"
	[[ $(grep -c "neither slirp4netns" <<<"$output") == 1 ]]
	run "$DEVENV" ssh -c 'cat /sys/class/net/lo/operstate; ls /sys/class/net'
	assert_success
	assert_output --partial "lo"
	refute_output --partial "tap0"
}

@test "host: a forward with equal ports needs no forwarder; changing ports asks for reload" {
	local p
	p=$(dv_free_port)
	web_envfile host "[\"$p:$p\"]" "$p"
	run "$DEVENV" up
	assert_success
	run fetch "$p"
	assert_output "hello from the env"
	run "$DEVENV" port
	assert_output "$p/tcp -> 127.0.0.1:$p"
	[[ $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["net_helpers"]["helper_pid"])' "$DV_STORE/envs/$(ls "$DV_STORE/envs" | grep -v lock)/state.json") == 0 ]]
	sed -i "s/ports: .*/ports: [\"$(dv_free_port):$p\"]/" Envfile
	run "$DEVENV" up
	assert_success
	assert_output --partial "'devenv reload' restarts it with the change (its files are kept)"
}

@test "port --help, and port of an env never brought up" {
	run "$DEVENV" port --help
	assert_success
	assert_output --partial "usage: devenv port"
	printf 'image: busybox\n' >Envfile
	run "$DEVENV" port
	assert_failure
	assert_output --partial "never brought up"
}

@test "the forwarder dies with the env's init, and survives the terminal of up" {
	local hp cp init helper
	hp=$(dv_free_port)
	cp=$(dv_free_port)
	web_envfile private "[\"$hp:$cp\"]" "$cp"
	# up from a session of its own that then ends, as a closed terminal does.
	run setsid -w "$DEVENV" up
	assert_success
	run fetch "$hp"
	assert_output "hello from the env"
	helper=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["net_helpers"]["helper_pid"])' "$DV_STORE/envs/$(ls "$DV_STORE/envs" | grep -v lock)/state.json")
	[[ $(cat "/proc/$helper/comm") == devenv-net ]]
	# Small: a relay, not a copy of devenv's heap.
	# (ASan's shadow memory does not count)
	ldd "$DEVENV" | grep -q libasan ||
		(($(awk '/^RssAnon/ { print $2 }' "/proc/$helper/status") < 2048))
	init=$(dv_init_pid)
	kill -KILL "$init"
	for ((i = 0; i < 50; i++)); do port_open "$hp" || break; sleep 0.1; done
	run port_open "$hp"
	assert_failure
	run "$DEVENV" up
	assert_success
	run fetch "$hp"
	assert_output "hello from the env"
}

@test "the forwarder starts with an empty environment: up's (LD_DEBUG here) cannot upset its sandbox" {
	local hp cp helper
	hp=$(dv_free_port)
	cp=$(dv_free_port)
	web_envfile private "[\"$hp:$cp\"]" "$cp"
	# ld.so's trace of each binding would be a write its seccomp filter
	# forbids: the relay killed at its first connection
	LD_DEBUG=bindings "$DEVENV" up >/dev/null 2>&1
	run fetch "$hp"
	assert_success
	assert_output "hello from the env"
	helper=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["net_helpers"]["helper_pid"])' "$DV_STORE/envs/$(ls "$DV_STORE/envs" | grep -v lock)/state.json")
	[[ $(cat "/proc/$helper/comm") == devenv-net ]]
	# (readable by root, and by its user without root)
	[[ ! -r /proc/$helper/environ || ! -s /proc/$helper/environ ]]
}

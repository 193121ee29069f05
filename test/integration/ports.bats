#!/usr/bin/env bats
# `auto` ports (issue 15, item 8): "8000" and "auto:8000" take a free host
# port stable per checkout (from the env id into 20000-29999, then the next
# free one), recorded in state.json and reused while free; shown by up,
# port and status. A taken explicit port names the process holding it.
# network.bats has the forwards themselves.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	case $BATS_TEST_DESCRIPTION in
	*Debian*) dv_debian_image ;;
	*) dv_busybox_image ;;
	esac
}
teardown() {
	[[ -n ${HOSTSRV:-} ]] && kill "$HOSTSRV" 2>/dev/null
	if [[ -n ${OTHER:-} && -d $OTHER ]]; then
		(cd "$OTHER" && "$DEVENV" destroy -f >/dev/null 2>&1)
	fi
	dv_teardown
}

# serve_envfile PORTS_LINE: busybox httpd on the env's 8000 serving the
# checkout (its file `who` says which checkout).
serve_envfile() {
	dv_envfile <<-EOF
	image: busybox
	ports: $1
	on_up:
	  - run: httpd -p 127.0.0.1:8000 -h .
	EOF
}

# auto_port: the host port `devenv port` shows for the env's 8000.
auto_port() {
	"$DEVENV" port | sed -n 's|^8000/tcp -> 127\.0\.0\.1:\([0-9]*\)$|\1|p'
}

# listen PORT: a process of ours holding 127.0.0.1:PORT; HOSTSRV its pid.
listen() {
	python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(600)' "$1" &
	HOSTSRV=$!
	dv_wait 5 grep -q ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp
}

@test "auto: two checkouts of one project, each on a port of its own, stable across halt and up" {
	local a b a2
	serve_envfile '["8000"]'
	echo "checkout one" >who
	git add -A && git commit -qm one
	OTHER=$(dirname "$DV_CHECKOUT")/other/proj
	mkdir -p "$(dirname "$OTHER")"
	git clone -q "$DV_CHECKOUT" "$OTHER"
	echo "checkout two" >"$OTHER/who"

	run "$DEVENV" up
	assert_success
	a=$(auto_port)
	((a >= 20000 && a <= 29999))
	assert_line "port 8000 -> 127.0.0.1:$a"
	run dv_fetch "http://127.0.0.1:$a/who"
	assert_output "checkout one"
	# up of the running env says it again.
	run "$DEVENV" up
	assert_output "$(printf "env 'proj' is already running\nport 8000 -> 127.0.0.1:%s" "$a")"

	cd "$OTHER"
	run "$DEVENV" up
	assert_success
	b=$(auto_port)
	((b >= 20000 && b <= 29999 && b != a))
	assert_line "port 8000 -> 127.0.0.1:$b"
	run dv_fetch "http://127.0.0.1:$b/who"
	assert_output "checkout two"
	run "$DEVENV" status
	assert_line "  port:     8000/tcp -> 127.0.0.1:$b (auto)"
	run "$DEVENV" status --json
	[[ $(dv_json ports <<<"$output") == "[{\"container_port\": 8000, \"protocol\": \"tcp\", \"host_ip\": \"127.0.0.1\", \"host_port\": $b, \"auto\": true}]" ]]
	cd "$DV_CHECKOUT"

	# Stable: halt and up again, the same port.
	"$DEVENV" halt >/dev/null
	run "$DEVENV" up
	assert_success
	assert_line "port 8000 -> 127.0.0.1:$a"
	run dv_fetch "http://127.0.0.1:$a/who"
	assert_output "checkout one"

	# Taken meanwhile: the next free one, kept while free, even once the
	# first is free again.
	"$DEVENV" halt >/dev/null
	listen "$a"
	run "$DEVENV" up
	assert_success
	a2=$(auto_port)
	((a2 != a && a2 != b && a2 >= 20000 && a2 <= 29999))
	run dv_fetch "http://127.0.0.1:$a2/who"
	assert_output "checkout one"
	kill "$HOSTSRV"
	HOSTSRV=
	"$DEVENV" halt >/dev/null
	run "$DEVENV" up
	assert_success
	[[ $(auto_port) == "$a2" ]]
	# reload (a rebuild) keeps it too.
	run "$DEVENV" reload
	assert_success
	[[ $(auto_port) == "$a2" ]]
}

@test "auto:PORT and IP:auto:PORT beside an explicit port; the trust prompt says auto" {
	local hp p1 p2
	hp=$(dv_free_port)
	serve_envfile "[\"auto:8000\", \"0.0.0.0:auto:8000\", \"$hp:8000\"]"
	run "$DEVENV" up
	assert_success
	# (in Envfile order)
	p1=$(sed -n 's|^port 8000 -> 127\.0\.0\.1:\([0-9]*\)$|\1|p' <<<"$output" | head -1)
	p2=$(sed -n 's|^port 8000 -> 0\.0\.0\.0:\([0-9]*\)$|\1|p' <<<"$output")
	[[ $p1 =~ ^2[0-9]{4}$ && $p2 =~ ^2[0-9]{4}$ && $p1 != "$p2" ]]
	assert_line "port 8000 -> 127.0.0.1:$hp"
	run dv_fetch "http://127.0.0.1:$p2/Envfile"
	assert_success
	# up --json: the ports in its last object.
	"$DEVENV" halt >/dev/null
	run --separate-stderr "$DEVENV" up --json
	assert_success
	[[ $(tail -n 1 <<<"$output" | dv_json ports) == "[{\"container_port\": 8000, \"host_ip\": \"127.0.0.1\", \"host_port\": $p1, \"auto\": true}, {\"container_port\": 8000, \"host_ip\": \"0.0.0.0\", \"host_port\": $p2, \"auto\": true}, {\"container_port\": 8000, \"host_ip\": \"127.0.0.1\", \"host_port\": $hp, \"auto\": false}]" ]]
	run "$DEVENV" port --json
	[[ $(python3 -c 'import json,sys; print([p["auto"] for p in json.load(sys.stdin)])' <<<"$output") == "[True, True, False]" ]]
	# The trust request is "auto", whichever port it became: allowed once,
	# not asked again when the port changes.
	"$DEVENV" halt >/dev/null
	unset DEVENV_ALLOW
	run "$DEVENV" allow
	assert_success
	assert_line "  Envfile:2:22: port 0.0.0.0:auto -> 8000: the env's port is open to other machines, not only to this one"
	listen "$p2"
	run "$DEVENV" up </dev/null
	assert_success
	refute_line "port 8000 -> 0.0.0.0:$p2"
	assert_line --regexp "^port 8000 -> 0\.0\.0\.0:2[0-9]{4}$"
}

@test "auto with network: host is an Envfile error at its position" {
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	ports: ["8000:8000", "auto:9000"]
	EOF
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:3:22: port 9000 would take a free host port (\"9000\" and \"auto:9000\" do), but with 'network: host' (line 2) the env's ports are the host's; write \"9000:9000\""
}

@test "a taken host port names the process that holds it" {
	local hp
	hp=$(dv_free_port)
	listen "$hp"
	serve_envfile "[\"$hp:8000\"]"
	run "$DEVENV" up
	assert_failure 1
	# Without root, devenv's user namespace may not read the fds of the
	# host's processes: whose it is, then.
	local by="pid $HOSTSRV (python3)"
	((DV_ROOTLESS)) && by="a process of yours ('ss -ltnp' names it)"
	assert_output "devenv: Envfile:2:9: port $hp on 127.0.0.1 is already in use on this host, held by $by; free it, or write \"auto:8000\" for a free port of devenv's choosing"
	# Held by another env's forwarder: that one is named too.
	kill "$HOSTSRV"
	HOSTSRV=
	OTHER=$(dirname "$DV_CHECKOUT")/other/proj
	mkdir -p "$OTHER"
	cp Envfile "$OTHER/"
	(cd "$OTHER" && "$DEVENV" up >/dev/null)
	run "$DEVENV" up
	assert_failure 1
	assert_output --regexp "port $hp on 127.0.0.1 is already in use on this host, held by env 'proj' \(its forwarder, pid [0-9]+\); "
}

@test "auto on a Debian env: the port up shows reaches the env's server, and comes back after halt" {
	local p
	dv_envfile <<-'EOF'
	image: debian:bookworm
	ports: ["auto:8000"]
	on_up:
	  - run: |
	      perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:8000", Listen => 5, ReuseAddr => 1) or die; if (fork) { exit 0 } while ($c = $s->accept) { print $c "HTTP/1.0 200 OK\r\n\r\nhello from debian\n"; close $c }' </dev/null >/dev/null 2>&1
	EOF
	run "$DEVENV" up
	assert_success
	p=$(sed -n 's|^port 8000 -> 127\.0\.0\.1:\([0-9]*\)$|\1|p' <<<"$output")
	((p >= 20000 && p <= 29999))
	run dv_fetch "http://127.0.0.1:$p/"
	assert_output "hello from debian"
	"$DEVENV" halt >/dev/null
	run "$DEVENV" up
	assert_success
	assert_line "port 8000 -> 127.0.0.1:$p"
	run dv_fetch "http://127.0.0.1:$p/"
	assert_output "hello from debian"
}

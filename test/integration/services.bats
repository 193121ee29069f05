#!/usr/bin/env bats
# services: sidecar containers sharing the env's network namespace, reached
# by localhost and by name; their lifecycle (up, halt, destroy), an exited
# one reported with its status and last lines, `logs SERVICE`, bad images.
#
# The env has a network namespace of its own (`network: private`, the
# default), which its services join. Tests that reach a service from the
# host (curl) run the env with `network: host`, so the service listens in
# the host's namespace: each test takes a free port of 127.0.0.1 and binds
# there only, so parallel runs and the host's own services never collide.
# (Without root only the `up` that starts a private env can start its
# services: restarting one from a later `up` needs the host's network.)

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
}
teardown() { dv_teardown; }

# web_db_envfile [NETWORK]: an Envfile whose service `db` serves "pong" over
# HTTP on 127.0.0.1:$PORT, in the env's network (default: private).
web_db_envfile() {
	dv_envfile <<-EOF
	image: busybox
	network: ${1:-private}
	services:
	  db:
	    image: busybox
	    env:
	      GREETING: pong
	    command: mkdir -p /www && echo "\$GREETING from \$(hostname)" > /www/index.html && exec httpd -f -p 127.0.0.1:$PORT -h /www
	EOF
}

# Is a process of the store running in the service's own container (its
# overlay's upper is services/NAME/upper)?
svc_procs() {
	local f
	for f in /proc/[0-9]*/mountinfo; do
		grep -qF "$DV_STORE/envs/" "$f" 2>/dev/null && grep -qF "/services/$1/upper" "$f" 2>/dev/null &&
			echo "${f//[!0-9]/}"
	done
	return 0
}

@test "the env reaches its service by localhost and by name; the service has its own name too" {
	web_db_envfile
	# (stderr apart: where slirp4netns cannot run, a warning says so first)
	run --separate-stderr "$DEVENV" up
	assert_success
	assert_line "service 'db' started (image localhost/busybox:latest)"
	# Started before the env reports up (on_up comes after).
	[[ ${lines[0]} == "service 'db' started"* ]]

	run "$DEVENV" ssh -c "grep -w db /etc/hosts; wget -qO- http://localhost:$PORT/; wget -qO- http://db:$PORT/"
	assert_success
	assert_output "127.0.0.1	db
pong from db
pong from db"

	run "$DEVENV" status
	assert_success
	assert_line --regexp '^    db: running \(pid [0-9]+\)$'
	run "$DEVENV" status --json
	assert_success
	run python3 -c 'import json, sys; s = json.loads(sys.argv[1])["services"]; print(s[0]["name"], s[0]["state"], s[0]["exit_status"], s[0]["pid"] > 0)' "$output"
	assert_output "db running None True"
}

@test "on_up runs after the services are up" {
	dv_envfile <<-EOF
	image: busybox
	services:
	  db:
	    image: busybox
	    command: ["httpd", "-f", "-p", "127.0.0.1:$PORT", "-h", "/etc"]
	on_up:
	  - run: wget -qO- http://db:$PORT/hostname
	EOF
	run "$DEVENV" up
	assert_success
	assert_line "db"
}

@test "halt stops the services, up starts them again, destroy removes them" {
	web_db_envfile host
	"$DEVENV" up
	[[ -n $(svc_procs db) ]]
	id=$("$DEVENV" status --json | dv_json id)
	sdir=$DV_STORE/envs/$id/services/db
	echo marker >"$sdir/upper/marker"

	run "$DEVENV" halt
	assert_success
	[[ -z $(svc_procs db) ]]
	run "$DEVENV" status
	assert_line "    db: stopped"
	run ! curl -s "http://127.0.0.1:$PORT/"

	run "$DEVENV" up
	assert_success
	assert_line "service 'db' started (image localhost/busybox:latest)"
	run curl -s "http://127.0.0.1:$PORT/"
	assert_output "pong from db"
	# The service's own files (in its upper folder) survived halt.
	[[ -f $sdir/upper/marker && -f $sdir/upper/www/index.html ]]

	# A service killed behind devenv's back starts again at the next up.
	pid=$("$DEVENV" status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["services"][0]["pid"])')
	kill -KILL "$pid"
	# until the killed init has exited: its mounts go first, while it
	# still waits for its pid namespace's other processes (under load,
	# long enough for status to see it alive)
	for ((i = 0; i < 200; i++)); do
		st=$(ps -o stat= -p "$pid") || break
		[[ $st == Z* ]] && break
		sleep 0.05
	done
	[[ -z $(svc_procs db) ]]
	run "$DEVENV" status
	assert_line "    db: stopped"
	run "$DEVENV" up
	assert_success
	assert_line "service 'db' started (image localhost/busybox:latest)"
	run curl -s "http://127.0.0.1:$PORT/"
	assert_output "pong from db"

	run "$DEVENV" destroy -f
	assert_success
	[[ -z $(svc_procs db) ]]
	[[ ! -e $sdir ]]
	run ! curl -s "http://127.0.0.1:$PORT/"
}

@test "reload restarts the services" {
	web_db_envfile host
	"$DEVENV" up
	pid=$("$DEVENV" status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["services"][0]["pid"])')
	run "$DEVENV" reload
	assert_success
	assert_line "service 'db' started (image localhost/busybox:latest)"
	pid2=$("$DEVENV" status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["services"][0]["pid"])')
	[[ $pid != "$pid2" ]]
	run curl -s "http://127.0.0.1:$PORT/"
	assert_output "pong from db"
}

@test "a service that exits is reported with its status and last lines; logs SERVICE shows its output" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	    command: for i in 1 2 3 4 5 6 7; do echo line $i; done; echo broken >&2; exit 3
	EOF
	run --separate-stderr "$DEVENV" up
	# A warning, not a failure: the env is up and on_up may still run.
	assert_success
	[[ $stderr == *"devenv: warning: service 'db' exited at once with status 3; its last lines:"* ]]
	[[ $stderr == *"  broken"* ]]

	run "$DEVENV" status
	assert_success
	assert_line "    db: exited with status 3; its last lines ('devenv logs db' has all):"
	assert_line "      line 7"
	assert_line "      broken"
	assert_line "      devenv: service command '/bin/sh' exited with status 3"
	refute_line "      line 3"
	run "$DEVENV" status --json
	run python3 -c 'import json, sys; s = json.loads(sys.argv[1])["services"][0]; print(s["state"], s["exit_status"], s["pid"])' "$output"
	assert_output "exited 3 None"

	run "$DEVENV" logs db
	assert_success
	assert_line "line 1"
	assert_line "line 7"
	assert_line "broken"
	# The env's own log is not the service's.
	run "$DEVENV" logs
	refute_output --partial "line 1"

	run "$DEVENV" logs nosuch
	assert_failure 1
	assert_output "devenv: env 'proj' has no service 'nosuch'; its services: 'db'"
	run "$DEVENV" logs ../../etc
	assert_failure 1
}

@test "a service whose command does not exist exits 127, said at up" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	    command: [no-such-command, x]
	EOF
	run --separate-stderr "$DEVENV" up
	assert_success
	[[ $stderr == *"service 'db' exited at once with status 127"* ]]
	[[ $stderr == *"cannot run 'no-such-command'"* ]]
}

@test "a service whose image does not exist is one clear line at up and nothing runs" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: no-such-image
	EOF
	# A short name the store lacks is Docker Hub's (names.bats): no
	# registry answers on this port.
	DEVENV_REGISTRY_MIRROR=127.0.0.1:1 run "$DEVENV" up
	assert_failure 1
	assert_line --index 1 --regexp "^devenv: Envfile:3:3: service 'db': image 'no-such-image' is not in the store and cannot be pulled as docker.io/library/no-such-image:latest \(cannot reach registry '127.0.0.1:1': .*\); import one with 'devenv image import FILE no-such-image' or pull it$"
	[[ -z $(dv_procs_in_store "$DV_STORE") ]]
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") == "not created" ]]
}

@test "a service gets the image's Env, then its own env, and runs the image's Entrypoint + Cmd in its WorkingDir" {
	"$DEVENV" image save busybox "$BATS_TEST_TMPDIR/bb.tar" >/dev/null
	python3 "$DV_ROOT/test/fixtures/oci_config.py" "$BATS_TEST_TMPDIR/bb.tar" "$BATS_TEST_TMPDIR/svc.tar" \
		'{"Env":["PATH=/bin","FROM=image","KEEP=image"],"Entrypoint":["/bin/sh","-c"],"Cmd":["echo FROM=$FROM KEEP=$KEEP in $PWD; exec sleep 1000"],"WorkingDir":"/tmp"}'
	"$DEVENV" image load "$BATS_TEST_TMPDIR/svc.tar" svcimg >/dev/null
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  w:
	    image: svcimg
	    env:
	      FROM: service
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" logs w
	assert_line "FROM=service KEEP=image in /tmp"
	run "$DEVENV" status
	assert_line --regexp '^    w: running \(pid [0-9]+\)$'
}

@test "a service with no command on an image with neither Entrypoint nor Cmd is one clear line" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	EOF
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:3:3: service 'db': image 'localhost/busybox:latest' has no Entrypoint or Cmd; give the service a \`command\`"
	# Said before anything started: not even the env was created.
	[[ -z $(dv_procs_in_store "$DV_STORE") ]]
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") == "not created" ]]
}

@test "suspend freezes the services with the env, resume thaws them" {
	dv_need_cgroups
	web_db_envfile host
	"$DEVENV" up
	run "$DEVENV" suspend
	assert_success
	run "$DEVENV" status
	assert_line --regexp '^    db: suspended \(pid [0-9]+\)$'
	run ! curl -s -m 0.5 "http://127.0.0.1:$PORT/"
	run "$DEVENV" resume
	assert_success
	run curl -s -m 5 "http://127.0.0.1:$PORT/"
	assert_output "pong from db"
	# halt of a suspended env thaws and stops its services too.
	"$DEVENV" suspend
	run "$DEVENV" halt --timeout 2
	assert_success
	[[ -z $(svc_procs db) ]]
}

@test "network: private: a service joins the env's network namespace" {
	dv_envfile <<-EOF
	image: busybox
	network: private
	services:
	  db:
	    image: busybox
	    command: ["httpd", "-f", "-p", "127.0.0.1:$PORT", "-h", "/etc"]
	  once:
	    image: busybox
	    command: exit 1
	EOF
	run "$DEVENV" up
	assert_success
	read -r env_pid db_pid < <("$DEVENV" status --json | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["pid"], d["services"][0]["pid"])')
	[[ $(readlink "/proc/$env_pid/ns/net") == "$(readlink "/proc/$db_pid/ns/net")" ]]
	run "$DEVENV" ssh -c "wget -qO- http://db:$PORT/hostname"
	assert_success
	assert_output "db"

	# `up` of the running env starts the service that exited. Without root
	# a later command cannot reach the env's network namespace: one line
	# says what to do, and the exited service's record stays.
	run "$DEVENV" up
	if ((DV_ROOTLESS)); then
		assert_failure 1
		assert_line "devenv: cannot start service 'once' in the running env's network namespace from this command without root; 'devenv reload' restarts the env with its services: Permission denied"
		run "$DEVENV" status
		assert_line "    once: exited with status 1; its last lines ('devenv logs once' has all):"
	else
		assert_success
		assert_line "service 'once' started (image localhost/busybox:latest)"
	fi
	run "$DEVENV" reload
	assert_success
	assert_line "service 'once' started (image localhost/busybox:latest)"
}

@test "rmi refuses a service's image; after gc the halted env's service starts again" {
	"$DEVENV" image save busybox "$BATS_TEST_TMPDIR/bb.tar" >/dev/null
	python3 "$DV_ROOT/test/fixtures/oci_config.py" "$BATS_TEST_TMPDIR/bb.tar" "$BATS_TEST_TMPDIR/svc.tar" '{"Cmd":["sleep","1000"]}'
	"$DEVENV" image load "$BATS_TEST_TMPDIR/svc.tar" svcimg >/dev/null
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  w:
	    image: svcimg
	EOF
	"$DEVENV" up
	id=$("$DEVENV" status --json | dv_json id)
	run "$DEVENV" rmi svcimg
	assert_failure 1
	assert_output "devenv: image 'localhost/svcimg:latest' is used by service 'w' of env 'proj' ($id); destroy the env first"
	"$DEVENV" halt
	run "$DEVENV" gc
	assert_success
	run "$DEVENV" up
	assert_success
	run "$DEVENV" status
	assert_line --regexp '^    w: running \(pid [0-9]+\)$'
}

@test "a service's named volume is the env's own, shared with the env; its host mounts come from the checkout" {
	mkdir shared
	echo "from the checkout" >shared/note
	dv_envfile <<-'EOF'
	image: busybox
	volumes: ["data:/mnt/data"]
	services:
	  db:
	    image: busybox
	    command: cat /shared/note > /data/copied; touch /shared/ro-test 2>/dev/null && echo writable || echo read-only; exec sleep 1000
	    volumes: ["data:/data", "./shared:/shared:ro"]
	EOF
	run "$DEVENV" up
	assert_success
	sleep 0.3
	run "$DEVENV" logs db
	assert_line "read-only"
	run "$DEVENV" ssh -c 'cat /mnt/data/copied'
	assert_success
	assert_output "from the checkout"
	# NAME-ID-VOLUME in the store, as the env's own
	local vol
	vol=$DV_STORE/volumes/proj-$(printf '%s\0Envfile' "$(pwd -P)" | sha256sum | cut -c1-12)-data
	[[ -f $vol/copied ]]
	[[ ! -e $DV_STORE/volumes/data ]]
	# The volume outlives the env.
	"$DEVENV" destroy -f
	[[ $(cat "$vol/copied") == "from the checkout" ]]
}

@test "network: private: a forwarded port reaches a service in the env's namespace" {
	hport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	dv_envfile <<-EOF
	image: busybox
	network: private
	ports: ["127.0.0.1:$hport:$PORT"]
	services:
	  db:
	    image: busybox
	    command: ["httpd", "-f", "-p", "127.0.0.1:$PORT", "-h", "/etc"]
	EOF
	run "$DEVENV" up
	assert_success
	run curl -s -m 5 "http://127.0.0.1:$hport/hostname"
	assert_success
	assert_output "db"
}

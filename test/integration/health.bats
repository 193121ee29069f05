#!/usr/bin/env bats
# Services' healthchecks (compose's `healthcheck`, an image's Healthcheck),
# `depends_on` and its order, on_up's `wait_for`, and `status` showing
# starting / healthy / unhealthy. The env and its services share a named
# volume (`shared`), where a service leaves the marks that prove the order.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

# What `status` adds to a service's health without root: a later command
# cannot enter a service another command started, so it shows what `up`
# saw (README "Healthchecks"). A regular expression.
seen() {
	((EUID == 0)) || printf '%s' " \\(as 'up' saw it [0-9]+s ago: without root only 'up' can run the check\\)"
}

# A service `db` that is ready 2 s after it starts (its check looks for
# the file it then writes), and an on_up step that waits for it.
ready_after_2s_envfile() {
	dv_envfile <<-EOF
	image: ${1:-busybox}
	volumes: ["shared:/shared"]
	services:
	  db:
	    image: ${1:-busybox}
	    volumes: ["shared:/shared"]
	    command: rm -f /shared/ready; sleep 2; echo up > /shared/ready; exec sleep 1000
	    healthcheck:
	      test: ["CMD-SHELL", "test -f /shared/ready || { echo not ready yet; exit 1; }"]
	      interval: 300ms
	      timeout: 5s
	      retries: 30
	on_up:
	  - run: cat /shared/ready && echo migrated
	    wait_for: [db]
	EOF
}

@test "on_up waits for a service whose healthcheck turns healthy after 2 s; status says healthy" {
	ready_after_2s_envfile
	SECONDS=0
	run --separate-stderr "$DEVENV" up
	assert_success
	# The order: the wait, the service healthy, then the step, which saw
	# what the service wrote once ready.
	assert_line --index 0 "service 'db' started (image localhost/busybox:latest)"
	assert_line --index 2 "waiting for service 'db' to be healthy (on_up step 1)"
	assert_line --index 3 "service 'db' is healthy"
	assert_line --index 4 "[on_up 1/1] run: cat /shared/ready && echo migrated"
	assert_line --index 5 "up"
	assert_line --index 6 "migrated"
	((SECONDS >= 2))

	run "$DEVENV" status
	assert_success
	assert_line --regexp "^    db: running \\(pid [0-9]+\\), healthy$(seen)\$"
	run "$DEVENV" status --json
	assert_success
	run python3 -c 'import json, sys; s = json.loads(sys.argv[1])["services"][0]; print(s["state"], s["health"], s["health_output"])' "$output"
	assert_output "running healthy None"

	# A changed check is a change to the env, which reload applies.
	sed -i 's/interval: 300ms/interval: 400ms/' Envfile
	run "$DEVENV" up
	assert_success
	assert_output --partial "but its Envfile changed; 'devenv reload' restarts it"
}

@test "an unhealthy service fails up with its check's output; status says unhealthy" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	    command: exec sleep 1000
	    healthcheck:
	      test: echo "connection refused on port 5432"; exit 1
	      interval: 200ms
	      retries: 2
	on_up:
	  - run: echo never
	    wait_for: [db]
	EOF
	run --separate-stderr "$DEVENV" up
	assert_failure 1
	[[ ${stderr##*$'\n'} == "devenv: Envfile:12:5: service 'db' is unhealthy: its healthcheck failed 2 times in a row; last output: connection refused on port 5432 | (exit status 1)" ]]
	refute_output --partial never
	run "$DEVENV" status
	assert_line --regexp "^    db: running \\(pid [0-9]+\\), unhealthy: connection refused on port 5432 \\| \\(exit status 1\\)$(seen)\$"
	run "$DEVENV" status --json
	run python3 -c 'import json, sys; s = json.loads(sys.argv[1])["services"][0]; print(s["health"], s["health_output"])' "$output"
	assert_output "unhealthy connection refused on port 5432 | (exit status 1)"
}

@test "a service that exits while on_up waits for it fails up with its status and last lines" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	    command: 'sleep 1; echo "FATAL: no space left"; exit 3'
	    healthcheck:
	      test: "false"
	      interval: 200ms
	      retries: 100
	on_up:
	  - run: echo never
	    wait_for: [db]
	EOF
	run --separate-stderr "$DEVENV" up
	assert_failure 1
	[[ ${stderr##*$'\n'} == "devenv: Envfile:12:5: service 'db' exited with status 3 before it was ready; 'devenv logs db' shows why" ]]
	[[ $stderr == *"devenv: service 'db' stopped while on_up step 1 waited for it; its last lines:"$'\n'"  FATAL: no space left"$'\n'* ]]
	refute_output --partial never
}

@test "a halt while on_up waits for a service ends the wait, saying so" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	    command: exec sleep 1000
	    healthcheck:
	      test: "false"
	      interval: 100ms
	      retries: 1000
	on_up:
	  - run: echo never
	    wait_for: [db]
	EOF
	"$DEVENV" up >"$BATS_TEST_TMPDIR/up.out" 2>"$BATS_TEST_TMPDIR/up.err" &
	local up=$! i
	for ((i = 0; i < 100; i++)); do
		grep -q "waiting for service 'db'" "$BATS_TEST_TMPDIR/up.out" && break
		sleep 0.1
	done
	# The wait holds no lock: halt goes ahead at once.
	run timeout 20 "$DEVENV" halt
	assert_success
	local rc=0
	wait $up || rc=$?
	((rc == 1))
	run tail -n 1 "$BATS_TEST_TMPDIR/up.err"
	assert_output "devenv: Envfile:12:5: env 'proj' was halted by another command while on_up step 1 waited for service 'db'; 'devenv up' starts it again"
}

@test "a check that outlasts its timeout fails; a wait_timeout ends the wait; start_period reads as starting" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  slow:
	    image: busybox
	    command: exec sleep 1000
	    healthcheck:
	      test: ["CMD", "sleep", "30"]
	      timeout: 300ms
	      interval: 100ms
	      start_period: 1h
	on_up:
	  - run: echo never
	    wait_for: [slow]
	    wait_timeout: 1500ms
	EOF
	SECONDS=0
	run --separate-stderr "$DEVENV" up
	assert_failure 1
	((SECONDS < 10))
	[[ ${stderr##*$'\n'} == "devenv: Envfile:13:5: service 'slow' was not healthy in time for on_up step 1 (its wait_timeout); its healthcheck's last output: health check timed out after 300 ms" ]]
	# No check is left running in the service.
	local pid
	for pid in $(dv_procs_in_store "$DV_STORE"); do
		[[ $(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null) != "sleep 30 " ]]
	done
	run "$DEVENV" status
	assert_line --regexp "^    slow: running \\(pid [0-9]+\\), starting: health check timed out after 300 ms$(seen)\$"
}

@test "depends_on starts services in its order, a service_healthy one only once the other is healthy" {
	dv_envfile <<-'EOF'
	image: busybox
	volumes: ["shared:/shared"]
	services:
	  web:
	    image: busybox
	    volumes: ["shared:/shared"]
	    depends_on:
	      db: { condition: service_healthy }
	    command: (test -f /shared/db-ready && echo db-was-ready || echo db-not-ready) > /shared/web-saw; exec sleep 1000
	  db:
	    image: busybox
	    volumes: ["shared:/shared"]
	    depends_on: [cache]
	    command: rm -f /shared/db-ready; sleep 1; touch /shared/db-ready; exec sleep 1000
	    healthcheck:
	      test: test -f /shared/db-ready
	      interval: 200ms
	      retries: 50
	  cache:
	    image: busybox
	    command: exec sleep 1000
	EOF
	run --separate-stderr "$DEVENV" up
	assert_success
	assert_line --index 0 "service 'cache' started (image localhost/busybox:latest)"
	assert_line --index 1 "service 'db' started (image localhost/busybox:latest)"
	assert_line --index 2 "waiting for service 'db' to be healthy (service 'web')"
	assert_line --index 3 "service 'db' is healthy"
	assert_line --index 4 "service 'web' started (image localhost/busybox:latest)"
	run "$DEVENV" ssh -c 'sleep 0.5; cat /shared/web-saw'
	assert_output db-was-ready
	# state.json keeps the Envfile's order, and the check only where one is.
	run "$DEVENV" status --json
	run python3 -c 'import json, sys; print(" ".join("%s:%s" % (s["name"], s["health"]) for s in json.loads(sys.argv[1])["services"]))' "$output"
	assert_output "web:None db:healthy cache:None"
}

@test "an image's own Healthcheck is honoured, and disable: true turns it off" {
	"$DEVENV" image save busybox "$BATS_TEST_TMPDIR/bb.tar" >/dev/null
	python3 "$DV_ROOT/test/fixtures/oci_config.py" "$BATS_TEST_TMPDIR/bb.tar" "$BATS_TEST_TMPDIR/hc.tar" \
		'{"Cmd":["sleep","1000"],"Healthcheck":{"Test":["CMD-SHELL","echo image check says no; exit 1"],"Interval":100000000,"Retries":2}}'
	"$DEVENV" image load "$BATS_TEST_TMPDIR/hc.tar" hcimg >/dev/null
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  a:
	    image: hcimg
	  b:
	    image: hcimg
	    healthcheck:
	      disable: true
	on_up:
	  - run: echo never
	    wait_for: [b, a]
	EOF
	run --separate-stderr "$DEVENV" up
	assert_failure 1
	[[ $stderr == *"service 'a' is unhealthy: its healthcheck failed 2 times in a row; last output: image check says no | (exit status 1)" ]]
	refute_output --partial "waiting for service 'b'"
}

@test "Debian: on_up's migration waits for PostgreSQL (pg_isready), which initdb makes late" {
	dv_postgres_image || return 1
	dv_envfile <<-'EOF'
	image: postgres:15
	shell: /bin/bash
	env: { PGPASSWORD: dev }
	services:
	  db:
	    image: postgres:15
	    env: { POSTGRES_PASSWORD: dev }
	    healthcheck:
	      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres"]
	      interval: 300ms
	      retries: 200
	on_up:
	  - run: psql -h db -U postgres -qAt -c 'create table if not exists t (x int)' -c 'insert into t values (1)' -c 'select count(*) from t'
	    wait_for: [db]
	EOF
	run --separate-stderr "$DEVENV" up
	assert_success
	assert_line "waiting for service 'db' to be healthy (on_up step 1)"
	assert_line "service 'db' is healthy"
	assert_line 1
	run "$DEVENV" status
	assert_line --regexp "^    db: running \\(pid [0-9]+\\), healthy$(seen)\$"
}

#!/usr/bin/env bats
# The README's walkthrough, "A web app with a database, step by step".
#
# First as written: `devenv init` in a checkout whose requirements.txt
# names psycopg writes exactly the README's two blocks (its output and the
# Envfile), and the README's commands run on a real Debian env, with a
# postgres:15 committed in the store first (helpers.bash
# dv_postgres_image: Debian's PostgreSQL 15; Docker Hub is out of reach)
# and the stand-in app of test/fixtures/walkthrough (PyPI is out of reach
# too). Then the same shape on busybox, in seconds: a CGI script behind
# busybox httpd asks its "database" (a busybox httpd service named db,
# serving a named volume) by name, as a Django app asks postgres at
# db:5432. The browser is curl on the host, through the forwarded port.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
}
teardown() {
	[[ -z ${SERVER_PID:-} ]] || { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; }
	dv_teardown
}

# readme_block N: the Nth fenced block (1-based) of the README's section
# "A web app with a database, step by step", without its fences.
readme_block() {
	python3 - "$DV_ROOT/README.md" "$1" <<-'PY'
	import re, sys
	text = open(sys.argv[1], encoding="utf-8").read()
	sec = text.split("\n## A web app with a database, step by step\n", 1)[1].split("\n## ", 1)[0]
	blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", sec, re.M | re.S)
	sys.stdout.write(blocks[int(sys.argv[2]) - 1])
	PY
}

# fetch URL: dv_fetch, without curl's complaints while the server starts.
fetch() { dv_fetch "$1" 2>/dev/null; }

@test "walkthrough as written: init writes the README's Envfile; up, migrate, runserver, status, logs, halt, destroy with a real PostgreSQL" {
	local hp=8000 cmds
	cp "$DV_ROOT/test/fixtures/walkthrough/requirements.txt" "$DV_ROOT/test/fixtures/walkthrough/manage.py" .
	git add -A && git commit -qm app
	# init's output and the Envfile are the README's, line for line
	run "$DEVENV" init
	assert_success
	if [[ -e $DV_ROOT/README.md ]]; then
		diff -u <(readme_block 1) <(printf '$ devenv init\n%s\n' "$output")
		diff -u <(readme_block 2) Envfile
		# the commands the README gives are the ones run below
		cmds=$(readme_block 3 | sed -n 's/ *#.*$//; /^devenv /p')
		assert_equal "$cmds" "devenv up
devenv ssh -c 'python3 manage.py migrate'
devenv ssh -c 'python3 manage.py runserver 0.0.0.0:8000'
devenv status
devenv logs db
devenv halt
devenv destroy"
	else
		# a copy of the tests without the README (a hand-run rootless pass)
		echo "# no README.md beside this copy of the tests: init's output is compared with it in the root pass" >&3
	fi

	dv_debian_image
	dv_postgres_image
	# The template forwards host port 8000: when another program holds it
	# here, this run uses a free one instead (and says so).
	if ! python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 8000))' 2>/dev/null; then
		hp=$(dv_free_port)
		sed -i "s/127.0.0.1:8000:8000/127.0.0.1:$hp:8000/" Envfile
		echo "# port 8000 is in use on this host: forwarding $hp instead" >&3
	fi

	run "$DEVENV" up
	assert_success
	assert_line "service 'db' started (image localhost/postgres:15)"
	assert_line --regexp '^\[4/4\] run: pip install -r /opt/requirements.txt'
	run "$DEVENV" ssh -c 'python3 manage.py migrate'
	assert_success
	assert_output migrated
	"$DEVENV" ssh -c 'python3 manage.py runserver 0.0.0.0:8000' </dev/null >"$BATS_TEST_TMPDIR/server.log" 2>&1 &
	SERVER_PID=$!
	run fetch "http://127.0.0.1:$hp/"
	assert_success
	assert_output "visits: 1"
	run fetch "http://127.0.0.1:$hp/"
	assert_output "visits: 2"

	run "$DEVENV" status
	assert_success
	# the template's healthcheck (pg_isready), which on_up waited for
	assert_output --regexp "db: running.*, healthy"
	assert_line "  network:  private"
	assert_line "  port:     8000/tcp -> 127.0.0.1:$hp"
	run "$DEVENV" logs db
	assert_success
	assert_output --partial "initialized /var/lib/postgresql/data"
	assert_output --partial "database system is ready to accept connections"
	# the database is not on the host's network: only the app's port is
	run curl -sS --max-time 2 "http://127.0.0.1:5432/"
	assert_failure

	run "$DEVENV" halt
	assert_success
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	run curl -fsS --max-time 2 "http://127.0.0.1:$hp/"
	assert_failure
	# up again, and after destroy: the same data, from the pgdata volume
	for again in up destroy; do
		if [[ $again == destroy ]]; then
			run "$DEVENV" destroy -f
			assert_success
		fi
		run "$DEVENV" up
		assert_success
		"$DEVENV" ssh -c 'python3 manage.py runserver 0.0.0.0:8000' </dev/null >>"$BATS_TEST_TMPDIR/server.log" 2>&1 &
		SERVER_PID=$!
		run fetch "http://127.0.0.1:$hp/"
		assert_success
		if [[ $again == up ]]; then assert_output "visits: 3"; else assert_output "visits: 4"; fi
		run "$DEVENV" halt
		assert_success
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	done
	# destroy asks first, at a terminal: yes
	run python3 "$DV_ROOT/test/fixtures/ptyrun.py" y "$DEVENV" destroy
	assert_success
	assert_output --partial "[y/N]"
	run "$DEVENV" ls
	refute_output --partial proj
	run "$DEVENV" volume ls
	assert_line --regexp "^proj-[0-9a-f]{12}-pgdata +proj +pgdata "
	run "$DEVENV" destroy -f --volumes
}

@test "walkthrough on busybox: a web app and its database, from the browser, across halt and destroy" {
	local hp
	dv_busybox_image
	hp=$(dv_free_port)
	mkdir app
	printf '#!/bin/sh\necho Content-Type: text/plain\necho\nwget -qO- "$DATABASE_URL"\n' >app/app
	chmod +x app/app
	dv_envfile <<-EOF
	image: busybox
	ports: ["$hp:8000"]
	env:
	  DATABASE_URL: http://db:5432/rows
	volumes: ["shopdata:/srv/db"]
	provision:
	  - copy: app/app
	    to: /www/cgi-bin/app
	services:
	  db:
	    image: busybox
	    command: ["httpd", "-f", "-p", "5432", "-h", "/var/lib/db"]
	    volumes: ["shopdata:/var/lib/db"]
	on_up:
	  - run: httpd -p 8000 -h /www
	EOF
	run "$DEVENV" up
	assert_success
	# The app's data goes in through the env; the database serves it.
	"$DEVENV" ssh -c 'echo "3 rows" > /srv/db/rows'
	run dv_fetch "http://127.0.0.1:$hp/cgi-bin/app"
	assert_success
	assert_output "3 rows"

	run "$DEVENV" status
	assert_success
	assert_output --regexp "db.*running"
	assert_line "  network:  private"
	assert_line "  port:     8000/tcp -> 127.0.0.1:$hp"
	run "$DEVENV" status --json
	[[ $(printf '%s' "$output" | dv_json network) == private ]]
	[[ $(printf '%s' "$output" | dv_json ports) == "[{\"container_port\": 8000, \"protocol\": \"tcp\", \"host_ip\": \"127.0.0.1\", \"host_port\": $hp, \"auto\": false}]" ]]

	# halt and up: the same app, the same data.
	run "$DEVENV" halt
	assert_success
	run curl -fsS --max-time 2 "http://127.0.0.1:$hp/cgi-bin/app"
	assert_failure
	run "$DEVENV" up
	assert_success
	run dv_fetch "http://127.0.0.1:$hp/cgi-bin/app"
	assert_output "3 rows"

	# destroy keeps the named volume; destroy --volumes does not.
	run "$DEVENV" destroy -f
	assert_success
	run "$DEVENV" up
	assert_success
	run dv_fetch "http://127.0.0.1:$hp/cgi-bin/app"
	assert_output "3 rows"
	# The database's volume is this checkout's own: NAME-ID-VOLUME.
	run "$DEVENV" volume ls
	assert_line --regexp "^proj-[0-9a-f]{12}-shopdata +proj +shopdata +.* proj$"
	run "$DEVENV" destroy -f --volumes
	assert_success
	assert_line --regexp "^volume 'proj-[0-9a-f]{12}-shopdata' removed$"
	run "$DEVENV" volume ls
	refute_output --partial shopdata
}

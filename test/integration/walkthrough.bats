#!/usr/bin/env bats
# The README's walkthrough, "A web app with a database", end to end with
# what this machine has: busybox stands in for Python and PostgreSQL. The
# app is a CGI script behind busybox httpd that asks its "database" (a
# busybox httpd service named db, serving a named volume) by name, as a
# Django app asks postgres at db:5432. The browser is curl on the host,
# through the forwarded port.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
}
teardown() {
	dv_teardown
}

@test "walkthrough: a web app and its database, from the browser, across halt and destroy" {
	local hp
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
	[[ $(printf '%s' "$output" | dv_json ports) == "[{\"container_port\": 8000, \"protocol\": \"tcp\", \"host_ip\": \"127.0.0.1\", \"host_port\": $hp}]" ]]

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

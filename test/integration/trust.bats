#!/usr/bin/env bats
# The trust prompt (README "Trust"): what an Envfile asks for beyond the
# default sandbox runs only after the developer's yes, asked once per
# checkout and asked again when the requests change. Every other test file
# runs with DEVENV_ALLOW=1 (helpers.bash); these unset it.

load helpers
bats_require_minimum_version 1.5.0

PTYRUN=$DV_ROOT/test/fixtures/ptyrun.py

setup() {
	dv_setup
	unset DEVENV_ALLOW
	dv_busybox_image
}
teardown() { dv_teardown; }

# The line a non-terminal gets for an Envfile never allowed here.
never() {
	printf "devenv: %s asks for %s beyond the default sandbox that this checkout was never allowed; nothing was run: run 'devenv allow' to see and allow them" \
		"${2:-Envfile}" "$1"
}
CHANGED="devenv: Envfile's requests beyond the default sandbox changed since this checkout was allowed; nothing was run: run 'devenv allow' to see and allow them"

# nothing_ran: no env, no layer beyond the image's, no cache entry, no
# git resolution (no clone, no ls-remote).
nothing_ran() {
	[[ -z $(find "$DV_STORE/envs" -mindepth 1 -print -quit) ]] || {
		echo "an env was made: $(ls "$DV_STORE/envs")"
		return 1
	}
	[[ $(ls "$DV_STORE/layers" | wc -l) -eq $LAYERS_BEFORE ]] || {
		echo "a layer was made"
		return 1
	}
	[[ -z $(ls "$DV_STORE/cache") ]] || {
		echo "a step was cached"
		return 1
	}
	[[ ! -e $DV_STORE/git ]] || {
		echo "a git remote was asked"
		return 1
	}
}

# asks KIND-COUNT LINE...: `up` without a terminal stops at once with the
# one line; `allow` then lists exactly LINE... and records them.
asks() {
	local n=$1
	shift
	LAYERS_BEFORE=$(ls "$DV_STORE/layers" | wc -l)
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "$(never "$n")"
	nothing_ran
	run "$DEVENV" allow
	assert_success
	assert_line --index 0 "Envfile asks for these beyond the default sandbox:"
	local i=1 want
	for want in "$@"; do
		assert_line --index "$i" "  $want"
		i=$((i + 1))
	done
	assert_line --index "$i" --regexp "^allowed for this checkout \(env id [0-9a-f]{12}\); 'devenv allow --revoke' takes it back$"
	[[ ${#lines[@]} -eq $((i + 1)) ]]
}

@test "trust: a clean Envfile runs without asking and records nothing" {
	dv_envfile <<-'EOF'
	image: busybox
	ports: ["8000:8000"]
	mounts: ["./data:/data"]
	volumes: ["cache:/cache"]
	provision:
	  - run: echo hi >/hi
	EOF
	mkdir data
	run "$DEVENV" up </dev/null
	assert_success
	refute_output --partial "beyond the default sandbox"
	run "$DEVENV" allow
	assert_success
	assert_output "Envfile asks for nothing beyond the default sandbox; there is nothing to allow"
	[[ ! -e $DV_STORE/trust ]]
}

@test "trust: a host mount asks, with its position and mode" {
	dv_envfile <<-'EOF'
	image: busybox
	mounts: ["/:/host", "./in:/in"]
	EOF
	mkdir in
	asks "1 thing" "Envfile:2:10: host path '/' at '/host', read-write: the env can read and change every file there"
}

@test "trust: a service's host mount asks" {
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  db:
	    image: busybox
	    volumes: ["/etc:/hostetc:ro"]
	EOF
	asks "1 thing" "Envfile:5:15: service 'db': host path '/etc' at '/hostetc', read-only: the env can read every file there"
}

@test "trust: cap_add asks" {
	dv_envfile <<-'EOF'
	image: busybox
	security:
	  cap_add: [SYS_ADMIN]
	EOF
	asks "1 thing" "Envfile:3:3: cap_add CAP_SYS_ADMIN: root in the env gets capabilities beyond the default set"
}

@test "trust: seccomp unconfined asks, and so does a profile of the checkout's" {
	dv_envfile <<-'EOF'
	image: busybox
	security: { seccomp: unconfined }
	EOF
	asks "1 thing" "Envfile:2:13: seccomp unconfined: no system-call filter: the env reaches every system call of the host's kernel"
	echo '{"defaultAction": "SCMP_ACT_ALLOW"}' >profile.json
	dv_envfile <<-'EOF'
	image: busybox
	security: { seccomp: profile.json }
	EOF
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "$CHANGED"
	run "$DEVENV" allow
	assert_line "  Envfile:2:13: seccomp profile 'profile.json': the env's system calls are filtered by this profile instead of the default one"
	# The profile's content is part of what was allowed.
	echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}' >profile.json
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "$CHANGED"
}

@test "trust: git_metadata read-write asks" {
	dv_envfile <<-'EOF'
	image: busybox
	security:
	  git_metadata: read-write
	EOF
	asks "1 thing" "Envfile:3:3: git_metadata read-write: the env can write the checkout's git dir (its config and hooks; a git worktree's repository, with every worktree's), which git on the host obeys"
}

@test "trust: a port on an address other than loopback asks" {
	dv_envfile <<-'EOF'
	image: busybox
	ports: ["127.0.0.1:18000:80", "0.0.0.0:18001:80", "[::]:18002:80", "[::0]:18003:80", "[::1]:18004:80"]
	EOF
	asks "3 things" \
		"Envfile:2:31: port 0.0.0.0:18001 -> 80: the env's port is open to other machines, not only to this one" \
		"Envfile:2:51: port [::]:18002 -> 80: the env's port is open to other machines, not only to this one" \
		"Envfile:2:68: port [::0]:18003 -> 80: the env's port is open to other machines, not only to this one"
}

@test "trust: an image from a registry on loopback or link-local asks; a store name and a registry elsewhere do not" {
	dv_envfile <<-'EOF'
	image: localhost:9/team/app
	services:
	  db:
	    image: 169.254.169.254/db
	  cache:
	    image: localhost/busybox
	  web:
	    image: 10.0.0.1:5000/web
	EOF
	asks "2 things" \
		"Envfile:1:8: image localhost:9/team/app: devenv pulls it from this machine's own services (loopback)" \
		"Envfile:4:12: service 'db': image 169.254.169.254/db: devenv pulls it from a link-local address (169.254.169.254 is a cloud's metadata service, with the machine's credentials)"
}

@test "trust: an Envfile below the checkout's root that git does not track asks for the whole checkout" {
	mkdir -p app
	cd app
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	asks "1 thing" \
		"Envfile: the whole checkout '$DV_CHECKOUT', read-write ('app/Envfile' is not tracked by its git repository): the env can read and change every file of that folder, not only of the Envfile's, and mounts anywhere in it ask nothing"
	# added to the index: the checkout is the project's, nothing to ask
	git add Envfile
	run "$DEVENV" up </dev/null
	assert_success
}

@test "trust: git from file:// and from loopback, download from link-local and private addresses ask" {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - git: file:///root/private
	    to: /x
	  - git: http://127.0.0.1:9/r.git
	    to: /y
	  - download: http://169.254.169.254/latest/meta-data
	    sha256: 0000000000000000000000000000000000000000000000000000000000000000
	    to: /z
	  - download: http://192.168.1.1/x
	    sha256: 0000000000000000000000000000000000000000000000000000000000000000
	    to: /w
	  - download: https://example.org/fine
	    sha256: 0000000000000000000000000000000000000000000000000000000000000000
	    to: /v
	EOF
	asks "4 things" \
		"Envfile:3:5: git file:///root/private: devenv clones files of this machine into the env, reading them with its own rights (root's, when run as root)" \
		"Envfile:5:5: git http://127.0.0.1:9/r.git: devenv fetches it from this machine's own services (loopback)" \
		"Envfile:7:5: download http://169.254.169.254/latest/meta-data: devenv fetches it from a link-local address (169.254.169.254 is a cloud's metadata service, with the machine's credentials)" \
		"Envfile:10:5: download http://192.168.1.1/x: devenv fetches it from your local network"
}

@test "trust: \${localEnv:...} in devcontainer.json asks, naming the variable and never its value" {
	mkdir .devcontainer
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "image": "busybox",
	  "containerEnv": { "TOKEN": "${localEnv:DV_TRUST_TOKEN}" }
	}
	EOF
	LAYERS_BEFORE=$(ls "$DV_STORE/layers" | wc -l)
	DV_TRUST_TOKEN=s3cret-value run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "$(never "1 thing" .devcontainer/devcontainer.json)"
	nothing_ran
	DV_TRUST_TOKEN=s3cret-value run "$DEVENV" allow
	assert_success
	assert_line "  .devcontainer/devcontainer.json:3:31: \${localEnv:DV_TRUST_TOKEN}: the value of your environment variable 'DV_TRUST_TOKEN' goes into the env (and its state on disk)"
	refute_output --partial s3cret
	! grep -r s3cret "$DV_STORE/trust"
}

@test "trust: a shared volume asks" {
	dv_envfile <<-'EOF'
	image: busybox
	volumes:
	  - {name: toolcache, shared: true, target: /tools}
	EOF
	run "$DEVENV" allow
	[[ $status -eq 0 ]] || skip "the 'shared' volume form is parsed by the volumes work: $output"
	run "$DEVENV" allow --revoke
	asks "1 thing" "Envfile:3:5: shared volume 'toolcache' at '/tools': every env on this machine that names it shares its files (one project can plant files another runs)"
}

@test "trust: cache_from asks; --cache-from on the command line does not" {
	dv_envfile <<-'EOF'
	image: busybox
	cache_from: 127.0.0.1:9/team/app:cache
	EOF
	asks "1 thing" "Envfile:2:1: cache_from '127.0.0.1:9/team/app:cache': provisioning steps are taken as layers built elsewhere (from this image) instead of run here"
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo hi >/hi
	EOF
	run "$DEVENV" up --cache-from 127.0.0.1:9/team/app:cache </dev/null
	assert_success
	assert_output --partial "cache_from '127.0.0.1:9/team/app:cache'" # its warning: nothing listens there
}

@test "trust: network: host asks" {
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	EOF
	asks "1 thing" "Envfile:2:1: network: host: the env shares this machine's network: its loopback services and abstract unix sockets (an X11 display among them)"
}

@test "trust: allow then up runs; a moved line does not ask again, a changed request does" {
	dv_envfile <<-'EOF'
	image: busybox
	security:
	  cap_add: [NET_ADMIN]
	EOF
	run "$DEVENV" up </dev/null
	assert_failure 2
	run "$DEVENV" allow
	assert_success
	run "$DEVENV" up </dev/null
	assert_success
	assert_output --partial "env 'proj' is up"
	# The same request, moved and spelt differently: allowed still.
	dv_envfile <<-'EOF'
	# moved around
	security: { cap_add: [cap_net_admin] }

	image: busybox
	EOF
	run "$DEVENV" up </dev/null
	assert_success
	assert_output "env 'proj' is already running"
	run "$DEVENV" reload </dev/null
	assert_success
	# One more capability: asked again, and the running env is left alone.
	pid=$(dv_init_pid)
	dv_envfile <<-'EOF'
	image: busybox
	security: { cap_add: [NET_ADMIN, SYS_PTRACE] }
	EOF
	for cmd in up provision reload; do
		run "$DEVENV" "$cmd" </dev/null
		assert_failure 2
		assert_output "$CHANGED"
	done
	[[ $(dv_init_pid) == "$pid" ]]
}

@test "trust: allow --revoke asks again; allow of an unallowed checkout says so" {
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	EOF
	run "$DEVENV" allow --revoke
	assert_success
	assert_output --regexp "^nothing was allowed for this checkout \(env id [0-9a-f]{12}\)$"
	"$DEVENV" allow >/dev/null
	run "$DEVENV" up </dev/null
	assert_success
	run "$DEVENV" allow --revoke
	assert_success
	assert_output --regexp "^revoked what this checkout was allowed \(env id [0-9a-f]{12}\); the next 'devenv up' asks again$"
	[[ -z $(ls "$DV_STORE/trust") ]]
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "$(never "1 thing")"
}

@test "trust: DEVENV_ALLOW=1 runs without asking and without recording" {
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	EOF
	DEVENV_ALLOW=1 run "$DEVENV" up </dev/null
	assert_success
	[[ ! -e $DV_STORE/trust ]]
	DEVENV_ALLOW=0 run "$DEVENV" halt
	DEVENV_ALLOW=0 run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "$(never "1 thing")"
}

@test "trust: on a terminal the list is shown and y runs and records it" {
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	security:
	  cap_add: [NET_ADMIN]
	EOF
	run python3 "$PTYRUN" y "$DEVENV" up -q
	assert_success
	assert_line --index 0 "devenv: Envfile asks for these beyond the default sandbox:"
	assert_line --index 1 "  Envfile:2:1: network: host: the env shares this machine's network: its loopback services and abstract unix sockets (an X11 display among them)"
	assert_line --index 2 "  Envfile:4:3: cap_add CAP_NET_ADMIN: root in the env gets capabilities beyond the default set"
	assert_line --index 3 "Allow them for this checkout ($DV_CHECKOUT)? [y/N] y"
	[[ -n $(dv_init_pid) ]]
	# Recorded: neither a terminal nor a pipe is asked again.
	run python3 "$PTYRUN" - "$DEVENV" up
	assert_success
	assert_output "env 'proj' is already running"
	# A change on a terminal: asked again, the new request marked.
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	security:
	  cap_add: [NET_ADMIN]
	  seccomp: unconfined
	EOF
	run python3 "$PTYRUN" n "$DEVENV" up
	assert_failure 2
	assert_line --index 0 "devenv: Envfile's requests changed since you allowed them; it now asks for these beyond the default sandbox:"
	assert_line --index 3 "  Envfile:5:3: seccomp unconfined: no system-call filter: the env reaches every system call of the host's kernel (new)"
}

@test "trust: on a terminal N runs nothing and records nothing" {
	git init -q "$BATS_TEST_TMPDIR/repo"
	git -C "$BATS_TEST_TMPDIR/repo" -c user.email=a@b -c user.name=a commit -q --allow-empty -m one
	dv_envfile <<-EOF
	image: busybox
	mounts: ["/:/host"]
	provision:
	  - git: file://$BATS_TEST_TMPDIR/repo
	    to: /src
	  - run: echo ran >/ran
	on_up:
	  - run: echo on_up ran
	EOF
	LAYERS_BEFORE=$(ls "$DV_STORE/layers" | wc -l)
	run python3 "$PTYRUN" n "$DEVENV" up
	assert_failure 2
	assert_line --index 3 "Allow them for this checkout ($DV_CHECKOUT)? [y/N] n"
	assert_line --index 4 "devenv: not allowed; nothing was run ('devenv allow' allows them later)"
	[[ ${#lines[@]} -eq 5 ]]
	nothing_ran
	[[ ! -e $DV_STORE/trust ]]
	# Enter alone is no.
	run python3 "$PTYRUN" "" "$DEVENV" up
	assert_failure 2
	nothing_ran
}

@test "trust: --json never asks, even on a terminal" {
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	EOF
	run python3 "$PTYRUN" - "$DEVENV" up --json
	assert_failure 2
	refute_output --partial "[y/N]"
	assert_output --partial '"result":"failed"'
	assert_output --partial "beyond the default sandbox that this checkout was never allowed"
}

@test "trust: init --from-devcontainer asks before it writes \${localEnv:...} values into an Envfile" {
	mkdir .devcontainer
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "image": "busybox",
	  "containerEnv": { "TOKEN": "${localEnv:DV_TRUST_TOKEN}" }
	}
	EOF
	DV_TRUST_TOKEN=s3cret-value run "$DEVENV" init --from-devcontainer </dev/null
	assert_failure 2
	assert_output "$(never "1 thing" .devcontainer/devcontainer.json)"
	[[ ! -e Envfile ]]
	"$DEVENV" allow >/dev/null
	DV_TRUST_TOKEN=s3cret-value run "$DEVENV" init --from-devcontainer </dev/null
	assert_success
	grep -q s3cret-value Envfile
}

@test "trust: a hostile value cannot rewrite the prompt" {
	# The folder's name holds ESC [2K (erase the line) and CR; YAML's
	# double quotes spell them \e and \r.
	mkdir "$BATS_TEST_TMPDIR/"$'a\e[2K\rb'
	printf 'image: busybox\nmounts: ["%s/a\\e[2K\\rb:/x"]\n' "$BATS_TEST_TMPDIR" >Envfile
	run "$DEVENV" allow
	assert_success
	assert_line --index 1 --regexp "^  Envfile:2:10: host path '.*/a\\\\x1b\\[2K\\\\x0db'.* at '/x', read-write: the env can read and change every file there$"
	[[ $output != *$'\e'* && $output != *$'\r'* ]]
}

@test "trust: destroy keeps the record, gc drops the record of a checkout that is gone" {
	dv_envfile <<-'EOF'
	image: busybox
	network: host
	EOF
	"$DEVENV" allow >/dev/null
	"$DEVENV" up </dev/null >/dev/null
	"$DEVENV" destroy -f >/dev/null
	run "$DEVENV" up </dev/null
	assert_success
	"$DEVENV" destroy -f >/dev/null
	run "$DEVENV" gc
	assert_success
	refute_output --partial "trust record"
	[[ -n $(ls "$DV_STORE/trust") ]]
	rm Envfile
	run "$DEVENV" gc
	assert_success
	assert_line "removed 1 trust record of checkouts whose Envfile is gone"
	[[ -z $(ls "$DV_STORE/trust") ]]
}

# loopback_name: a host name (not "localhost") that resolves to this
# machine's loopback here, or skip.
loopback_name() {
	local name
	name=$(hostname)
	[[ $(getent ahostsv4 "$name" 2>/dev/null | awk 'NR == 1 { print $1 }') == 127.* ]] ||
		skip "no host name here resolves to 127.0.0.0/8 ('$name' does not)"
	printf '%s\n' "$name"
}

# serve DIR: a web server on 127.0.0.1 for DIR, where /redirect answers
# 302 to $REDIRECT_TO; sets URL_PORT. Stopped with its test's process.
serve() {
	local me=$BASHPID
	URL_PORT=$(dv_free_port)
	python3 - "$1" "$URL_PORT" "${REDIRECT_TO:-}" >/dev/null 2>&1 3>&- <<-'PY' &
	import functools, http.server, sys
	class H(http.server.SimpleHTTPRequestHandler):
	    def do_GET(self):
	        if self.path == "/redirect":
	            self.send_response(302)
	            self.send_header("Location", sys.argv[3])
	            self.end_headers()
	            return
	        super().do_GET()
	http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])),
	                       functools.partial(H, directory=sys.argv[1])).serve_forever()
	PY
	local pid=$!
	{ tail --pid="$me" -f /dev/null; kill "$pid"; } >/dev/null 2>&1 3>&- &
	dv_fetch "http://127.0.0.1:$URL_PORT/" >/dev/null
}

@test "trust: a download whose host name leads to this machine is refused; the address written in the Envfile works" {
	name=$(loopback_name)
	mkdir "$BATS_TEST_TMPDIR/www"
	echo payload >"$BATS_TEST_TMPDIR/www/file"
	sum=$(sha256sum "$BATS_TEST_TMPDIR/www/file" | cut -c1-64)
	serve "$BATS_TEST_TMPDIR/www"
	printf 'image: busybox\nprovision:\n  - download: http://%s:%s/file\n    sha256: %s\n    to: /file\n' \
		"$name" "$URL_PORT" "$sum" >Envfile
	# A name is no request: nothing is asked, and the fetch is refused.
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_line "devenv: Envfile:3:5: download http://$name:$URL_PORT/file: refused to connect to 127.0.0.1, this machine (loopback): devenv reaches this machine or a link-local address only where the Envfile writes the address itself (a trust request)"
	# Written as the address: a request; allowed, it is fetched.
	sed -i "s|http://$name:|http://127.0.0.1:|" Envfile
	run "$DEVENV" up </dev/null
	assert_failure 2
	"$DEVENV" allow >/dev/null
	run "$DEVENV" up </dev/null
	assert_success
	run "$DEVENV" ssh -c 'cat /file'
	assert_output payload
}

@test "trust: a redirect from an allowed address to a link-local one is refused" {
	mkdir "$BATS_TEST_TMPDIR/www"
	REDIRECT_TO=http://169.254.169.254/latest/meta-data serve "$BATS_TEST_TMPDIR/www"
	printf 'image: busybox\nprovision:\n  - download: http://127.0.0.1:%s/redirect\n    sha256: %064d\n    to: /x\n' \
		"$URL_PORT" 0 >Envfile
	"$DEVENV" allow >/dev/null
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_line "devenv: Envfile:3:5: download http://127.0.0.1:$URL_PORT/redirect: refused to connect to 169.254.169.254, a link-local address: devenv reaches this machine or a link-local address only where the Envfile writes the address itself (a trust request)"
}

@test "trust: a git remote whose host name leads to this machine is refused before libgit2 connects" {
	name=$(loopback_name)
	port=$(dv_free_port)
	printf 'image: busybox\nprovision:\n  - git: http://%s:%s/r.git\n    to: /r\n' "$name" "$port" >Envfile
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "devenv: Envfile:3:5: git http://$name:$port/r.git: '$name' resolves to 127.0.0.1, this machine (loopback): devenv reaches this machine or a link-local address only where the Envfile writes the address itself (a trust request)"
}

#!/usr/bin/env bats
# Real distributions (issue 13): envs on debian:bookworm, the base every
# template and most teams use, loaded from the shared Debian base
# (helpers.bash dv_debian_image: bootstrapped once a run).
#
# - Each `devenv init` template brought up, once, with the stack's own
#   marker files (dependency-free, so the index steps run and fetch
#   nothing): default, c, python, node (npm's registry is reachable here,
#   through the host's CA bundle copied in as the template says), go,
#   rust. python-postgres is walkthrough.bats. Root pass only: what a
#   template's steps do does not depend on root; the rootless pass runs
#   apt in the two tests below (ca-certificates, and `user:`).
# - The same templates with real dependencies, whose index (PyPI, the Go
#   module proxy, crates.io) is out of reach here: parsed, and the steps
#   not run are printed.
# - The team cache; commit → push → pull into a fresh store; image save →
#   podman load → podman run; on one env with ca-certificates, whose
#   /etc/ssl/certs has non-ASCII names (needs the export branch).
# - apt-get in root steps, then `user:` writing the checkout, root and
#   rootless (the rootless part needs the keepid branch).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
}
teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	case $BATS_TEST_DESCRIPTION in
	"template "*)
		templates_here
		dv_debian_image
		;;
	"templates needing "*) ;; # init and a parse: no image
	*) dv_debian_image ;;
	esac
}
teardown() {
	if [[ -n ${STORE_B:-} ]]; then
		local dir
		for dir in "$STORE_B"/envs/*/; do
			[[ -d $dir ]] && DEVENV_HOME=$STORE_B "$DEVENV" destroy -f -e "$(basename "$dir")" >/dev/null
		done
		dv_rm_store "$STORE_B"
	fi
	dv_teardown
}

# A second, empty store on the same disk, as a teammate's machine.
store_b() {
	STORE_B=$(mktemp -d "$(dirname "$DV_STORE")/storeb.XXXXXX")
	export STORE_B
}

# templates_here: the templates are brought up in the root pass only.
templates_here() {
	((DV_ROOTLESS == 0)) ||
		skip "rootless: a template's steps are the same without root; the root pass brings each up once (apt without root: the user: test)"
}

# init_up TEMPLATE: init (which must pick TEMPLATE from the files here),
# then up; the outputs in INIT_OUT and UP_OUT.
init_up() {
	run "$DEVENV" init
	assert_success
	assert_line --regexp "^wrote Envfile from the $1 template "
	INIT_OUT=$output
	git add -A && git commit -qm "$1"
	run "$DEVENV" up
	assert_success
	UP_OUT=$output
}

@test "template default: up on debian:bookworm, git and the CA bundle inside" {
	init_up default
	assert_equal "$(grep '^its steps need' <<<"$INIT_OUT")" \
		"its steps need from the network: the Debian mirror (apt-get)"
	assert_output --partial "welcome to "
	run "$DEVENV" ssh -c 'git --version && test -s /etc/ssl/certs/ca-certificates.crt && echo "$LANG" && pwd'
	assert_success
	assert_line --regexp '^git version 2\.'
	assert_line C.UTF-8
	assert_line /workspace
}

@test "template c: build-essential, cmake and gdb; make builds the checkout's program" {
	printf 'hello: hello.c\n\tcc -Wall -o $@ $<\n' >Makefile
	printf '#include <stdio.h>\nint main(void) { puts("hello from c"); return 0; }\n' >hello.c
	init_up c
	assert_output --partial "cc (Debian 12"
	run "$DEVENV" ssh -c 'make -s hello && ./hello && cmake --version | head -n 1 && gdb --version | head -n 1'
	assert_success
	assert_line "hello from c"
	assert_line --regexp '^cmake version 3\.'
	assert_line --regexp '^GNU gdb '
}

@test "template python: a venv on the PATH, requirements.txt installed (nothing to fetch)" {
	printf '# the app needs only the standard library\n' >requirements.txt
	printf 'print("hello from python")\n' >app.py
	init_up python
	assert_line --regexp '^\[[0-9]+/[0-9]+\] run: pip install -r /opt/requirements.txt'
	assert_output --partial "Python 3.11"
	run "$DEVENV" ssh -c 'python3 app.py && command -v python3 pip && python3 -c "import sys; print(sys.prefix)"'
	assert_success
	assert_output "hello from python
/opt/venv/bin/python3
/opt/venv/bin/pip
/opt/venv"
}

@test "template node: npm installs package.json from the npm registry, through the host's CA bundle" {
	local bundle=/etc/ssl/certs/ca-certificates.crt
	[[ -s $bundle ]] || fail "the host has no CA bundle at $bundle (apt-get install ca-certificates)"
	cp "$bundle" host-ca.crt
	printf '{ "name": "app", "version": "1.0.0", "private": true, "dependencies": { "ms": "2.1.3" } }\n' >package.json
	printf 'console.log(require("ms")("2 days"));\n' >app.js
	init_up node
	assert_equal "$(grep '^its steps need' <<<"$INIT_OUT")" \
		"its steps need from the network: the Debian mirror (apt-get), the npm registry (npm install)"
	# the template's CA steps are live once host-ca.crt is there
	grep -q '^  NODE_EXTRA_CA_CERTS: /usr/local/share/ca-certificates/host-ca.crt' Envfile
	grep -q '^  - copy: host-ca.crt' Envfile
	assert_output --regexp $'\nv18\\.'
	run "$DEVENV" ssh -c 'node app.js && ls /node_modules'
	assert_success
	assert_output "172800000
ms"
}

@test "template go: go.mod's modules (none) downloaded; go run builds the checkout" {
	printf 'module example.com/hello\n\ngo 1.19\n' >go.mod
	printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from go") }\n' >main.go
	init_up go
	assert_line --regexp '^\[[0-9]+/[0-9]+\] run: cd /opt/gomod && go mod download'
	assert_output --partial "go version go1.19"
	run "$DEVENV" ssh -c 'go run .'
	assert_success
	assert_output "hello from go"
}

@test "template rust: Cargo.toml's crates (none) fetched; cargo runs the checkout's crate" {
	printf '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n' >Cargo.toml
	mkdir src
	printf 'fn main() { println!("hello from rust"); }\n' >src/main.rs
	init_up rust
	assert_line --regexp '^\[3/3\] run: cd /opt/crate && mkdir -p src'
	assert_output --regexp $'\ncargo 1\\.'
	run "$DEVENV" ssh -c 'cargo run -q'
	assert_success
	assert_output "hello from rust"
}

# The steps a template runs against an index this machine cannot reach: the
# Envfile init writes for a real project parses (allow --json reads and
# validates it as up does), init names the index, and the test prints
# which of its steps were not run here.
@test "templates needing PyPI, the Go module proxy or crates.io: parsed, and the steps not run are named" {
	local t dir what cmd line
	for t in python python-postgres go rust; do
		dir=$BATS_TEST_TMPDIR/$t
		mkdir -p "$dir"
		cd "$dir" || return 1
		git init -q .
		case $t in
		python)
			printf 'requests==2.31.0\n' >requirements.txt
			what=PyPI cmd='pip install'
			;;
		python-postgres)
			printf 'Django==4.2\npsycopg[binary]==3.1\n' >requirements.txt
			what=PyPI cmd='pip install'
			;;
		go)
			printf 'module example.com/app\n\ngo 1.19\n\nrequire golang.org/x/text v0.14.0\n' >go.mod
			what="the Go module proxy" cmd='go mod download'
			;;
		rust)
			printf '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nserde = "1"\n' >Cargo.toml
			what=crates.io cmd='cargo fetch'
			;;
		esac
		run "$DEVENV" init
		assert_success
		assert_line --regexp "^wrote Envfile from the $t template "
		assert_line --regexp "^its steps need from the network: the Debian mirror \(apt-get\), $what \($cmd\)"
		run "$DEVENV" allow --json
		assert_success
		assert_output --partial '"file":"Envfile"'
		# the index step is live (not commented out), and is what is not run
		run grep -n "^  - run: .*$cmd" Envfile
		assert_success
		for line in "${lines[@]}"; do
			printf '# %s: not run here (%s is out of reach): Envfile:%s\n' "$t" "$what" "$line" >&3
		done
	done
}

# The team cache, commit, push, pull and save on an env with
# ca-certificates, whose /etc/ssl/certs holds
# NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem and a link to it (layer tars
# must carry names as bytes: needs the export branch). One apt run serves
# them all. The teammate's store has the same base (loaded from the same
# archive, so the same image id): its up pulls every step and runs none.
@test "a Debian env with ca-certificates: team cache to a fresh store; commit, push, pull into another, up on it; image save, podman load and run" {
	local cache=$DV_REGISTRY/team/deb-cache:1 ref=$DV_REGISTRY/team/deb:1
	local nl='NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem'
	dv_envfile <<-'EOF'
	image: debian:bookworm
	provision:
	  - run: apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates
	  - run: echo provisioned > /etc/provisioned
	EOF
	git add -A && git commit -qm init
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c "echo made-here > /etc/made-here; readlink /etc/ssl/certs/988a38cb.0"
	assert_output "$nl"

	# the team cache: push the provisioning; a teammate's up pulls it
	run "$DEVENV" push "$cache"
	assert_success
	assert_output --regexp "pushed env 'proj' \(2 steps\) as $cache@sha256:[0-9a-f]{64}"
	store_b
	DEVENV_HOME=$STORE_B dv_debian_image
	DEVENV_HOME=$STORE_B run "$DEVENV" up --cache-from "$cache"
	assert_success
	assert_line --regexp '^\[1/2\] run: apt-get update .* \(pulled\)$'
	assert_line "[2/2] run: echo provisioned > /etc/provisioned (pulled)"
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /etc/provisioned; readlink /etc/ssl/certs/988a38cb.0'
	assert_success
	assert_output "provisioned
$nl"
	DEVENV_HOME=$STORE_B "$DEVENV" destroy -f >/dev/null

	# commit, push; pull into a third, empty store and up on the image
	run "$DEVENV" commit team-deb:1
	assert_success
	run "$DEVENV" push team-deb:1 "$ref"
	assert_success
	dv_rm_store "$STORE_B"
	store_b
	mkdir "$BATS_TEST_TMPDIR/b"
	cd "$BATS_TEST_TMPDIR/b" || return 1
	git init -q .
	printf 'image: %s\n' "$ref" >Envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c "cat /etc/made-here; readlink /etc/ssl/certs/988a38cb.0; test -s '/usr/share/ca-certificates/mozilla/${nl%.pem}.crt' && echo there"
	assert_success
	assert_output "made-here
$nl
there"

	run "$DEVENV" image save team-deb:1 "$BATS_TEST_TMPDIR/deb.tar"
	assert_success
	if ((EUID != 0)); then
		echo "# rootless: podman load and run not tried (podman without root needs a set-up of its own)" >&3
		return 0
	fi
	command -v podman >/dev/null || fail "podman is not installed (scripts/install-deps)"
	# crun refuses this machine's hybrid cgroup layout unless hugetlb is
	# mounted as v1 too (oci.bats does the same)
	if [[ ! -e /sys/fs/cgroup/cgroup.controllers ]] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
		mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
	fi
	run podman load -q -i "$BATS_TEST_TMPDIR/deb.tar"
	assert_success
	assert_output --partial "localhost/team-deb:1"
	run podman run --rm --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
		localhost/team-deb:1 sh -c 'cat /etc/made-here; readlink /etc/ssl/certs/988a38cb.0; . /etc/os-release; echo "$PRETTY_NAME"'
	podman rmi -f localhost/team-deb:1 >/dev/null 2>&1 || true
	assert_success
	assert_output "made-here
$nl
Debian GNU/Linux 12 (bookworm)"
}

# apt-get in root's provisioning steps, then the Envfile's user at work in
# the checkout: what it writes there is the host user's. Root: the checkout
# is handed to uid 4242, the user is 4242 inside (an idmapped checkout).
# Rootless: the user is you inside (your uid), root and the rest on your
# subordinate range; this part needs the keepid branch.
@test "apt-get install in root steps, then user: writes the checkout as the host user (root and rootless)" {
	local host_uid
	if ((EUID == 0)); then
		chown -R 4242:4242 "$DV_CHECKOUT"
		host_uid=4242
	else
		host_uid=$EUID
	fi
	dv_envfile <<-'EOF'
	image: debian:bookworm
	user: dev
	provision:
	  - run: apt-get update -q && apt-get install -y -q --no-install-recommends hello
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'id -un; id -u; hello; dpkg -s hello | grep ^Status; touch made-by-dev; mkdir -p sub && echo x > sub/f'
	assert_success
	assert_output "dev
$host_uid
Hello, world!
Status: install ok installed"
	assert_equal "$(stat -c %u made-by-dev sub sub/f | sort -u)" "$host_uid"
	# /etc/passwd stays root's; root is still root inside
	run "$DEVENV" ssh --user root -c 'stat -c %u /etc/passwd; id -u; apt-get install -y -q --no-install-recommends hello >/dev/null && echo again'
	assert_success
	assert_output "0
0
again"
}

#!/usr/bin/env bats
# Provisioning steps beyond run and copy: git, download, a step's own env,
# and copy of a folder inside a repository (.gitignore honoured).

load helpers

setup() {
	dv_setup
	dv_busybox_image
	DV_REPO=$BATS_TEST_TMPDIR/upstream
}
teardown() {
	[[ -n ${DV_HTTP_PID:-} ]] && kill "$DV_HTTP_PID" 2>/dev/null
	dv_teardown
}

# upstream_repo: a repository to clone, with one commit on main.
upstream_repo() {
	mkdir -p "$DV_REPO"
	git -C "$DV_REPO" init -q -b main
	git -C "$DV_REPO" config user.email test@devenv.invalid
	git -C "$DV_REPO" config user.name "devenv test"
	echo one >"$DV_REPO/version"
	git -C "$DV_REPO" add version
	git -C "$DV_REPO" commit -qm one
}

upstream_commit() {
	echo "$1" >"$DV_REPO/version"
	git -C "$DV_REPO" commit -qam "$1"
}

# git_envfile [REF]: clone the upstream repository to /src, then read it.
git_envfile() {
	{
		printf 'image: busybox\nprovision:\n'
		printf '  - git: file://%s\n    to: /src\n' "$DV_REPO"
		[[ -n ${1:-} ]] && printf '    ref: %s\n' "$1"
		printf '  - run: cat /src/version > /seen\n'
	} >Envfile
}

# http_serve DIR: python3's http.server for DIR on 127.0.0.1; sets DV_URL.
http_serve() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 -m http.server --bind 127.0.0.1 --directory "$1" "$port" >/dev/null 2>&1 &
	DV_HTTP_PID=$!
	DV_URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -fs -o /dev/null "$DV_URL/" && return 0
		sleep 0.05
	done
	echo "http.server did not start" >&2
	return 1
}

@test "git step clones the repository, with .git, at 'to'; the next step sees it" {
	upstream_repo
	git_envfile
	run "$DEVENV" up
	assert_success
	assert_line "[1/2] git: file://$DV_REPO -> /src"
	run "$DEVENV" ssh -c 'cat /seen; cat /src/version; test -d /src/.git && echo has-git'
	assert_success
	assert_output "one
one
has-git"
}

@test "a new upstream commit reruns the git step and later ones on provision after lock --update; an unchanged one is cached" {
	upstream_repo
	git_envfile
	"$DEVENV" up
	run "$DEVENV" provision
	assert_success
	assert_line "[1/2] git: file://$DV_REPO -> /src (cached)"
	assert_line "[2/2] run: cat /src/version > /seen (cached)"

	upstream_commit two
	# up of the running env keeps the remembered commit: no network round trip
	run "$DEVENV" up
	assert_success
	assert_output "env 'proj' is already running"
	# Envfile.lock pins the commit: provision keeps it until lock --update
	run "$DEVENV" provision
	assert_success
	assert_line "[1/2] git: file://$DV_REPO -> /src (cached)"
	run "$DEVENV" lock --update
	assert_success
	run "$DEVENV" provision
	assert_success
	assert_line "[1/2] git: file://$DV_REPO -> /src"
	assert_line "[2/2] run: cat /src/version > /seen"
	run "$DEVENV" ssh -c 'cat /seen'
	assert_output "two"
}

@test "git step: ref of a tag and of a branch" {
	upstream_repo
	git -C "$DV_REPO" tag v1
	git -C "$DV_REPO" tag -a v1a -m annotated
	upstream_commit two
	git -C "$DV_REPO" checkout -qb feature
	upstream_commit feature
	git -C "$DV_REPO" checkout -q main

	git_envfile v1
	run "$DEVENV" up
	assert_success
	assert_line "[1/2] git: file://$DV_REPO @ v1 -> /src"
	run "$DEVENV" ssh -c 'cat /seen'
	assert_output "one"

	git_envfile v1a
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c 'cat /seen'
	assert_output "one"

	git_envfile feature
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c 'cat /seen; cd /src && cat .git/HEAD'
	assert_output "feature
ref: refs/heads/feature"

	git_envfile "$(git -C "$DV_REPO" rev-parse main)"
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c 'cat /seen'
	assert_output "two"
}

@test "git step: a missing ref and an unreachable repository are one clear line" {
	upstream_repo
	git_envfile nosuch
	run "$DEVENV" up
	assert_failure
	assert_output "devenv: Envfile:3:5: git file://$DV_REPO: the repository has no branch or tag 'nosuch'; a commit must be written in full (40 hex digits)"

	DV_REPO=$BATS_TEST_TMPDIR/gone
	git_envfile
	run "$DEVENV" up
	assert_failure
	assert_output --regexp "^devenv: Envfile:3:5: git file://$DV_REPO: cannot reach the repository: .*"
	[[ ${#lines[@]} == 1 ]]
	[[ -z $(ls "$DV_STORE/tmp") ]]
}

@test "download step: fetched, verified, at 'to' with mode 0644; cached without the server" {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	printf 'tool v1\n' >"$BATS_TEST_TMPDIR/www/tool.sh"
	chmod 755 "$BATS_TEST_TMPDIR/www/tool.sh"
	sum=$(sha256sum "$BATS_TEST_TMPDIR/www/tool.sh" | cut -d' ' -f1)
	http_serve "$BATS_TEST_TMPDIR/www"
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - download: $DV_URL/tool.sh
	    sha256: $sum
	    to: /opt/bin/
	EOF
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] download: $DV_URL/tool.sh -> /opt/bin/"
	run "$DEVENV" ssh -c 'cat /opt/bin/tool.sh; stat -c %a /opt/bin/tool.sh'
	assert_output "tool v1
644"
	kill "$DV_HTTP_PID"
	wait "$DV_HTTP_PID" 2>/dev/null || true
	DV_HTTP_PID=
	"$DEVENV" halt
	run "$DEVENV" provision
	assert_success
	assert_line "[1/1] download: $DV_URL/tool.sh -> /opt/bin/ (cached)"
}

@test "download step: a wrong sha256 names both digests and caches nothing" {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	printf 'tool v1\n' >"$BATS_TEST_TMPDIR/www/tool.sh"
	sum=$(sha256sum "$BATS_TEST_TMPDIR/www/tool.sh" | cut -d' ' -f1)
	wrong=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
	http_serve "$BATS_TEST_TMPDIR/www"
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: echo before > /before
	  - download: $DV_URL/tool.sh
	    sha256: $wrong
	    to: /opt/tool.sh
	EOF
	run "$DEVENV" up
	assert_failure
	assert_line "devenv: Envfile:4:5: download $DV_URL/tool.sh: sha256 is $sum but the Envfile says $wrong; check the URL, or update 'sha256:'"
	[[ $(ls "$DV_STORE/cache" | wc -l) == 1 ]] # only the run step
	[[ -z $(ls "$DV_STORE/tmp") ]]
}

@test "download step: HTTP errors and an unreachable server are one clear line" {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	http_serve "$BATS_TEST_TMPDIR/www"
	sum=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - download: $DV_URL/missing.tar.gz
	    sha256: $sum
	    to: /opt/x
	EOF
	run "$DEVENV" up
	assert_failure
	assert_line "devenv: Envfile:3:5: download $DV_URL/missing.tar.gz: the server answered HTTP 404; check the URL"
	[[ ${#lines[@]} == 3 ]] # the step's progress line, "failed after", then the error
	assert_line --index 1 --regexp "^      failed after [0-9.]+ s$"

	kill "$DV_HTTP_PID"
	wait "$DV_HTTP_PID" 2>/dev/null || true
	DV_HTTP_PID=
	run "$DEVENV" up
	assert_failure
	assert_line --regexp "^devenv: Envfile:3:5: download $DV_URL/missing.tar.gz: .*; check the URL and the network$"
	[[ ${#lines[@]} == 3 ]] # progress line, "failed after", the error
	[[ -z $(ls "$DV_STORE/tmp") ]]
	[[ -z $(ls "$DV_STORE/cache") ]]
}

@test "a step's env is seen by the step, wins over the global env, and changing it reruns the step" {
	dv_envfile <<-'EOF'
	image: busybox
	env:
	  A: global
	  B: global
	provision:
	  - run: echo "$A $B" > /ab
	    env:
	      B: step
	on_up:
	  - run: echo "$A $C" > /tmp/on_up
	    env:
	      C: up
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /ab /tmp/on_up; echo "${B}"'
	assert_output "global step
global up
global"

	"$DEVENV" halt
	sed -i 's/B: step/B: changed/' Envfile
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo \"\$A \$B\" > /ab"
	run "$DEVENV" ssh -c 'cat /ab'
	assert_output "global changed"
}

@test "copy of a folder honours .gitignore: ignored files are not copied and do not rerun the step" {
	mkdir -p app/build app/src
	printf 'build/\n*.log\n' >app/.gitignore
	echo v1 >app/src/main.c
	echo forced >app/keep.log
	git add app/.gitignore app/src/main.c
	git add -f app/keep.log
	git commit -qm app
	echo new >app/untracked.txt
	echo junk >app/build/out.o
	echo junk >app/debug.log
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: app
	    to: /app
	  - run: find /app | sort > /listing
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /listing'
	assert_output "/app
/app/.gitignore
/app/keep.log
/app/src
/app/src/main.c
/app/untracked.txt"

	"$DEVENV" halt
	echo more junk >>app/debug.log
	echo more >app/build/other.o
	run "$DEVENV" up
	assert_success
	assert_line "[1/2] copy: app -> /app (cached)"

	"$DEVENV" halt
	echo v2 >app/src/main.c
	run "$DEVENV" up
	assert_success
	assert_line "[1/2] copy: app -> /app"
	run "$DEVENV" ssh -c 'cat /app/src/main.c'
	assert_output "v2"

	"$DEVENV" halt
	echo changed >app/untracked.txt
	run "$DEVENV" up
	assert_success
	assert_line "[1/2] copy: app -> /app"
}

@test "copy of the whole checkout leaves out .git and ignored files" {
	printf 'secret.env\n' >.gitignore
	echo tracked >a.txt
	echo hush >secret.env
	git add .gitignore a.txt
	git commit -qm a
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: .
	    to: /w
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'ls -A /w'
	assert_output "$(printf '.gitignore\nEnvfile\na.txt')"
}

@test "a cached up of a folder copy in a git checkout does not load libgit2; a change is still seen" {
	mkdir -p app
	echo v1 >app/a.txt
	printf 'build/\n' >app/.gitignore
	git add app
	git commit -qm app
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: app
	    to: /app
	EOF
	run "$DEVENV" up
	assert_success
	"$DEVENV" halt
	run env LD_DEBUG=files "$DEVENV" up
	assert_success
	assert_line "[1/1] copy: app -> /app (cached)"
	refute_output --partial "libgit2"

	"$DEVENV" halt
	# same size, same second: only the nanoseconds (and ctime) tell
	echo v2 >app/a.txt
	run env LD_DEBUG=files "$DEVENV" up
	assert_success
	assert_line "[1/1] copy: app -> /app"
	assert_output --partial "libgit2"
	run "$DEVENV" ssh -c 'cat /app/a.txt'
	assert_output "v2"
}

@test "copy of a folder of a checkout that belongs to another user works as root (libgit2 does not refuse it)" {
	dv_need_host_root "the checkout is handed to uid 4242 by chown"
	dv_busybox_image
	mkdir app && echo hi >app/a && echo a.log >.gitignore && echo log >app/a.log
	dv_envfile <<-'EOF2'
	image: busybox
	provision:
	  - copy: app
	    to: /app
	EOF2
	chown -R 4242:4242 "$DV_CHECKOUT"
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /app/a; ls /app'
	assert_success
	assert_output "hi
a"
}

# overlay stacks 500 layers (one is devenv's skeleton): an env has at most
# 499, its image's and one per step. The step past it is named before any
# step runs (before, 498 steps were built and step 499 failed to mount:
# "too many lower directories"); an Envfile past it with any image is an
# error when it is read (the unit test).
@test "the layer limit: the step past it, counting the image's layers, is an error before anything is built" {
	{
		echo 'image: busybox'
		echo 'provision:'
		for i in $(seq 499); do echo "  - run: echo $i > /n"; done
	} >Envfile
	before=$(ls "$DV_STORE/layers" | wc -l)
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:501:5: step 499 is one layer too many: image 'busybox' has 1 layer, and an env has at most 499, its image's and one per step (overlay's limit); merge steps, as one 'run' joined with '&&'"
	[[ $(ls "$DV_STORE/layers" | wc -l) == "$before" ]]
}

#!/usr/bin/env bats
# attacks.bats - issue 11's attacks, one test each: a repository just cloned
# is untrusted input, and every process in an env is hostile to the host.
# Each test failed on the code before the defence it checks (the commit
# that adds the test says so), and runs as root and rootless (where the
# attack applies there; a skip says why when it does not).
#
# Sections, in the issue's order: ownership of the checkout and the .git
# way out; host fds and terminals; paths opened race-free; the default
# sandbox; trust; volumes and the team cache; then what the review after
# the issue found, by topic (trust, binds, git, sweep, terminal).

load helpers
bats_require_minimum_version 1.5.0

setup() { dv_setup; }
teardown() {
	local rc=0
	dv_teardown || rc=$?
	# what the sweep tests mounted (a btrfs image, a bind in the checkout)
	[[ -n ${OWN_UMOUNT:-} ]] && { umount "$OWN_UMOUNT" || umount -l "$OWN_UMOUNT"; }
	return "$rc"
}

# ---- ownership and .git ----
# Item 1: nothing the env does leaves a file in the checkout or a host
# mount owned by another id than the host user's, setuid or setgid for
# anyone else, or with a file capability that means anything on the host.
# Item 2: the git dir is read-only inside, so no code of the env's choosing
# runs in the developer's git. With root, the checkout belongs to an
# ordinary host user (uid 4242, as in user.bats); without root, to us.

# own_host_ids: "UID GID" of the checkout's owner on the host.
own_host_ids() {
	local d=$DV_CHECKOUT
	if ((EUID == 0)); then
		chown -R 4242:4242 "$DV_CHECKOUT"
		OWN_UID=4242 OWN_GID=4242
		# the host user reaches its checkout (the test's folders are 0700)
		while d=${d%/*} && [[ -n $d ]]; do chmod o+x "$d"; done
	else
		OWN_UID=$(id -u) OWN_GID=$(id -g)
	fi
}

# own_as_host_user CMD...: run CMD as the checkout's owner on the host.
own_as_host_user() {
	if ((EUID == 0)); then
		setpriv --reuid "$OWN_UID" --regid "$OWN_GID" --clear-groups --inh-caps=-all -- "$@"
	else
		"$@"
	fi
}

# own_tools: the host's git, setcap and cat (with their libraries) in
# tools.tar of the checkout, for a `copy` step (busybox has none of them;
# one file, as libgit2 would not list a folder of a checkout owned by
# another user for root), and a host binary to give file capabilities to.
own_tools() {
	local d=$BATS_TEST_TMPDIR/tools f lib
	for f in /usr/bin/git /usr/sbin/setcap /usr/bin/cat; do
		install -D "$f" "$d/usr/bin/${f##*/}"
		for lib in $(ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/lib64\// { print $1 }'); do
			[[ -e $d$lib ]] || install -D "$lib" "$d$lib"
		done
	done
	tar -C "$d" -cf "$DV_CHECKOUT/tools.tar" .
	cp /usr/bin/cat "$DV_CHECKOUT/capcat"
}

# own_envfile [EXTRA]: an Envfile on busybox with the tools, plus EXTRA lines.
own_envfile() {
	{
		printf '%s\n' "image: busybox" "provision:" "  - copy: tools.tar" "    to: /tools.tar" \
			"  - run: tar -xf /tools.tar -C / && rm /tools.tar"
		[[ -n ${1:-} ]] && printf '%s\n' "$1"
	} | dv_envfile
}

# own_assert_clean DIR...: on the host, every entry below DIR belongs to the
# checkout's owner, none is setuid or setgid for anyone else, and a file
# capability set inside gives a process of the host user nothing.
own_assert_clean() {
	local bad
	bad=$(find "$@" \( ! -uid "$OWN_UID" -o ! -gid "$OWN_GID" \) -printf '%p %U:%G %m\n')
	[[ -z $bad ]] || {
		echo "not the host user's: $bad"
		return 1
	}
	bad=$(find "$@" -perm /6000 ! -uid "$OWN_UID" -printf '%p %U:%G %m\n')
	[[ -z $bad ]] || {
		echo "setuid/setgid for another id: $bad"
		return 1
	}
	if [[ -e $DV_CHECKOUT/capcat ]]; then
		run own_as_host_user "$DV_CHECKOUT/capcat" /proc/self/status
		assert_success
		assert_line --regexp '^CapEff:[[:space:]]+0+$'
		assert_line --regexp '^CapPrm:[[:space:]]+0+$'
	fi
}

# What root in the env tries, in the checkout (or $DIR): files for the
# host uid (HOSTUID, replaced) and for root, setuid and setgid, a foreign
# id, a setgid folder, a file capability.
OWN_ATTACK='cd "${DIR:-/workspace}" &&
touch a; chown HOSTUID a; chmod 4755 a
touch b; chown 0:0 b; chmod 6755 b
touch c; chown 1:1 c; mkdir d; chown 0:0 d; chmod 2777 d; touch d/e
[ -e capcat ] && setcap cap_setuid,cap_dac_override+ep capcat
true'

@test "ownership: root in an idmapped env makes no host-root, foreign, setuid or capable file (setuid + fsmonitor chain)" {
	dv_busybox_image
	own_tools
	own_envfile
	own_host_ids
	run "$DEVENV" up
	assert_success
	# The chain of the issue: a setuid file for root, and an fsmonitor
	# line in .git/config for the developer's next `git status`.
	run "$DEVENV" ssh -c "${OWN_ATTACK//HOSTUID/$OWN_UID}"
	run "$DEVENV" ssh -c 'printf "#!/bin/sh\ntouch /tmp/own-fsmon-ran\n" > .git/fsmon.sh; chmod 755 .git/fsmon.sh; printf "[core]\n\tfsmonitor = .git/fsmon.sh\n" >> .git/config'
	assert_failure
	# any other id of the env too
	run "$DEVENV" ssh --user 1 -c 'touch by-1; chmod 6755 by-1'
	((EUID == 0)) && own_assert_clean "$DV_CHECKOUT"
	run "$DEVENV" halt
	assert_success
	own_assert_clean "$DV_CHECKOUT"
	# the capability was written, as v3 with the host user as its root (for
	# the host user's own user namespaces): nothing for a process of the
	# host, as own_assert_clean ran it. Without root, halt's sweep removed it.
	run python3 -c 'import os, struct, sys
try: v = os.getxattr(sys.argv[1], "security.capability")
except OSError: print("none"); sys.exit()
print("v%d rootid %d" % (struct.unpack("<I", v[:4])[0] >> 24, struct.unpack("<I", v[20:24])[0] if len(v) >= 24 else -1))' "$DV_CHECKOUT/capcat"
	if ((EUID == 0)); then
		assert_output "v3 rootid $OWN_UID"
	else
		assert_output none
	fi
	rm -f /tmp/own-fsmon-ran
	run own_as_host_user git -C "$DV_CHECKOUT" status --short
	[[ ! -e /tmp/own-fsmon-ran ]]
	run grep -c fsmonitor "$DV_CHECKOUT/.git/config"
	assert_output 0
}

@test "ownership: with the chown fallback, root's files and a background writer's are given back, s-bits and capabilities dropped" {
	dv_need_host_root "DEVENV_NO_IDMAP changes nothing without root: the ownership is 'rootless' (tested above)"
	export DEVENV_NO_IDMAP=1
	dv_busybox_image
	own_tools
	own_envfile
	own_host_ids
	run "$DEVENV" up
	assert_success
	run "$DEVENV" status --json
	[[ $(dv_json checkout_ownership <<<"$output") == chown ]]
	run "$DEVENV" ssh -c "${OWN_ATTACK//HOSTUID/$OWN_UID}"
	own_assert_clean "$DV_CHECKOUT"
	# A writer that outlives its ssh: given back at halt at the latest.
	run "$DEVENV" ssh -c 'setsid sh -c "sleep 1; touch late; chown 0:0 late; chmod 4755 late" </dev/null >/dev/null 2>&1 &'
	assert_success
	sleep 2
	[[ $(stat -c %u late) == 0 ]] # the window the README states
	run "$DEVENV" halt
	assert_success
	own_assert_clean "$DV_CHECKOUT"
}

@test "ownership: a service's bind of the checkout maps the host user to root and nothing else" {
	dv_busybox_image
	mkdir data
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  svc:
	    image: busybox
	    command: cd /data && touch a && chmod 4755 a && touch b && chown 0:0 b && chmod 6755 b; touch c; chown 1:1 c; echo done; exec sleep 1000
	    volumes: ["./data:/data"]
	EOF
	own_host_ids
	run "$DEVENV" up
	assert_success
	for _ in $(seq 50); do grep -q done "$DV_STORE"/envs/*/services/svc/log && break; sleep 0.1; done
	((EUID == 0)) && own_assert_clean "$DV_CHECKOUT"
	run "$DEVENV" halt
	assert_success
	own_assert_clean "$DV_CHECKOUT"
	[[ -e data/a && -e data/b ]]
}

@test "ownership: a host mount of 'mounts:' is the checkout's equal: nosuid, and only the host user's id" {
	dv_busybox_image
	own_tools
	mkdir -p inside "$BATS_TEST_TMPDIR/outside"
	cp capcat "$BATS_TEST_TMPDIR/outside/capcat"
	own_envfile "mounts: [\"./inside:/in\", \"$BATS_TEST_TMPDIR/outside:/out\"]"
	own_host_ids
	((EUID == 0)) && chown -R 4242:4242 "$BATS_TEST_TMPDIR/outside"
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c "DIR=/in; ${OWN_ATTACK//HOSTUID/$OWN_UID}"
	run "$DEVENV" ssh -c "DIR=/out; ${OWN_ATTACK//HOSTUID/$OWN_UID}"
	run "$DEVENV" ssh -c 'grep -E " /(in|out|workspace) " /proc/self/mounts'
	assert_success
	# every mount there, the env's and the session's own
	[[ ${#lines[@]} -ge 3 && $(grep -vc nosuid <<<"$output") == 0 ]]
	run "$DEVENV" halt
	assert_success
	own_assert_clean "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/outside"
	run own_as_host_user "$BATS_TEST_TMPDIR/outside/capcat" /proc/self/status
	assert_line --regexp '^CapEff:[[:space:]]+0+$'
}

@test ".git: config, hooks, info, commondir, modules and renaming it are refused; git works inside; read-write when asked" {
	dv_busybox_image
	own_tools
	# Without root the env's user is a subordinate id that cannot write
	# the checkout (README: Without root): root only there.
	local who attack users=root
	((EUID == 0)) && users="root dev"
	own_envfile "$( ((EUID == 0)) && echo 'user: dev')"
	git add Envfile
	git commit -qm one
	own_host_ids
	run "$DEVENV" up
	assert_success
	for who in $users; do
		for attack in 'echo "[core] fsmonitor = x" >> .git/config' 'touch .git/hooks/pre-commit' \
			'echo x >> .git/info/exclude' 'echo /tmp > .git/commondir' \
			'mkdir -p .git/modules/x && echo "[core]" > .git/modules/x/config' \
			'mv .git .git-old' 'rm -rf .git' 'git update-index --add --cacheinfo 160000,1111111111111111111111111111111111111111,x'; do
			run "$DEVENV" ssh --user "$who" -c "$attack"
			assert_failure
		done
		# reading works, as root and as the env's user (safe.directory
		# sees the checkout owned by the session's own uid)
		run "$DEVENV" ssh --user "$who" -c 'echo change >> Envfile; git status --short; git log --format=%s; git diff --stat'
		assert_success
		assert_line ' M Envfile'
		assert_line 'one'
		assert_line --partial '1 file changed'
		own_as_host_user git checkout -q Envfile
	done
	[[ ! -e .git/hooks/pre-commit && ! -e .git/commondir && ! -e .git/modules ]]
	run grep -c fsmonitor .git/config
	assert_output 0
	# security.git_metadata: read-write gives the env its git dir back
	printf 'security:\n  git_metadata: read-write\n' >>Envfile
	run "$DEVENV" reload
	assert_success
	run "$DEVENV" ssh -c 'touch .git/hooks/by-env && git add Envfile && git -c user.name=e -c user.email=e@e commit -qm two && git log --format=%s | head -1'
	assert_success
	assert_output two
	[[ -e .git/hooks/by-env ]]
}

@test ".git: a submodule's .git is read-only and cannot be moved aside" {
	dv_busybox_image
	git init -q "$BATS_TEST_TMPDIR/subrepo"
	git -C "$BATS_TEST_TMPDIR/subrepo" -c user.name=a -c user.email=a@a commit -q --allow-empty -m sub
	mkdir lib
	git -c protocol.file.allow=always submodule -q add "$BATS_TEST_TMPDIR/subrepo" lib/sub
	[[ -f lib/sub/.git ]]
	printf 'image: busybox\n' | dv_envfile
	own_host_ids
	run "$DEVENV" up
	assert_success
	local attack
	for attack in 'echo "gitdir: /tmp/x" > lib/sub/.git' 'rm -f lib/sub/.git' 'mv lib/sub lib/sub2' 'mv lib lib2' \
		'echo x >> .git/modules/lib/sub/config'; do
		run "$DEVENV" ssh -c "$attack"
		assert_failure
	done
	[[ $(cat lib/sub/.git) == "gitdir: ../../.git/modules/lib/sub" ]]
	# the rest of the submodule's folder is the env's to write
	run "$DEVENV" ssh -c 'touch lib/sub/file lib/other'
	assert_success
}

@test ".git: a submodule the checkout records but did not check out cannot get a .git of the env's" {
	dv_busybox_image
	git init -q "$BATS_TEST_TMPDIR/subrepo"
	git -C "$BATS_TEST_TMPDIR/subrepo" -c user.name=a -c user.email=a@a commit -q --allow-empty -m sub
	mkdir lib
	git -c protocol.file.allow=always submodule -q add "$BATS_TEST_TMPDIR/subrepo" lib/sub
	git -c user.name=a -c user.email=a@a commit -qm 'with a submodule'
	# As a fresh clone without --recurse-submodules leaves it: the gitlink
	# in the index, an empty folder, nothing in .git/modules.
	git submodule -q deinit -f lib/sub
	rm -rf .git/modules
	[[ -d lib/sub && -z $(ls -A lib/sub) ]]
	printf 'image: busybox\n' | dv_envfile
	own_host_ids
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'mkdir -p lib/sub/.git && printf "[core]\n\tfsmonitor = touch /tmp/PWNED\n" > lib/sub/.git/config'
	assert_failure
	[[ ! -e lib/sub/.git ]]
	# the rest of the checkout is the env's to write
	run "$DEVENV" ssh -c 'touch lib/other'
	assert_success
}

# ---- trust and the team cache ----
# An Envfile or devcontainer.json that asks for more than the default
# sandbox runs nothing until the developer says yes (README "Trust"); a
# layer pulled through one project's cache_from never serves another's.

# trust_stopped LINE...: `up` without a terminal stopped with exit 2 and
# the one line, and nothing ran: no env, no layer but the image's, no
# cache entry, no git remote asked.
trust_stopped() {
	local n=$1 file=${2:-Envfile}
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "devenv: $file asks for $n beyond the default sandbox that this checkout was never allowed; nothing was run: run 'devenv allow' to see and allow them"
	[[ -z $(find "$DV_STORE/envs" -mindepth 1 -print -quit) ]]
	[[ $(ls "$DV_STORE/layers" | wc -l) -eq $TRUST_LAYERS ]]
	[[ -z $(ls "$DV_STORE/cache") ]]
	[[ ! -e $DV_STORE/git ]]
}

trust_setup() {
	unset DEVENV_ALLOW
	dv_busybox_image
	TRUST_LAYERS=$(ls "$DV_STORE/layers" | wc -l)
}

@test "trust attack: mounts [\"/:/host\"] with an on_up reading /etc/shadow stops before anything runs" {
	trust_setup
	dv_envfile <<-'EOF'
	image: busybox
	mounts: ["/:/host"]
	on_up:
	  - run: cat /host/etc/shadow
	EOF
	trust_stopped "1 thing"
	refute_output --partial "root:"
}

@test "trust attack: cap_add [SYS_ADMIN] with seccomp unconfined stops before anything runs" {
	trust_setup
	dv_envfile <<-'EOF'
	image: busybox
	security:
	  cap_add: [SYS_ADMIN]
	  seccomp: unconfined
	on_up:
	  - run: mkdir -p /m && mount -t tmpfs x /m && echo mounted
	EOF
	trust_stopped "2 things"
	refute_output --partial mounted
}

@test "trust attack: git: file:// of a private repository is not cloned" {
	trust_setup
	private=$BATS_TEST_TMPDIR/private
	git init -q "$private"
	echo secret >"$private/key"
	git -C "$private" add key
	git -C "$private" -c user.email=a@b -c user.name=a commit -qm key
	chmod 0700 "$private"
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - git: file://$private
	    to: /stolen
	EOF
	trust_stopped "1 thing"
}

@test "trust attack: ports on 0.0.0.0 are not opened" {
	trust_setup
	port=$(dv_free_port)
	dv_envfile <<-EOF
	image: busybox
	ports: ["0.0.0.0:$port:80"]
	on_up:
	  - run: httpd -p 80
	EOF
	trust_stopped "1 thing"
	! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

@test "trust attack: \${localEnv:TOKEN} does not print or store a host secret" {
	trust_setup
	mkdir .devcontainer
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "image": "busybox",
	  "containerEnv": { "STOLEN": "${localEnv:DV_ATTACK_TOKEN}" },
	  "postStartCommand": "echo token=${localEnv:DV_ATTACK_TOKEN}"
	}
	EOF
	export DV_ATTACK_TOKEN=hunter2-$RANDOM
	trust_stopped "2 things" .devcontainer/devcontainer.json
	refute_output --partial "$DV_ATTACK_TOKEN"
	! grep -rqF "$DV_ATTACK_TOKEN" "$DV_STORE"
}

@test "trust attack: a cache_from layer pulled by one project is not used by another project's same step" {
	dv_busybox_image
	dv_registry_start "$BATS_TEST_TMPDIR/registry"
	# The registry goes when this test's process does, even on a failure.
	me=$BASHPID
	{ tail --pid="$me" -f /dev/null; kill "$DV_REGISTRY_PID"; } >/dev/null 2>&1 3>&- &
	ref=$DV_REGISTRY/evil/tools:cache
	step='  - run: echo genuine >/tool'
	# The attacker, on a machine of theirs: builds the step a trusted
	# project has, changes its layer, and pushes it under the step's key.
	attacker=$(mktemp -d "$(dirname "$DV_STORE")/attacker.XXXXXX")
	hostile=$BATS_TEST_TMPDIR/hostile
	mkdir "$hostile"
	git init -q "$hostile"
	printf 'image: busybox\nprovision:\n%s\n' "$step" >"$hostile/Envfile"
	cd "$hostile"
	DEVENV_HOME=$attacker "$DEVENV" image import "$(busybox_tar)" busybox >/dev/null
	DEVENV_HOME=$attacker run "$DEVENV" provision
	assert_success
	key=$(ls "$attacker/cache")
	[[ -f $attacker/layers/$key/diff/tool ]]
	echo planted >"$attacker/layers/$key/diff/tool"
	DEVENV_HOME=$attacker run "$DEVENV" push "$ref"
	assert_success
	dv_rm_store "$attacker"
	# The hostile project on the victim's machine: its cache_from pulls
	# the planted layer (allowed: DEVENV_ALLOW=1).
	printf 'cache_from: %s\n' "$ref" >>Envfile
	run "$DEVENV" provision
	assert_success
	assert_line "[1/1] run: echo genuine >/tool (pulled)"
	# The trusted project, the same step, no cache_from: the step runs here.
	cd "$DV_CHECKOUT"
	printf 'image: busybox\nprovision:\n%s\n' "$step" >Envfile
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo genuine >/tool"
	run "$DEVENV" ssh -c 'cat /tool'
	assert_output genuine
	dv_registry_stop
}

@test "trust attack: a base image taken through one project's cache_from is not another project's image" {
	dv_registry_start "$BATS_TEST_TMPDIR/registry"
	me=$BASHPID
	{ tail --pid="$me" -f /dev/null; kill "$DV_REGISTRY_PID"; } >/dev/null 2>&1 3>&- &
	ref=$DV_REGISTRY/evil/base:cache
	# The attacker's "busybox": the real one plus a planted file, pushed as
	# the base of an env (a base no registry serves goes along).
	attacker=$(mktemp -d "$(dirname "$DV_STORE")/attacker.XXXXXX")
	mkdir -p "$BATS_TEST_TMPDIR/extra"
	echo planted >"$BATS_TEST_TMPDIR/extra/planted"
	cp "$(busybox_tar)" "$BATS_TEST_TMPDIR/evil.tar"
	tar -rf "$BATS_TEST_TMPDIR/evil.tar" -C "$BATS_TEST_TMPDIR/extra" planted
	hostile=$BATS_TEST_TMPDIR/hostile
	mkdir "$hostile"
	git init -q "$hostile"
	printf 'image: busybox\nprovision:\n  - run: echo hi >/hi\n' >"$hostile/Envfile"
	cd "$hostile"
	DEVENV_HOME=$attacker "$DEVENV" image import "$BATS_TEST_TMPDIR/evil.tar" busybox >/dev/null
	DEVENV_HOME=$attacker run "$DEVENV" provision
	assert_success
	DEVENV_HOME=$attacker run "$DEVENV" push "$ref"
	assert_success
	dv_rm_store "$attacker"
	# On the victim's machine, before any busybox: the hostile project's
	# cache_from brings its base (allowed: DEVENV_ALLOW=1).
	printf 'cache_from: %s\n' "$ref" >>Envfile
	run "$DEVENV" provision
	assert_success
	assert_output --partial "pulling the one '$ref' was built on"
	# A trusted project naming the same image, no cache_from: not that one.
	cd "$DV_CHECKOUT"
	printf 'image: busybox\non_up:\n  - run: cat /planted 2>/dev/null || echo clean\n' >Envfile
	run "$DEVENV" up
	assert_failure
	assert_output "devenv: image 'busybox' in this store was taken from cache_from '$ref' for another env, so it is not used here; import or pull your own (it replaces that one)"
	refute_output --partial planted
	# Its own busybox replaces the other project's under that name.
	dv_busybox_image
	run "$DEVENV" up
	assert_success
	assert_line clean
	dv_registry_stop
}

# ---- volumes and escape codes ----

# no_escapes TEXT: TEXT holds none of the bytes a terminal acts on (ESC, BEL,
# a C1 CSI), whatever it quotes from a registry, an image or an env.
no_escapes() {
	[[ $1 != *$'\e'* && $1 != *$'\a'* && $1 != *$'\xc2\x9b'* ]] || {
		printf 'raw escape codes in: %q\n' "$1" >&2
		return 1
	}
}

@test "escape codes in a registry's error body are shown escaped, never sent to the terminal" {
	local body
	body=$(python3 -c 'import json; print(json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN",
		"message": "\x1b]0;pwned\x07\x1b[2J\x9b31m F\u0151tan\u00fas\u00edtv\u00e1ny"}]}))')
	FAULT_ERROR_BODY=$body python3 "$DV_ROOT/test/fixtures/faultproxy.py" \
		"$BATS_TEST_TMPDIR/proxy.port" 127.0.0.1:9 &
	local proxy=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $BATS_TEST_TMPDIR/proxy.port ]] && break
		sleep 0.05
	done
	run "$DEVENV" pull "127.0.0.1:$(cat "$BATS_TEST_TMPDIR/proxy.port")/team/app:1"
	kill "$proxy"
	wait "$proxy" || true
	assert_failure 1
	no_escapes "$output"
	# what the registry said is still there to read, its UTF-8 intact
	assert_output --partial ": \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m Főtanúsítvány"
	[[ ${#lines[@]} -eq 1 ]]
}

@test "escape codes in a layer's entry names are shown escaped in the error" {
	printf 'dir etc\nfile ../\033]0;pwned\007\033[2J\n' | mktar "$BATS_TEST_TMPDIR/evil.tar"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/evil.tar" evil
	assert_failure
	no_escapes "$output"
	assert_output --partial "'../\\x1b]0;pwned\\x07\\x1b[2J'"
}

@test "escape codes in a devcontainer.json's unsupported keys are shown escaped" {
	dv_busybox_image
	mkdir .devcontainer
	printf '{ "image": "busybox", "\\u001b]0;pwned\\u0007\\u001b[2J": 1 }\n' >.devcontainer/devcontainer.json
	run "$DEVENV" up
	assert_success
	no_escapes "$output"
	assert_line --partial 'not supported, ignored: \x1b]0;pwned\x07\x1b[2J'
}

@test "escape codes in an image's config are JSON escapes in image inspect" {
	dv_busybox_image
	"$DEVENV" image save busybox "$BATS_TEST_TMPDIR/a.tar"
	python3 "$DV_ROOT/test/fixtures/oci_config.py" "$BATS_TEST_TMPDIR/a.tar" "$BATS_TEST_TMPDIR/b.tar" \
		'{"WorkingDir": "/w\u001b]0;pwned\u0007\u009b31m\u007f\u202e", "User": "F\u0151"}'
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/b.tar" evil
	assert_success
	run "$DEVENV" image inspect evil
	assert_success
	no_escapes "$output"
	[[ $output != *$'\x7f'* && $output != *$'\xe2\x80\xae'* ]]
	# still JSON, saying what the image says
	python3 -c '
import json, sys
c = json.loads(sys.argv[1])[0]["Config"]["config"]
assert c["WorkingDir"] == "/w\x1b]0;pwned\x07\x9b31m\x7f\u202e", c
assert c["User"] == "F\u0151", c
' "$output"
}

@test "escape codes a service logs are shown escaped by up's warning and status, and dropped by logs" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  w:
	    image: busybox
	    command: printf '\033]0;pwned\007\033[2Jlast words\r\n'; exit 3
	EOF
	run "$DEVENV" up
	assert_success
	no_escapes "$output"
	assert_output --partial "devenv: warning: service 'w' exited at once with status 3"
	assert_line '  \x1b]0;pwned\x07\x1b[2Jlast words'
	run "$DEVENV" status
	assert_success
	no_escapes "$output"
	assert_line '      \x1b]0;pwned\x07\x1b[2Jlast words'
	# the service's own stream, made safe for a terminal (review fixes:
	# terminal, below)
	run "$DEVENV" logs w
	no_escapes "$output"
	assert_output --partial $'\nlast words\r\n'
}

@test "escape codes in an Envfile's steps and workdir are shown escaped by up and status" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	workdir: "/w\e]0;pwned\a"
	provision:
	  - run: ": '\e]0;pwned\a'"
	on_up:
	  - run: ": '\e[2J'"
	EOF
	run "$DEVENV" up
	assert_success
	no_escapes "$output"
	assert_line "[1/1] run: : '\\x1b]0;pwned\\x07'"
	assert_line "[on_up 1/1] run: : '\\x1b[2J'"
	run "$DEVENV" status
	assert_success
	no_escapes "$output"
	assert_line '  workdir:  /w\x1b]0;pwned\x07'
}

# checkout DIR NAME: another git checkout (DIR under the test's folder),
# its Envfile from stdin; prints its path.
checkout() {
	local dir=$BATS_TEST_TMPDIR/$1
	mkdir -p "$dir"
	git -C "$dir" init -q
	cat >"$dir/Envfile"
	printf '%s\n' "$dir"
}

@test "a hostile project's volume of the same name plants nothing in another project's" {
	dv_busybox_image
	evil=$(checkout evil <<-'EOF'
	image: busybox
	volumes: ["toolcache:/opt/tools"]
	EOF
	)
	(cd "$evil" && "$DEVENV" up >/dev/null &&
		"$DEVENV" ssh -c 'printf "#!/bin/sh\necho pwned\n" > /opt/tools/build.sh')
	printf 'image: busybox\nvolumes: ["toolcache:/opt/tools"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'ls -A /opt/tools'
	assert_success
	assert_output ""
	# and nothing the trusted project writes reaches the hostile one
	"$DEVENV" ssh -c 'echo secret > /opt/tools/token'
	run bash -c "cd '$evil' && '$DEVENV' ssh -c 'ls -A /opt/tools'"
	assert_output build.sh
}

@test "two checkouts of one project (one name:) get two volumes" {
	dv_busybox_image
	printf 'name: shop\nimage: busybox\nvolumes: ["pgdata:/var/lib/pg"]\n' | dv_envfile
	second=$(printf 'name: shop\nimage: busybox\nvolumes: ["pgdata:/var/lib/pg"]\n' | checkout shop2)
	run "$DEVENV" up
	assert_success
	(cd "$second" && "$DEVENV" up >/dev/null)
	"$DEVENV" ssh -c 'echo one > /var/lib/pg/PG_VERSION'
	(cd "$second" && "$DEVENV" ssh -c 'echo two > /var/lib/pg/PG_VERSION')
	run "$DEVENV" ssh -c 'cat /var/lib/pg/PG_VERSION'
	assert_output one
	run bash -c "cd '$second' && '$DEVENV' ssh -c 'cat /var/lib/pg/PG_VERSION'"
	assert_output two
	run "$DEVENV" volume ls
	assert_line --regexp '^shop-[0-9a-f]{12}-pgdata +shop +pgdata '
	[[ $(grep -c '^shop-[0-9a-f]\{12\}-pgdata ' <<<"$output") == 2 ]]
}

@test "a shared volume is one for every env naming it shared, and cannot name another env's own" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	volumes: [{name: toolcache, shared: true, target: /opt/tools}]
	EOF
	other=$(checkout other <<-'EOF'
	image: busybox
	volumes: ["toolcache:/tools:ro,shared", "cache:/cache"]
	EOF
	)
	run "$DEVENV" up
	assert_success
	"$DEVENV" ssh -c 'echo v1 > /opt/tools/version'
	run bash -c "cd '$other' && '$DEVENV' up >/dev/null 2>&1 && '$DEVENV' ssh -c 'cat /tools/version'"
	assert_output v1
	# the store's name of another env's own volume is not a shared name
	local id
	id=$(printf '%s\0Envfile' "$(cd "$other" && pwd -P)" | sha256sum | cut -c1-12)
	printf 'image: busybox\nvolumes: ["other-%s-cache:/x:shared"]\n' "$id" | dv_envfile
	run "$DEVENV" reload
	assert_failure 2
	assert_output "devenv: Envfile:2:11: shared volume name 'other-$id-cache' holds a dash, 12 hex digits and a dash, as the store's name of an env's own volume does; choose another name"
}

# ---- host fds and terminals ----
# Nothing devenv starts in an env holds a terminal or a file of the host's:
# steps, on_up, services and ssh get pipes (or a pty of the env's) that
# devenv relays, in a session of their own (README: Security, Processes).
# The developer's terminal is test/fixtures/terminal.py: a pty that devenv
# runs on, whose input queue it reads once devenv is done, as the shell
# would read its next command line.

# dv_terminal [--stdin-null] ARGV...: run ARGV on the developer's terminal;
# its output ends up in term.out (and on ours, for a failing test's log).
dv_terminal() {
	local opt=()
	[[ $1 == --stdin-null ]] && opt=("$1") && shift
	run "$DV_ROOT/test/fixtures/terminal.py" "${opt[@]}" term.out -- "$@"
	cat term.out
}

# The prober (test/fixtures/probe) at the checkout's top, /workspace/probe.
dv_probe_here() {
	cp "$DV_ROOT/test/fixtures/probe" "$DV_CHECKOUT/probe"
}

# Every fd the prober tried was no terminal it could type into, and it ran.
assert_typed_nothing() {
	grep -q '^tiocsti-tty: ' term.out
	run grep ': OK' term.out
	assert_failure
}

@test "host fds: TIOCSTI from a provisioning step types nothing into the developer's shell" {
	dv_busybox_image
	dv_probe_here
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: probe
	    to: /probe
	  - run: /probe tiocsti
	EOF
	dv_terminal "$DEVENV" up
	refute_output --partial "injected:"
	assert_success
	assert_typed_nothing
}

@test "host fds: TIOCSTI from on_up types nothing into the developer's shell" {
	dv_busybox_image
	dv_probe_here
	dv_envfile <<-'EOF'
	image: busybox
	on_up:
	  - run: /workspace/probe tiocsti
	EOF
	dv_terminal "$DEVENV" up
	refute_output --partial "injected:"
	assert_success
	assert_typed_nothing
}

@test "host fds: ssh -c with stdout on a terminal types nothing into it; with a pty, only into the env's" {
	dv_busybox_image
	dv_probe_here
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up
	# stdin elsewhere: no pty, the terminal holds stdout and stderr
	dv_terminal --stdin-null "$DEVENV" ssh -c './probe tiocsti'
	refute_output --partial "injected:"
	assert_success
	assert_typed_nothing
	# stdin on the terminal: a pty of the env's, where typing is harmless
	dv_terminal "$DEVENV" ssh -c './probe tiocsti'
	refute_output --partial "injected:"
	assert_success
	grep -q '^tiocsti-1: OK' term.out
}

@test "host fds: a service types nothing into the terminal of up, and cannot chmod its log through its stdout" {
	local id log
	dv_busybox_image
	mkdir p
	cp "$DV_ROOT/test/fixtures/probe" p/probe
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  evil:
	    image: busybox
	    command: /p/probe tiocsti; chown 0:0 /proc/self/fd/1 /proc/self/fd/2; chmod 6755 /proc/self/fd/1 /proc/self/fd/2; echo evil-done; exec sleep 1000
	    volumes: ["./p:/p:ro"]
	EOF
	dv_terminal "$DEVENV" up
	refute_output --partial "injected:"
	assert_success
	id=$("$DEVENV" status --json | dv_json id)
	log=$DV_STORE/envs/$id/services/evil/log
	for _ in $(seq 50); do grep -q evil-done "$log" && break; sleep 0.1; done
	run "$DEVENV" logs evil
	assert_line "evil-done"
	assert_line --regexp '^tiocsti-1: E'
	refute_line --partial ": OK"
	run stat -c '%a' "$log"
	assert_output 600
	# its log relay lives as long as the service, no longer
	[[ -n $(dv_pgrep_store -x devenv-log) ]]
	"$DEVENV" halt
	for _ in $(seq 50); do [[ -z $(dv_pgrep_store -x devenv-log) ]] && break; sleep 0.1; done
	[[ -z $(dv_pgrep_store -x devenv-log) ]]
	run "$DEVENV" logs evil
	assert_line --partial "exited with status 143"
}

@test "host fds: ssh -c cannot chown or chmod the host file its stdout goes to" {
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up
	touch f
	chmod 644 f
	((DV_ROOTLESS)) || chown 65534:65534 f
	before=$(stat -c '%u:%g %a' f)
	"$DEVENV" ssh -c 'chown 0:0 /proc/self/fd/1; chmod 6755 /proc/self/fd/1; echo written' >f || true
	run stat -c '%u:%g %a' f
	assert_output "$before"
	run cat f
	assert_output written
}

# (A step's stdin is the env's /dev/null, tried on its own below.)
@test "host fds: a step and on_up cannot chown or chmod the files of 'up < in > log 2>&1'" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: chown 0:0 /proc/self/fd/1 /proc/self/fd/2; chmod 6755 /proc/self/fd/1 /proc/self/fd/2; echo step-ran
	on_up:
	  - run: chown 0:0 /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; chmod 6755 /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; echo on-up-ran
	EOF
	touch in log
	chmod 644 in log
	((DV_ROOTLESS)) || chown 65534:65534 in log
	before=$(stat -c '%u:%g %a' in log)
	"$DEVENV" up <in >log 2>&1 || true
	run stat -c '%u:%g %a' in log
	assert_output "$before"
	run cat log
	assert_line step-ran
	assert_line on-up-ran
}

@test "host fds: ssh killed with SIGKILL takes its command's session with it; what an ended command started lives on" {
	local bg pids
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	on_up:
	  - run: sleep 424241 >/dev/null 2>&1 &
	EOF
	"$DEVENV" up
	"$DEVENV" ssh -c 'sleep 424242 >/dev/null 2>&1 &'
	"$DEVENV" ssh -c 'sleep 424243 & sleep 424244 & wait' 3>&- &
	bg=$!
	for _ in $(seq 50); do
		[[ $(dv_pgrep_store -f '^sleep 42424[34]$' | wc -l) == 2 ]] && break
		sleep 0.1
	done
	[[ $(dv_pgrep_store -f '^sleep 42424[34]$' | wc -l) == 2 ]]
	kill -KILL "$bg"
	wait "$bg" || true
	for _ in $(seq 50); do
		pids=$(dv_pgrep_store -f '^sleep 42424[34]$')
		[[ -z $pids ]] && break
		sleep 0.1
	done
	[[ -z $pids ]]
	[[ -n $(dv_pgrep_store -f '^sleep 424241$') ]]
	[[ -n $(dv_pgrep_store -f '^sleep 424242$') ]]
}

# Run by root, the env's /dev/null was a bind of the host's: its inode.
# The env sets the host's own owner and mode again (harmless where the
# attack works: only the host's ctime tells). Without root the attack does
# not apply (root of the user namespace cannot change host root's node).
@test "host fds: root in the env, a step's stdin included, cannot chown or chmod the host's /dev/null" {
	local before own
	dv_busybox_image
	own="chown $(stat -c '%u:%g' /dev/null) TARGET; chmod $(stat -c '%a' /dev/null) TARGET"
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - run: ${own//TARGET//proc/self/fd/0} 2>&1; echo step-ran
	EOF
	before=$(stat -c '%z %u:%g %a' /dev/null)
	run "$DEVENV" up
	assert_success
	assert_line step-ran
	"$DEVENV" ssh -c "${own//TARGET//dev/null}" || true
	run stat -c '%z %u:%g %a' /dev/null
	assert_output "$before"
}

# ---- paths opened race-free ----
#
# A process of the env (or anything else writing the checkout) swaps a
# folder for a symlink to '/' and back as fast as it can while devenv
# resolves a `copy:` or `mounts:` source through it. The Envfile names
# x/<the secret's absolute path>: inside the checkout that is a harmless
# file, through the symlink it is the host's secret. As root the secret is
# a root-only file; without root devenv cannot read such a file at all, so
# there the secret is a private file of the user's outside the checkout
# (an ~/.ssh key, say). Nothing may ever bring its content into a layer or
# an env.

# paths_setup: the secret ($PATHS_SECRET/file, holding $PATHS_MARKER) and
# its harmless twin in the checkout under x/; $PATHS_REL is the twin's
# folder relative to the checkout.
paths_setup() {
	PATHS_MARKER="host-secret-$RANDOM$RANDOM"
	PATHS_SECRET=$(dirname "$DV_CHECKOUT")/secret/a/b/c
	PATHS_REL=x${PATHS_SECRET}
	mkdir -p "$PATHS_SECRET" "$PATHS_REL"
	printf '%s\n' "$PATHS_MARKER" >"$PATHS_SECRET/file"
	chmod 0600 "$PATHS_SECRET/file"
	chmod 0700 "$(dirname "$DV_CHECKOUT")/secret"
	echo harmless >"$PATHS_REL/file"
	ln -s / y
}

# paths_racer_start A B: exchange A and B with renameat2(RENAME_EXCHANGE)
# in a loop, as fast as it can, so that A is always one or the other;
# PATHS_RACER is its pid. It ends by itself after a minute, and holds no fd
# of bats', so that a test failing before paths_racer_stop hangs nothing.
paths_racer_start() {
	timeout 60 python3 - "$1" "$2" >/dev/null 2>&1 3>&- <<-'PY' &
	import ctypes, os, sys
	libc = ctypes.CDLL(None, use_errno=True)
	a, b = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
	swap = libc.renameat2
	while True:
	    swap(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
	PY
	PATHS_RACER=$!
}

# paths_racer_stop: end the racer.
paths_racer_stop() {
	kill "$PATHS_RACER" 2>/dev/null
	wait "$PATHS_RACER" 2>/dev/null || true
}

# paths_check_failure VERB: count $status and $output of a run in ok and
# escaped; a failure must be one line at the Envfile position: at load,
# "... is outside the checkout" (exit 2); at use, "... now goes through a
# symlink ('REAL' had none when the Envfile was read); nothing was VERB"
# (exit 1). Else say so, and 1.
paths_check_failure() {
	local at='^devenv: Envfile:[0-9]+:[0-9]+: '
	if ((status == 0)); then
		ok=$((ok + 1))
	elif ((${#lines[@]} == 1 && status == 1)) &&
		[[ $output =~ ${at}.*\ now\ goes\ through\ a\ symlink\ \(.*\ had\ none\ when\ the\ Envfile\ was\ read\)\;\ nothing\ was\ $1$ ]]; then
		escaped=$((escaped + 1))
	elif ! ((${#lines[@]} == 1 && status == 2)) || ! [[ $output =~ ${at}.*\ is\ outside\ the\ checkout ]]; then
		echo "unexpected failure (status $status): $output" >&2
		return 1
	fi
}

# paths_store_has_marker: does any file of the store hold the marker?
# (Without root the layers' files belong to subordinate ids.)
paths_store_has_marker() {
	if ((EUID == 0)); then
		grep -rqF -- "$PATHS_MARKER" "$DV_STORE"
	else
		unshare --map-root-user --map-auto grep -rqF -- "$PATHS_MARKER" "$DV_STORE"
	fi
}

@test "paths: a folder swapped for a symlink to / during 50 provisions: 'copy' never takes a host file" {
	local i leaks=0 ok=0 escaped=0
	dv_busybox_image
	paths_setup
	paths_racer_start x y
	for ((i = 0; i < 50; i++)); do
		# A new 'to' each time: a new key, so the copy really runs.
		printf 'image: busybox\nprovision:\n  - copy: %s/file\n    to: /got-%d\n' \
			"$PATHS_REL" "$i" | dv_envfile
		run "$DEVENV" provision -q
		paths_check_failure copied || break
		if paths_store_has_marker; then
			leaks=$((leaks + 1))
			echo "provision $i copied the host's secret into a layer" >&2
			break
		fi
	done
	paths_racer_stop
	echo "# 50 provisions: $ok succeeded, $escaped stopped at use, $leaks leaked" >&3
	((i == 50 || leaks))
	((leaks == 0))
	# The race was really run: some provisions got through.
	((ok > 0))
}

@test "paths: a folder swapped for a symlink to / during 50 ups: 'mounts' never mounts a host folder" {
	local i leaks=0 ok=0 escaped=0
	dv_busybox_image
	paths_setup
	printf 'image: busybox\nmounts: ["./%s:/data"]\n' "$PATHS_REL" | dv_envfile
	paths_racer_start x y
	for ((i = 0; i < 50; i++)); do
		run "$DEVENV" up -q
		paths_check_failure mounted || break
		if ((status == 0)); then
			run "$DEVENV" ssh -c 'cat /data/file'
			if [[ $output == *"$PATHS_MARKER"* ]]; then
				leaks=$((leaks + 1))
				echo "up $i mounted the host's secret folder at /data" >&2
				break
			fi
			"$DEVENV" halt -q >/dev/null
		fi
	done
	paths_racer_stop
	echo "# 50 ups: $ok started, $escaped stopped at use, $leaks leaked" >&3
	((i == 50 || leaks))
	((leaks == 0))
	((ok > 0))
}

# paths_store_cat FILE...: cat files of the store (its layers' files
# belong to subordinate ids without root).
paths_store_cat() {
	if ((EUID == 0)); then
		cat "$@"
	else
		unshare --map-root-user --map-auto cat "$@"
	fi
}

@test "paths: a file swapped during 50 provisions: every layer holds what its key was made from" {
	local i ok=0 escaped=0 layer name got id poisoned=0 checked=0
	local changed="^devenv: Envfile:3:5: 'copy' path 'f.txt' changed while (this command ran|it was being copied); nothing of step 1 was kept; run the command again\$"
	dv_busybox_image
	printf 'AAAA\n' >f.txt
	printf 'BBBB\n' >f.alt
	# the racer, on two files: f.txt holds one content or the other
	paths_racer_start f.txt f.alt
	for ((i = 0; i < 50; i++)); do
		printf 'image: busybox\nprovision:\n  - copy: f.txt\n    to: /got-%d\n' "$i" | dv_envfile
		run "$DEVENV" provision -q
		if ((status == 0)); then
			ok=$((ok + 1))
		elif ((status == 1)) && [[ $output =~ $changed ]]; then
			escaped=$((escaped + 1))
		else
			paths_racer_stop
			echo "unexpected failure (status $status): $output" >&2
			return 1
		fi
	done
	paths_racer_stop
	echo "# 50 provisions: $ok succeeded, $escaped saw the file change" >&3
	((ok > 0))
	# Each layer that holds a copy must be the one its content keys to:
	# provision that content, at rest, in another checkout.
	mkdir "$DV_CHECKOUT/../check"
	cd "$DV_CHECKOUT/../check"
	for layer in "$DV_STORE"/layers/*/diff/got-*; do
		name=${layer##*/}
		got=$(paths_store_cat "$layer")
		printf '%s\n' "$got" >f.txt
		printf 'image: busybox\nprovision:\n  - copy: f.txt\n    to: /%s\n' "$name" | dv_envfile
		"$DEVENV" provision -q >/dev/null
		id=$(python3 -c 'import glob, json, os, sys
for f in glob.glob(sys.argv[1] + "/envs/*/state.json"):
    s = json.load(open(f))
    if s["checkout"] == os.path.realpath("."):
        print(s["steps"][0])' "$DV_STORE")
		checked=$((checked + 1))
		if [[ $id != "$(basename "$(dirname "$(dirname "$layer")")")" ]]; then
			poisoned=$((poisoned + 1))
			echo "the layer of /$name holds '$got', which is not what its key was made from" >&2
		fi
	done
	echo "# $checked layers checked, $poisoned hold what their key does not say" >&3
	((checked > 0))
	((poisoned == 0))
}

# The mount of a host path is cloned in a helper's own mount namespace
# (provision/hostmount.c): made private there first, the clone is no peer
# of the host's mounts even where those are shared (systemd's default).
# Passes before this change too (the clone was made in the container's
# private namespace then); it guards the new helper.
@test "paths: a mount the env makes below a host mount never reaches the host, even where the host's mounts are shared" {
	dv_need_host_root "a shared mount namespace of the host's needs root"
	dv_busybox_image
	mkdir -p data/sub
	printf 'image: busybox\nmounts: ["./data:/data"]\nsecurity: {cap_add: [SYS_ADMIN], seccomp: unconfined}\n' |
		dv_envfile
	# A mount namespace whose mounts are all shared stands for such a host.
	run unshare -m --propagation shared bash -c '
		"$DEVENV" up -q || exit 3
		"$DEVENV" ssh -c "mount -t tmpfs env-tmpfs /data/sub" || exit 4
		findmnt -rn -o SOURCE,TARGET | grep -F "env-tmpfs"
		exit 0'
	assert_success
	assert_output ""
}

# A session whose ids are not the host user's gets clones of the checkout
# and of each host mount made on the host's side (container/session.c):
# they are made private, so a mount below them is no peer of the host's.
@test "paths: a mount a session makes below its view of the checkout or a host mount never reaches the host" {
	dv_need_host_root "a shared mount namespace of the host's needs root"
	dv_busybox_image
	mkdir -p data/sub sub
	printf 'image: busybox\nmounts: ["./data:/data"]\nsecurity: {cap_add: [SYS_ADMIN], seccomp: unconfined}\n' |
		dv_envfile
	own_host_ids # root in the env is not the checkout's owner: its session has clones
	run unshare -m --propagation shared bash -c '
		"$DEVENV" up -q || exit 3
		"$DEVENV" ssh -c "mount -t tmpfs env-tmpfs1 /workspace/sub && mount -t tmpfs env-tmpfs2 /data/sub" || exit 4
		findmnt -rn -o SOURCE,TARGET | grep -F "env-tmpfs"
		exit 0'
	assert_success
	assert_output ""
}

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

# Provisioning steps run the repository's code too: a network of their own
# with outbound traffic, as a default env's (README: Networking and ports).
# step_net_servers: a page on the host's 127.0.0.1 and one on its own
# address, and an abstract unix socket; sets LOOP_PORT, HOST_IP, HOST_PORT,
# ABSTRACT.
step_net_servers() {
	HOST_IP=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1) }')
	[[ -n $HOST_IP ]] || skip "this host has no default route"
	LOOP_PORT=$(dv_free_port)
	HOST_PORT=$(dv_free_port)
	ABSTRACT=devenv-step-$RANDOM$RANDOM
	mkdir -p "$BATS_TEST_TMPDIR/www" && echo "host secret" >"$BATS_TEST_TMPDIR/www/index.html"
	timeout 120 python3 -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$LOOP_PORT" >/dev/null 2>&1 &
	timeout 120 python3 -m http.server --bind "$HOST_IP" --directory "$BATS_TEST_TMPDIR/www" "$HOST_PORT" >/dev/null 2>&1 &
	timeout 120 python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1])
s.listen(8)
time.sleep(120)' "$ABSTRACT" &
	dv_fetch "http://127.0.0.1:$LOOP_PORT/" >/dev/null
	dv_fetch "http://$HOST_IP:$HOST_PORT/" >/dev/null
	for ((i = 0; i < 50; i++)); do grep -q "@$ABSTRACT" /proc/net/unix && break; sleep 0.1; done
}

# step_net_envfile [NETWORK [TAG]]: one step that tries all three and says
# so (TAG makes it another step, not found in the cache).
step_net_envfile() {
	dv_busybox_image
	cp "$DV_ROOT/test/fixtures/probe" "$DV_CHECKOUT/probe"
	{
		printf 'image: busybox\n'
		[[ -n ${1:-} ]] && printf 'network: %s\n' "$1"
		printf 'provision:\n  - copy: probe\n    to: /probe\n'
		printf '  - run: |\n'
		printf '      echo "round %s"\n' "${2:-1}"
		printf '      printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc -w 3 127.0.0.1 %s | grep -q "host secret" && echo "loopback: reached" || echo "loopback: refused"\n' "$LOOP_PORT"
		printf '      printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc -w 3 %s %s | grep -q "host secret" && echo "outside: reached" || echo "outside: refused"\n' "$HOST_IP" "$HOST_PORT"
		printf '      /probe abstract %s\n' "$ABSTRACT"
	} | dv_envfile
}

@test "sandbox attack: a provisioning step cannot reach the host's loopback services nor its abstract sockets, and still goes out" {
	command -v slirp4netns >/dev/null || skip "slirp4netns is not installed"
	[[ -r /dev/net/tun && -w /dev/net/tun ]] ||
		skip "/dev/net/tun is not open to this user here: steps keep the host's network (next test)"
	step_net_servers
	step_net_envfile
	# (before: "loopback: reached" and "abstract: OK", the step being on
	# the host's network)
	run "$DEVENV" up
	assert_success
	assert_line "loopback: refused"
	assert_line "outside: reached"
	assert_line "abstract: ECONNREFUSED"
	refute_output --partial "warning"
}

@test "sandbox: with network: host, or where no outbound tool can run, steps have the host's network, and up says which" {
	step_net_servers
	step_net_envfile host
	run "$DEVENV" up
	assert_success
	assert_line "loopback: reached"
	assert_line "abstract: OK"
	refute_output --partial "provisioning steps use the host's network"
	# No slirp4netns nor pasta: one warning, and the steps still work.
	"$DEVENV" destroy -f >/dev/null
	step_net_envfile "" 2
	printf '  - run: echo again\n' >>Envfile
	DEVENV_OUTBOUND=none run "$DEVENV" up
	assert_success
	assert_line "loopback: reached"
	assert_line "devenv: warning: network: private: neither slirp4netns nor pasta is installed; provisioning steps use the host's network, its loopback services included, and the env has no outbound network (apt-get install slirp4netns)"
	# one line for the steps and the env alike
	[[ $(grep -c "warning: network: private:" <<<"$output") == 1 ]]
}

# slirp4netns's --enable-sandbox unshares a mount namespace, makes only "/"
# private and detaches the old root: where the host's mounts are shared
# (systemd's default) that unmount reached their peers, and an `up` took
# the host's /sys/fs/cgroup/*, /proc... away (17 of 23 mounts here).
@test "sandbox: slirp4netns's sandbox unmounts nothing of a host whose mounts are shared" {
	dv_need_host_root "a shared mount namespace of the host's needs root"
	command -v slirp4netns >/dev/null || skip "slirp4netns is not installed"
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	run unshare -m --propagation shared bash -c '
		before=$(findmnt -rn -o TARGET | sort)
		"$DEVENV" up -q || exit 3
		"$DEVENV" halt -q || exit 4
		"$DEVENV" up -q || exit 5
		diff <(echo "$before") <(findmnt -rn -o TARGET | sort)'
	assert_success
	assert_output ""
}

# ---- review fixes: trust ----
# What a security review of issue 11's trust check found, one test each:
# each failed before its fix (the commit that adds it says how).

@test "trust review: the Envfile's path is escaped in the prompt and in 'allow'" {
	trust_setup
	# A folder named to retitle the terminal (OSC 0), erase the line and
	# go back to its start; the Envfile is shown by its absolute path from
	# a folder below it.
	hostile=$BATS_TEST_TMPDIR/$'ev\e]0;owned\a\e[2K\rx\u202e'
	mkdir -p "$hostile/sub"
	git init -q "$hostile"
	printf 'name: ev\nimage: busybox\nnetwork: host\n' >"$hostile/Envfile"
	cd "$hostile/sub"
	shown="$BATS_TEST_TMPDIR/ev\\x1b]0;owned\\x07\\x1b[2K\\x0dx\\u202e/Envfile"
	run "$DEVENV" allow
	assert_success
	assert_line --index 0 "$shown asks for these beyond the default sandbox:"
	assert_line --index 1 "  $shown:3:1: network: host: the env shares this machine's network: its loopback services and abstract unix sockets (an X11 display among them)"
	[[ $output != *$'\e'* && $output != *$'\a'* && $output != *$'\r'* && $output != *$'\u202e'* ]]
	"$DEVENV" allow --revoke >/dev/null
	# (before: the ESC, BEL and CR went to the terminal as they were)
	run python3 "$DV_ROOT/test/fixtures/ptyrun.py" n "$DEVENV" up
	assert_failure 2
	assert_line --index 0 "devenv: $shown asks for these beyond the default sandbox:"
	[[ $output != *$'\e'* && $output != *$'\a'* && $output != *$'\u202e'* ]]
}

@test "trust review: a port on every IPv6 interface asks, however '::' is spelt" {
	trust_setup
	p1=$(dv_free_port) p2=$(dv_free_port) p3=$(dv_free_port) p4=$(dv_free_port)
	dv_envfile <<-EOF
	image: busybox
	ports: ["[::0]:$p1:80", "[0:0::0]:$p2:80", "[::0.0.0.0]:$p3:80", "[::1]:$p4:80"]
	on_up:
	  - run: httpd -p 80
	EOF
	# (before: only the spellings "0.0.0.0" and "::" asked; these ran, open
	# on every address of the host)
	trust_stopped "3 things"
	for p in "$p1" "$p2" "$p3"; do
		! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
	done
	run "$DEVENV" allow
	assert_success
	assert_line --regexp "^  Envfile:2:[0-9]+: port \[::0\]:$p1 -> 80: the env's port is open to other machines, not only to this one$"
	assert_line --regexp "^  Envfile:2:[0-9]+: port \[0:0::0\]:$p2 -> 80: "
	assert_line --regexp "^  Envfile:2:[0-9]+: port \[::0\.0\.0\.0\]:$p3 -> 80: "
	refute_output --partial "[::1]"
}

@test "trust review: 'push REF' in a checkout asks before it asks a git remote" {
	trust_setup
	private=$BATS_TEST_TMPDIR/private
	git init -q "$private"
	echo secret >"$private/key"
	git -C "$private" add key
	git -C "$private" -c user.email=a@b -c user.name=a commit -qm key
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - git: file://$private
	    to: /stolen
	EOF
	# (before: the push ran ls-remote on file://, remembering its commit in
	# the store's git/, then failed on the registry)
	run "$DEVENV" push "127.0.0.1:$(dv_free_port)/team/app:1" </dev/null
	assert_failure 2
	assert_output "devenv: Envfile asks for 1 thing beyond the default sandbox that this checkout was never allowed; nothing was run: run 'devenv allow' to see and allow them"
	[[ ! -e $DV_STORE/git ]]
}

@test "trust review: an image on this machine's loopback asks before devenv sends it a request" {
	trust_setup
	port=$(dv_free_port)
	log=$BATS_TEST_TMPDIR/requests
	me=$BASHPID
	python3 - "$port" "$log" >/dev/null 2>&1 3>&- <<-'PY' &
	import http.server, sys
	class H(http.server.BaseHTTPRequestHandler):
	    def do_GET(self):
	        with open(sys.argv[2], "a") as f:
	            f.write(self.command + " " + self.path + "\n")
	        self.send_response(404)
	        self.end_headers()
	    do_HEAD = do_GET
	http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
	PY
	srv=$!
	{ tail --pid="$me" -f /dev/null; kill "$srv"; } >/dev/null 2>&1 3>&- &
	for ((i = 0; i < 50; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	printf 'image: localhost:%s/team/app\nservices:\n  db:\n    image: 127.0.0.1:%s/team/db\n' \
		"$port" "$port" | dv_envfile
	# (before: no question, and 'GET /v2/' reached the service on port $port)
	trust_stopped "2 things"
	[[ ! -e $log ]] || { cat "$log"; false; }
	run "$DEVENV" allow
	assert_line "  Envfile:1:8: image localhost:$port/team/app: devenv pulls it from this machine's own services (loopback)"
	assert_line "  Envfile:4:12: service 'db': image 127.0.0.1:$port/team/db: devenv pulls it from this machine's own services (loopback)"
	# `localhost/NAME`, how the store names an imported image, asks
	# nothing and, missing, is not pulled from port 80 of this machine.
	printf 'image: localhost/nothere\n' | dv_envfile
	run "$DEVENV" up </dev/null
	assert_failure
	assert_output "devenv: image 'localhost/nothere' not found; pull it with 'devenv pull localhost/nothere'"
}

@test "trust review: a project without .git inside a folder kept in git asks for that whole folder" {
	trust_setup
	# $DV_CHECKOUT plays a home folder kept in git; a zip unpacked in it
	# has an Envfile and no .git, so the home folder is its checkout.
	mkdir .ssh
	echo "ssh-secret-$RANDOM" >.ssh/id_ed25519
	mkdir -p Downloads/proj
	cd Downloads/proj
	dv_envfile <<-'EOF'
	image: busybox
	mounts: ["../../.ssh:/keys:ro"]
	on_up:
	  - run: cat /keys/id_ed25519
	EOF
	# (before: no question; the on_up step printed the key, and the env
	# had the whole home folder read-write)
	trust_stopped "1 thing"
	refute_output --partial ssh-secret
	run "$DEVENV" allow
	assert_success
	assert_line --index 1 "  Envfile: the whole checkout '$DV_CHECKOUT', read-write ('Downloads/proj/Envfile' is not tracked by its git repository): the env can read and change every file of that folder, not only of the Envfile's, and mounts anywhere in it ask nothing"
	# A monorepo's committed sub/Envfile asks nothing.
	"$DEVENV" allow --revoke >/dev/null
	git -C "$DV_CHECKOUT" add Downloads/proj/Envfile
	run "$DEVENV" allow
	assert_success
	assert_output "Envfile asks for nothing beyond the default sandbox; there is nothing to allow"
}

# ---- review fixes: binds ----
# Found by the review of issue 11, after it was merged.

# A volume is filled before pivot_root, by root of the host (or, without
# root, by us): a name in the volume that the env swaps for a symlink
# (/data/d -> /etc/shadow) must never carry the owner, mode or times of
# what the image had there onto the host. The swap is made certain: a
# lease on the image's d/f holds the copier in the open of that file,
# after it made d in the volume and before it gives d its mode; the test,
# woken by the lease break, swaps d for a symlink as a process of the env
# would, then lets the copy go on.
@test "volume attack: filling a volume never sets a mode through a symlink the env swapped in" {
	local victim=$BATS_TEST_TMPDIR/victim vol f
	dv_busybox_image
	printf 'host secret\n' >"$victim"
	chmod 600 "$victim"
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: mkdir -p /data/d && echo image > /data/d/f && chmod 7777 /data/d
	volumes: ["data:/data"]
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" halt
	assert_success
	vol=$(echo "$DV_STORE"/volumes/proj-*-data)
	f=$(echo "$DV_STORE"/layers/*/diff/data/d/f)
	[[ -d $vol/d && -f $f ]]
	rm -rf "${vol:?}"/* # empty: the next up fills it again
	python3 -c 'import fcntl, os, signal, sys
f, vol, victim, ready = sys.argv[1:]
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGIO})
fd = os.open(f, os.O_RDONLY)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
open(ready, "w").close()
if signal.sigtimedwait({signal.SIGIO}, 60) is None:
    sys.exit("nothing opened " + f)
os.rename(vol + "/d", vol + "/d.moved")
os.symlink(victim, vol + "/d")
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
print("swapped")' "$f" "$vol" "$victim" "$BATS_TEST_TMPDIR/leased" >"$BATS_TEST_TMPDIR/lease.out" 2>&1 &
	local holder=$! i
	for ((i = 0; i < 100; i++)); do [[ -e $BATS_TEST_TMPDIR/leased ]] && break; sleep 0.05; done
	run "$DEVENV" up
	wait "$holder" || { cat "$BATS_TEST_TMPDIR/lease.out"; false; }
	[[ $(cat "$BATS_TEST_TMPDIR/lease.out") == swapped ]]
	# (before: -rwsrwsrwt, the mode of the image's d, as the host's root)
	[[ $(stat -c '%a %U' "$victim") == "600 $(id -un)" ]]
	[[ $(cat "$victim") == "host secret" ]]
	assert_success
	# the folder the copy went on in has what the image had
	[[ $(stat -c %a "$vol/d.moved") == 7777 && $(cat "$vol/d.moved/f") == image ]]
}

# ---- review fixes: git ----
# Which git paths a host mount covers is worked out from its source's real
# path, resolved when the Envfile was read: opened now through a symlink
# the env made inside the checkout (`data -> .`), the mount would be the
# checkout, its .git read-write. And a path of the worktree that the
# repository's own .git/config names (core.hooksPath, include.path,
# core.fsmonitor) is code git on the host runs: read-only like the git dir.

# git_swap_data TARGET: in the running env, put a symlink to TARGET where
# the mounted folder 'data' was, from a session with the host user's ids
# (with root, a session of other ids has a clone mounted on /data, which
# makes 'data' a mount point in its view: EBUSY).
git_swap_data() {
	local who=()
	((EUID == 0)) && who=(--user "$OWN_UID")
	run "$DEVENV" ssh "${who[@]}" -c "mv data data.old && ln -s $1 data"
	assert_success
}

# At up the Envfile is read again, and a 'data -> .' there resolves to the
# checkout, whose .git the text check then sees. So the swap must land
# between that reading and the open: here a racer exchanges 'data' with a
# symlink to the checkout through 50 ups (an env's process can do it while
# a reload or an up that recreates the env reads the Envfile).
@test "review: a mount source swapped for 'data -> .' during 50 ups never mounts the checkout with .git writable" {
	local i leaks=0 ok=0 refused=0 who=()
	dv_busybox_image
	printf 'image: busybox\nmounts: ["./data:/data"]\n' | dv_envfile
	own_host_ids
	((EUID == 0)) && who=(--user "$OWN_UID")
	own_as_host_user mkdir data
	own_as_host_user ln -s . link
	paths_racer_start data link
	for ((i = 0; i < 50; i++)); do
		run "$DEVENV" up -q
		if ((status == 0)); then
			ok=$((ok + 1))
			# the env's own view, as up made it
			run "$DEVENV" ssh "${who[@]}" -c 'touch /data/.git/PWNED'
			if ((status == 0)) || [[ -e .git/PWNED ]]; then
				leaks=$((leaks + 1))
				echo "up $i mounted the checkout at /data with its .git writable" >&2
				break
			fi
			"$DEVENV" halt -q >/dev/null
		elif ((status == 1 && ${#lines[@]} == 1)) &&
			[[ $output =~ ^devenv:\ Envfile:2:10:\ mount\ source\ \'./data\'\ now\ goes\ through\ a\ symlink\ .*\;\ nothing\ was\ mounted$ ]]; then
			refused=$((refused + 1))
		else
			echo "unexpected failure (status $status): $output" >&2
			break
		fi
	done
	paths_racer_stop
	# (before: as root one of the first 8 ups did, rootless the second)
	echo "# 50 ups: $ok started, $refused refused at use, $leaks leaked" >&3
	((leaks == 0))
	((i == 50))
	((ok > 0))
}

@test "review: a root session's clones open a mount source the env swapped for 'data -> .' without following it" {
	dv_need_host_root "sessions make clones of the host mounts only with idmapped mounts, which need root"
	dv_busybox_image
	mkdir data
	printf 'image: busybox\nmounts: ["./data:/data"]\n' | dv_envfile
	own_host_ids
	run "$DEVENV" up -q
	assert_success
	run "$DEVENV" status --json
	[[ $(dv_json checkout_ownership <<<"$output") == idmapped ]] ||
		skip "no idmapped mounts here: sessions share the env's mounts, made at up"
	git_swap_data .
	# (before: this ssh's clone of /data was the checkout, .git writable)
	run "$DEVENV" ssh -c "printf '[core]\n\tfsmonitor = touch /tmp/PWNED\n' >> /data/.git/config"
	assert_failure
	assert_output "devenv: the checkout's view for uid 0: mount source '$DV_CHECKOUT/data' now goes through a symlink (it had none when the env started); nothing was mounted"
	run grep -c fsmonitor .git/config
	assert_output 0
}

@test "review: a folder core.hooksPath names in .git/config is read-only: the env adds no hook that the host's git commit runs" {
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	mkdir -p .githooks .husky/_
	printf '#!/bin/sh\nexit 0\n' >.githooks/post-commit
	chmod +x .githooks/post-commit
	git config core.hooksPath .githooks
	own_host_ids
	run "$DEVENV" up -q
	assert_success
	local attack
	# (before: the first one succeeded, and the host's commit ran it)
	for attack in 'printf "#!/bin/sh\ntouch HOOK_RAN\n" > .githooks/pre-commit && chmod +x .githooks/pre-commit' \
		'printf "#!/bin/sh\ntouch HOOK_RAN\n" > .githooks/post-commit' 'mv .githooks .gh-old' 'rm -rf .githooks'; do
		run "$DEVENV" ssh -c "$attack"
		assert_failure
	done
	# in the env's own view too (with root, the sessions above had views
	# of their own)
	local who=()
	((EUID == 0)) && who=(--user "$OWN_UID")
	run "$DEVENV" ssh "${who[@]}" -c 'touch .githooks/pre-commit'
	assert_failure
	run own_as_host_user git commit -q --allow-empty -m x
	assert_success
	[[ ! -e HOOK_RAN ]]
	# the same for a path written as husky does, whatever the key's case
	run "$DEVENV" halt -q
	assert_success
	own_as_host_user git config --unset core.hooksPath
	printf '[Core]\n\tHOOKSPATH = ".husky/_"\n' >>.git/config
	run "$DEVENV" up -q
	assert_success
	run "$DEVENV" ssh -c 'printf "#!/bin/sh\ntouch HOOK_RAN\n" > .husky/_/pre-commit && chmod +x .husky/_/pre-commit'
	assert_failure
	# the rest of the checkout is the env's to write
	run "$DEVENV" ssh -c 'touch .husky/other other'
	assert_success
}

@test "review: a file include.path or core.fsmonitor names in .git/config is read-only: the host's git status runs nothing of the env's" {
	dv_busybox_image
	printf 'image: busybox\nmounts: [".:/src"]\n' | dv_envfile
	printf '[user]\n\tname = team\n' >.gitconfig
	mkdir tools
	printf '#!/bin/sh\nexit 0\n' >tools/fsmon.sh
	chmod +x tools/fsmon.sh
	git config include.path ../.gitconfig
	own_host_ids
	run "$DEVENV" up -q
	assert_success
	# (before: this succeeded, and the host's git status ran it)
	local f
	for f in .gitconfig /src/.gitconfig; do
		run "$DEVENV" ssh -c "printf '[core]\n\tfsmonitor = \"touch FSMON_RAN; :\"\n' >> $f"
		assert_failure
	done
	run own_as_host_user git status --short
	[[ ! -e FSMON_RAN ]]
	run "$DEVENV" halt -q
	assert_success
	own_as_host_user git config core.fsmonitor tools/fsmon.sh
	run "$DEVENV" up -q
	assert_success
	for f in tools/fsmon.sh /src/tools/fsmon.sh; do
		run "$DEVENV" ssh -c "printf '#!/bin/sh\ntouch FSMON_RAN\n' > $f"
		assert_failure
	done
	run own_as_host_user git status --short
	[[ ! -e FSMON_RAN ]]
}

# ---- review fixes: sweep ----
# The sweep (the chown fallback, and rootless at halt) walked 200 folders
# deep at most, and left out whatever had another st_dev than the top: a
# folder 205 deep, or a btrfs subvolume made in the checkout, kept a
# setuid file of root's (or of a subordinate id) for good.

# own_deep N NAME: a shell line making N folders NAME/NAME/... in the
# current folder, a copy of busybox setuid-root there (s), and one setuid
# for uid 1 (t).
own_deep() {
	printf 'p=.; for i in $(seq %s); do p=$p/%s; done; mkdir -p $p; cp /bin/busybox $p/s; chmod 4755 $p/s; cp /bin/busybox $p/t; chown 1:1 $p/t; chmod 4755 $p/t' "$1" "$2"
}

@test "sweep: a setuid file 205 folders deep is given back, after its ssh (chown) and at halt (chown, rootless)" {
	((EUID == 0)) && export DEVENV_NO_IDMAP=1
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	own_host_ids
	run "$DEVENV" up
	assert_success
	run "$DEVENV" status --json
	if ((EUID == 0)); then
		[[ $(dv_json checkout_ownership <<<"$output") == chown ]]
	else
		[[ $(dv_json checkout_ownership <<<"$output") == rootless ]]
	fi
	run "$DEVENV" ssh -c "$(own_deep 205 a)"
	assert_success
	# written during the command: given back after it ("chown"; without
	# root subordinate ids wait for halt)
	((EUID == 0)) && own_assert_clean "$DV_CHECKOUT"
	# written after it, deeper still, by a process the command left
	run "$DEVENV" ssh -c "setsid sh -c 'sleep 1; $(own_deep 300 b); touch bg-done' </dev/null >/dev/null 2>&1 &"
	assert_success
	for _ in $(seq 100); do [[ -e bg-done ]] && break; sleep 0.1; done
	[[ -e bg-done ]]
	run "$DEVENV" halt
	assert_success
	own_assert_clean "$DV_CHECKOUT"
	# both were there to be swept
	[[ $(find "$DV_CHECKOUT" -name t | wc -l) == 2 ]]
}

@test "sweep: a btrfs subvolume in the checkout (an st_dev of its own, the same mount) is swept like the rest" {
	dv_need_host_root "mounting a btrfs image (a loop device) needs root"
	command -v mkfs.btrfs >/dev/null || skip "mkfs.btrfs is not installed (btrfs-progs)"
	grep -qw btrfs /proc/filesystems || skip "this kernel has no btrfs"
	export DEVENV_NO_IDMAP=1
	truncate -s 300M "$BATS_TEST_TMPDIR/btrfs.img"
	mkfs.btrfs -q "$BATS_TEST_TMPDIR/btrfs.img" >/dev/null 2>&1 || skip "mkfs.btrfs failed here"
	mkdir "$BATS_TEST_TMPDIR/btrfs"
	mount -o loop "$BATS_TEST_TMPDIR/btrfs.img" "$BATS_TEST_TMPDIR/btrfs" ||
		skip "a btrfs image cannot be mounted here (no loop device?)"
	OWN_UMOUNT=$BATS_TEST_TMPDIR/btrfs
	DV_CHECKOUT=$OWN_UMOUNT/proj
	mkdir "$DV_CHECKOUT"
	git -C "$DV_CHECKOUT" init -q
	cd "$DV_CHECKOUT"
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	own_host_ids
	# any user can make one (BTRFS_IOC_SUBVOL_CREATE); the host user here
	own_as_host_user btrfs -q subvolume create "$DV_CHECKOUT/sub"
	[[ $(stat -c %d "$DV_CHECKOUT/sub") != $(stat -c %d "$DV_CHECKOUT") ]]
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c "cd sub && $(own_deep 2 a)"
	assert_success
	own_assert_clean "$DV_CHECKOUT"
	run "$DEVENV" ssh -c "setsid sh -c 'sleep 1; cd sub && $(own_deep 2 b); touch ../bg-done' </dev/null >/dev/null 2>&1 &"
	for _ in $(seq 100); do [[ -e bg-done ]] && break; sleep 0.1; done
	[[ -e bg-done ]]
	run "$DEVENV" halt
	assert_success
	own_assert_clean "$DV_CHECKOUT"
	[[ $(find "$DV_CHECKOUT/sub" -name t | wc -l) == 2 ]]
}

@test "sweep: a real mount point in the checkout is left alone, even a bind of the same filesystem" {
	dv_need_host_root "a bind mount on the host needs root"
	export DEVENV_NO_IDMAP=1
	dv_busybox_image
	printf 'image: busybox\n' | dv_envfile
	own_host_ids
	mkdir "$BATS_TEST_TMPDIR/elsewhere" m
	mount --bind "$BATS_TEST_TMPDIR/elsewhere" m
	OWN_UMOUNT=$DV_CHECKOUT/m
	[[ $(stat -c %d m) == $(stat -c %d .) ]]
	run "$DEVENV" up
	assert_success
	# root's file elsewhere, changed after the env started, not by it
	touch "$BATS_TEST_TMPDIR/elsewhere/roots"
	run "$DEVENV" ssh -c true
	assert_success
	[[ $(stat -c %u:%g "$BATS_TEST_TMPDIR/elsewhere/roots") == 0:0 ]]
	run "$DEVENV" halt
	assert_success
	[[ $(stat -c %u:%g "$BATS_TEST_TMPDIR/elsewhere/roots") == 0:0 ]]
}

@test "sweep: every host mount is swept, the 64th and later too" {
	((EUID == 0)) && export DEVENV_NO_IDMAP=1
	dv_busybox_image
	local i list=
	for i in $(seq 70); do
		mkdir -p "$BATS_TEST_TMPDIR/out/$i"
		list+="\"$BATS_TEST_TMPDIR/out/$i:/m$i\", "
	done
	printf 'image: busybox\nmounts: [%s]\n' "${list%, }" | dv_envfile
	own_host_ids
	((EUID == 0)) && chown -R 4242:4242 "$BATS_TEST_TMPDIR/out"
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'for i in 1 63 64 70; do cd /m$i && cp /bin/busybox s && chmod 4755 s && cp /bin/busybox t && chown 1:1 t && chmod 4755 t; done'
	assert_success
	((EUID == 0)) && own_assert_clean "$BATS_TEST_TMPDIR/out"
	run "$DEVENV" halt
	assert_success
	own_assert_clean "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/out"
	[[ $(find "$BATS_TEST_TMPDIR/out" -name t | wc -l) == 4 ]]
}

# ---- review fixes: terminal ----
# Item 5: what an env prints reaches the developer's terminal through
# devenv's filter (util/term.h; README: Security, "What devenv prints"): a
# colour as the tool printed it, nothing that writes the clipboard (OSC 52),
# clears the screen, talks to the terminal itself (DCS) or hides as an 8-bit
# CSI (0x9b). The env's log keeps what the env wrote; ssh is the developer's
# own session into the env, and stays raw as `docker exec` does.

# The hostile command (a step's run:, on_up's, a service's command:): OSC 52
# (the clipboard gets "echo pwned"), CSI 2J, a DCS string (XTGETTCAP), a raw
# 0x9b + "[2J", then an SGR colour, which must come through.
term_cmd='printf '\''step\033]52;c;ZWNobyBwd25lZAo=\007\033[2J\033P+q544e\033\\\233[2J\033[31mred\033[0m\n'\'
# ... and what devenv shows of it: the byte that is not UTF-8 as \x9b text.
term_shown=$'step\\x9b[2J\e[31mred\e[0m'

# assert_term_clean TEXT: none of the command's bytes that a terminal acts
# on is in TEXT, and what devenv shows of it is.
assert_term_clean() {
	local s
	for s in $'\e]' $'\eP' $'\e[2J' $'\a' $'\x9b' $'\xc2\x9b'; do
		if printf '%s' "$1" | LC_ALL=C grep -qF -- "$s"; then
			printf 'terminal control %q in: %q\n' "$s" "$1" >&2
			return 1
		fi
	done
	[[ $1 == *"$term_shown"* ]] || {
		printf 'no %q in: %q\n' "$term_shown" "$1" >&2
		return 1
	}
}

@test "terminal: a step's OSC 52, clear screen, DCS and raw CSI reach neither up's terminal nor -q's or --json's report of a failure; its colour does" {
	dv_busybox_image
	printf 'image: busybox\nprovision:\n  - run: %s\n' "$term_cmd" | dv_envfile
	# the developer's terminal, on the first up of a fresh clone
	dv_terminal "$DEVENV" up
	assert_success
	assert_term_clean "$(cat term.out)"
	# -q shows a failing step's output, on stderr; --json sends it there
	printf '  - run: %s; exit 1\n' "$term_cmd" >>Envfile
	run "$DEVENV" provision -q
	assert_failure
	assert_term_clean "$output"
	run "$DEVENV" provision --json
	assert_failure
	assert_term_clean "$output"
}

@test "terminal: on_up's OSC 52, clear screen, DCS and raw CSI reach neither up's output nor logs (-f too); the log keeps them; ssh is raw" {
	local id
	dv_busybox_image
	printf 'image: busybox\non_up:\n  - run: %s\n' "$term_cmd" | dv_envfile
	run "$DEVENV" up
	assert_success
	assert_term_clean "$output"
	run "$DEVENV" logs
	assert_success
	assert_term_clean "$output"
	# the env's record, as it wrote it
	id=$("$DEVENV" status --json | dv_json id)
	LC_ALL=C grep -qF $'\e]52;c;' "$DV_STORE/envs/$id/log"
	LC_ALL=C grep -qF $'\x9b[2J' "$DV_STORE/envs/$id/log"
	# the developer's own session into the env: what the command wrote
	run "$DEVENV" ssh -c "$term_cmd"
	assert_success
	assert_output $'step\e]52;c;ZWNobyBwd25lZAo=\a\e[2J\eP+q544e\e\\\x9b[2J\e[31mred\e[0m'
	"$DEVENV" halt
	run "$DEVENV" logs -f
	assert_success
	assert_term_clean "$output"
}

@test "terminal: a service's OSC 52, clear screen, DCS and raw CSI do not reach 'devenv logs SERVICE' (-f too); its colour does" {
	local id log
	dv_busybox_image
	printf 'image: busybox\nservices:\n  s:\n    image: busybox\n    command: %s; exec sleep 1000\n' \
		"$term_cmd" | dv_envfile
	"$DEVENV" up
	id=$("$DEVENV" status --json | dv_json id)
	log=$DV_STORE/envs/$id/services/s/log
	for _ in $(seq 50); do grep -q red "$log" && break; sleep 0.1; done
	LC_ALL=C grep -qF $'\e]52;c;' "$log"
	run "$DEVENV" logs s
	assert_success
	assert_term_clean "$output"
	"$DEVENV" halt
	run "$DEVENV" logs -f s
	assert_success
	assert_term_clean "$output"
}

# The Envfile's shell, quoted by devenv when on_up or ssh cannot run it.
@test "terminal: an Envfile's shell that cannot run is named escaped by on_up's and ssh's error" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	shell: "/nope\e]0;pwned\a\e[2J"
	on_up:
	  - run: "true"
	EOF
	run "$DEVENV" up
	assert_failure
	no_escapes "$output"
	assert_line "devenv: cannot run '/nope\\x1b]0;pwned\\x07\\x1b[2J': No such file or directory"
	run -127 "$DEVENV" ssh -c true
	no_escapes "$output"
	assert_line "devenv: cannot run '/nope\\x1b]0;pwned\\x07\\x1b[2J': No such file or directory"
}

# --json: json-c escapes C0 controls only; a C1 control (U+009B, CSI to
# many terminals), DEL or a byte that is not UTF-8 from the Envfile or the
# env went out raw.
@test "terminal: --json output has the Envfile's C1 controls and DEL as JSON escapes, and says the same" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	workdir: "/w\u009b2J\x7f"
	on_up:
	  - run: "echo \u009b31m"
	EOF
	run "$DEVENV" up --json
	assert_success
	no_escapes "$output"
	[[ $output != *$'\x7f'* ]]
	python3 -c '
import json, sys
last = [json.loads(l) for l in sys.argv[1].splitlines() if l.startswith("{")]
assert any(o.get("label") == "echo \x9b31m" for o in last), last
' "$output"
	run "$DEVENV" status --json
	assert_success
	no_escapes "$output"
	[[ $output != *$'\x7f'* ]]
	python3 -c '
import json, sys
assert json.loads(sys.argv[1])["workdir"] == "/w\x9b2J\x7f"
' "$output"
}

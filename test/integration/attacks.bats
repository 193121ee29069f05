#!/usr/bin/env bats
# attacks.bats - issue 11's attacks, one test each: a repository just cloned
# is untrusted input, and every process in an env is hostile to the host.
# Each test failed on the code before the defence it checks (the commit
# that adds the test says so), and runs as root and rootless (where the
# attack applies there; a skip says why when it does not).
#
# Sections, in the issue's order: ownership of the checkout and the .git
# way out; host fds and terminals; paths opened race-free; the default
# sandbox; trust; volumes and the team cache.

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }

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

#!/usr/bin/env bats
# A checkout that is a git worktree (`git worktree add`): its repository's
# git dir (the common dir) is mounted read-only at its own path, taken from
# what git made on the host, never from the `.git` file alone (README
# "Security"); and a checkout replaced under a running env (README "Daily
# use").
#
# git runs inside a real Debian env: debian:bookworm (the shared Debian base
# of helpers.bash) with git, built once for the file (setup_file), saved as
# an OCI archive and loaded into each test's store.

load helpers

setup_file() {
	local home out base
	((EUID == 0)) || [[ ${DV_ROOTLESS_TESTS:-} == 1 ]] || return 0
	home=$(mktemp -d /var/tmp/devenv-wt-base.XXXXXX)
	DV_WT_IMAGE=$BATS_FILE_TMPDIR/debian-git.tar
	DV_WT_SKIP=
	export DV_WT_IMAGE DV_WT_SKIP
	mkdir -p "$home/git-image"
	out=$(cd "$home/git-image" && export DEVENV_HOME=$home/store && {
		# the shared Debian base (helpers.bash), loaded
		{ base=$(dv_debian_archive) && "$DEVENV" image load "$base" debian:bookworm >/dev/null; } || exit 3
		printf '%s\n' 'image: debian:bookworm' 'provision:' \
			'  - run: apt-get update -q && apt-get install -y -q --no-install-recommends git' >Envfile
		"$DEVENV" up -q && "$DEVENV" commit debian-git &&
			"$DEVENV" image save debian-git "$DV_WT_IMAGE" && "$DEVENV" destroy -f
	} 2>&1)
	case $? in
	0) ;;
	3) DV_WT_SKIP="no Debian mirror reachable to bootstrap debian:bookworm: ${out##*$'\n'}" ;;
	*)
		echo "setup_file: cannot build debian:bookworm with git: $out" >&2
		dv_rm_store "$home"
		return 1
		;;
	esac
	dv_rm_store "$home"
}

setup() { dv_setup; }
teardown() { dv_teardown; }

# wt_make: a repository at $BASE/main (one commit) and its worktree at
# $BASE/wt on branch feat, with an Envfile on the git image; cd into it.
# Sets MAIN, WT, COMMON (main's git dir).
wt_make() {
	[[ -z ${DV_WT_SKIP:-} ]] || skip "$DV_WT_SKIP"
	BASE=$(dirname "$DV_CHECKOUT")
	MAIN=$BASE/main WT=$BASE/wt COMMON=$BASE/main/.git
	git init -q "$MAIN"
	git -C "$MAIN" -c user.email=t@devenv.invalid -c user.name=t commit -q --allow-empty -m "the first commit"
	git -C "$MAIN" worktree add -q "$WT" -b feat
	cd "$WT" || return 1
	"$DEVENV" image load "$DV_WT_IMAGE" debian-git >/dev/null || return 1
	printf '%s\n' 'image: debian-git' | dv_envfile
}

@test "worktree: git status and git log work inside, the repository is read-only" {
	local id
	wt_make
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'git status --short --branch && git log --format=%s'
	assert_success
	assert_output - <<-'EOF'
	## feat
	?? Envfile
	?? Envfile.lock
	the first commit
	EOF
	# Neither the repository's git dir nor the worktree's `.git` file can
	# be written from inside.
	run "$DEVENV" ssh -c "touch '$COMMON/hooks/post-checkout'"
	assert_failure
	assert_output --partial 'Read-only file system'
	run "$DEVENV" ssh -c "echo 'gitdir: /etc' >.git"
	assert_failure
	assert_output --partial 'Read-only file system'
	run "$DEVENV" ssh -c 'git -c user.email=t@x -c user.name=t commit -q --allow-empty -m inside'
	assert_failure
	assert_output --partial 'Read-only file system'
	[[ ! -e $COMMON/hooks/post-checkout ]]
	assert_equal "$(cat .git)" "gitdir: $COMMON/worktrees/wt"
	assert_equal "$(git -C "$MAIN" log --all --format=%s)" "the first commit"
	# Its mount point is the runtime's (the skeleton), not the env's files:
	# `commit` does not take the host's path into an image.
	id=$("$DEVENV" status --json | dv_json id)
	[[ -d $DV_STORE/envs/$id/upper && ! -e $DV_STORE/envs/$id/upper/${BASE#/} ]]
	# As root, a session as another user gets its own clone of the mount,
	# mapped to its ids as the checkout is: git's ownership check passes
	# too. (Rootless, the checkout is root's inside: only root's git
	# passes it, README "Without root".)
	if ((!DV_ROOTLESS)); then
		run "$DEVENV" ssh -u nobody -c 'git log --format=%s && touch /workspace/by-nobody'
		assert_success
		assert_output 'the first commit'
	fi
	# halt + up mounts it again
	run "$DEVENV" halt
	assert_success
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'git rev-parse --abbrev-ref HEAD'
	assert_success
	assert_output feat
}

@test "worktree: what a .git file names is not mounted unless git made it so" {
	local secret=$BATS_TEST_TMPDIR/secret
	wt_make
	# A folder that looks like a repository with this worktree, made in
	# the checkout (which an env with git_metadata: read-write can
	# write): its commondir names a host folder the env must not see.
	mkdir -p "$secret/objects" "$secret/refs" "$secret/worktrees"
	echo 'ref: refs/heads/main' >"$secret/HEAD"
	echo 'the secret' >"$secret/key"
	mkdir -p fake
	printf '%s\n' "$secret" >fake/commondir
	printf '%s\n' "$WT/.git" >fake/gitdir
	echo "gitdir: $WT/fake" >.git
	run "$DEVENV" up
	assert_success
	assert_output --partial "devenv: warning: '$WT/.git' names a worktree git dir devenv does not mount: its git dir '$WT/fake' is inside the checkout, which the env can write; git inside the env will not find the repository"
	run "$DEVENV" ssh -c "cat '$secret/key'"
	assert_failure
	run "$DEVENV" halt
	assert_success

	# Another worktree's git dir: it does not name this checkout back.
	git -C "$MAIN" worktree add -q "$BASE/other" -b other
	echo "gitdir: $COMMON/worktrees/other" >.git
	run "$DEVENV" up
	assert_success
	assert_output --partial "its git dir '$COMMON/worktrees/other' belongs to another worktree ($BASE/other/.git); run 'git worktree repair' in the checkout"
	run "$DEVENV" ssh -c "test -e '$COMMON/HEAD'"
	assert_failure

	# The real one again: mounted.
	echo "gitdir: $COMMON/worktrees/wt" >.git
	run "$DEVENV" halt
	run "$DEVENV" up
	assert_success
	refute_output --partial 'does not mount'
	run "$DEVENV" ssh -c 'git log --format=%s'
	assert_success
	assert_output 'the first commit'
}

@test "worktree: paths of the worktree the repository's config names are read-only" {
	wt_make
	git -C "$MAIN" config core.hooksPath .githooks
	mkdir .githooks
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'touch .githooks/pre-commit'
	assert_failure
	assert_output --partial 'Read-only file system'
	run "$DEVENV" ssh -c 'touch elsewhere'
	assert_success
}

@test "checkout replaced under a running env: up and ssh say so, halt and up mount the new one" {
	local id image=debian-git
	# On the Debian env when there is one (busybox when no mirror is).
	if [[ -n ${DV_WT_SKIP:-} ]]; then
		image=busybox
		dv_busybox_image
	else
		"$DEVENV" image load "$DV_WT_IMAGE" debian-git >/dev/null
	fi
	printf '%s\n' "image: $image" 'provision:' '  - run: echo kept >/kept' | dv_envfile
	run "$DEVENV" up
	assert_success
	id=$("$DEVENV" status --json | dv_json id)
	cd / && rm -rf "$DV_CHECKOUT" && mkdir "$DV_CHECKOUT" && cd "$DV_CHECKOUT"
	git init -q
	printf '%s\n' "image: $image" 'provision:' '  - run: echo kept >/kept' | dv_envfile
	echo new >new-file
	local msg="devenv: the checkout '$DV_CHECKOUT' of env 'proj' was replaced since the env started (another folder is at that path now): inside, '/workspace' is still the old folder; run 'devenv halt' and 'devenv up' to start it on the new one (the env's files are kept)"
	run "$DEVENV" up
	assert_failure 1
	assert_output "$msg"
	run "$DEVENV" ssh -c 'cat /workspace/new-file'
	assert_failure
	assert_output "$msg"
	assert_equal "$("$DEVENV" status --json | dv_json id)" "$id"
	run "$DEVENV" halt
	assert_success
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'cat /workspace/new-file /kept'
	assert_success
	assert_output $'new\nkept'

	# Removed and not there again: said too, from anywhere.
	cd / && rm -rf "$DV_CHECKOUT"
	run "$DEVENV" ssh -e "$id" -c true
	assert_failure
	assert_output "devenv: the checkout '$DV_CHECKOUT' of env 'proj' is gone since the env started (removed or moved): inside, '/workspace' is still the old folder; put the checkout back, then run 'devenv halt' and 'devenv up' (the env's files are kept)"
}

@test "worktree: with git_metadata: read-write, git commit works inside; a .git file the env edits mounts nothing" {
	wt_make
	printf '%s\n' 'image: debian-git' 'security: { git_metadata: read-write }' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'git add Envfile && git -c user.email=t@x -c user.name=t commit -q -m "made inside" && git log --format=%s'
	assert_success
	assert_output $'made inside\nthe first commit'
	assert_equal "$(git -C "$MAIN" log feat --format=%s)" $'made inside\nthe first commit'

	# The env can write the .git file now: one it edits to name a git dir
	# of its own making, whose commondir is a host folder, gets nothing
	# mounted at the next up.
	local secret=$BATS_TEST_TMPDIR/secret
	mkdir -p "$secret/objects" "$secret/refs" "$secret/worktrees"
	echo 'ref: refs/heads/main' >"$secret/HEAD"
	echo 'the secret' >"$secret/key"
	run "$DEVENV" ssh -c "mkdir fake && echo '$secret' >fake/commondir && echo '$WT/.git' >fake/gitdir && echo 'gitdir: fake' >.git"
	assert_success
	run "$DEVENV" halt
	assert_success
	run "$DEVENV" up
	assert_success
	assert_output --partial "devenv: warning: '$WT/.git' names a worktree git dir devenv does not mount: its git dir '$WT/fake' is inside the checkout"
	run "$DEVENV" ssh -c "cat '$secret/key'"
	assert_failure
}

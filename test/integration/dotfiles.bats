#!/usr/bin/env bats
# The user's config (~/.config/devenv/config.yaml) and its `dotfiles`: a
# repository cloned on the host, copied into the env's home on its first
# start and its install script run there, once per env; `reload` redoes
# it; never in the project's layers; a trust request.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup # XDG_CONFIG_HOME: the test's own
	mkdir -p "$XDG_CONFIG_HOME/devenv"
	DOTS=$BATS_TEST_TMPDIR/dots
	mkdir -p "$DOTS"
	git -C "$DOTS" init -q
	git -C "$DOTS" config user.email test@devenv.invalid
	git -C "$DOTS" config user.name "devenv test"
	echo 'export DOTS=yes' >"$DOTS/.myrc"
}
teardown() { dv_teardown; }

# dots_commit: commit what $DOTS holds.
dots_commit() {
	git -C "$DOTS" add -A
	git -C "$DOTS" commit -qm "dots $RANDOM"
}

# An install.sh that counts its runs in the home and says who ran it, where.
dots_install_sh() {
	cat >"$DOTS/install.sh" <<-'EOF'
	#!/bin/sh
	echo "run by $(id -u) in $PWD" >>"$HOME/.dots-installed"
	EOF
	dots_commit
}

config() {
	cat >"$XDG_CONFIG_HOME/devenv/config.yaml"
}

@test "dotfiles: copied into the home and install.sh run on the first start only; reload redoes it; no layer holds them" {
	dv_busybox_image
	dots_install_sh
	config <<-EOF
	dotfiles: $DOTS
	EOF
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo step > /step
	on_up:
	  - run: if test -s "$HOME/.dots-installed"; then echo "on_up saw dotfiles"; fi
	EOF
	run "$DEVENV" up
	assert_success
	assert_line "[dotfiles] file://$DOTS into ~/dotfiles"
	assert_line "on_up saw dotfiles"
	run "$DEVENV" ssh -c 'cat ~/.dots-installed; cat ~/dotfiles/.myrc; ls -d ~/dotfiles/.git'
	assert_success
	assert_output "run by 0 in /root/dotfiles
export DOTS=yes
/root/dotfiles/.git"
	# the env's record says which commit went in
	grep -qF "$(git -C "$DOTS" rev-parse HEAD) file://$DOTS\"" "$DV_STORE"/envs/*/state.json
	# once per env: a halted env's next start does not run it again
	run "$DEVENV" halt
	assert_success
	run "$DEVENV" up
	assert_success
	refute_output --partial "[dotfiles]"
	run "$DEVENV" ssh -c 'wc -l < ~/.dots-installed'
	assert_output 1
	# reload takes the repository's current commit and runs it again
	echo 'export DOTS=two' >"$DOTS/.myrc"
	dots_commit
	run "$DEVENV" reload
	assert_success
	assert_line "[dotfiles] file://$DOTS into ~/dotfiles"
	run "$DEVENV" ssh -c 'wc -l < ~/.dots-installed; cat ~/dotfiles/.myrc'
	assert_output "2
export DOTS=two"
	# in the env's upper only: no layer and no staging folder holds them
	run grep -rl --include=.myrc DOTS "$DV_STORE/layers" "$DV_STORE/tmp"
	assert_failure 1
	# the log has what it printed
	run "$DEVENV" logs
	assert_line "[dotfiles] file://$DOTS into ~/dotfiles"
	# without a config, nothing: the next new env gets none
	rm "$XDG_CONFIG_HOME/devenv/config.yaml"
	run "$DEVENV" destroy -f
	assert_success
	run "$DEVENV" up
	assert_success
	refute_output --partial "[dotfiles]"
	run "$DEVENV" ssh -c 'ls -a ~'
	refute_output --partial dotfiles
}

@test "dotfiles: no install script links the dotfiles into the home; target and install are honoured; user: gets them as its own" {
	dv_busybox_image
	dots_commit
	config <<-EOF
	dotfiles:
	  repository: file://$DOTS
	  target: ~/.dots
	EOF
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'readlink ~/.myrc; . ~/.myrc; echo "$DOTS"; ls -a ~ | grep -c "^\.git$" || :'
	assert_success
	assert_output "/root/.dots/.myrc
yes
0"
	run "$DEVENV" destroy -f
	assert_success

	config <<-EOF
	dotfiles:
	  repository: file://$DOTS
	  install: echo "custom \$(id -u) \$PWD" > "\$HOME/custom"
	  target: /tmp/dots
	EOF
	dv_envfile <<-'EOF'
	image: busybox
	user: dev
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'id -u; cat ~/custom; stat -c %u /tmp/dots/.myrc; test -e ~/.myrc || echo "no link"'
	assert_success
	uid=${lines[0]}
	[[ $uid != 0 ]]
	assert_line "custom $uid /tmp/dots"
	assert_line --index 2 "$uid"
	assert_line "no link"
}

@test "dotfiles: a failing install script fails up with the config's position, the env running; a bad config is a positioned error" {
	dv_busybox_image
	printf '#!/bin/sh\necho "install broke" >&2\nexit 3\n' >"$DOTS/install.sh"
	dots_commit
	config <<-EOF
	# mine
	dotfiles: $DOTS
	EOF
	dv_envfile <<-'EOF'
	image: busybox
	on_up:
	  - run: echo on_up ran
	EOF
	run "$DEVENV" up
	assert_failure 1
	assert_output --partial "install broke"
	assert_output --partial "$XDG_CONFIG_HOME/devenv/config.yaml:2:1: dotfiles 'file://$DOTS': copying them in or their install script failed with exit status 3"
	refute_output --partial "on_up ran"
	run "$DEVENV" ssh -c true
	assert_success

	# a repository that cannot be cloned: the same, with git's reason
	config <<-EOF
	dotfiles: $DOTS-gone
	EOF
	run "$DEVENV" reload
	assert_failure 1
	assert_output --partial "$XDG_CONFIG_HOME/devenv/config.yaml:1:1: dotfiles: git file://$DOTS-gone: cannot reach the repository"
	run ls -A "$DV_STORE/tmp"
	assert_output ""

	config <<-'EOF'
	dotfile: x/y
	EOF
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: $XDG_CONFIG_HOME/devenv/config.yaml:1:1: unknown key 'dotfile' in the config (did you mean 'dotfiles'?)"
	# ssh never reads it
	run "$DEVENV" ssh -c true
	assert_success
}

@test "dotfiles: a trust request: the prompt and 'devenv allow' say your dotfiles go into the env" {
	dv_busybox_image
	dots_install_sh
	config <<-EOF
	dotfiles: $DOTS
	EOF
	dv_envfile <<-'EOF'
	image: busybox
	EOF
	unset DEVENV_ALLOW
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output --partial "Envfile asks for 1 thing beyond the default sandbox"
	run "$DEVENV" allow
	assert_success
	assert_output --partial "your dotfiles 'file://$DOTS' (config.yaml): devenv copies them into the env's home and runs their install script there: the project's processes can read them"
	run "$DEVENV" up </dev/null
	assert_success
	assert_line "[dotfiles] file://$DOTS into ~/dotfiles"
	# another repository asks again
	config <<-EOF
	dotfiles: file://$DOTS/.
	EOF
	run "$DEVENV" reload </dev/null
	assert_failure 2
	assert_output --partial "changed since this checkout was allowed"
}

@test "dotfiles: on a Debian env as user:, with bash's dotfiles" {
	dv_debian_image
	cat >"$DOTS/install.sh" <<-'EOF'
	#!/bin/bash
	set -e
	ln -sf "$PWD/.myrc" "$HOME/.bash_aliases"
	echo "installed by $(whoami)" >"$HOME/.dots-installed"
	EOF
	dots_commit
	config <<-EOF
	dotfiles: file://$DOTS
	EOF
	dv_envfile <<-'EOF'
	image: debian:bookworm
	user: dev
	EOF
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -- bash -c '. ~/.bash_aliases; echo "$DOTS"; cat ~/.dots-installed; stat -c %U ~/dotfiles/install.sh'
	assert_success
	assert_line "yes"
	assert_line "installed by dev"
	assert_line "dev"
}

#!/usr/bin/env bats
# Shell completion (completions/) and the man page (devenv.1 from
# `devenv help --man`).

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }

# complete WORDS...: run the bash completion as if the line were WORDS and
# the cursor at its end (an empty last word completes a new one); prints
# COMPREPLY one a line.
complete_line() {
	(
		# shellcheck source=/dev/null
		source "$DV_ROOT/completions/devenv.bash"
		COMP_WORDS=("$DEVENV" "$@")
		COMP_CWORD=$#
		COMP_LINE="$DEVENV $*"
		COMP_POINT=${#COMP_LINE}
		_devenv
		printf '%s\n' "${COMPREPLY[@]}"
	)
}

@test "bash completion: commands, options, templates" {
	run complete_line in
	assert_output "init"
	run complete_line ha
	assert_output "halt"
	run complete_line help su
	assert_output "suspend"
	run complete_line init --t
	assert_output "--template"
	run complete_line up --ca
	assert_output "--cache-from"
	run complete_line init --template py
	assert_output "python-postgres
python"
	run complete_line push --compression z
	assert_output "zstd"
	run complete_line push --si
	assert_output "--sign"
	touch id_team
	run complete_line push --sign id_t
	assert_output "id_team"
	run complete_line __comp
	assert_output ""
}

@test "bash completion: options from the commands' option tables, sub-commands, global options before the command" {
	run complete_line destroy --
	assert_output "--force
--volumes
--help
--quiet
--env
--host"
	run complete_line volume rm --f
	assert_output "--force"
	run complete_line image ""
	assert_output "import
save
load
inspect
bootstrap"
	run complete_line image save --
	assert_output "--help
--quiet"
	run complete_line help image s
	assert_output "save"
	# what follows -e, -q, --json before the command
	run complete_line -q ha
	assert_output "halt"
	run complete_line -e web st
	assert_output "status"
	run complete_line --json -e web logs --f
	assert_output "--follow"
	run complete_line --j
	assert_output "--json"
	# every option a command's --help explains is completed, and no other
	for c in $("$DEVENV" __complete commands); do
		diff <("$DEVENV" "$c" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+' | sort) \
			<("$DEVENV" __complete options "$c" | sort)
	done
}

@test "bash completion: env names after -e, image names for rmi, tag and push" {
	dv_busybox_image
	dv_busybox_image localhost/tools:v1
	printf 'name: webapp\nimage: busybox\n' >Envfile
	"$DEVENV" up -q
	run complete_line ssh -e we
	assert_output "webapp"
	run complete_line rmi bus
	assert_output "busybox:latest"
	run complete_line tag local
	assert_output "localhost/busybox:latest
localhost/tools:v1"
	# bash splits words at ':'; the reply is what follows the colon
	COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
	run complete_line rmi tools:v
	assert_output "v1"
	mkdir -p "$DV_STORE/volumes/pgdata" "$DV_STORE/volumes/cache"
	run complete_line volume rm pg
	assert_output "pgdata"
	run complete_line volume ""
	assert_output "ls
rm"
	run complete_line -e webapp volume rm pg
	assert_output "pgdata"
	run complete_line kube ""
	assert_output "generate"
	run complete_line kube generate --p
	assert_output "--push"
	touch "$BATS_TEST_TMPDIR/pod-out.yaml"
	run complete_line kube generate -o "$BATS_TEST_TMPDIR/pod-o"
	assert_output "$BATS_TEST_TMPDIR/pod-out.yaml"
	# no store yet: no names, no error, nothing created
	DEVENV_HOME=$BATS_TEST_TMPDIR/none run complete_line ssh -e ""
	assert_output ""
	[[ ! -e $BATS_TEST_TMPDIR/none ]]
}

@test "zsh completion is valid zsh" {
	command -v zsh >/dev/null || skip "zsh is not installed (scripts/install-deps installs it)"
	zsh -n "$DV_ROOT/completions/_devenv"
	# and it completes a command, through compsys
	run zsh -f -c "autoload -Uz compinit && compinit -u -D; fpath=($DV_ROOT/completions \$fpath); autoload -Uz _devenv; functions _devenv >/dev/null && echo loaded"
	assert_success
	assert_output "loaded"
}

@test "man page: devenv help --man renders without warnings and names every command" {
	"$DEVENV" help --man >devenv.1
	run groff -man -Tutf8 -z -ww devenv.1
	assert_success
	assert_output ""
	run env MANWIDTH=200 man -l devenv.1
	assert_success
	for c in $("$DEVENV" __complete commands); do
		assert_line --regexp "^ +devenv $c( |$)"
	done
	refute_output --partial "__complete"
	# each command's own options and each sub-command, from the tables --help prints
	assert_line --regexp "^ +devenv volume rm \[-f\|--force\] NAME\.\.\.$"
	assert_line --regexp "^ +devenv image save IMAGE FILE$"
	assert_line --regexp "^ +--volumes$"
	assert_line --regexp "^ +also remove the env's own named volumes"
	assert_line --regexp "^ +-t, --timeout S$"
	# the same text as --help
	summary=$("$DEVENV" help up | sed -n 3p)
	assert_output --partial "$summary"
}

# bash completion for devenv(1). Installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/devenv; or `source` this file.
#
# Word lists come from `devenv __complete ...` (commands, a command's
# options, env, image, volume and template names), which reads the store
# without opening it, so a TAB stays instant and never drifts from devenv.

_devenv() {
	local dv=${COMP_WORDS[0]} cur prev cmd words line
	# The word under the cursor as the user typed it: COMP_WORDS splits
	# image names at ':' (COMP_WORDBREAKS), so take it from the line.
	line=${COMP_LINE:0:COMP_POINT}
	cur=${line##*[[:space:]]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	if ((COMP_CWORD == 1)); then
		words=$("$dv" __complete commands 2>/dev/null)
	else
		cmd=${COMP_WORDS[1]}
		case $prev in
		-e | --env) words=$("$dv" __complete envs 2>/dev/null) ;;
		-t | --template) [[ $cmd == init ]] && words=$("$dv" __complete templates 2>/dev/null) ;;
		--compression) words="gzip zstd" ;;
		--tail) words="all" ;;
		--cache-from | --platform | --timeout | -u | --user | --username | -c) return 0 ;;
		esac
		if [[ -z $words && $prev != -e && $prev != --env ]]; then
			if [[ $cur == -* ]]; then
				words=$("$dv" __complete options "$cmd" 2>/dev/null)
			else
				case $cmd in
				rmi | tag | push) words=$("$dv" __complete images 2>/dev/null) ;;
				help) words=$("$dv" __complete commands 2>/dev/null) ;;
				volume)
					if ((COMP_CWORD == 2)); then
						words="ls rm"
					elif [[ ${COMP_WORDS[2]} == rm ]]; then
						words=$("$dv" __complete volumes 2>/dev/null)
					fi
					;;
				image)
					if ((COMP_CWORD == 2)); then
						words="import save load inspect bootstrap"
					else
						case ${COMP_WORDS[2]} in
						save | inspect) ((COMP_CWORD == 3)) || [[ ${COMP_WORDS[2]} == inspect ]] &&
							words=$("$dv" __complete images 2>/dev/null) ;;
						bootstrap) words="debian:bookworm debian:trixie" ;;
						esac
						[[ -z $words ]] && mapfile -t COMPREPLY < <(compgen -f -- "$cur") && return 0
					fi
					;;
				*) return 0 ;;
				esac
			fi
		fi
	fi
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
	# With ':' in COMP_WORDBREAKS bash replaces only the part after the
	# last ':'; drop what is before it from each match.
	if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
		local colon=${cur%"${cur##*:}"} i
		for i in "${!COMPREPLY[@]}"; do
			COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
		done
	fi
	return 0
}
complete -F _devenv devenv

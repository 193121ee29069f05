# bash completion for devenv(1). Installed by `make install` as
# $(PREFIX)/share/bash-completion/completions/devenv; or `source` this file.
#
# Word lists come from `devenv __complete ...` (commands, a command's
# options, env, image, volume and template names), which reads the store
# without opening it, so a TAB stays instant and never drifts from devenv.

_devenv() {
	local dv=${COMP_WORDS[0]} cur prev cmd sub words line i at=1
	# The word under the cursor as the user typed it: COMP_WORDS splits
	# image names at ':' (COMP_WORDBREAKS), so take it from the line.
	line=${COMP_LINE:0:COMP_POINT}
	cur=${line##*[[:space:]]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# Global options may come before the command (devenv -e web ssh).
	while ((at < COMP_CWORD)); do
		case ${COMP_WORDS[at]} in
		-e | --env | --host) at=$((at + 2)) ;;
		-q | --quiet | --json | --env=* | --host=* | -e?*) at=$((at + 1)) ;;
		*) break ;;
		esac
	done
	cmd=${COMP_WORDS[at]}
	sub=${COMP_WORDS[at + 1]}

	if [[ $prev == -e || $prev == --env ]]; then
		words=$("$dv" __complete envs 2>/dev/null)
	elif ((COMP_CWORD == at)); then
		if [[ $cur == -* ]]; then
			words="--env --json --quiet --host --help --version"
		else
			words=$("$dv" __complete commands 2>/dev/null)
		fi
	else
		case $prev in
		-t | --template) [[ $cmd == init ]] && words=$("$dv" __complete templates 2>/dev/null) ;;
		--compression) words="gzip zstd" ;;
		--sign)
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
			;;
		-n | --tail) [[ $cmd == logs ]] && words="all" ;;
		-o | --output) [[ $cmd == bundle || $cmd == kube ]] && mapfile -t COMPREPLY < <(compgen -f -- "$cur") && return 0 ;;
		-C | --directory) [[ $cmd == image ]] && mapfile -t COMPREPLY < <(compgen -d -- "$cur") && return 0 ;;
		--cache-from | --platform | --image | --timeout | -u | --user | --username | -c | -s | --secret) return 0 ;;
		esac
		if [[ -z $words ]]; then
			if [[ $cur == -* ]]; then
				if [[ $cmd == image || $cmd == volume || $cmd == kube ]] && ((COMP_CWORD > at + 1)); then
					words=$("$dv" __complete options "$cmd" "$sub" 2>/dev/null)
				else
					words=$("$dv" __complete options "$cmd" 2>/dev/null)
				fi
			else
				case $cmd in
				rmi | tag | push) words=$("$dv" __complete images 2>/dev/null) ;;
				lock) [[ $prev == --update || $prev =~ ^[0-9]+$ || $prev == base ]] && words="base" ;;
				ssh-config | ssh-proxy) ((COMP_CWORD == at + 1)) && words=$("$dv" __complete envs 2>/dev/null) ;;
				help)
					if ((COMP_CWORD == at + 1)); then
						words=$("$dv" __complete commands 2>/dev/null)
					else
						words=$("$dv" __complete subcommands "$sub" 2>/dev/null)
					fi
					;;
				kube) ((COMP_CWORD == at + 1)) && words=$("$dv" __complete subcommands kube 2>/dev/null) ;;
				volume)
					if ((COMP_CWORD == at + 1)); then
						words=$("$dv" __complete subcommands volume 2>/dev/null)
					elif [[ $sub == rm ]]; then
						words=$("$dv" __complete volumes 2>/dev/null)
					fi
					;;
				image)
					if ((COMP_CWORD == at + 1)); then
						words=$("$dv" __complete subcommands image 2>/dev/null)
					else
						case $sub in
						save | inspect) ((COMP_CWORD == at + 2)) || [[ $sub == inspect ]] &&
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

#!/usr/bin/env bats
# One base for a team, on real Debian (README "The team cache"): two
# bootstraps of debian:bookworm give two image ids, so a teammate who ran
# the quick start first has a `debian:bookworm` of their own. Their `up`
# with the team's cache_from takes the base the cache was built on, by
# digest, for that env only: the steps are pulled, not run; the store's
# `debian:bookworm` stays as it was, no `rmi` needed; a second clone of the
# project takes the same base. Against Debian's docker-registry on loopback.

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	REF=$DV_REGISTRY/team/base-dev:cache
}
teardown() {
	local dir
	if [[ -n ${STORE_B:-} ]]; then
		for dir in "$STORE_B"/envs/*/; do
			[[ -d $dir ]] && DEVENV_HOME=$STORE_B "$DEVENV" destroy -f -e "$(basename "$dir")" >/dev/null
		done
		dv_rm_store "$STORE_B"
	fi
	dv_teardown
}

# bootstrap: debian:bookworm in the current DEVENV_HOME, its id in BOOT_ID;
# skips when no Debian mirror answers.
bootstrap() {
	run "$DEVENV" image bootstrap debian:bookworm
	if ((status != 0)) && grep -qiE 'resolve|connect|network|mirror|fetch' <<<"$output"; then
		skip "no Debian mirror reachable: $output"
	fi
	assert_success
	BOOT_ID=$("$DEVENV" image inspect debian:bookworm |
		python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d.get("Id") or d.get("id"))')
}

@test "a teammate's own debian:bookworm: up takes the cache's base by digest, pulls the steps, leaves the store's image alone" {
	local own_a own_b base id
	bootstrap
	own_a=$BOOT_ID
	dv_envfile <<-EOF
	image: debian:bookworm
	cache_from: $REF
	provision:
	  - run: echo team >/etc/team-step
	EOF
	git add -A && git commit -qm init
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	base=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$DV_REGISTRY/v2/team/base-dev/manifests/cache" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["annotations"]["dev.devenv.base.manifest"])')
	[[ $base == sha256:* ]]
	# The team's base itself, pushed once (README "One base for the whole team").
	run "$DEVENV" push debian:bookworm "$DV_REGISTRY/team/base:bookworm"
	assert_success

	# The teammate: the quick start bootstrapped a debian:bookworm first.
	STORE_B=$(mktemp -d "$(dirname "$DV_STORE")/storeb.XXXXXX")
	DEVENV_HOME=$STORE_B bootstrap
	own_b=$BOOT_ID
	# The case itself: two bootstraps, two ids.
	[[ -n $own_a && -n $own_b && $own_a != "$own_b" ]]
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line "devenv: cache_from '$REF' was built on another 'debian:bookworm' than this store's (sha256:${own_b:7:12}): pulling that one, $DV_REGISTRY/team/base-dev@$base, pinned by digest for this env; the store's 'debian:bookworm' stays as it is"
	assert_line --regexp '^\[1/1\] run: echo team .*\(pulled\)$'
	refute_output --partial "warning: cache_from"
	refute_output --partial 'done in'
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /etc/team-step; . /etc/os-release; echo $VERSION_CODENAME'
	assert_success
	assert_output "team
bookworm"
	# The store's debian:bookworm is the teammate's own still.
	DEVENV_HOME=$STORE_B run "$DEVENV" images
	assert_line --regexp "^localhost/debian +bookworm +${own_b:7:12} "
	id=$(basename "$(dirname "$(ls "$STORE_B"/envs/*/state.json)")")
	[[ $(dv_json image_for <"$STORE_B/envs/$id/state.json") == debian:bookworm ]]
	[[ $(dv_json image <"$STORE_B/envs/$id/state.json") == "$DV_REGISTRY/team/base-dev@$base" ]]

	# A second clone of the project (another env id) takes the same base,
	# from the store this time, and its step from the local cache.
	git clone -q "$DV_CHECKOUT" "$BATS_TEST_TMPDIR/clone2"
	cd "$BATS_TEST_TMPDIR/clone2"
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line "devenv: cache_from '$REF' was built on another 'debian:bookworm' than this store's (sha256:${own_b:7:12}): this env uses that one, $DV_REGISTRY/team/base-dev@$base, pinned by digest; the store's 'debian:bookworm' stays as it is"
	refute_output --partial pulling
	refute_output --partial 'done in'
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /etc/team-step'
	assert_output team

	# Another project of the team names only the team's base: it runs on
	# that one too, pinned by digest, and builds its own step here.
	mkdir "$BATS_TEST_TMPDIR/other" && cd "$BATS_TEST_TMPDIR/other" && git init -q
	printf 'image: debian:bookworm\ncache_from: %s\nprovision:\n  - run: echo other >/etc/other-step\n' \
		"$DV_REGISTRY/team/base:bookworm" >Envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line --regexp "^devenv: cache_from '$DV_REGISTRY/team/base:bookworm' is another 'debian:bookworm' than this store's \(sha256:${own_b:7:12}\): pulling that one, $DV_REGISTRY/team/base@sha256:[0-9a-f]{64}, pinned by digest for this env; the store's 'debian:bookworm' stays as it is$"
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /etc/other-step; . /etc/os-release; echo $VERSION_CODENAME'
	assert_output "other
bookworm"
	DEVENV_HOME=$STORE_B run "$DEVENV" images
	assert_line --regexp "^localhost/debian +bookworm +${own_b:7:12} "
}

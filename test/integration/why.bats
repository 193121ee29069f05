#!/usr/bin/env bats
# `devenv why [STEP]` and `up --explain`: which input of a step the cache
# lacks differs from the last build of the env (recipes/<key>.json), one
# input kind at a time; `gc` removes the recipes of keys no longer cached;
# a pushed step layer carries its recipe (dev.devenv.recipe).

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
}
teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	dv_busybox_image
}
teardown() {
	[[ -n ${DV_HTTP_PID:-} ]] && kill "$DV_HTTP_PID" 2>/dev/null
	[[ -z ${STORE_B:-} ]] || dv_rm_store "$STORE_B"
	dv_teardown
}

# sha12 TEXT: "sha256:" and the first 12 hex digits of TEXT's sha256.
sha12() {
	printf 'sha256:%.12s' "$(printf '%s' "$1" | sha256sum)"
}

image_id() {
	"$DEVENV" image inspect busybox | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["Id"])'
}

three_steps() {
	dv_envfile <<-EOF
	image: busybox
	env:
	  FOO: ${2:-a}
	provision:
	  - run: echo 1 > /s1
	  - run: echo ${1:-2} > /s2
	  - run: echo 3 > /s3
	EOF
}

@test "why: never built, then all cached; a recipe per key is kept" {
	three_steps
	run "$DEVENV" why
	assert_success
	assert_output "step 1 (run: echo 1 > /s1): runs: never built for this env
step 2 (run: echo 2 > /s2): runs: never built for this env
step 3 (run: echo 3 > /s3): runs: never built for this env"
	"$DEVENV" provision -q
	[[ $(ls "$DV_STORE/recipes" | wc -l) == 3 ]]
	run "$DEVENV" why 2
	assert_success
	assert_output "step 2 (run: echo 2 > /s2): cached"
	run "$DEVENV" why 4
	assert_failure 2
	assert_output --partial "step 4: the Envfile has 3 provisioning steps"
}

@test "why names a changed text, and the parent of the steps after it" {
	three_steps 2
	"$DEVENV" provision -q
	three_steps two
	run "$DEVENV" why
	assert_success
	assert_output "step 1 (run: echo 1 > /s1): cached
step 2 (run: echo two > /s2): runs: its text changed ($(sha12 'echo 2 > /s2'), now $(sha12 'echo two > /s2'))
step 3 (run: echo 3 > /s3): runs: its parent step 2 changed"
}

@test "why names a changed env value by name, not its value" {
	three_steps 2 secret-one
	"$DEVENV" provision -q
	three_steps 2 secret-two
	run "$DEVENV" why 1
	assert_success
	assert_output "step 1 (run: echo 1 > /s1): runs: env value FOO changed"
	run grep -r secret- "$DV_STORE/recipes"
	assert_failure
}

@test "why names a copied file by path with its old and new digest; up --explain says it under the step" {
	mkdir src
	echo a >src/a.txt
	echo b >src/b.txt
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: src
	    to: /src
	  - run: cat /src/b.txt > /seen
	EOF
	"$DEVENV" provision -q
	echo changed >src/b.txt
	run "$DEVENV" why 1
	assert_success
	assert_output "step 1 (copy: src -> /src): runs: copied file 'src/b.txt' changed ($(sha12 $'b\n'), now $(sha12 $'changed\n'))"
	run "$DEVENV" up --explain
	assert_success
	assert_line "[1/2] copy: src -> /src"
	assert_line "      why: copied file 'src/b.txt' changed ($(sha12 $'b\n'), now $(sha12 $'changed\n'))"
	assert_line "      why: its parent step 1 changed"
	echo new >src/c.txt
	run "$DEVENV" why 1
	assert_output "step 1 (copy: src -> /src): runs: copied file 'src/c.txt' was added ($(sha12 $'new\n'))"
}

@test "provision --explain names a moved git commit" {
	repo=$BATS_TEST_TMPDIR/upstream
	mkdir -p "$repo"
	git -C "$repo" init -q -b main
	git -C "$repo" -c user.email=t@devenv.invalid -c user.name=t commit -q --allow-empty -m one
	old=$(git -C "$repo" rev-parse HEAD)
	printf 'image: busybox\nprovision:\n  - git: file://%s\n    to: /src\n' "$repo" >Envfile
	"$DEVENV" provision -q
	git -C "$repo" -c user.email=t@devenv.invalid -c user.name=t commit -q --allow-empty -m two
	new=$(git -C "$repo" rev-parse HEAD)
	# Envfile.lock pins the commit until it is moved
	"$DEVENV" lock --update 1 >/dev/null
	run "$DEVENV" provision --explain
	assert_success
	assert_line "      why: its git commit changed (${old:0:12}, now ${new:0:12})"
}

@test "why names a changed download digest" {
	mkdir -p www
	echo v1 >www/tool
	sum1=$(sha256sum www/tool | cut -d' ' -f1)
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 -m http.server --bind 127.0.0.1 --directory www "$port" >/dev/null 2>&1 &
	DV_HTTP_PID=$!
	for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
	printf 'image: busybox\nprovision:\n  - download: http://127.0.0.1:%s/tool\n    sha256: %s\n    to: /opt/\n' \
		"$port" "$sum1" >Envfile
	"$DEVENV" provision -q
	echo v2 >www/tool
	sum2=$(sha256sum www/tool | cut -d' ' -f1)
	sed -i "s/$sum1/$sum2/" Envfile
	run "$DEVENV" why
	assert_success
	assert_output "step 1 (download: http://127.0.0.1:$port/tool -> /opt/): runs: its download digest changed (sha256:${sum1:0:12}, now sha256:${sum2:0:12})"
}

@test "why names a changed base image" {
	three_steps
	"$DEVENV" provision -q
	old=$(image_id)
	# another busybox: the same files and one more
	cp "$(busybox_tar)" other.tar
	mkdir -p extra/etc && echo x >extra/etc/extra
	tar -rf other.tar -C extra etc/extra
	"$DEVENV" image import other.tar busybox >/dev/null
	new=$(image_id)
	[[ $old != "$new" ]]
	run "$DEVENV" why 1
	assert_success
	# the lock's base is gone from the store: said once, then the sentence
	assert_line --index 0 --partial "warning: the base Envfile.lock names for 'busybox'"
	assert_line --index 1 "step 1 (run: echo 1 > /s1): runs: the base image changed (localhost/busybox:latest sha256:${new:7:12}, was sha256:${old:7:12})"
}

@test "gc removes the recipes of keys no cache entry holds" {
	three_steps 2
	"$DEVENV" provision -q
	three_steps two
	"$DEVENV" provision -q
	[[ $(ls "$DV_STORE/recipes" | wc -l) == 5 ]]
	run "$DEVENV" gc
	assert_success
	assert_output --regexp "^removed 2 layers, freed .*$"
	[[ $(ls "$DV_STORE/recipes" | wc -l) == 3 ]]
	run "$DEVENV" why
	assert_output --partial "step 3 (run: echo 3 > /s3): cached"
}

@test "a pushed step layer carries its recipe; why compares with the team cache's too" {
	ref=$DV_REGISTRY/team/why:cache
	three_steps 2
	"$DEVENV" provision -q
	"$DEVENV" push -q "$ref"
	curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$DV_REGISTRY/v2/team/why/manifests/cache" >manifest.json
	run python3 -c '
import json, sys
m = json.load(open("manifest.json"))
notes = [json.loads(l["annotations"]["dev.devenv.recipe"]) for l in m["layers"] if "dev.devenv.recipe" in l.get("annotations", {})]
assert [n["step"] for n in notes] == [1, 2, 3], notes
assert all("text" not in n and "label" not in n for n in notes), notes
print(notes[1]["kind"], notes[1]["text_digest"], len(m["layers"][-1]["annotations"]["dev.devenv.recipe"]) < 1024)'
	assert_success
	assert_output "run $(printf 'sha256:%s' "$(printf '%s' 'echo 2 > /s2' | sha256sum | cut -d' ' -f1)") True"

	# built here with 3, the team's with 2, the Envfile now says 4
	three_steps 3
	"$DEVENV" provision -q
	three_steps 4
	printf 'cache_from: %s\n' "$ref" >>Envfile
	run "$DEVENV" why 2
	assert_success
	assert_output "step 2 (run: echo 4 > /s2): runs: its text changed ($(sha12 'echo 3 > /s2'), now $(sha12 'echo 4 > /s2')); against the team cache ($ref): its text changed ($(sha12 'echo 2 > /s2'), now $(sha12 'echo 4 > /s2'))"
	# --json: the two sentences apart
	run "$DEVENV" why --json 2
	assert_success
	run python3 -c '
import json, sys
[o] = [json.loads(l) for l in sys.stdin]
print(o["step"], o["state"], o["team"], o["why"], "|", o["team_why"])' <<<"$output"
	assert_output "2 runs $ref its text changed ($(sha12 'echo 3 > /s2'), now $(sha12 'echo 4 > /s2')) | its text changed ($(sha12 'echo 2 > /s2'), now $(sha12 'echo 4 > /s2'))"

	# a teammate's empty store: the steps the team cache holds are taken from it
	three_steps 2
	printf 'cache_from: %s\n' "$ref" >>Envfile
	STORE_B=$(mktemp -d "$(dirname "$DV_STORE")/storeb.XXXXXX")
	DEVENV_HOME=$STORE_B "$DEVENV" image import "$(busybox_tar)" busybox >/dev/null
	run env DEVENV_HOME="$STORE_B" "$DEVENV" why
	assert_success
	assert_line "step 1 (run: echo 1 > /s1): taken from the team cache ($ref)"
	assert_line "step 3 (run: echo 3 > /s3): taken from the team cache ($ref)"
	run env DEVENV_HOME="$STORE_B" "$DEVENV" why --json 1
	assert_success
	assert_output '{"step":1,"label":"run: echo 1 > /s1","state":"team","team":"'"$ref"'","why":null,"team_why":null}'
	# why fetched no layer
	[[ -z $(ls -A "$STORE_B/cache") && ! -e $STORE_B/recipes ]]
}

@test "Debian env: why and provision --explain name a step's own env value and a copied file" {
	dv_debian_image
	echo one >conf
	write() {
		dv_envfile <<-EOF
		image: debian:bookworm
		provision:
		  - run: dpkg-query -W -f='\${Version}' base-files > /bf && echo \$MODE > /mode
		    env:
		      MODE: $1
		  - copy: conf
		    to: /etc/conf
		EOF
	}
	write fast
	"$DEVENV" provision -q
	write slow
	echo two >conf
	run "$DEVENV" why
	assert_success
	assert_output "step 1 (run: dpkg-query -W -f='\${Version}' base-files > /bf && echo \$MODE …): runs: env value MODE changed
step 2 (copy: conf -> /etc/conf): runs: copied file 'conf' changed ($(sha12 $'one\n'), now $(sha12 $'two\n'))"
	run "$DEVENV" provision --explain
	assert_success
	assert_line "      why: env value MODE changed"
	assert_line "      why: copied file 'conf' changed ($(sha12 $'one\n'), now $(sha12 $'two\n'))"
	run "$DEVENV" why
	assert_output --partial "step 2 (copy: conf -> /etc/conf): cached"
}

@test "a copy of more than 10,000 files: its recipe lists 10,000 and says so; a change past them is still seen" {
	mkdir big
	(cd big && seq -f 'f%05g' 0 10001 | xargs touch)
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - copy: big
	    to: /big
	EOF
	"$DEVENV" provision -q
	run python3 -c '
import glob, json
r = json.load(open(glob.glob("'"$DV_STORE"'/recipes/*.json")[0]))
print(len(r["files"]), r["files_total"], r["files_capped"], "big/f10001" in r["files"])'
	assert_output "10000 10002 True False"
	echo x >big/f10001
	run "$DEVENV" why
	assert_output "step 1 (copy: big -> /big): runs: its copied files changed (more than the recipe lists: not said which)"
	echo x >big/f00001
	run "$DEVENV" why
	assert_output "step 1 (copy: big -> /big): runs: copied file 'big/f00001' changed ($(sha12 ''), now $(sha12 $'x\n'))"
}

@test "why --json: one object per step, state and sentences apart" {
	three_steps 2
	"$DEVENV" provision -q
	three_steps two
	run "$DEVENV" why --json
	assert_success
	assert_output '{"step":1,"label":"run: echo 1 > /s1","state":"cached","team":null,"why":null,"team_why":null}
{"step":2,"label":"run: echo two > /s2","state":"runs","team":null,"why":"its text changed ('"$(sha12 'echo 2 > /s2')"', now '"$(sha12 'echo two > /s2')"')","team_why":null}
{"step":3,"label":"run: echo 3 > /s3","state":"runs","team":null,"why":"its parent step 2 changed","team_why":null}'
	run "$DEVENV" why --json 3
	assert_success
	assert_output '{"step":3,"label":"run: echo 3 > /s3","state":"runs","team":null,"why":"its parent step 2 changed","team_why":null}'
	run "$DEVENV" __complete options why
	assert_line --json
}

@test "up --explain --json: the sentence is the step event's why, not a line on stderr" {
	three_steps 2
	"$DEVENV" provision -q
	three_steps two
	"$DEVENV" up --explain --json >events 2>errors
	run python3 -c '
import json
for l in open("events"):
    o = json.loads(l)
    if "step" in o:
        print(o["step"], o["result"], o.get("why"))'
	assert_output "1 cached None
2 ran its text changed ($(sha12 'echo 2 > /s2'), now $(sha12 'echo two > /s2'))
3 ran its parent step 2 changed"
	run grep -c 'why:' errors
	assert_output 0
	# without --explain, no why in the events
	three_steps 2
	"$DEVENV" provision --json >events 2>/dev/null
	run grep -c '"why"' events
	assert_output 0
}

@test "reload --explain says why under each step that runs; --help and completion list it" {
	three_steps 2
	"$DEVENV" up -q
	three_steps two
	run "$DEVENV" reload --explain
	assert_success
	assert_line "[1/3] run: echo 1 > /s1 (cached)"
	assert_line "      why: its text changed ($(sha12 'echo 2 > /s2'), now $(sha12 'echo two > /s2'))"
	assert_line "      why: its parent step 2 changed"
	three_steps 3
	"$DEVENV" reload --explain --json >events 2>/dev/null
	run python3 -c '
import json
print([o.get("why") for o in map(json.loads, open("events")) if "step" in o])'
	assert_output "[None, 'its text changed ($(sha12 'echo two > /s2'), now $(sha12 'echo 3 > /s2'))', 'its parent step 2 changed']"
	run "$DEVENV" reload --help
	assert_output --partial "--explain"
	assert_output --partial "--frozen"
	run "$DEVENV" __complete options reload
	assert_line --explain
	assert_line --frozen
	run "$DEVENV" help reload
	assert_output --partial 'reload [-e NAME|ID] [--timeout S] [--frozen] [--explain]'
}

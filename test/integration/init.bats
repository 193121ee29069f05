#!/usr/bin/env bats
# devenv init: the template a checkout's files point to, --template, --list,
# and never an Envfile over an existing one. The templates' content is
# parsed by test/unit/templates_test.c; bringing them up needs the network
# (apt-get), so no test here does.

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }

# init_from MARKER TEMPLATE: MARKER alone in the checkout gives TEMPLATE.
init_from() {
	touch "$1"
	run "$DEVENV" init
	assert_success
	assert_line "wrote Envfile from the $2 template (found $1); edit it, then 'devenv up'"
	grep -q "^# Envfile: " Envfile
	[[ -z $(compgen -G ".Envfile.tmp.*") ]] # no temporary file left
}

@test "init: requirements.txt gives python, and its install step" {
	init_from requirements.txt python
	grep -qx "  - copy: requirements.txt .*" Envfile
	grep -q "python3-venv" Envfile
}

@test "init: pyproject.toml gives python, without a copy of a missing requirements.txt" {
	init_from pyproject.toml python
	assert_line "note: no requirements.txt here, so its steps are commented out in the Envfile"
	grep -q "^#  - copy: requirements.txt" Envfile
	run grep -q "^  - copy:" Envfile
	assert_failure
}

@test "init: package.json gives node, go.mod go, Cargo.toml rust, Makefile and CMakeLists.txt c" {
	init_from package.json node
	grep -q "^  - copy: package.json" Envfile
	grep -q "^#  - copy: package-lock.json" Envfile # no lock file: commented out, no note
	refute_line --partial "note:"
	rm -f ./*
	init_from go.mod go
	rm -f ./*
	init_from Cargo.toml rust
	rm -f ./*
	init_from Makefile c
	grep -q "build-essential cmake gdb" Envfile
	rm -f ./*
	init_from CMakeLists.txt c
}

@test "init: requirements.txt naming psycopg gives python-postgres" {
	printf 'flask\npsycopg[binary]\n' >requirements.txt
	run "$DEVENV" init
	assert_success
	assert_output "wrote Envfile from the python-postgres template (found requirements.txt; requirements.txt names psycopg); edit it, then 'devenv up'
its steps need from the network: the Debian mirror (apt-get), PyPI (pip install), Docker Hub (image postgres:15, unless this store has it)"
	grep -q "image: postgres:15" Envfile
	grep -q "DATABASE_URL: postgresql://postgres:dev@db:5432/postgres" Envfile
}

@test "init: nothing known gives the default template" {
	touch README.md
	run "$DEVENV" init
	assert_success
	assert_output "wrote Envfile from the default template (no stack's marker file here); edit it, then 'devenv up'
its steps need from the network: the Debian mirror (apt-get)"
	cmp Envfile "$DV_ROOT/templates/default.Envfile"
}

@test "init: several stacks: the first in the order wins, the others are named" {
	touch Makefile package.json go.mod
	run "$DEVENV" init
	assert_success
	assert_line "wrote Envfile from the node template (found package.json; also matched go (go.mod), c (Makefile): 'devenv init --template NAME' picks another); edit it, then 'devenv up'"
	assert_line "its steps need from the network: the Debian mirror (apt-get), the npm registry (npm install)"
}

@test "init --template picks the template, whatever the files say" {
	touch package.json
	run "$DEVENV" init --template go
	assert_success
	assert_line "wrote Envfile from the go template (chosen with --template); edit it, then 'devenv up'"
	assert_line "note: no go.mod here, so its steps are commented out in the Envfile"
	grep -q "golang" Envfile
	run grep -q "^  - copy:" Envfile
	assert_failure
	rm Envfile
	run "$DEVENV" init -t python-postgres -q
	assert_success
	assert_output ""
	grep -q "services:" Envfile
}

@test "init --template with an unknown name: one line, exit 2, nothing written" {
	run "$DEVENV" init --template pyhton
	assert_failure 2
	assert_output "devenv: unknown template 'pyhton' (did you mean 'python'?); the templates are: default, python-postgres, python, node, go, rust, c"
	[[ ! -e Envfile ]]
	run "$DEVENV" init --template
	assert_failure 2
	[[ ! -e Envfile ]]
}

@test "init --list names every template, and what it needs from the network" {
	run "$DEVENV" init --list
	assert_success
	for t in default python-postgres python node go rust c; do
		assert_line --regexp "^$t +[A-Z].*; needs the Debian mirror"
	done
	assert_line --regexp "^python-postgres .*; needs the Debian mirror, PyPI, Docker Hub$"
	assert_line --regexp "^node .*; needs the Debian mirror, the npm registry$"
	assert_line --regexp "^go .*; needs the Debian mirror, the Go module proxy$"
	assert_line --regexp "^rust .*; needs the Debian mirror, crates.io$"
	assert_line --regexp "^c .*; needs the Debian mirror$"
	[[ ! -e Envfile ]]
}

@test "init --list is what README.md shows" {
	[[ -e $DV_ROOT/README.md ]] || skip "no README.md beside this copy of the tests"
	run "$DEVENV" init --list
	assert_success
	diff -u <(sed -n '/^\$ devenv init --list$/,/^```$/p' "$DV_ROOT/README.md" | sed '1d;$d') <(printf '%s\n' "$output")
}

@test "init says what the steps it wrote need from the network: a commented-out step needs nothing" {
	run "$DEVENV" init --template python
	assert_success
	assert_line "its steps need from the network: the Debian mirror (apt-get)"
	rm Envfile
	touch requirements.txt
	run "$DEVENV" init --template python
	assert_line "its steps need from the network: the Debian mirror (apt-get), PyPI (pip install)"
	rm Envfile
	touch go.mod
	run "$DEVENV" init --template go
	assert_line "its steps need from the network: the Debian mirror (apt-get), the Go module proxy (go mod download)"
}

@test "init never overwrites an Envfile, with or without --template" {
	touch requirements.txt
	echo "mine" >Envfile
	run "$DEVENV" init
	assert_failure 1
	assert_output "devenv: an Envfile is already here; edit it, or remove it first"
	run "$DEVENV" init --template c
	assert_failure 1
	[[ $(cat Envfile) == mine ]]
	assert_equal "$(ls -A | grep -v '^\.git$')" "$(printf 'Envfile\nrequirements.txt')"
}

@test "init: a marker that is a FIFO or a symlink is not followed" {
	mkfifo requirements.txt
	ln -s /etc/passwd package.json
	run timeout 10 "$DEVENV" init
	assert_success
	assert_line --partial "from the default template"
}

@test "init takes one of --template, --list and --from-devcontainer" {
	run "$DEVENV" init --list --template c
	assert_failure 2
	assert_output "devenv: 'devenv init' takes one of --template, --list and --from-devcontainer; see 'devenv init --help'"
	run "$DEVENV" init -t c --from-devcontainer
	assert_failure 2
	[[ ! -e Envfile ]]
}

/*
 * templates/templates.c - which template fits a checkout, and its text.
 *
 * Detection looks only at the folder init runs in, since that is where the
 * Envfile goes and `copy` paths start. Marker files must be regular files
 * there (not symlinks): a template only copies what it can see is a plain
 * file of the checkout.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "templates/templates.h"
#include "util/cleanup.h"
#include "util/banned.h"

extern const char dv_template_default[], dv_template_python[], dv_template_python_postgres[],
	dv_template_node[], dv_template_go[], dv_template_rust[], dv_template_c[];

#define DEBIAN \
	{ \
		"the Debian mirror", "apt-get", NULL \
	}

static const struct tmpl templates[] = {
	{ "default",
	  "Debian bookworm with git: a start for any project",
	  dv_template_default,
	  { DEBIAN } },
	{ "python-postgres",
	  "Python web app, a postgres:15 service, port 8000 on loopback",
	  dv_template_python_postgres,
	  { DEBIAN,
	    { "PyPI", "pip install", "requirements.txt" },
	    { "Docker Hub", "image postgres:15, unless this store has it", NULL } } },
	{ "python",
	  "Python 3 in a venv, requirements.txt installed",
	  dv_template_python,
	  { DEBIAN, { "PyPI", "pip install", "requirements.txt" } } },
	{ "node",
	  "Node.js and npm, package.json installed",
	  dv_template_node,
	  { DEBIAN, { "the npm registry", "npm install", "package.json" } } },
	{ "go",
	  "Go, go.mod's modules downloaded",
	  dv_template_go,
	  { DEBIAN, { "the Go module proxy", "go mod download", "go.mod" } } },
	{ "rust",
	  "Rust (Debian's cargo and rustc), Cargo.toml's crates fetched",
	  dv_template_rust,
	  { DEBIAN, { "crates.io", "cargo fetch", "Cargo.toml" } } },
	{ "c", "C/C++: build-essential, cmake, gdb", dv_template_c, { DEBIAN } },
};
#define N_TEMPLATES (sizeof(templates) / sizeof(templates[0]))

/* Marker files per stack, in priority order; python-postgres is python's
 * upgrade (postgres_hint), not a marker of its own. */
static const struct {
	const char *tmpl;
	const char *files[4];
} markers[] = {
	{ "python", { "requirements.txt", "pyproject.toml" } },
	{ "node", { "package.json" } },
	{ "go", { "go.mod" } },
	{ "rust", { "Cargo.toml" } },
	{ "c", { "CMakeLists.txt", "Makefile", "makefile", "GNUmakefile" } },
};

const struct tmpl *tmpl_all(size_t *n)
{
	*n = N_TEMPLATES;
	return templates;
}

const struct tmpl *tmpl_find(const char *name)
{
	for (size_t i = 0; i < N_TEMPLATES; i++)
		if (!strcmp(templates[i].name, name))
			return &templates[i];
	return NULL;
}

char *tmpl_names(void)
{
	struct dv_buf b = { 0 };

	for (size_t i = 0; i < N_TEMPLATES; i++)
		dv_buf_addf(&b, "%s%s", i ? ", " : "", templates[i].name);
	return dv_buf_steal(&b);
}

static bool is_file(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

char *tmpl_needs(const struct tmpl *t, int dirfd, bool how)
{
	struct dv_buf b = { 0 };

	for (size_t i = 0; i < sizeof(t->needs) / sizeof(t->needs[0]) && t->needs[i].what; i++) {
		if (dirfd >= 0 && t->needs[i].file && !is_file(dirfd, t->needs[i].file))
			continue;
		dv_buf_addf(&b, "%s%s", b.len ? ", " : "", t->needs[i].what);
		if (how)
			dv_buf_addf(&b, " (%s)", t->needs[i].how);
	}
	return dv_buf_steal(&b);
}

/* Does the file mention word (case-insensitive)? Reads at most 1 MiB;
 * O_NONBLOCK so a FIFO planted under the name cannot hang init. */
static bool mentions(int dirfd, const char *name, const char *word)
{
	dv_autoclose int fd = -1;
	char buf[1 << 16];
	size_t have = 0, wl = strlen(word), total = 0;
	struct stat st;
	ssize_t n;

	if (!is_file(dirfd, name))
		return false;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	while (total < (1u << 20) && (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		total += (size_t)n;
		have += (size_t)n;
		buf[have] = '\0';
		for (size_t i = 0; i < have; i++)
			buf[i] = (char)tolower((unsigned char)buf[i]);
		if (memmem(buf, have, word, wl))
			return true;
		/* keep a word's length of tail, in case the word straddles reads */
		if (have >= wl) {
			memmove(buf, buf + have - (wl - 1), wl - 1);
			have = wl - 1;
		}
	}
	return false;
}

/* python -> python-postgres: the Python dependencies name psycopg, or a
 * compose file beside them names postgres. */
static bool postgres_hint(int dirfd, char *why, size_t n)
{
	static const char *const deps[] = { "requirements.txt", "pyproject.toml" };
	static const char *const compose[] = { "docker-compose.yml", "docker-compose.yaml",
					       "compose.yml", "compose.yaml" };

	for (size_t i = 0; i < 2; i++)
		if (mentions(dirfd, deps[i], "psycopg")) {
			snprintf(why, n, "%s names psycopg", deps[i]);
			return true;
		}
	for (size_t i = 0; i < 4; i++)
		if (mentions(dirfd, compose[i], "postgres")) {
			snprintf(why, n, "%s names postgres", compose[i]);
			return true;
		}
	return false;
}

size_t tmpl_detect(int dirfd, struct tmpl_match *out, size_t max)
{
	size_t got = 0;

	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]) && got < max; i++) {
		const char *file = NULL;

		for (size_t j = 0; j < 4 && markers[i].files[j] && !file; j++)
			if (is_file(dirfd, markers[i].files[j]))
				file = markers[i].files[j];
		if (!file)
			continue;
		out[got].tmpl = tmpl_find(markers[i].tmpl);
		snprintf(out[got].why, sizeof(out[got].why), "found %s", file);
		if (!strcmp(markers[i].tmpl, "python")) {
			char hint[96];

			if (postgres_hint(dirfd, hint, sizeof(hint))) {
				out[got].tmpl = tmpl_find("python-postgres");
				snprintf(out[got].why, sizeof(out[got].why), "found %s; %s", file,
					 hint);
			}
		}
		got++;
	}
	return got;
}

char *tmpl_render(const struct tmpl *t, int dirfd, struct dv_strv *missing)
{
	struct dv_buf b = { 0 };
	const char *p = t->text;

	while (*p) {
		size_t len = strcspn(p, "\n");
		const char *next = p + len + (p[len] == '\n');

		if (*p != '@') {
			dv_buf_add(&b, p, (size_t)(next - p));
			p = next;
			continue;
		}
		/* "@?FILE": an optional file (a lock file); left out quietly */
		bool optional = p[1] == '?';
		const char *name = p + 1 + optional;
		size_t fl = strcspn(name, " \n");
		dv_autofree char *file = dv_xstrndup(name, fl);
		const char *rest = name + fl;

		if (!is_file(dirfd, file)) {
			bool listed = false;

			for (size_t i = 0; i < missing->n; i++)
				listed |= !strcmp(missing->v[i], file);
			if (!listed && !optional) {
				dv_strv_push(missing, file);
				dv_buf_addf(&b,
					    "# No %s here yet: uncomment its steps once there is one.\n",
					    file);
			}
			dv_buf_adds(&b, "#");
		}
		dv_buf_add(&b, rest, (size_t)(next - rest));
		p = next;
	}
	return dv_buf_steal(&b);
}

/*
 * provision/recipe.c - what each cache key was made of (recipes/<key>.json),
 * and the sentence that says which input of a step differs from the last
 * build of the env (`devenv why`, `up --explain`) or from the team cache's.
 *
 * A recipe is written when a key is built here or taken from the team
 * cache, never on a cache hit (a no-op `up` reads and writes nothing of
 * them). It holds the parent (the key before, or the base image's id for
 * step 1), the step's kind, label, text and its digest, the shell and
 * destination, each env value by name with the digest of its value (never
 * the value), each copied file by path with its sha256 (at most
 * PROV_FILES_MAX, then "files_capped"), a git step's URL, ref and commit,
 * a download's URL and sha256. The store is devenv's own, but a recipe is
 * read as if it were not: a field of the wrong type counts as absent.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/banned.h"

#define RECIPE_DIR "recipes"
#define NOTE_MAX_FILES 16 /* a pushed layer's annotation lists at most these */

static const char *kind_word(enum env_step_kind k)
{
	return k == ENV_STEP_COPY       ? "copy"
	       : k == ENV_STEP_GIT      ? "git"
	       : k == ENV_STEP_DOWNLOAD ? "download"
					: "run";
}

static const char *step_text(const struct env_step *step)
{
	return step->kind == ENV_STEP_RUN        ? step->run
	       : step->kind == ENV_STEP_GIT      ? step->git
	       : step->kind == ENV_STEP_DOWNLOAD ? step->download
						 : step->copy;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static char *digest_of(const char *s)
{
	char hex[DV_SHA256_HEX];

	dv_sha256_hex(s, strlen(s), hex);
	return dv_xasprintf("sha256:%s", hex);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* {"NAME":"sha256:…"}: the global env overridden by the step's own, sorted. */
static struct json_object *env_digests(const struct env_spec *spec, const struct env_step *step)
{
	struct dv_strv names = { 0 };
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < spec->n_env; i++)
		dv_strv_push(&names, spec->env[i].key);
	for (size_t j = 0; j < step->n_env; j++)
		dv_strv_push(&names, step->env[j].key);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; i < names.n; i++) {
		const char *value = NULL;

		if (i && !strcmp(names.v[i], names.v[i - 1]))
			continue;
		for (size_t j = 0; j < step->n_env && !value; j++)
			if (!strcmp(step->env[j].key, names.v[i]))
				value = step->env[j].value;
		for (size_t j = 0; j < spec->n_env && !value; j++)
			if (!strcmp(spec->env[j].key, names.v[i]))
				value = spec->env[j].value;
		dv_autofree char *d = digest_of(value ? value : "");

		json_object_object_add(o, names.v[i], json_object_new_string(d));
	}
	dv_strv_release(&names);
	return o;
}

/* The copied files as {"PATH":"DIGEST"} (at most PROV_FILES_MAX), their
 * number and the digest of them all: those read (read: NULL), or read now. */
static int add_files(struct json_object *r, const struct env_spec *spec, const struct env_step *step,
		     const struct prov_files *read, struct dv_error *err)
{
	struct prov_files now;
	struct dv_strv lines = { 0 };
	struct json_object *files;
	struct dv_sha256 all;
	char hex[DV_SHA256_HEX];
	dv_autofree char *d = NULL;
	size_t total;

	if (!read) {
		if (prov_copy_files(spec, step, &now, err) < 0) {
			dv_strv_release(&now.lines);
			return -1;
		}
		read = &now;
	}
	for (size_t i = 0; i < read->lines.n; i++)
		dv_strv_push(&lines, read->lines.v[i]);
	all = read->all; /* a copy: read stays as it was */
	total = read->total;
	if (read == &now)
		dv_strv_release(&now.lines);
	if (lines.n) /* by path */
		qsort(lines.v, lines.n, sizeof(*lines.v), cmp_str);
	files = json_object_new_object();
	for (size_t i = 0; i < lines.n; i++) {
		char *tab = strchr(lines.v[i], '\t');

		if (!tab)
			continue;
		*tab = 0;
		json_object_object_add(files, tab + 1, json_object_new_string(lines.v[i]));
	}
	dv_sha256_final_hex(&all, hex);
	d = dv_xasprintf("sha256:%s", hex);
	json_object_object_add(r, "files", files);
	json_object_object_add(r, "files_total", json_object_new_int64((int64_t)total));
	if (total > lines.n)
		json_object_object_add(r, "files_capped", json_object_new_boolean(1));
	add_str(r, "files_digest", d);
	dv_strv_release(&lines);
	return 0;
}

static struct json_object *make(const struct env_spec *spec, size_t i, const char *parent,
				const char *base_name, const struct prov_files *read,
				struct dv_error *err)
{
	const struct env_step *step = &spec->provision[i];
	struct json_object *r = json_object_new_object();
	dv_autofree char *label = prov_step_label(step);
	dv_autofree char *td = digest_of(step_text(step));

	json_object_object_add(r, "recipe", json_object_new_int(1));
	json_object_object_add(r, "step", json_object_new_int64((int64_t)i + 1));
	add_str(r, "parent", strncmp(parent, "sha256:", 7) == 0 ? parent + 7 : parent);
	if (i == 0)
		add_str(r, "base", base_name);
	add_str(r, "kind", kind_word(step->kind));
	add_str(r, "label", label);
	add_str(r, "text", step_text(step));
	add_str(r, "text_digest", td);
	add_str(r, "shell", spec->shell);
	if (step->kind != ENV_STEP_RUN)
		add_str(r, "to", step->to);
	json_object_object_add(r, "env", env_digests(spec, step));
	if (step->kind == ENV_STEP_GIT) {
		add_str(r, "git_ref", step->ref);
		add_str(r, "git_commit", step->git_commit);
	}
	if (step->kind == ENV_STEP_DOWNLOAD)
		add_str(r, "download_sha256", step->sha256);
	if (step->kind == ENV_STEP_COPY && add_files(r, spec, step, read, err) < 0) {
		json_object_put(r);
		return NULL;
	}
	return r;
}

struct json_object *prov_recipe_make(const struct env_spec *spec, size_t i, const char *parent,
				     const char *base_name, struct dv_error *err)
{
	return make(spec, i, parent, base_name, NULL, err);
}

static int recipes_dir(const struct layer_store *st, bool create, struct dv_error *err)
{
	int fd;

	if (create && dv_mkdirat_ok(st->root_fd, RECIPE_DIR, 0755, err) < 0)
		return -1;
	fd = openat(st->root_fd, RECIPE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dv_err(err, errno, "cannot open '%s/%s'", st->root, RECIPE_DIR);
	return fd;
}

static void record(const struct layer_store *st, const struct env_spec *spec, size_t i,
		   const char *parent, const char *base_name, const char *key,
		   const struct prov_files *read)
{
	struct dv_error err = { 0 };
	struct json_object *r = make(spec, i, parent, base_name, read, &err);
	dv_autoclose int dfd = -1;
	dv_autofree char *name = dv_xasprintf("%s.json", key);
	const char *text;

	if (r) {
		text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
		dfd = recipes_dir(st, true, &err);
		if (dfd >= 0)
			dv_write_file_atomic(dfd, name, text, strlen(text), 0644, &err);
		json_object_put(r);
	}
	/* What a key was made of only explains: the build goes on without it. */
	if (err.msg[0])
		fprintf(stderr,
			"devenv: warning: step %zu: what it was made of is not recorded: %s\n",
			i + 1, err.msg);
}

void prov_recipe_record(const struct layer_store *st, const struct env_spec *spec, size_t i,
			const char *parent, const char *base_name, const char *key)
{
	record(st, spec, i, parent, base_name, key, NULL);
}

void prov_recipe_record_copy(const struct layer_store *st, const struct env_spec *spec, size_t i,
			     const char *parent, const char *key, const struct prov_files *files)
{
	record(st, spec, i, parent, NULL, key, files);
}

/* recipes/<key>.json, or NULL (absent, unreadable or not an object). */
static struct json_object *recipe_read(const struct layer_store *st, const char *key)
{
	dv_autoclose int dfd =
		openat(st->root_fd, RECIPE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dv_autofree char *name = dv_xasprintf("%s.json", key);
	dv_autofree char *text = NULL;
	struct json_object *o;
	size_t len;

	if (dfd < 0 || dv_read_file_at(dfd, name, &text, &len, &(struct dv_error){ 0 }) < 0)
		return NULL;
	o = json_tokener_parse(text);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static const char *get_s(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *get_o(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* A recipe's short word as a sentence may show it: a team's note comes
 * from a registry, so anything but [0-9a-z:] becomes '?'. */
static const char *clean(char *s)
{
	for (char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == ':'))
			*p = '?';
	return s;
}

/* "sha256:0123456789ab" of a digest, for a sentence. */
static const char *short_digest(const char *d, char out[24])
{
	const char *hex = d && !strncmp(d, "sha256:", 7) ? d + 7 : d;

	if (!d)
		snprintf(out, 24, "none");
	else if (d != hex)
		snprintf(out, 24, "sha256:%.12s", hex);
	else if (!strncmp(d, "symlink:", 8))
		snprintf(out, 24, "symlink:%.12s", d + 8);
	else
		snprintf(out, 24, "%.12s", d);
	return clean(out);
}

/* The first 12 characters of a commit or digest (NULL: "none"), cleaned. */
static const char *short_hex(const char *s, char out[24])
{
	snprintf(out, 24, "%.12s", s ? s : "none");
	return clean(out);
}

/* The first env value (by name) that differs, said into b. */
static bool env_differs(struct json_object *o, struct json_object *n, struct dv_buf *b)
{
	struct json_object *oe = get_o(o, "env"), *ne = get_o(n, "env");

	/* (json-c's foreach takes no NULL) */
	if (!ne || !oe) {
		if (!ne && !oe)
			return false;
		dv_buf_adds(b, ne ? "its env values were not recorded before"
				  : "it records no env values");
		return true;
	}
	json_object_object_foreach(ne, k, v)
	{
		const char *old = get_s(oe, k);

		if (!old || !json_object_is_type(v, json_type_string) ||
		    strcmp(old, json_object_get_string(v))) {
			dv_buf_adds(b, "env value ");
			dv_buf_add_safe(b, k, strlen(k));
			dv_buf_adds(b, old ? " changed" : " was added");
			return true;
		}
	}
	json_object_object_foreach(oe, k2, v2)
	{
		(void)v2;
		if (!get_s(ne, k2)) {
			dv_buf_adds(b, "env value ");
			dv_buf_add_safe(b, k2, strlen(k2));
			dv_buf_adds(b, " was removed");
			return true;
		}
	}
	return false;
}

/* The first copied file (by path) that differs, said into b. */
static bool files_differ(struct json_object *o, struct json_object *n, struct dv_buf *b)
{
	struct json_object *of = get_o(o, "files"), *nf = get_o(n, "files");
	char d1[24], d2[24];

	if (same(get_s(o, "files_digest"), get_s(n, "files_digest")))
		return false;
	if (of && nf) {
		json_object_object_foreach(nf, k, v)
		{
			const char *old = get_s(of, k);
			const char *now = json_object_is_type(v, json_type_string)
						  ? json_object_get_string(v)
						  : NULL;

			if (!old) {
				dv_buf_adds(b, "copied file '");
				dv_buf_add_safe(b, k, strlen(k));
				dv_buf_addf(b, "' was added (%s)", short_digest(now, d2));
				return true;
			}
			if (!same(old, now)) {
				dv_buf_adds(b, "copied file '");
				dv_buf_add_safe(b, k, strlen(k));
				dv_buf_addf(b, "' changed (%s, now %s)", short_digest(old, d1),
					    short_digest(now, d2));
				return true;
			}
		}
		json_object_object_foreach(of, k2, v2)
		{
			if (!get_s(nf, k2)) {
				dv_buf_adds(b, "copied file '");
				dv_buf_add_safe(b, k2, strlen(k2));
				dv_buf_addf(b, "' was removed (it was %s)",
					    short_digest(json_object_get_string(v2), d1));
				return true;
			}
		}
	}
	dv_buf_adds(b, "its copied files changed (more than the recipe lists: not said which)");
	return true;
}

/* The first input of step `no` (1-based) that differs between the recipes
 * o (before) and n (now), said into b; false when none does. */
static bool recipe_diff(struct json_object *o, struct json_object *n, size_t no, struct dv_buf *b)
{
	char d1[24], d2[24];
	const char *x, *y;

	x = get_s(o, "kind");
	y = get_s(n, "kind");
	if (!same(x, y)) {
		dv_buf_addf(b, "its kind changed (%s, now %s)", short_hex(x, d1), short_hex(y, d2));
		return true;
	}
	if (!same(get_s(o, "text_digest"), get_s(n, "text_digest"))) {
		y = get_s(n, "kind");
		dv_buf_addf(b, "its %s changed (%s, now %s)",
			    !y || !strcmp(y, "run") ? "text"
			    : !strcmp(y, "copy")    ? "source path"
						    : "URL",
			    short_digest(get_s(o, "text_digest"), d1),
			    short_digest(get_s(n, "text_digest"), d2));
		return true;
	}
	if (!same(get_s(o, "shell"), get_s(n, "shell"))) {
		dv_buf_adds(b, "the shell changed");
		return true;
	}
	if (!same(get_s(o, "to"), get_s(n, "to"))) {
		dv_buf_adds(b, "its destination changed");
		return true;
	}
	if (env_differs(o, n, b))
		return true;
	if (!same(get_s(o, "git_ref"), get_s(n, "git_ref"))) {
		dv_buf_adds(b, "its git ref changed");
		return true;
	}
	x = get_s(o, "git_commit");
	y = get_s(n, "git_commit");
	if (!same(x, y)) {
		dv_buf_addf(b, "its git commit changed (%s, now %s)", short_hex(x, d1),
			    short_hex(y, d2));
		return true;
	}
	x = get_s(o, "download_sha256");
	y = get_s(n, "download_sha256");
	if (!same(x, y)) {
		dv_buf_addf(b, "its download digest changed (sha256:%s, now sha256:%s)",
			    short_hex(x, d1), short_hex(y, d2));
		return true;
	}
	if (files_differ(o, n, b))
		return true;
	x = get_s(o, "parent");
	y = get_s(n, "parent");
	if (!same(x, y)) {
		if (no == 1) {
			const char *name = get_s(n, "base");

			dv_buf_adds(b, "the base image changed (");
			if (name) {
				dv_buf_add_safe(b, name, strlen(name));
				dv_buf_adds(b, " ");
			}
			dv_buf_addf(b, "sha256:%s, was sha256:%s)", short_hex(y, d2),
				    short_hex(x, d1));
		} else {
			dv_buf_addf(b, "its parent step %zu changed", no - 1);
		}
		return true;
	}
	return false;
}

char *prov_recipe_why(const struct layer_store *st, const struct env_spec *spec, size_t i,
		      const char *parent, const char *base_name, const char *key,
		      const char *old_key, struct dv_error *err)
{
	struct json_object *o, *n;
	struct dv_buf b = { 0 };

	if (!old_key)
		return dv_xstrdup("never built for this env");
	if (!strcmp(old_key, key))
		return dv_xstrdup("built before from the same inputs, but its layer is no longer "
				  "in the store ('devenv gc' removed it)");
	o = recipe_read(st, old_key);
	if (!o)
		return dv_xasprintf("the last build's step %zu (%.12s) left no record of what it "
				    "was made of (built before devenv kept them, or gc removed it)",
				    i + 1, old_key);
	n = prov_recipe_make(spec, i, parent, base_name, err);
	if (!n) {
		json_object_put(o);
		return NULL;
	}
	if (!recipe_diff(o, n, i + 1, &b))
		dv_buf_adds(&b, "an input changed that devenv does not record");
	json_object_put(o);
	json_object_put(n);
	return dv_buf_steal(&b);
}

char *prov_recipe_diff(const char *old, const char *now, size_t no)
{
	struct json_object *o = json_tokener_parse(old), *n = json_tokener_parse(now);
	struct dv_buf b = { 0 };
	char *ret = NULL;

	if (o && n && json_object_is_type(o, json_type_object) &&
	    json_object_is_type(n, json_type_object))
		ret = recipe_diff(o, n, no, &b) ? dv_buf_steal(&b) : dv_xstrdup("");
	dv_buf_release(&b);
	json_object_put(o);
	json_object_put(n);
	return ret;
}

char *prov_recipe_why_note(const struct env_spec *spec, size_t i, const char *parent,
			   const char *base_name, const char *note, struct dv_error *err)
{
	struct json_object *n = prov_recipe_make(spec, i, parent, base_name, err);
	char *ret;

	if (!n)
		return NULL;
	ret = note ? prov_recipe_diff(note, json_object_to_json_string(n), i + 1) : NULL;
	json_object_put(n);
	if (ret && !ret[0]) {
		free(ret);
		ret = dv_xstrdup("an input changed that devenv does not record");
	}
	return ret;
}

char *prov_recipe_note(const struct layer_store *st, const char *key)
{
	struct json_object *r = recipe_read(st, key), *files;
	char *s;

	if (!r)
		return NULL;
	/* Small: no text (its digest says whether it changed), no label, a
	 * file list only when short (files_digest says the rest). */
	json_object_object_del(r, "text");
	json_object_object_del(r, "label");
	files = get_o(r, "files");
	if (files && json_object_object_length(files) > NOTE_MAX_FILES)
		json_object_object_del(r, "files");
	s = dv_xstrdup(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(r);
	return s;
}

/* 64 lower-case hex and ".json" */
static bool recipe_name(const char *name, char key[65])
{
	size_t n = strlen(name);

	if (n != 69 || strcmp(name + 64, ".json"))
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	memcpy(key, name, 64);
	key[64] = 0;
	return true;
}

int prov_recipe_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err)
{
	dv_autoclose int dfd =
		openat(st->root_fd, RECIPE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;

	if (dfd < 0)
		return errno == ENOENT
			       ? 0
			       : dv_err(err, errno, "cannot open '%s/%s'", st->root, RECIPE_DIR);
	d = dv_opendir_fd(dfd);
	if (!d)
		return dv_err(err, errno, "cannot read '%s/%s'", st->root, RECIPE_DIR);
	while ((de = readdir(d))) {
		char key[65];
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* a recipe whose key some cache entry holds stays */
		if (recipe_name(de->d_name, key) &&
		    fstatat(st->cache_fd, key, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT)
			return dv_err(err, errno, "cannot remove '%s/%s/%s'", st->root, RECIPE_DIR,
				      de->d_name);
		(*removed)++;
	}
	return 0;
}

void prov_recipe_explain(const struct dv_ctx *ctx, size_t i)
{
	/* --json: the sentence is the step's event's "why" (progress.c) */
	if (!ctx->explain || i >= ctx->explain->n || !ctx->explain->v[i][0] || ctx->quiet ||
	    ctx->events)
		return;
	printf("      why: %s\n", ctx->explain->v[i]);
	fflush(stdout);
}

/*
 * provision/allow.c - the developer's yes to an Envfile's requests
 * (trust.c), asked once per checkout and asked again when they change, as
 * direnv's `allow` and VS Code's Workspace Trust do.
 *
 * The yes is recorded in the store as trust/<env id>, a small JSON file:
 * the digest of the canonical request list, the checkout and Envfile it
 * was given for, when, and the requests' texts (to say which ones are new
 * when the list changes). An Envfile that asks for nothing never reads it;
 * one that asks reads this one file, and runs on when the digests match.
 *
 * The record belongs to the checkout, not to the env: `destroy` keeps it
 * (the checkout is still there, and the next `up` would ask the same
 * question), `gc` removes the records of checkouts whose Envfile is gone,
 * as `direnv prune` does, and `devenv allow --revoke` removes one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define TRUST_DIR "trust"

static void json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define autojson __attribute__((cleanup(json_putp)))

static bool valid_id(const char *id)
{
	return id && dv_str_is_hex(id, 12);
}

/* trust/<id> parsed, or NULL when there is none (or it cannot be read:
 * then the question is asked again, which is the safe side). */
static struct json_object *record_read(const struct layer_store *st, const char *id)
{
	dv_autofree char *text = NULL;
	char path[32];
	size_t len;

	if (!valid_id(id) || st->root_fd < 0)
		return NULL;
	snprintf(path, sizeof(path), TRUST_DIR "/%s", id);
	if (dv_read_file_at(st->root_fd, path, &text, &len, &(struct dv_error){ 0 }) < 0)
		return NULL;
	return json_tokener_parse(text);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Was request i's text in the recorded list? */
static bool was_recorded(struct json_object *rec, const struct prov_request *q)
{
	struct json_object *list;

	if (!rec || !json_object_object_get_ex(rec, "requests", &list) ||
	    !json_object_is_type(list, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *x = json_object_array_get_idx(list, i);

		if (json_object_is_type(x, json_type_string) &&
		    !strcmp(json_object_get_string(x), q->what))
			return true;
	}
	return false;
}

bool prov_trust_recorded(const struct layer_store *st, const char *id, const struct prov_requests *r)
{
	autojson struct json_object *rec = record_read(st, id);
	const char *d = jstr(rec, "digest");
	char hex[65];

	prov_trust_digest(r, hex);
	return d && !strcmp(d, hex);
}

int prov_trust_allow(const struct layer_store *st, const char *id, const struct env_spec *spec,
		     const struct prov_requests *r, struct dv_error *err)
{
	autojson struct json_object *o = NULL;
	struct json_object *list;
	dv_autoclose int dir = -1;
	const char *text;
	char hex[65];

	if (!valid_id(id))
		return dv_err(err, EINVAL, "invalid env id '%s'", id ? id : "");
	o = json_object_new_object();
	list = json_object_new_array();
	prov_trust_digest(r, hex);
	json_object_object_add(o, "digest", json_object_new_string(hex));
	if (spec->checkout)
		json_object_object_add(o, "checkout", json_object_new_string(spec->checkout));
	if (spec->relpath)
		json_object_object_add(o, "envfile", json_object_new_string(spec->relpath));
	json_object_object_add(o, "allowed", json_object_new_int64((int64_t)time(NULL)));
	for (size_t i = 0; i < r->n; i++)
		json_object_array_add(list, json_object_new_string(r->v[i].what));
	json_object_object_add(o, "requests", list);
	if (dv_mkdirat_ok(st->root_fd, TRUST_DIR, 0700, err) < 0)
		return dv_err_prefix(err, "cannot record the allowed requests");
	dir = dv_open_dir_at(st->root_fd, TRUST_DIR, err);
	if (dir < 0)
		return dv_err_prefix(err, "cannot record the allowed requests");
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	if (dv_write_file_atomic(dir, id, text, strlen(text), 0600, err) < 0)
		return dv_err_prefix(err, "cannot record the allowed requests");
	return 0;
}

int prov_trust_revoke(const struct layer_store *st, const char *id, struct dv_error *err)
{
	char path[32];

	if (!valid_id(id))
		return dv_err(err, EINVAL, "invalid env id '%s'", id ? id : "");
	snprintf(path, sizeof(path), TRUST_DIR "/%s", id);
	if (unlinkat(st->root_fd, path, 0) < 0) {
		if (errno == ENOENT)
			return dv_err_plain(err, ENOENT, "nothing was allowed for this checkout");
		return dv_err(err, errno, "cannot remove '%s/%s'", st->root, path);
	}
	return 0;
}

int prov_trust_gc(const struct layer_store *st, unsigned *removed, struct dv_error *err)
{
	dv_autoclose int dir =
		openat(st->root_fd, TRUST_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dv_autoclosedir DIR *d = NULL;
	struct dirent *de;

	*removed = 0;
	if (dir < 0)
		return errno == ENOENT ? 0 : dv_err(err, errno, "cannot read '%s/trust'", st->root);
	if (!(d = dv_opendir_fd(dir)))
		return dv_err(err, errno, "cannot read '%s/trust'", st->root);
	while ((de = readdir(d))) {
		autojson struct json_object *rec = NULL;
		const char *checkout, *envfile;
		dv_autofree char *path = NULL;
		struct stat sb;

		if (!valid_id(de->d_name))
			continue;
		rec = record_read(st, de->d_name);
		checkout = jstr(rec, "checkout");
		envfile = jstr(rec, "envfile");
		/* A damaged record allows nothing (the question is asked again):
		 * removed, saying so. */
		if (!rec || !json_object_is_type(rec, json_type_object))
			fprintf(stderr,
				"devenv: warning: '%s/" TRUST_DIR "/%s' is damaged; removed (the "
				"checkout's requests are asked again)\n",
				st->root, de->d_name);
		/* Only a file known to be gone counts: a checkout on a disk
		 * not mounted now (EACCES, ENOTDIR...) keeps its record. */
		if (checkout && envfile) {
			path = dv_xasprintf("%s/%s", checkout, envfile);
			if (lstat(path, &sb) == 0 || errno != ENOENT)
				continue;
		}
		if (unlinkat(dir, de->d_name, 0) == 0)
			(*removed)++;
	}
	return 0;
}

/* y or yes, any case, on one line of stdin; anything else (EOF too) is no.
 * One read: a terminal in canonical mode hands over one line. */
static bool read_yes(void)
{
	char buf[64];
	ssize_t n;
	size_t i = 0, end;

	do
		n = read(0, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	while (buf[i] == ' ' || buf[i] == '\t')
		i++;
	end = i + strcspn(buf + i, " \t\r\n");
	buf[end] = '\0';
	return !strcasecmp(buf + i, "y") || !strcasecmp(buf + i, "yes");
}

int prov_trust_check(const struct dv_ctx *ctx, const struct layer_store *st, const char *id,
		     const struct env_spec *spec, struct dv_error *err)
{
	struct prov_requests r;
	autojson struct json_object *rec = NULL;
	const char *allow = getenv("DEVENV_ALLOW"), *d;
	char hex[65];
	bool changed;
	int ret = -1;

	prov_trust_requests(spec, &r);
	if (!r.n || (allow && !strcmp(allow, "1"))) {
		ret = 0;
		goto out;
	}
	prov_trust_digest(&r, hex);
	/* Run over ssh by a devenv that asked its user (cmd/remote.c): the
	 * requests found here must be those allowed there. */
	if ((d = getenv("DEVENV_ALLOW_DIGEST")) && *d) {
		if (!strcmp(d, hex))
			ret = 0;
		else
			dv_err_usage(err,
				     "%s's requests beyond the default sandbox on this machine "
				     "differ from those allowed where devenv was run (its config.yaml's "
				     "dotfiles?); nothing was run",
				     r.file);
		goto out;
	}
	rec = record_read(st, id);
	d = jstr(rec, "digest");
	if (d && !strcmp(d, hex)) {
		ret = 0;
		goto out;
	}
	changed = d != NULL;
	if (ctx->json || !ctx->tty_in || !isatty(2)) {
		if (changed)
			dv_err_usage(err,
				     "%s's requests beyond the default sandbox changed since "
				     "this checkout was allowed; nothing was run: run 'devenv "
				     "allow' to see and allow them",
				     r.file);
		else
			dv_err_usage(err,
				     "%s asks for %zu thing%s beyond the default sandbox that "
				     "this checkout was never allowed; nothing was run: run "
				     "'devenv allow' to see and allow them",
				     r.file, r.n, r.n == 1 ? "" : "s");
		err->errnum = EPERM;
		goto out;
	}
	fflush(stdout);
	if (changed)
		fprintf(stderr,
			"devenv: %s's requests changed since you allowed them; it now "
			"asks for these beyond the default sandbox:\n",
			r.file);
	else
		fprintf(stderr, "devenv: %s asks for these beyond the default sandbox:\n", r.file);
	for (size_t i = 0; i < r.n; i++) {
		dv_autofree char *line = prov_request_line(&r, i);

		fprintf(stderr, "  %s%s\n", line,
			changed && !was_recorded(rec, &r.v[i]) ? " (new)" : "");
	}
	{
		const char *checkout = spec->checkout ? spec->checkout : ".";
		struct dv_buf co = { 0 };

		dv_buf_add_safe(&co, checkout, strlen(checkout));
		fprintf(stderr, "Allow %s for this checkout (%s)? [y/N] ", r.n == 1 ? "it" : "them",
			co.s);
		dv_buf_release(&co);
	}
	fflush(stderr);
	if (!read_yes()) {
		dv_err_usage(err, "not allowed; nothing was run ('devenv allow' allows %s later)",
			     r.n == 1 ? "it" : "them");
		err->errnum = EPERM;
		goto out;
	}
	ret = prov_trust_allow(st, id, spec, &r, err);
out:
	prov_requests_release(&r);
	return ret;
}

/* layers/image.c - image records: read, write, resolve, list, remove.
 *
 * Names reach here normalised and checked by ref.c, before any path is
 * built from them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/banned.h"

void layer_image_release(struct layer_image *img)
{
	free(img->name);
	free(img->id);
	dv_strv_release(&img->layers);
	free(img->config);
	free(img->from);
	free(img->from_env);
	free(img->from_trust);
	free(img->from_ids);
	*img = (struct layer_image){ 0 };
}

static bool is_image_id(const char *s)
{
	return dv_digest_hex(s) != NULL;
}

/* "HEX[,HEX...]": image ids without their prefix (a registry's word). */
static bool ids_list(const char *s)
{
	for (;;) {
		if (strspn(s, "0123456789abcdef") != 64 || (s[64] != ',' && s[64] != 0))
			return false;
		if (!s[64])
			return true;
		s += 65;
	}
}

/* One line naming the damaged record's file and what to do (EBADMSG). */
static int record_damaged(const struct layer_store *st, const char *name, struct dv_error *err)
{
	dv_autofree char *repo = NULL, *tag = NULL;

	if (layer_name_split(name, &repo, &tag, &(struct dv_error){ 0 }) < 0)
		return dv_err_plain(err, EBADMSG,
				    "the record of image '%s' is damaged; 'devenv rmi "
				    "%s' removes it",
				    name, name);
	return dv_err_plain(err, EBADMSG,
			    "'%s/images/%s/%s.json' is damaged; 'devenv rmi %s' "
			    "removes it, then pull or import the image again",
			    st->root, repo, tag, name);
}

/* Parse a record's text; every id in it is checked, since ids become paths. */
static int record_parse(const struct layer_store *st, const char *name, const char *text,
			struct layer_image *out, struct dv_error *err)
{
	layer_autojson struct json_object *o = json_tokener_parse(text);
	struct json_object *id, *layers, *config, *created, *from;
	struct layer_image img = { 0 };
	dv_autofree char *blob = NULL;
	dv_autoclose int bfd = -1;
	size_t i, n, len;

	if (!o || !json_object_object_get_ex(o, "id", &id) ||
	    !json_object_object_get_ex(o, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array) ||
	    !is_image_id(json_object_get_string(id)))
		return record_damaged(st, name, err);
	n = json_object_array_length(layers);
	for (i = 0; i < n; i++) {
		const char *l = json_object_get_string(json_object_array_get_idx(layers, i));

		if (!layer_is_id(l)) {
			dv_strv_release(&img.layers);
			return record_damaged(st, name, err);
		}
		dv_strv_push(&img.layers, l);
		img.size += layer_size(st, l);
	}
	img.name = dv_xstrdup(name);
	img.id = dv_xstrdup(json_object_get_string(id));
	if (json_object_object_get_ex(o, "created", &created))
		img.created = (long long)json_object_get_int64(created);
	if (json_object_object_get_ex(o, "from", &from) &&
	    json_object_is_type(from, json_type_object)) {
		struct json_object *src, *env;

		/* An unreadable origin is one no env can vouch for. */
		img.from = dv_xstrdup(json_object_object_get_ex(from, "source", &src) &&
						      json_object_is_type(src, json_type_string)
					      ? json_object_get_string(src)
					      : "?");
		if (json_object_object_get_ex(from, "env", &env) &&
		    json_object_is_type(env, json_type_string))
			img.from_env = dv_xstrdup(json_object_get_string(env));
		if (json_object_object_get_ex(from, "trust", &env) &&
		    json_object_is_type(env, json_type_string))
			img.from_trust = dv_xstrdup(json_object_get_string(env));
		if (json_object_object_get_ex(from, "ids", &env) &&
		    json_object_is_type(env, json_type_string) &&
		    ids_list(json_object_get_string(env)))
			img.from_ids = dv_xstrdup(json_object_get_string(env));
	}
	/* The config's exact bytes live in blobs/ (its digest is the id); the
	 * record's copy is for reading, and the fallback. */
	bfd = layer_blobs_dir(st, &(struct dv_error){ 0 });
	if (bfd >= 0 && dv_read_file_at(bfd, img.id + 7, &blob, &len, &(struct dv_error){ 0 }) == 0)
		img.config = dv_steal_ptr(&blob);
	else if (json_object_object_get_ex(o, "config", &config))
		img.config = dv_xstrdup(
			json_object_to_json_string_ext(config,
						       JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		img.config = dv_xstrdup("{}");
	*out = img;
	return 0;
}

int layer_record_read(const struct layer_store *st, const char *name, struct layer_image *out,
		      struct dv_error *err)
{
	dv_autofree char *repo = NULL, *tag = NULL, *file = NULL, *text = NULL;
	dv_autoclose int dfd = -1;
	struct dv_error e = { 0 };
	size_t len;

	if (layer_name_split(name, &repo, &tag, err) < 0)
		return -1;
	dfd = dv_open_dir_at(st->images_fd, repo, &e);
	file = dv_xasprintf("%s.json", tag);
	if (dfd < 0 || dv_read_file_at(dfd, file, &text, &len, &e) < 0) {
		if (e.errnum == ENOENT || e.errnum == ENOTDIR)
			return dv_err_plain(err, ENOENT, "image '%s' not found", name);
		*err = e;
		return -1;
	}
	return record_parse(st, name, text, out, err);
}

int layer_record_write(const struct layer_store *st, const struct layer_image *img,
		       struct dv_error *err)
{
	dv_autofree char *repo = NULL, *tag = NULL, *file = NULL, *path = NULL;
	layer_autojson struct json_object *o = json_object_new_object();
	struct json_object *layers = json_object_new_array(), *config;
	dv_autoclose int dfd = -1;
	const char *text;
	char *p;
	size_t i;

	if (layer_name_split(img->name, &repo, &tag, err) < 0)
		return -1;
	/* Create images/<host>/<path...> one folder at a time, never through a link. */
	path = dv_xstrdup(repo);
	for (p = path;; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;

			*p = 0;
			if (dv_mkdirat_ok(st->images_fd, path, 0700, err) < 0)
				return -1;
			*p = c;
			if (!c)
				break;
		}
	}
	dfd = dv_open_dir_at(st->images_fd, repo, err);
	if (dfd < 0)
		return -1;
	config = json_tokener_parse(img->config);
	json_object_object_add(o, "name", json_object_new_string(img->name));
	json_object_object_add(o, "id", json_object_new_string(img->id));
	for (i = 0; i < img->layers.n; i++)
		json_object_array_add(layers, json_object_new_string(img->layers.v[i]));
	json_object_object_add(o, "layers", layers);
	json_object_object_add(o, "config", config);
	json_object_object_add(o, "created", json_object_new_int64(img->created));
	if (img->from) {
		struct json_object *from = json_object_new_object();

		json_object_object_add(from, "source", json_object_new_string(img->from));
		if (img->from_env)
			json_object_object_add(from, "env", json_object_new_string(img->from_env));
		if (img->from_trust)
			json_object_object_add(from, "trust",
					       json_object_new_string(img->from_trust));
		if (img->from_ids && ids_list(img->from_ids))
			json_object_object_add(from, "ids", json_object_new_string(img->from_ids));
		json_object_object_add(o, "from", from);
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	file = dv_xasprintf("%s.json", tag);
	if (dv_write_file_atomic(dfd, file, text, strlen(text), 0600, err) < 0)
		return dv_err_prefix(err, "cannot store image '%s'", img->name);
	return 0;
}

/* Collect every record below images/: depth >= 2, "<tag>.json". */
static void list_dir(const struct layer_store *st, int dfd, const char *prefix, int depth,
		     struct layer_image **v, size_t *n, size_t *cap, struct dv_strv *damaged)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(dfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			dv_autofree char *sub = prefix[0] ? dv_xasprintf("%s/%s", prefix, de->d_name)
							  : dv_xstrdup(de->d_name);
			dv_autoclose int sfd =
				openat(dfd, de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sfd >= 0)
				list_dir(st, sfd, sub, depth + 1, v, n, cap, damaged);
		} else if (S_ISREG(sb.st_mode) && depth >= 2 &&
			   dv_str_endswith(de->d_name, ".json")) {
			dv_autofree char *text = NULL;
			dv_autofree char *name =
				dv_xasprintf("%s%s%.*s", prefix, de->d_name[0] == '@' ? "" : ":",
					     (int)(strlen(de->d_name) - 5), de->d_name);
			struct layer_image img = { 0 };
			size_t len;

			if (dv_read_file_at(dfd, de->d_name, &text, &len, &(struct dv_error){ 0 }) <
				    0 ||
			    record_parse(st, name, text, &img, &(struct dv_error){ 0 }) < 0) {
				/* skipped, not fatal to listing */
				if (damaged)
					dv_strv_push(damaged, name);
				continue;
			}
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 8;
				*v = dv_xrealloc(*v, *cap * sizeof(**v));
			}
			(*v)[(*n)++] = img;
		}
	}
}

static int cmp_image(const void *a, const void *b)
{
	return strcmp(((const struct layer_image *)a)->name, ((const struct layer_image *)b)->name);
}

int layer_image_list(const struct layer_store *st, struct layer_image **out, size_t *n,
		     struct dv_error *err)
{
	struct layer_image *v = NULL;
	size_t cnt = 0, cap = 0;
	dv_autoclose int peeked = -1;
	int images_fd = st->images_fd;

	(void)err;
	/* A peeked store (layer_store_peek) has only its root open. */
	if (images_fd < 0 && st->root_fd >= 0)
		images_fd = peeked =
			openat(st->root_fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (images_fd >= 0)
		list_dir(st, images_fd, "", 0, &v, &cnt, &cap, NULL);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_image);
	*out = v;
	*n = cnt;
	return 0;
}

static int remove_record(const struct layer_store *st, const char *name, struct dv_error *err);

int layer_image_damaged(const struct layer_store *st, struct dv_strv *out)
{
	struct layer_image *v = NULL;
	size_t cnt = 0, cap = 0;

	list_dir(st, st->images_fd, "", 0, &v, &cnt, &cap, out);
	for (size_t i = 0; i < cnt; i++)
		layer_image_release(&v[i]);
	free(v);
	return (int)out->n;
}

void layer_image_say_damaged(const struct layer_store *st, const char *name)
{
	struct layer_image img = { 0 };
	struct dv_error e = { 0 };

	if (layer_record_read(st, name, &img, &e) < 0)
		dv_err_print(&e);
	layer_image_release(&img);
}

int layer_image_remove_damaged(const struct layer_store *st, const char *ref, char **out_name,
			       struct dv_error *err)
{
	for (int remote = 0; remote < 2; remote++) {
		dv_autofree char *name = NULL;
		struct layer_image img = { 0 };
		struct dv_error e = { 0 };

		if (layer_ref_normalize(ref, !remote, &name, err) < 0)
			return -1;
		if (layer_record_read(st, name, &img, &e) == 0) {
			layer_image_release(&img);
			continue;
		}
		if (e.errnum != EBADMSG)
			continue;
		if (remove_record(st, name, err) < 0)
			return -1;
		*out_name = dv_steal_ptr(&name);
		return 0;
	}
	return dv_err_plain(err, ENOENT, "no damaged record of image '%s'", ref);
}

static void free_list(struct layer_image *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		layer_image_release(&v[i]);
	free(v);
}

/* "sha256:<hex>", or a prefix of >= 12 hex digits with or without "sha256:". */
static const char *id_prefix(const char *ref)
{
	const char *h = dv_str_startswith(ref, "sha256:") ? ref + 7 : ref;
	size_t n = strlen(h);

	return n >= 12 && n <= 64 && dv_str_is_hex(h, n) ? h : NULL;
}

static int resolve_id(const struct layer_store *st, const char *ref, const char *hex,
		      struct layer_image *out, struct dv_error *err)
{
	struct layer_image *v = NULL;
	size_t n = 0, i, found = (size_t)-1;

	if (layer_image_list(st, &v, &n, err) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (strncmp(v[i].id + 7, hex, strlen(hex)))
			continue;
		if (found != (size_t)-1 && strcmp(v[found].id, v[i].id)) {
			free_list(v, n);
			return dv_err_usage(err, "image id '%s' is ambiguous; give more digits",
					    ref);
		}
		if (found == (size_t)-1)
			found = i;
	}
	if (found == (size_t)-1) {
		free_list(v, n);
		return dv_err_plain(err, ENOENT, "image '%s' not found", ref);
	}
	*out = v[found];
	v[found] = (struct layer_image){ 0 };
	free_list(v, n);
	return 0;
}

static int resolve(const struct layer_store *st, const char *ref, struct layer_image *out,
		   bool *by_id, struct dv_error *err)
{
	dv_autofree char *local = NULL, *remote = NULL;
	struct dv_error e = { 0 };
	const char *hex = ref ? id_prefix(ref) : NULL;

	if (hex && (dv_str_startswith(ref, "sha256:") || strlen(hex) == 64))
		goto by_id;
	if (layer_ref_normalize(ref, true, &local, err) < 0)
		return -1;
	if (layer_record_read(st, local, out, &e) == 0)
		return 0;
	if (e.errnum != ENOENT)
		goto fail;
	if (layer_ref_normalize(ref, false, &remote, err) < 0)
		return -1;
	if (strcmp(remote, local)) {
		e = (struct dv_error){ 0 };
		if (layer_record_read(st, remote, out, &e) == 0)
			return 0;
		if (e.errnum != ENOENT)
			goto fail;
	}
	if (!hex)
		goto missing;
by_id:
	e = (struct dv_error){ 0 };
	if (resolve_id(st, ref, hex, out, &e) == 0) {
		*by_id = true;
		return 0;
	}
	if (e.errnum != ENOENT)
		goto fail;
missing:
	if (layer_ref_has_host(ref))
		return dv_err_plain(err, ENOENT,
				    "image '%s' not found; pull it with 'devenv pull %s'", ref, ref);
	return dv_err_plain(err, ENOENT,
			    "image '%s' not found; import one with 'devenv image import FILE %s'",
			    ref, ref);
fail:
	*err = e;
	return -1;
}

int layer_image_resolve(const struct layer_store *st, const char *ref, struct layer_image *out,
			struct dv_error *err)
{
	bool by_id = false;

	return resolve(st, ref, out, &by_id, err);
}

/* Remove one record, then the folders it leaves empty. */
static int remove_record(const struct layer_store *st, const char *name, struct dv_error *err)
{
	dv_autofree char *repo = NULL, *tag = NULL, *file = NULL;
	dv_autoclose int dfd = -1;
	char *slash;

	if (layer_name_split(name, &repo, &tag, err) < 0)
		return -1;
	dfd = dv_open_dir_at(st->images_fd, repo, err);
	if (dfd < 0)
		return -1;
	file = dv_xasprintf("%s.json", tag);
	if (unlinkat(dfd, file, 0) < 0)
		return dv_err(err, errno, "cannot remove image '%s'", name);
	fsync(dfd);
	do {
		if (unlinkat(st->images_fd, repo, AT_REMOVEDIR) < 0)
			break; /* not empty: other tags live there */
		slash = strrchr(repo, '/');
		if (slash)
			*slash = 0;
	} while (slash);
	return 0;
}

int layer_image_remove(const struct layer_store *st, const char *ref, struct dv_error *err)
{
	struct layer_image img = { 0 }, *v = NULL;
	size_t n = 0, i;
	bool by_id = false;
	int ret;

	if (resolve(st, ref, &img, &by_id, err) < 0)
		return -1;
	/* By name: that tag. By id: every tag of that image. */
	if (!by_id) {
		ret = remove_record(st, img.name, err);
		layer_image_release(&img);
		return ret;
	}
	ret = layer_image_list(st, &v, &n, err);
	for (i = 0; ret == 0 && i < n; i++)
		if (!strcmp(v[i].id, img.id))
			ret = remove_record(st, v[i].name, err);
	free_list(v, n);
	layer_image_release(&img);
	return ret;
}

void layer_image_set_layers(const struct layer_store *st, struct layer_image *img,
			    const struct dv_strv *ids)
{
	for (size_t i = 0; i < ids->n; i++) {
		dv_strv_push(&img->layers, ids->v[i]);
		img->size += layer_size(st, ids->v[i]);
	}
}

int layer_image_scope(const struct layer_store *st, struct layer_image *img, const char *source,
		      const char *env, struct dv_error *err)
{
	free(img->from);
	free(img->from_env);
	img->from = dv_xstrdup(source);
	img->from_env = env ? dv_xstrdup(env) : NULL;
	return layer_record_write(st, img, err);
}

int layer_image_record(const struct layer_store *st, struct layer_image *img,
		       struct layer_image *out, struct dv_error *err)
{
	img->created = (long long)time(NULL);
	if (layer_record_write(st, img, err) < 0) {
		layer_image_release(img);
		return -1;
	}
	if (out)
		*out = *img;
	else
		layer_image_release(img);
	*img = (struct layer_image){ 0 };
	return 0;
}

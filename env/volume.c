/*
 * env/volume.c - named volumes: <store>/volumes/<NAME>/, plain
 * folders bound into the env (and services) that name them.
 *
 * NAME is an env's own NAME-ID-VOLUME (volname.c), or the name of a
 * shared, store-wide volume. Beside each folder, volumes/.NAME.json records
 * whose it is: {"volume":"cache","env":{"id":"…","name":"proj"}}, or
 * {"volume":"toolcache","shared":true}. It is written before the folder
 * appears, and lives outside it, where the env cannot change it. A folder
 * without one was made before volumes were per env (below).
 *
 * A volume is created on first use by making it under tmp/ and renaming it
 * into volumes/ (RENAME_NOREPLACE), so two `up`s racing for the same name
 * both end up with the one folder. It is removed by renaming it into tmp/
 * first, so volumes/ never shows a half-removed volume. Which envs name a
 * volume is read from their state.json (`volumes`, store names, recorded by
 * each up); `destroy` never removes one and `gc` never looks at them.
 *
 * Volumes made before, when volumes/NAME was one namespace for the whole
 * store (env_vol_adopt): the first up (or provision) of an env whose
 * state.json names one and whose Envfile still names it as its own takes it
 * over, renaming it to NAME-ID-VOLUME, when no other env's state.json names
 * it. When another does (two checkouts of one project, or two projects,
 * shared it without saying so), nobody takes it: it is recorded as
 * store-wide, where `shared: true` reaches it, and each env starts with an
 * empty volume of its own. Either way one note says so. This is decided
 * under the env's lock, before its new state.json is written, and the
 * record is written before that state: an env deciding at the same time
 * sees either the other's old state (and decides the same) or its record.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* What .NAME.json says. */
struct vrec {
	bool present, shared;
	bool damaged; /* a record is there but does not read as one */
	char volume[ENV_VOL_NAME_MAX + 1];
	char env_id[16], env_name[ENV_VOL_NAME_MAX + 1];
};

static int check_name(const char *name, struct dv_error *err)
{
	if (!env_vol_name_ok(name))
		return dv_err_usage(err,
				    "'%.80s' is not a volume name (1 to 63 lower-case letters, "
				    "digits, '_', '.' or '-', starting with a letter or digit); "
				    "'devenv volume ls' lists them",
				    name);
	return 0;
}

static int volumes_fd(const struct layer_store *st, bool create, struct dv_error *err)
{
	if (create && dv_mkdirat_ok(st->root_fd, "volumes", 0700, err) < 0)
		return -1;
	return openat(st->root_fd, "volumes", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool is_dir_at(int vfd, const char *name)
{
	struct stat sb;

	return fstatat(vfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

/* A string field that is a valid name, copied; else false. */
static bool get_name(struct json_object *o, const char *key, char *out, size_t size)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (!env_vol_name_ok(s) || strlen(s) >= size)
		return false;
	snprintf(out, size, "%s", s);
	return true;
}

/* The record of volume `name`; r->present false when there is none, and
 * r->damaged too when one is there that does not read as a record. */
static void rec_read(int vfd, const char *name, struct vrec *r)
{
	dv_autofree char *path = dv_xasprintf(".%s.json", name);
	dv_autofree char *text = NULL;
	struct json_object *o, *env, *sh;
	struct dv_error e = { 0 };
	size_t len;

	memset(r, 0, sizeof(*r));
	if (dv_read_file_at(vfd, path, &text, &len, &e) < 0) {
		r->damaged = e.errnum != ENOENT;
		return;
	}
	if (!(o = json_tokener_parse(text))) {
		r->damaged = true;
		return;
	}
	if (!get_name(o, "volume", r->volume, sizeof(r->volume)))
		goto out;
	if (json_object_object_get_ex(o, "shared", &sh) && json_object_get_boolean(sh)) {
		r->shared = r->present = true;
		goto out;
	}
	if (json_object_object_get_ex(o, "env", &env) &&
	    get_name(env, "id", r->env_id, sizeof(r->env_id)) && dv_str_is_hex(r->env_id, 12) &&
	    get_name(env, "name", r->env_name, sizeof(r->env_name)))
		r->present = true;
out:
	r->damaged = !r->present;
	json_object_put(o);
}

static void say_damaged(const struct layer_store *st, const char *name)
{
	fprintf(stderr,
		"devenv: warning: '%s/volumes/.%s.json' is damaged; whose volume '%s' is "
		"is unknown, so it counts as shared: 'devenv volume rm %s' removes it\n",
		st->root, name, name, name);
}

/* Names are [a-z0-9_.-] (checked), so the JSON needs no escaping. */
static int rec_write(int vfd, const char *name, const struct vrec *r, struct dv_error *err)
{
	dv_autofree char *path = dv_xasprintf(".%s.json", name);
	dv_autofree char *text =
		r->shared
			? dv_xasprintf("{\"volume\":\"%s\",\"shared\":true}\n", r->volume)
			: dv_xasprintf("{\"volume\":\"%s\",\"env\":{\"id\":\"%s\",\"name\":\"%s\"}}\n",
				       r->volume, r->env_id, r->env_name);

	if (dv_write_file_atomic(vfd, path, text, strlen(text), 0600, err) < 0)
		return dv_err_prefix(err, "recording volume '%s'", name);
	return 0;
}

static bool rec_same_owner(const struct vrec *a, const struct vrec *b)
{
	if (a->shared || b->shared)
		return a->shared == b->shared && !strcmp(a->volume, b->volume);
	return !strcmp(a->env_id, b->env_id) && !strcmp(a->volume, b->volume);
}

/* What m of the env (spec, env_id) is: its store name and its record. */
static void rec_for(const struct env_spec *spec, const char *env_id, const struct env_mount *m,
		    char store[ENV_VOL_NAME_MAX + 1], struct vrec *r)
{
	memset(r, 0, sizeof(*r));
	env_vol_of(spec, env_id, m, store);
	r->present = true;
	r->shared = m->shared;
	snprintf(r->volume, sizeof(r->volume), "%s", m->source);
	if (!m->shared) {
		snprintf(r->env_id, sizeof(r->env_id), "%s", env_id);
		snprintf(r->env_name, sizeof(r->env_name), "%s", spec->name);
	}
}

/* A folder made whole under tmp/, then renamed in: a racing `up` either
 * finds it there or loses the rename and uses the winner's. */
static int create_folder(const struct layer_store *st, int vfd, const char *name,
			 struct dv_error *err)
{
	dv_autofree char *staging = NULL;
	dv_autofree char *from = NULL;

	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	from = dv_xasprintf("%s/diff", staging);
	if (renameat2(st->tmp_fd, from, vfd, name, RENAME_NOREPLACE) < 0 && errno != EEXIST) {
		int e = errno;

		layer_staging_discard(st, staging, &(struct dv_error){ 0 });
		return dv_err(err, e, "cannot create volume '%s'", name);
	}
	layer_staging_discard(st, staging, &(struct dv_error){ 0 });
	return 0;
}

/* The env's own volume under the name it had when the env was called
 * otherwise (its `name:` changed; the id, the checkout's, did not): renamed
 * to `store`. 1 when there was one, 0 when not. */
static int follow_rename(int vfd, const char *store, const struct vrec *want, struct dv_error *err)
{
	dv_autoclosedir DIR *d = dv_opendir_fd(vfd);
	char tag[32];
	struct dirent *de;

	snprintf(tag, sizeof(tag), "-%s-", want->env_id);
	while (d && (de = readdir(d))) {
		struct vrec r;
		dv_autofree char *old = NULL;

		if (!env_vol_name_ok(de->d_name) || !strstr(de->d_name, tag) ||
		    !is_dir_at(vfd, de->d_name))
			continue;
		rec_read(vfd, de->d_name, &r);
		if (!r.present || !rec_same_owner(&r, want))
			continue;
		old = dv_xasprintf(".%s.json", de->d_name);
		if (rec_write(vfd, store, want, err) < 0)
			return -1;
		if (renameat2(vfd, de->d_name, vfd, store, RENAME_NOREPLACE) < 0)
			return errno == EEXIST
				       ? 0
				       : dv_err(err, errno, "cannot rename volume '%s'", de->d_name);
		unlinkat(vfd, old, 0);
		fprintf(stderr,
			"devenv: note: env '%s' was called '%s': its volume '%s' is now '%s'\n",
			want->env_name, r.env_name, want->volume, store);
		return 1;
	}
	return 0;
}

int env_vol_prepare(const struct layer_store *st, const struct env_spec *spec, const char *env_id,
		    const struct env_mount *m, char **out, struct dv_error *err)
{
	dv_autoclose int vfd = -1;
	char store[ENV_VOL_NAME_MAX + 1];
	struct vrec want, have;
	struct stat sb;
	int r = 0;

	rec_for(spec, env_id, m, store, &want);
	if (check_name(store, err) < 0)
		return -1;
	vfd = volumes_fd(st, true, err);
	if (vfd < 0)
		return dv_err_isset(err) ? -1
					 : dv_err(err, errno, "cannot open '%s/volumes'", st->root);
	if (fstatat(vfd, store, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
		if (!m->shared && (r = follow_rename(vfd, store, &want, err)) < 0)
			return -1;
		/* The record first: a folder is never there without one. */
		if (r == 0 && (rec_write(vfd, store, &want, err) < 0 ||
			       create_folder(st, vfd, store, err) < 0))
			return -1;
	}
	if (fstatat(vfd, store, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return dv_err(err, errno, "cannot create volume '%s'", store);
	if (!S_ISDIR(sb.st_mode))
		return dv_err_plain(err, EINVAL, "'%s/volumes/%s' is not a folder; remove it",
				    st->root, store);
	rec_read(vfd, store, &have);
	if (!have.present) {
		/* Made before volumes were per env: named as shared, it is the
		 * store-wide volume from now on (env_vol_adopt leaves it).
		 * A damaged record gets the same: the folder has this env's
		 * own store name (its id in it), or the shared name it asks for. */
		if (have.damaged)
			fprintf(stderr,
				"devenv: warning: '%s/volumes/.%s.json' was damaged; written "
				"anew as %s\n",
				st->root, store, m->shared ? "shared" : "this env's own");
		if (rec_write(vfd, store, &want, err) < 0)
			return -1;
	} else if (!rec_same_owner(&have, &want)) {
		/* Only a name made to look like another env's can get here. */
		if (have.shared)
			return dv_err_at(err, spec->display, m->line, m->col,
					 "volume '%s' would be the folder '%s', which is the shared "
					 "volume '%s'; rename the volume",
					 m->source, store, have.volume);
		dv_err_at(err, spec->display, m->line, m->col,
			  "volume '%s' would be the folder '%s', which is volume '%s' of env '%s' "
			  "(%s); rename the volume",
			  m->source, store, have.volume, have.env_name, have.env_id);
		err->errnum = EEXIST;
		return -1;
	}
	*out = dv_xasprintf("%s/volumes/%s", st->root, store);
	return 0;
}

/* Does an env other than env_id name `name` in its state.json? Their names
 * into *who ("'a', 'b'"). */
static bool others_name(const struct env_record *envs, size_t n, const char *env_id,
			const char *name, struct dv_buf *who)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(envs[i].id, env_id))
			continue;
		for (size_t j = 0; j < envs[i].volumes.n; j++)
			if (!strcmp(envs[i].volumes.v[j], name)) {
				dv_buf_addf(who, "%s'%s' (%s)", who->len ? ", " : "", envs[i].name,
					    envs[i].id);
				break;
			}
	}
	return who->len > 0;
}

int env_vol_adopt(const struct layer_store *st, const struct env_spec *spec, const char *env_id,
		  struct dv_strv *recorded, struct dv_error *err)
{
	dv_autoclose int vfd = volumes_fd(st, false, err);
	const struct env_mount *m;
	struct env_record *envs = NULL;
	size_t n_envs = 0;
	bool listed = false;
	int ret = -1, taken = 0;

	if (vfd < 0)
		return 0; /* no volume at all yet */
	for (size_t i = 0; (m = envfile_volume_nth(spec, i)) != NULL; i++) {
		char store[ENV_VOL_NAME_MAX + 1];
		struct vrec want, have;
		struct dv_buf who = { 0 };
		size_t known = SIZE_MAX;

		if (m->shared)
			continue;
		for (size_t j = 0; j < recorded->n && known == SIZE_MAX; j++)
			if (!strcmp(recorded->v[j], m->source))
				known = j;
		rec_for(spec, env_id, m, store, &want);
		if (known == SIZE_MAX || is_dir_at(vfd, store) || !is_dir_at(vfd, m->source))
			continue;
		/* The other envs first, then the record: see the top. */
		if (!listed && env_list(st, NULL, &envs, &n_envs, err) < 0)
			goto out;
		listed = true;
		rec_read(vfd, m->source, &have);
		if (have.present && !have.shared)
			continue;   /* another env's own volume, whatever its name looks like */
		if (have.damaged) { /* whose it is is unknown: left as it is */
			say_damaged(st, m->source);
			continue;
		}
		if (!have.present && !others_name(envs, n_envs, env_id, m->source, &who)) {
			if (rec_write(vfd, store, &want, err) < 0)
				goto out;
			if (renameat2(vfd, m->source, vfd, store, RENAME_NOREPLACE) < 0 &&
			    errno != EEXIST && errno != ENOENT) {
				dv_err(err, errno, "cannot rename volume '%s' to '%s'", m->source,
				       store);
				goto out;
			}
			fprintf(stderr,
				"devenv: note: volume '%s', made before volumes were per env, is now "
				"env '%s''s own: '%s'\n",
				m->source, spec->name, store);
			/* What a running env mounts is called so now. */
			free(recorded->v[known]);
			recorded->v[known] = dv_xstrdup(store);
			taken++;
			continue;
		}
		if (!have.present) {
			struct vrec shared = { .present = true, .shared = true };

			snprintf(shared.volume, sizeof(shared.volume), "%s", m->source);
			if (rec_write(vfd, m->source, &shared, err) < 0) {
				dv_buf_release(&who);
				goto out;
			}
		}
		fprintf(stderr,
			"devenv: note: volume '%s' %s%s%s: env '%s' gets its own, empty '%s' (the "
			"store-wide '%s' stays as it is; to use it, write {name: %s, shared: true, "
			"target: %s}; README: Volumes and host mounts)\n",
			m->source, who.len ? "is named by env " : "is store-wide (shared)",
			who.len ? who.s : "", who.len ? " too" : "", spec->name, store, m->source,
			m->source, m->target);
		dv_buf_release(&who);
	}
	ret = taken;
out:
	for (size_t i = 0; i < n_envs; i++)
		env_record_release(&envs[i]);
	free(envs);
	return ret;
}

bool env_vol_exists(const struct layer_store *st, const char *name)
{
	dv_autoclose int vfd = volumes_fd(st, false, &(struct dv_error){ 0 });

	return vfd >= 0 && env_vol_name_ok(name) && is_dir_at(vfd, name);
}

int env_vol_remove(const struct layer_store *st, const char *name, struct dv_error *err)
{
	dv_autoclose int vfd = -1;
	dv_autofree char *staging = NULL;
	dv_autofree char *dest = NULL;
	dv_autofree char *rec = NULL;

	if (check_name(name, err) < 0)
		return -1;
	vfd = volumes_fd(st, false, err);
	if (vfd < 0 || !env_vol_exists(st, name))
		return dv_err_plain(err, ENOENT,
				    "no volume named '%s'; 'devenv volume ls' lists them", name);
	if (layer_staging_new(st, &staging, err) < 0)
		return -1;
	dest = dv_xasprintf("%s/volume", staging);
	if (renameat(vfd, name, st->tmp_fd, dest) < 0) {
		int e = errno;

		layer_staging_discard(st, staging, &(struct dv_error){ 0 });
		return dv_err(err, e, "cannot remove volume '%s'", name);
	}
	rec = dv_xasprintf(".%s.json", name);
	unlinkat(vfd, rec, 0);
	/* Never follows a link nor crosses a mount: a link the env planted
	 * in the volume cannot make this remove anything outside. */
	if (layer_staging_discard(st, staging, err) < 0)
		return dv_err_prefix(err, "volume '%s' is gone; 'devenv gc' removes its remains",
				     name);
	return 0;
}

int env_vol_list(const struct layer_store *st, bool sizes, struct env_vol **out, size_t *n,
		 struct dv_error *err)
{
	dv_autoclose int vfd = volumes_fd(st, false, err);
	dv_autoclosedir DIR *d = NULL;
	struct env_record *envs = NULL;
	size_t n_envs = 0, count = 0;
	struct env_vol *v = NULL;
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (vfd < 0 && errno == ENOENT)
		return 0;
	if (vfd < 0 || !(d = dv_opendir_fd(vfd)))
		return dv_err(err, errno, "cannot read '%s/volumes'", st->root);
	if (env_list(st, NULL, &envs, &n_envs, err) < 0)
		return -1;
	while ((de = readdir(d))) {
		struct env_vol *p;
		struct vrec r;

		if (!env_vol_name_ok(de->d_name) || !is_dir_at(vfd, de->d_name))
			continue;
		v = dv_xrealloc(v, (count + 1) * sizeof(*v));
		p = &v[count++];
		memset(p, 0, sizeof(*p));
		p->name = dv_xstrdup(de->d_name);
		rec_read(vfd, de->d_name, &r);
		p->volume = dv_xstrdup(r.present ? r.volume : de->d_name);
		p->shared = !r.present || r.shared;
		p->legacy = !r.present && !r.damaged;
		p->damaged = r.damaged;
		if (r.damaged)
			say_damaged(st, de->d_name);
		if (!p->shared) {
			p->owner_id = dv_xstrdup(r.env_id);
			p->owner_name = dv_xstrdup(r.env_name);
		}
		if (sizes)
			p->size = dv_du_at(vfd, de->d_name);
		for (size_t i = 0; i < n_envs; i++)
			for (size_t j = 0; j < envs[i].volumes.n; j++)
				if (strcmp(envs[i].volumes.v[j], p->name) == 0) {
					dv_strv_push(&p->envs, envs[i].name);
					dv_strv_push(&p->env_ids, envs[i].id);
					if (ctr_probe(&envs[i].init) != CTR_STOPPED)
						p->running = true;
				}
	}
	for (size_t i = 0; i < n_envs; i++)
		env_record_release(&envs[i]);
	free(envs);
	/* Sorted, so the listing reads the same every time. */
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && strcmp(v[j - 1].name, v[j].name) > 0; j--) {
			struct env_vol t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	*n = count;
	return 0;
}

void env_vols_free(struct env_vol *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].volume);
		free(v[i].owner_id);
		free(v[i].owner_name);
		dv_strv_release(&v[i].envs);
		dv_strv_release(&v[i].env_ids);
	}
	free(v);
}

int env_vol_folder(const struct env_mount *m, char **dir, void *arg, struct dv_error *err)
{
	const struct env_vol_env *ve = arg;

	return env_vol_prepare(ve->st, ve->spec, ve->env_id, m, dir, err);
}

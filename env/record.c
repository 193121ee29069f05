/*
 * env/record.c - envs/<id>/state.json: read and write atomically.
 *
 * Only what cannot be re-derived is stored; whether the env runs is read
 * live from /proc (ctr_probe), so a crash can never leave a stale "running".
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "env/env.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

static char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return dv_xstrdup("");
	return dv_xstrdup(json_object_get_string(v));
}

static void get_strv(struct json_object *o, const char *key, struct dv_strv *out)
{
	struct json_object *v;
	size_t i, n;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);

		if (json_object_is_type(e, json_type_string))
			dv_strv_push(out, json_object_get_string(e));
	}
}

static long long get_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

/* network, ports and the host-side helpers (net.c). */
static void read_net(struct json_object *o, struct env_record *out)
{
	struct json_object *ports, *net;
	size_t n;

	out->network = get_str(o, "network");
	if (json_object_object_get_ex(o, "ports", &ports) &&
	    json_object_is_type(ports, json_type_array) && (n = json_object_array_length(ports))) {
		out->ports = dv_xcalloc(n, sizeof(*out->ports));
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(ports, i);

			if (!json_object_is_type(e, json_type_object))
				continue;
			out->ports[out->n_ports++] = (struct hnet_port){
				.host_ip = get_str(e, "host_ip"),
				.host_port = (unsigned)get_int(e, "host_port"),
				.container_port = (unsigned)get_int(e, "container_port"),
				.auto_port = get_int(e, "auto") != 0,
			};
		}
	}
	if (json_object_object_get_ex(o, "net_helpers", &net)) {
		out->net.helper.pid = (pid_t)get_int(net, "helper_pid");
		out->net.helper.start_time = (unsigned long long)get_int(net, "helper_start");
		out->net.outbound.pid = (pid_t)get_int(net, "outbound_pid");
		out->net.outbound.start_time = (unsigned long long)get_int(net, "outbound_start");
	}
}

static void write_net(struct json_object *o, const struct env_record *st)
{
	struct json_object *ports = json_object_new_array(), *net = json_object_new_object();

	json_object_object_add(o, "network", json_object_new_string(st->network ? st->network : ""));
	for (size_t i = 0; i < st->n_ports; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "host_ip", json_object_new_string(st->ports[i].host_ip));
		json_object_object_add(e, "host_port",
				       json_object_new_int64(st->ports[i].host_port));
		json_object_object_add(e, "container_port",
				       json_object_new_int64(st->ports[i].container_port));
		if (st->ports[i].auto_port) /* devenv's choice, kept for the next start */
			json_object_object_add(e, "auto", json_object_new_boolean(true));
		json_object_array_add(ports, e);
	}
	json_object_object_add(o, "ports", ports);
	json_object_object_add(net, "helper_pid", json_object_new_int64(st->net.helper.pid));
	json_object_object_add(net, "helper_start",
			       json_object_new_int64((int64_t)st->net.helper.start_time));
	json_object_object_add(net, "outbound_pid", json_object_new_int64(st->net.outbound.pid));
	json_object_object_add(net, "outbound_start",
			       json_object_new_int64((int64_t)st->net.outbound.start_time));
	json_object_object_add(o, "net_helpers", net);
}

/* The ownership fields: the mounts sessions clone again, the git paths,
 * the sweep's start time (see ctr_owner, ctr_sweep). */
static void read_owner(struct json_object *o, struct env_record *out)
{
	struct json_object *a;
	size_t n;

	out->started_ns = get_int(o, "started_ns");
	out->sweep_pending = get_int(o, "sweep_pending") != 0;
	out->checkout_dev = (unsigned long long)get_int(o, "checkout_dev");
	out->checkout_ino = (unsigned long long)get_int(o, "checkout_ino");
	get_strv(o, "git_protect", &out->git_protect);
	get_strv(o, "svc_binds", &out->svc_binds);
	if (!json_object_object_get_ex(o, "mounts", &a) ||
	    !json_object_is_type(a, json_type_array) || !(n = json_object_array_length(a)))
		return;
	out->mounts = dv_xcalloc(n, sizeof(*out->mounts));
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		struct ctr_mount_rec *m = &out->mounts[out->n_mounts];

		if (!json_object_is_type(e, json_type_object))
			continue;
		m->source = get_str(e, "source");
		m->target = get_str(e, "target");
		m->readonly = get_int(e, "readonly") != 0;
		m->volume = get_int(e, "volume") != 0;
		get_strv(e, "protect", &m->protect);
		out->n_mounts++;
	}
}

static struct json_object *strv_json(const struct dv_strv *sv);

void env_health_free(struct env_svc_health *h)
{
	if (!h)
		return;
	dv_strv_release(&h->test);
	dv_strv_release(&h->envp);
	free(h->cwd);
	free(h);
}

/* The longest duration an Envfile can give (envfile/health.c), in ms. */
#define DV_HEALTH_MS_MAX 1000000000000ULL

/* A service's healthcheck as started (env/health.c); absent: none (and
 * every record from before healthchecks). */
static struct env_svc_health *health_read(struct json_object *e)
{
	struct json_object *h;
	struct env_svc_health *out;

	if (!json_object_object_get_ex(e, "health", &h) || !json_object_is_type(h, json_type_object))
		return NULL;
	out = dv_xcalloc(1, sizeof(*out));
	get_strv(h, "test", &out->test);
	get_strv(h, "env", &out->envp);
	out->cwd = get_str(h, "cwd");
	out->interval_ms = (unsigned long long)get_int(h, "interval_ms");
	out->timeout_ms = (unsigned long long)get_int(h, "timeout_ms");
	out->start_period_ms = (unsigned long long)get_int(h, "start_period_ms");
	out->start_interval_ms = (unsigned long long)get_int(h, "start_interval_ms");
	out->retries = (int)get_int(h, "retries");
	/* What a parse could not have given (a hand-edited record): none. */
	if (!out->test.n || out->interval_ms - 1 >= DV_HEALTH_MS_MAX ||
	    out->timeout_ms - 1 >= DV_HEALTH_MS_MAX || out->start_period_ms > DV_HEALTH_MS_MAX ||
	    out->start_interval_ms - 1 >= DV_HEALTH_MS_MAX || out->retries < 1 ||
	    out->retries > 1000) {
		env_health_free(out);
		return NULL;
	}
	return out;
}

static struct json_object *health_json(const struct env_svc_health *h)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "test", strv_json(&h->test));
	json_object_object_add(o, "env", strv_json(&h->envp));
	json_object_object_add(o, "cwd", json_object_new_string(h->cwd ? h->cwd : "/"));
	json_object_object_add(o, "interval_ms", json_object_new_int64((int64_t)h->interval_ms));
	json_object_object_add(o, "timeout_ms", json_object_new_int64((int64_t)h->timeout_ms));
	json_object_object_add(o, "start_period_ms",
			       json_object_new_int64((int64_t)h->start_period_ms));
	json_object_object_add(o, "start_interval_ms",
			       json_object_new_int64((int64_t)h->start_interval_ms));
	json_object_object_add(o, "retries", json_object_new_int(h->retries));
	return o;
}

static void write_owner(struct json_object *o, const struct env_record *st)
{
	struct json_object *a = json_object_new_array();

	json_object_object_add(o, "started_ns", json_object_new_int64(st->started_ns));
	json_object_object_add(o, "sweep_pending", json_object_new_int(st->sweep_pending));
	json_object_object_add(o, "checkout_dev", json_object_new_int64((int64_t)st->checkout_dev));
	json_object_object_add(o, "checkout_ino", json_object_new_int64((int64_t)st->checkout_ino));
	json_object_object_add(o, "git_protect", strv_json(&st->git_protect));
	json_object_object_add(o, "svc_binds", strv_json(&st->svc_binds));
	for (size_t i = 0; i < st->n_mounts; i++) {
		const struct ctr_mount_rec *m = &st->mounts[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "source",
				       json_object_new_string(m->source ? m->source : ""));
		json_object_object_add(e, "target",
				       json_object_new_string(m->target ? m->target : ""));
		json_object_object_add(e, "readonly", json_object_new_int(m->readonly));
		json_object_object_add(e, "volume", json_object_new_int(m->volume));
		json_object_object_add(e, "protect", strv_json(&m->protect));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "mounts", a);
}

void env_mount_recs_free(struct ctr_mount_rec *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].source);
		free(m[i].target);
		dv_strv_release(&m[i].protect);
	}
	free(m);
}

/* One line naming the file (its full path: two stores have the same env
 * ids) and what to do. */
static int damaged(int envs_fd, const char *id, const char *why, struct dv_error *err)
{
	char link[64], dir[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", envs_fd);
	n = readlink(link, dir, sizeof(dir) - 1);
	dir[n > 0 ? n : 0] = 0;
	return dv_err_plain(err, EBADMSG,
			    "'%s/%s/state.json' is damaged (%s); 'devenv destroy -e %s' "
			    "removes the env",
			    n > 0 ? dir : "envs", id, why, id);
}

int env_record_read(int envs_fd, const char *id, struct env_record *out, struct dv_error *err)
{
	dv_autofree char *text = NULL;
	char path[64];
	size_t len, used;
	struct json_object *o, *lim, *svc, *v;
	struct json_tokener *tok;

	snprintf(path, sizeof(path), "%s/state.json", id);
	if (dv_read_file_at(envs_fd, path, &text, &len, err) < 0)
		return -1;
	if (len == 0)
		return damaged(envs_fd, id, "empty", err);
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, text, (int)len);
	used = o ? json_tokener_get_parse_end(tok) : 0;
	json_tokener_free(tok);
	/* Truncated, garbage, or a value followed by more text. */
	while (o && used < len && strchr(" \t\r\n", text[used]))
		used++;
	if (!o || !json_object_is_type(o, json_type_object) || used != len) {
		json_object_put(o);
		return damaged(envs_fd, id, "not a JSON object", err);
	}
	/* Not this env's record: ls, destroy -e and gc go by the folder's name. */
	if (!json_object_object_get_ex(o, "id", &v) || !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), id)) {
		json_object_put(o);
		return damaged(envs_fd, id, "it names no env or another env", err);
	}
	out->id = get_str(o, "id");
	out->name = get_str(o, "name");
	out->checkout = get_str(o, "checkout");
	out->envfile = get_str(o, "envfile");
	out->spec_digest = get_str(o, "spec_digest");
	out->image = get_str(o, "image");
	out->image_id = get_str(o, "image_id");
	out->image_for = get_str(o, "image_for");
	get_strv(o, "layers", &out->layers);
	get_strv(o, "steps", &out->steps);
	out->workdir = get_str(o, "workdir");
	out->shell = get_str(o, "shell");
	get_strv(o, "env", &out->env);
	get_strv(o, "cgroups", &out->cgroups);
	get_strv(o, "volumes", &out->volumes);
	if (json_object_object_get_ex(o, "limits", &lim)) {
		out->limits.memory = (unsigned long long)get_int(lim, "memory");
		out->limits.cpus_milli = (unsigned)get_int(lim, "cpus_milli");
		out->limits.pids = (unsigned long long)get_int(lim, "pids");
	}
	out->init.pid = (pid_t)get_int(o, "init_pid");
	out->init.start_time = (unsigned long long)get_int(o, "init_start");
	out->created = get_int(o, "created");
	out->user = get_str(o, "user");
	out->user_uid = (unsigned)get_int(o, "user_uid");
	out->user_gid = (unsigned)get_int(o, "user_gid");
	out->host_uid = (unsigned)get_int(o, "host_uid");
	out->host_gid = (unsigned)get_int(o, "host_gid");
	out->ownership = get_str(o, "checkout_ownership");
	out->userns_map = get_str(o, "userns_map");
	out->seccomp = get_str(o, "seccomp");
	{
		dv_autofree char *caps = get_str(o, "caps");

		/* An env from before the sandbox: the default caps from now on. */
		out->caps = *caps ? strtoull(caps, NULL, 16) : ctr_caps_default;
	}
	if (json_object_object_get_ex(o, "services", &svc) &&
	    json_object_is_type(svc, json_type_array)) {
		size_t n = json_object_array_length(svc);

		out->services = dv_xcalloc(n ? n : 1, sizeof(*out->services));
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(svc, i);
			struct env_svc_record *ss = &out->services[out->n_services];

			if (!json_object_is_type(e, json_type_object))
				continue;
			ss->name = get_str(e, "name");
			ss->init.pid = (pid_t)get_int(e, "init_pid");
			ss->init.start_time = (unsigned long long)get_int(e, "init_start");
			ss->image_id = get_str(e, "image_id");
			get_strv(e, "layers", &ss->layers);
			ss->health = health_read(e);
			out->n_services++;
		}
	}
	read_net(o, out);
	read_owner(o, out);
	out->dotfiles = get_str(o, "dotfiles");
	get_strv(o, "git_credentials", &out->git_credentials); /* absent: none */
	out->ssh_agent = get_str(o, "ssh_agent");              /* "" in records from before it */
	get_strv(o, "ssh_agent_keys", &out->ssh_agent_keys);
	json_object_put(o);
	return 0;
}

static struct json_object *strv_json(const struct dv_strv *sv)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < sv->n; i++)
		json_object_array_add(a, json_object_new_string(sv->v[i]));
	return a;
}

int env_record_write(int envs_fd, const struct env_record *st, struct dv_error *err)
{
	struct json_object *o = json_object_new_object();
	char path[64];
	const char *text;
	int ret;

#define S(k, v) json_object_object_add(o, k, json_object_new_string((v) ? (v) : ""))
	S("id", st->id);
	S("name", st->name);
	S("checkout", st->checkout);
	S("envfile", st->envfile);
	S("spec_digest", st->spec_digest);
	S("image", st->image);
	S("image_id", st->image_id);
	if (st->image_for && st->image_for[0])
		S("image_for", st->image_for);
	json_object_object_add(o, "layers", strv_json(&st->layers));
	json_object_object_add(o, "steps", strv_json(&st->steps));
	S("workdir", st->workdir);
	S("shell", st->shell);
	json_object_object_add(o, "env", strv_json(&st->env));
	json_object_object_add(o, "cgroups", strv_json(&st->cgroups));
	if (st->volumes.n)
		json_object_object_add(o, "volumes", strv_json(&st->volumes));
	{
		struct json_object *lim = json_object_new_object();

		json_object_object_add(lim, "memory",
				       json_object_new_int64((int64_t)st->limits.memory));
		json_object_object_add(lim, "cpus_milli",
				       json_object_new_int64(st->limits.cpus_milli));
		json_object_object_add(lim, "pids", json_object_new_int64((int64_t)st->limits.pids));
		json_object_object_add(o, "limits", lim);
	}
	json_object_object_add(o, "init_pid", json_object_new_int64(st->init.pid));
	json_object_object_add(o, "init_start", json_object_new_int64((int64_t)st->init.start_time));
	json_object_object_add(o, "created", json_object_new_int64(st->created));
	S("user", st->user);
	json_object_object_add(o, "user_uid", json_object_new_int64(st->user_uid));
	json_object_object_add(o, "user_gid", json_object_new_int64(st->user_gid));
	json_object_object_add(o, "host_uid", json_object_new_int64(st->host_uid));
	json_object_object_add(o, "host_gid", json_object_new_int64(st->host_gid));
	S("checkout_ownership", st->ownership);
	if (st->userns_map && st->userns_map[0]) /* only when set: older readers */
		S("userns_map", st->userns_map);
	S("seccomp", st->seccomp);
	{
		char caps[32];

		snprintf(caps, sizeof(caps), "%llx", st->caps);
		json_object_object_add(o, "caps", json_object_new_string(caps));
	}
#undef S
	{
		struct json_object *a = json_object_new_array();

		for (size_t i = 0; i < st->n_services; i++) {
			struct json_object *e = json_object_new_object();
			const struct env_svc_record *ss = &st->services[i];

			json_object_object_add(e, "name",
					       json_object_new_string(ss->name ? ss->name : ""));
			json_object_object_add(e, "init_pid", json_object_new_int64(ss->init.pid));
			json_object_object_add(e, "init_start",
					       json_object_new_int64((int64_t)ss->init.start_time));
			json_object_object_add(e, "image_id",
					       json_object_new_string(ss->image_id ? ss->image_id
										   : ""));
			json_object_object_add(e, "layers", strv_json(&ss->layers));
			if (ss->health)
				json_object_object_add(e, "health", health_json(ss->health));
			json_object_array_add(a, e);
		}
		json_object_object_add(o, "services", a);
	}
	write_net(o, st);
	write_owner(o, st);
	if (st->dotfiles && st->dotfiles[0]) /* only when set: older readers */
		json_object_object_add(o, "dotfiles", json_object_new_string(st->dotfiles));
	if (st->git_credentials.n) /* only when set: older readers, and no cost */
		json_object_object_add(o, "git_credentials", strv_json(&st->git_credentials));
	if (st->ssh_agent && st->ssh_agent[0]) { /* only when set: older readers */
		json_object_object_add(o, "ssh_agent", json_object_new_string(st->ssh_agent));
		json_object_object_add(o, "ssh_agent_keys", strv_json(&st->ssh_agent_keys));
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(path, sizeof(path), "%s/state.json", st->id);
	ret = dv_write_file_atomic(envs_fd, path, text, strlen(text), 0600, err);
	json_object_put(o);
	return ret;
}

void env_record_release(struct env_record *st)
{
	free(st->id);
	free(st->name);
	free(st->checkout);
	free(st->envfile);
	free(st->spec_digest);
	free(st->image);
	free(st->image_id);
	free(st->image_for);
	dv_strv_release(&st->layers);
	dv_strv_release(&st->steps);
	free(st->workdir);
	free(st->shell);
	free(st->user);
	free(st->ownership);
	free(st->userns_map);
	dv_strv_release(&st->env);
	dv_strv_release(&st->cgroups);
	dv_strv_release(&st->volumes);
	free(st->seccomp);
	for (size_t i = 0; i < st->n_services; i++) {
		free(st->services[i].name);
		free(st->services[i].image_id);
		dv_strv_release(&st->services[i].layers);
		env_health_free(st->services[i].health);
	}
	free(st->services);
	free(st->network);
	for (size_t i = 0; i < st->n_ports; i++)
		free(st->ports[i].host_ip);
	free(st->ports);
	env_mount_recs_free(st->mounts, st->n_mounts);
	dv_strv_release(&st->git_protect);
	dv_strv_release(&st->svc_binds);
	free(st->dotfiles);
	dv_strv_release(&st->git_credentials);
	free(st->ssh_agent);
	dv_strv_release(&st->ssh_agent_keys);
	memset(st, 0, sizeof(*st));
}

const struct ctr_owner *env_record_owner(const struct env_record *st, struct ctr_owner *buf)
{
	if (!st->ownership || strcmp(st->ownership, "idmapped"))
		return NULL;
	*buf = (struct ctr_owner){
		.workdir = st->workdir,
		.checkout = st->checkout,
		.host_uid = st->host_uid,
		.host_gid = st->host_gid,
		.mounts = st->mounts,
		.n_mounts = st->n_mounts,
		.git_protect = &st->git_protect,
	};
	return buf;
}

/*
 * cmd/status.c - status, port and ls: an env's state, its forwards, every env.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/userns.h"
#include "util/banned.h"

static const char *status_name(const struct env *env)
{
	if (!env->has_state)
		return "not created";
	switch (ctr_probe(&env->state.init)) {
	case CTR_RUNNING:
		return "running";
	case CTR_FROZEN:
		return "suspended";
	default:
		return "halted";
	}
}

/* status: each service, live; an exited one with its last log lines. */
static void print_services(const struct layer_store *st, const struct env *env)
{
	if (env->state.n_services)
		printf("  services:\n");
	for (size_t i = 0; i < env->state.n_services; i++) {
		struct env_svc_info in;

		env_svc_info(st, env, i, &in);
		if (in.state == ENV_SVC_EXITED) {
			printf("    %s: exited with status %d; its last lines ('devenv logs %s' has all):\n",
			       in.name, in.exit_status, in.name);
			fflush(stdout);
			env_svc_tail(st, env->id, in.name, 5, stdout, "      ");
		} else if (in.state == ENV_SVC_RUNNING || in.state == ENV_SVC_FROZEN) {
			dv_autofree char *out = NULL;
			dv_autofree char *when = NULL;
			long long at;
			enum env_health_state h = env_health_status(st, env, i, &out, &at);

			/* Not checked now (without root): when `up` last did. */
			if (at)
				when = dv_xasprintf(" (as 'up' saw it %llds ago: without root only "
						    "'up' can run the check)",
						    (long long)time(NULL) - at);
			else if (h == ENV_HEALTH_UNKNOWN)
				when = dv_xstrdup(" (without root only 'up' can run the check)");
			printf("    %s: %s (pid %d)%s%s%s%s%s\n", in.name,
			       env_svc_state_name(in.state), (int)in.pid,
			       h != ENV_HEALTH_NONE ? ", " : "",
			       h != ENV_HEALTH_NONE ? env_health_name(h) : "", out ? ": " : "",
			       out ? out : "", when ? when : "");
		} else {
			printf("    %s: stopped\n", in.name);
		}
	}
}

static struct json_object *services_json(const struct layer_store *st, const struct env *env)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < env->state.n_services; i++) {
		struct json_object *o = json_object_new_object();
		struct env_svc_info in;
		bool live;

		env_svc_info(st, env, i, &in);
		live = in.state == ENV_SVC_RUNNING || in.state == ENV_SVC_FROZEN;
		json_object_object_add(o, "name", json_object_new_string(in.name));
		json_object_object_add(o, "state",
				       json_object_new_string(env_svc_state_name(in.state)));
		json_object_object_add(o, "exit_status",
				       in.exit_status >= 0 ? json_object_new_int(in.exit_status)
							   : NULL);
		json_object_object_add(o, "pid", live ? json_object_new_int(in.pid) : NULL);
		{
			dv_autofree char *out = NULL;
			long long at;
			enum env_health_state h = env_health_status(st, env, i, &out, &at);

			json_object_object_add(o, "health",
					       h != ENV_HEALTH_NONE
						       ? json_object_new_string(env_health_name(h))
						       : NULL);
			json_object_object_add(o, "health_output",
					       out ? json_object_new_string(out) : NULL);
			json_object_object_add(o, "health_checked_at",
					       at ? json_object_new_int64(at) : NULL);
		}
		json_object_array_add(a, o);
	}
	return a;
}

/* The forwards of an env's last start, for `port --json` and `status --json`. */
static struct json_object *ports_json(const struct env_record *state)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < state->n_ports; i++) {
		const struct hnet_port *p = &state->ports[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "container_port",
				       json_object_new_int((int)p->container_port));
		json_object_object_add(o, "protocol", json_object_new_string("tcp"));
		json_object_object_add(o, "host_ip", json_object_new_string(p->host_ip));
		json_object_object_add(o, "host_port", json_object_new_int((int)p->host_port));
		json_object_object_add(o, "auto", json_object_new_boolean(p->auto_port));
		json_object_array_add(a, o);
	}
	return a;
}


int cmd_status(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	       struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	int ret = cmd_env_begin(ctx, st, call, false, NULL, &env, err);

	if (ret <= 0) {
		env_release(&env);
		return ret;
	}
	const char *state = status_name(&env);
	bool running = env.has_state && ctr_probe(&env.state.init) != CTR_STOPPED;
	unsigned long long ooms = 0;
	/* The counters live in the env's cgroups, which halt removes: an init
	 * killed for memory leaves them for status to read until then. */
	bool oom_known = env.has_state && ctr_cgroup_oom_kills(&env.state.cgroups, &ooms) == 0;
	/* Recorded at halt and commit (provision/df.c): no walk here. */
	struct env_size sz;
	bool has_size = env.has_state && env_size_read(st, env.id, &sz);

	if (ctx->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(env.id));
		json_object_object_add(o, "name",
				       env.has_state ? json_object_new_string(env.state.name)
						     : NULL);
		json_object_object_add(o, "state", json_object_new_string(state));
		json_object_object_add(o, "pid",
				       running ? json_object_new_int(env.state.init.pid) : NULL);
		json_object_object_add(o, "image",
				       env.has_state ? json_object_new_string(env.state.image)
						     : NULL);
		json_object_object_add(o, "image_id",
				       env.has_state ? json_object_new_string(env.state.image_id)
						     : NULL);
		json_object_object_add(o, "image_for",
				       env.has_state && env.state.image_for && env.state.image_for[0]
					       ? json_object_new_string(env.state.image_for)
					       : NULL);
		json_object_object_add(o, "checkout",
				       env.has_state ? json_object_new_string(env.state.checkout)
						     : NULL);
		json_object_object_add(o, "workdir",
				       env.has_state ? json_object_new_string(env.state.workdir)
						     : NULL);
		json_object_object_add(o, "created",
				       env.has_state ? json_object_new_int64(env.state.created)
						     : NULL);
		json_object_object_add(o, "size",
				       has_size ? json_object_new_int64((int64_t)sz.bytes) : NULL);
		json_object_object_add(o, "size_measured",
				       has_size ? json_object_new_string(sz.when) : NULL);
		json_object_object_add(o, "size_at", has_size ? json_object_new_int64(sz.at) : NULL);
		json_object_object_add(o, "oom_kills",
				       oom_known ? json_object_new_int64((int64_t)ooms) : NULL);
		json_object_object_add(o, "oom_killed", json_object_new_boolean(ooms > 0));
		json_object_object_add(o, "user",
				       env.has_state && env.state.user[0]
					       ? json_object_new_string(env.state.user)
					       : NULL);
		json_object_object_add(o, "rootless", json_object_new_boolean(ctx->rootless));
		json_object_object_add(o, "checkout_ownership",
				       env.has_state && env.state.ownership[0]
					       ? json_object_new_string(env.state.ownership)
					       : NULL);
		json_object_object_add(o, "userns_map",
				       env.has_state && env.state.userns_map &&
						       env.state.userns_map[0]
					       ? json_object_new_string(env.state.userns_map)
					       : NULL);
		if (env.has_state) {
			char caps[32];

			snprintf(caps, sizeof(caps), "%llx", env.state.caps);
			json_object_object_add(o, "seccomp",
					       json_object_new_string(
						       env.state.seccomp && env.state.seccomp[0]
							       ? "filtered"
							       : "unconfined"));
			json_object_object_add(o, "caps", json_object_new_string(caps));
			json_object_object_add(o, "services", services_json(st, &env));
			json_object_object_add(o, "network",
					       json_object_new_string(
						       env.state.network && env.state.network[0]
							       ? env.state.network
							       : "host"));
			json_object_object_add(o, "ports", ports_json(&env.state));
		}
		prov_json_print(stdout, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(o);
	} else if (!env.has_state) {
		printf("env %s: not created ('devenv up' creates it)\n", env.id);
	} else {
		printf("env '%s' (%s): %s\n", env.state.name, env.id, state);
		{
			/* The checkout's path and the Envfile's workdir, escaped. */
			struct dv_buf co = { 0 }, wd = { 0 };

			dv_buf_add_safe(&co, env.state.checkout, strlen(env.state.checkout));
			dv_buf_add_safe(&wd, env.state.workdir, strlen(env.state.workdir));
			printf("  image:    %s", env.state.image);
			if (env.state.image_for &&
			    env.state.image_for[0]) /* a team's base, pinned (teamcache.c) */
				printf(" (the team's '%s', pinned by digest)", env.state.image_for);
			printf("\n  checkout: %s\n  workdir:  %s\n", co.s, wd.s);
			dv_buf_release(&co);
			dv_buf_release(&wd);
		}
		if (env.state.user[0])
			printf("  user:     %s (uid %u, gid %u)\n", env.state.user,
			       env.state.user_uid, env.state.user_gid);
		if (!strcmp(env.state.ownership, "rootless") && env.state.userns_map &&
		    !strcmp(env.state.userns_map, "keep-id"))
			printf("  checkout ownership: rootless, keep-id (user '%s', uid %u in the env, "
			       "is uid %u on the host; root and the env's other ids are your "
			       "subordinate ids until halt gives their files back to you)\n",
			       env.state.user, env.state.user_uid, env.state.host_uid);
		else if (!strcmp(env.state.ownership, "rootless"))
			printf("  checkout ownership: rootless (root in the env is uid %u on the "
			       "host; other ids of the env are your subordinate ids until halt gives "
			       "their files back to you)\n",
			       env.state.host_uid);
		else if (!strcmp(env.state.ownership, "chown"))
			printf("  checkout ownership: chown (no idmapped mount here: after each ssh and "
			       "on_up command, and at halt, what the env changed there is given to "
			       "uid %u, without setuid bits or file capabilities)\n",
			       env.state.host_uid);
		else if (env.state.ownership[0])
			printf("  checkout ownership: %s (only uid %u can own files there)\n",
			       env.state.ownership, env.state.host_uid);
		if (ctx->rootless)
			printf("  rootless: %s; %s\n",
			       ctx->userns == DV_USERNS_SINGLE
				       ? "single-id user namespace (only root in the env)"
				       : "user namespace with your subordinate ids",
			       env.state.cgroups.n ? "limits in a delegated cgroup"
						   : "no delegated cgroup: memory and cpus limits "
						     "not enforced, pids by RLIMIT_NPROC");
		printf("  sandbox:  seccomp %s, %s capabilities, no_new_privs\n",
		       env.state.seccomp && env.state.seccomp[0] ? "filter on" : "unconfined",
		       env.state.caps == ctr_caps_default ? "podman's default" : "custom");
		printf("  network:  %s\n",
		       env.state.network && env.state.network[0] ? env.state.network : "host");
		for (size_t i = 0; i < env.state.n_ports; i++)
			printf("  port:     %u/tcp -> %s:%u%s\n", env.state.ports[i].container_port,
			       env.state.ports[i].host_ip, env.state.ports[i].host_port,
			       env.state.ports[i].auto_port ? " (auto)" : "");
		if (running)
			printf("  init pid: %d\n", (int)env.state.init.pid);
		if (has_size) {
			char size[40], age[32];

			cmd_size(size, sizeof(size), sz.bytes, false);
			cmd_age(age, sizeof(age), sz.at);
			printf("  size:     %s (at its last %s, %s ago%s)\n", size, sz.when, age,
			       running ? "; it may have grown since" : "");
		}
		if (ooms)
			printf("  out of memory: %llu process%s OOM-killed%s; see 'resources: memory'\n",
			       ooms, ooms == 1 ? "" : "es",
			       running ? "" : ", the env's init may be among them");
		print_services(st, &env);
	}
	env_release(&env);
	ret = 0;
	return ret;
}

/* `port`: the forwards of the running env, as `docker port` prints them. */
int cmd_port(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	     struct dv_error *err)
{
	struct env env = { .lock_fd = -1 };
	int ret = cmd_env_begin(ctx, st, call, false, NULL, &env, err);

	if (ret <= 0) {
		env_release(&env);
		return ret;
	}
	ret = -1;
	if (!env.has_state) {
		dv_err_plain(err, ENOENT, "env %s was never brought up; 'devenv up' creates it",
			     env.id);
		goto out;
	}
	if (ctr_probe(&env.state.init) == CTR_STOPPED) {
		dv_err_plain(err, ESRCH,
			     "env '%s' is not running; 'devenv up' starts it and its "
			     "forwards",
			     env.state.name);
		goto out;
	}
	if (ctx->json) {
		struct json_object *a = ports_json(&env.state);

		prov_json_print(stdout, a, JSON_C_TO_STRING_PLAIN);
		json_object_put(a);
	} else {
		for (size_t i = 0; i < env.state.n_ports; i++) {
			const struct hnet_port *p = &env.state.ports[i];
			bool v6 = strchr(p->host_ip, ':') != NULL;

			printf("%u/tcp -> %s%s%s:%u\n", p->container_port, v6 ? "[" : "",
			       p->host_ip, v6 ? "]" : "", p->host_port);
		}
	}
	ret = 0;
out:
	env_release(&env);
	return ret;
}

int cmd_ls(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err)
{
	struct env_record *all;
	struct dv_strv damaged = { 0 };
	size_t n;
	bool helped;
	int oi = cmd_parse_opts(ctx, call, NULL, &helped, err);
	struct json_object *arr = NULL;

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0 || env_list(st, &damaged, &all, &n, err) < 0)
		return -1;
	struct dv_strv remote = { 0 };
	const char *col; /* a HOST column when an env runs elsewhere (cmd/remote.c) */

	if (ctx->json)
		arr = json_object_new_array();
	cmd_remote_ls(st->root_fd, NULL, &remote);
	col = remote.n ? "  -" : "";
	if (!arr)
		printf("%-12s  %-16s  %-8s  %-5s  %-10s  %-28s  %s%s\n", "ID", "NAME", "STATE",
		       "AGE", "SIZE", "IMAGE", "CHECKOUT", remote.n ? "  HOST" : "");
	for (size_t i = 0; i < n; i++) {
		struct env tmp = { .has_state = true, .state = all[i] };
		const char *state = status_name(&tmp);
		struct env_size sz;
		bool has_size = env_size_read(st, all[i].id, &sz);
		char age[32], size[40] = "-";

		cmd_age(age, sizeof(age), all[i].created);
		/* The record of its last halt or commit; running, it may have grown. */
		if (has_size)
			cmd_size(size, sizeof(size), sz.bytes, strcmp(state, "halted") != 0);
		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(all[i].id));
			json_object_object_add(o, "name", json_object_new_string(all[i].name));
			json_object_object_add(o, "state", json_object_new_string(state));
			json_object_object_add(o, "image", json_object_new_string(all[i].image));
			json_object_object_add(o, "checkout",
					       json_object_new_string(all[i].checkout));
			json_object_object_add(o, "created", json_object_new_int64(all[i].created));
			json_object_object_add(o, "size",
					       has_size ? json_object_new_int64((int64_t)sz.bytes)
							: NULL);
			json_object_object_add(o, "size_measured",
					       has_size ? json_object_new_string(sz.when) : NULL);
			json_object_object_add(o, "size_at",
					       has_size ? json_object_new_int64(sz.at) : NULL);
			json_object_array_add(arr, o);
		} else {
			printf("%-12s  %-16s  %-8s  %-5s  %-10s  %-28s  %s%s\n", all[i].id,
			       all[i].name, state, age, size, all[i].image, all[i].checkout, col);
		}
		env_record_release(&all[i]);
	}
	free(all);
	/* A damaged env is listed (by its folder's name), with the one line
	 * naming its file and saying what to do. */
	for (size_t i = 0; i < damaged.n; i++) {
		env_say_damaged(st, damaged.v[i]);
		if (arr) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "id", json_object_new_string(damaged.v[i]));
			json_object_object_add(o, "name", NULL);
			json_object_object_add(o, "state", json_object_new_string("damaged"));
			json_object_object_add(o, "image", NULL);
			json_object_object_add(o, "checkout", NULL);
			json_object_object_add(o, "created", NULL);
			json_object_array_add(arr, o);
		} else {
			printf("%-12s  %-16s  %-8s  %-5s  %-10s  %-28s  %s%s\n", damaged.v[i], "?",
			       "damaged", "?", "?", "?", "?", col);
		}
	}
	dv_strv_release(&damaged);
	if (arr)
		cmd_remote_ls(st->root_fd, arr, NULL);
	for (size_t i = 0; !arr && i < remote.n; i++)
		printf("%s\n", remote.v[i]);
	dv_strv_release(&remote);
	if (arr) {
		prov_json_print(stdout, arr,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(arr);
	}
	return 0;
}

/*
 * env/health.c - services' healthchecks (compose's `healthcheck`, an
 * image's Healthcheck), run by devenv itself.
 *
 * Who runs a check: the devenv command that wants to know, through
 * ctr_exec into the service (the path of `ssh`: its cgroups, its
 * namespaces, Docker's default sandbox as the service has): `up` while it
 * waits (depends_on's service_healthy, on_up's wait_for), `status` once
 * per service with a check. Nothing runs a check when nobody asks: no
 * process is left behind by `up`, the service's init stays the tiny
 * program it is, and an env without checks pays nothing (ARCHITECTURE.md
 * "Healthchecks").
 *
 * A wait follows Docker's meaning: a check passes when it exits 0 within
 * `timeout`; it is healthy at its first pass; each failure after
 * `start_period` counts, and `retries` failures in a row are unhealthy.
 * devenv checks at once, then every `start_interval` during the start
 * period and every `interval` after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env/env.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

/* What is kept of a check's output (Docker keeps 4 KiB too). */
#define OUT_MAX 4096

static unsigned long long ns_ms(struct json_object *o, const char *key)
{
	struct json_object *v;
	int64_t ns;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	ns = json_object_get_int64(v);
	if (ns <= 0)
		return 0;
	/* No longer than an Envfile can say (1e12 ms), so that the record reads back. */
	return ns / 1000000 >= 1000000000000LL ? 1000000000000ULL
					       : ((unsigned long long)ns + 999999) / 1000000;
}

/* The image config's Healthcheck (Docker's: Test, Interval, Timeout,
 * StartPeriod, StartInterval in ns, Retries) into h, where h has nothing. */
static void from_image(const char *config, struct env_health *h)
{
	struct json_object *root = config ? json_tokener_parse(config) : NULL;
	struct json_object *cfg, *hc, *test, *v;

	if (!root || !json_object_object_get_ex(root, "config", &cfg) ||
	    !json_object_object_get_ex(cfg, "Healthcheck", &hc) ||
	    !json_object_is_type(hc, json_type_object))
		goto out;
	if (!h->test.n && !h->none && json_object_object_get_ex(hc, "Test", &test) &&
	    json_object_is_type(test, json_type_array) && json_object_array_length(test) > 0) {
		size_t n = json_object_array_length(test);
		const char *kind = json_object_get_string(json_object_array_get_idx(test, 0));

		if (kind && !strcmp(kind, "NONE")) {
			h->none = true;
		} else if (kind && !strcmp(kind, "CMD-SHELL") && n == 2) {
			dv_strv_push(&h->test, "/bin/sh");
			dv_strv_push(&h->test, "-c");
			dv_strv_push(&h->test,
				     json_object_get_string(json_object_array_get_idx(test, 1)));
		} else if (kind && !strcmp(kind, "CMD") && n > 1) {
			for (size_t i = 1; i < n; i++)
				dv_strv_push(&h->test, json_object_get_string(
							       json_object_array_get_idx(test, i)));
		}
	}
	if (!h->interval_ms)
		h->interval_ms = ns_ms(hc, "Interval");
	if (!h->timeout_ms)
		h->timeout_ms = ns_ms(hc, "Timeout");
	if (!h->start_period_ms)
		h->start_period_ms = ns_ms(hc, "StartPeriod");
	if (!h->start_interval_ms)
		h->start_interval_ms = ns_ms(hc, "StartInterval");
	if (h->retries < 0 && json_object_object_get_ex(hc, "Retries", &v) &&
	    json_object_get_int(v) > 0)
		h->retries = json_object_get_int(v);
out:
	json_object_put(root);
}

struct env_svc_health *env_health_make(const struct env_service *svc, const char *img_config,
				       const struct dv_strv *envp, const char *cwd)
{
	struct env_health h = svc->health;
	struct env_svc_health *out;

	if (!h.line)
		h.retries = -1;
	if (h.none)
		return NULL;
	/* The image's fills in what the Envfile leaves out; its test only
	 * when the Envfile gives none. */
	memset(&h.test, 0, sizeof(h.test));
	for (size_t i = 0; i < svc->health.test.n; i++)
		dv_strv_push(&h.test, svc->health.test.v[i]);
	from_image(img_config, &h);
	if (h.none || !h.test.n) {
		dv_strv_release(&h.test);
		return NULL;
	}
	out = dv_xcalloc(1, sizeof(*out));
	out->test = h.test;
	for (size_t i = 0; i < envp->n; i++)
		dv_strv_push(&out->envp, envp->v[i]);
	out->cwd = dv_xstrdup(cwd ? cwd : "/");
	out->interval_ms = h.interval_ms ? h.interval_ms : ENV_HEALTH_INTERVAL_MS;
	out->timeout_ms = h.timeout_ms ? h.timeout_ms : ENV_HEALTH_TIMEOUT_MS;
	out->start_period_ms = h.start_period_ms;
	out->start_interval_ms = h.start_interval_ms ? h.start_interval_ms
						     : ENV_HEALTH_START_INTERVAL_MS;
	out->retries = h.retries > 0 ? h.retries : ENV_HEALTH_RETRIES;
	return out;
}

const char *env_health_name(enum env_health_state s)
{
	switch (s) {
	case ENV_HEALTH_STARTING:
		return "starting";
	case ENV_HEALTH_HEALTHY:
		return "healthy";
	case ENV_HEALTH_UNHEALTHY:
		return "unhealthy";
	case ENV_HEALTH_UNKNOWN:
		return "unknown";
	case ENV_HEALTH_NONE:
		break;
	}
	return "none";
}

/* How long the service has run, in ms (its init's start time). */
static unsigned long long age_ms(const struct ctr_init *init)
{
	dv_autofree char *text = NULL;
	size_t len;
	double up;
	long tick = sysconf(_SC_CLK_TCK);

	if (dv_read_file_at(AT_FDCWD, "/proc/uptime", &text, &len, &(struct dv_error){ 0 }) < 0 ||
	    sscanf(text, "%lf", &up) != 1 || tick <= 0)
		return 0;
	up -= (double)init->start_time / (double)tick;
	return up > 0 ? (unsigned long long)(up * 1000) : 0;
}

/* Keep the last OUT_MAX bytes of what was read. */
static void keep_tail(struct dv_buf *out, const char *p, size_t n)
{
	dv_buf_add(out, p, n);
	if (out->len > OUT_MAX) {
		memmove(out->s, out->s + out->len - OUT_MAX, OUT_MAX);
		out->len = OUT_MAX;
		out->s[OUT_MAX] = 0;
	}
}

/* Run service i's check once: 0 passed, 1 failed (exit status != 0, or
 * timed out: *out says so), -1 it could not be run (not running, or out
 * of this command's reach: *out says why). *out: its output, the last
 * OUT_MAX bytes. */
static int probe(const struct layer_store *st, const struct env *env, size_t i, struct dv_buf *out)
{
	const struct env_svc_record *ss = &env->state.services[i];
	const struct env_svc_health *h = ss->health;
	unsigned long long deadline = dv_now_ns() + h->timeout_ms * 1000000ULL;
	int p[2], ep[2], st_ = 0, ret = 1;
	bool timed_out = false;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (pid == 0) {
		struct env_spec plain = { .display = env->spec.display };
		struct dv_error cerr = { 0 };
		dv_autofree char *bpf = NULL;
		unsigned long long caps;
		struct ctr_sandbox sb;
		int status = 0;

		/* Its output and ours (a "cannot run" line) to the pipe alone. */
		if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(125);
		/* Docker's default sandbox, as the service runs in
		 * (env/services.c's svc_sandbox). */
		if (prov_sandbox(st, &plain, &caps, &bpf, &cerr) < 0 ||
		    ctr_sandbox_load(bpf, caps, &sb, &cerr) < 0) {
			dprintf(ep[1], "%s", cerr.msg);
			_exit(125);
		}
		sb.nproc = prov_nproc_fallback(&env->state.limits, &env->state.cgroups);
		{
			struct ctr_exec x = { .argv = h->test.v,
					      .envp = h->envp.v,
					      .cwd = h->cwd,
					      .tee_fd = 1,
					      .tee_only = true,
					      .no_stdin = true,
					      .sandbox = &sb };

			/* Our own failure (not the check's) on a pipe of its own. */
			if (ctr_exec(&ss->init, &env->state.cgroups, &x, &status, &cerr) < 0) {
				dprintf(ep[1], "%s", cerr.msg);
				_exit(125);
			}
		}
		_exit(status > 255 ? 255 : status);
	}
	close(p[1]);
	close(ep[1]);
	for (;;) {
		unsigned long long now = dv_now_ns();
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		char buf[1024];
		ssize_t n;
		int r;

		if (now >= deadline) {
			timed_out = true;
			break;
		}
		r = poll(&pf, 1, (int)((deadline - now) / 1000000ULL) + 1);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF: it has ended (or is about to) */
		keep_tail(out, buf, (size_t)n);
	}
	close(p[0]);
	/* Killed, its lifeline's end closes: the check's session goes too
	 * (container/exec.c). */
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st_, 0) < 0 && errno == EINTR) {
	}
	{
		char msg[512];
		ssize_t n = read(ep[0], msg, sizeof(msg) - 1);

		close(ep[0]);
		if (n > 0 && !timed_out) {
			msg[n] = 0;
			out->len = 0;
			dv_buf_adds(out, msg);
			return -1;
		}
	}
	if (timed_out) {
		dv_buf_addf(out, "%shealth check timed out after %llu ms",
			    out->len && out->s[out->len - 1] != '\n' ? "\n" : "", h->timeout_ms);
		return 1;
	}
	if (WIFEXITED(st_) && WEXITSTATUS(st_) == 0)
		ret = 0;
	else
		dv_buf_addf(out, "%s(exit status %d)",
			    out->len && out->s[out->len - 1] != '\n' ? "\n" : "",
			    WIFEXITED(st_) ? WEXITSTATUS(st_) : 128 + WTERMSIG(st_));
	return ret;
}

/* The check's output as one line for an error: its last lines joined by
 * " | ", made safe for a terminal, at most ~200 bytes. */
static char *one_line(const struct dv_buf *out)
{
	struct dv_buf b = { 0 };
	const char *s = out->s ? out->s : "";
	size_t n = out->len, from;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	from = n > 200 ? n - 200 : 0;
	for (size_t i = from; i < n;) {
		size_t l = strcspn(s + i, "\n");

		if (l > n - i)
			l = n - i;
		if (l) {
			if (b.len)
				dv_buf_adds(&b, " | ");
			dv_buf_add_safe(&b, s + i, l);
		}
		i += l + 1;
	}
	if (!b.len)
		dv_buf_adds(&b, "(no output)");
	return dv_buf_steal(&b);
}

/* The last result a wait saw, in services/NAME/health, for a `status`
 * that cannot run the check itself (without root, only the command that
 * started a service can enter it). Best effort: a wait never fails on it. */
static void remember(const struct layer_store *st, const struct env *env, size_t i,
		     enum env_health_state s, const struct dv_buf *out)
{
	dv_autofree char *dir =
		dv_xasprintf("envs/%s/services/%s", env->id, env->state.services[i].name);
	dv_autoclose int dfd =
		openat(st->root_fd, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct json_object *o = json_object_new_object();
	dv_autofree char *line = s == ENV_HEALTH_HEALTHY ? NULL : one_line(out);
	const char *text;

	json_object_object_add(o, "state", json_object_new_string(env_health_name(s)));
	json_object_object_add(o, "at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "output", line ? json_object_new_string(line) : NULL);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (dfd >= 0)
		dv_write_file_atomic(dfd, "health", text, strlen(text), 0600,
				     &(struct dv_error){ 0 });
	json_object_put(o);
}

/* What remember() left: the state, *at when, *output (caller frees). */
static enum env_health_state recalled(const struct layer_store *st, const struct env *env, size_t i,
				      long long *at, char **output)
{
	dv_autofree char *path =
		dv_xasprintf("envs/%s/services/%s/health", env->id, env->state.services[i].name);
	dv_autofree char *text = NULL;
	struct json_object *o, *v;
	enum env_health_state s = ENV_HEALTH_UNKNOWN;
	size_t len;

	if (dv_read_file_at(st->root_fd, path, &text, &len, &(struct dv_error){ 0 }) < 0 ||
	    !(o = json_tokener_parse(text)))
		return s;
	if (json_object_object_get_ex(o, "state", &v)) {
		const char *name = json_object_get_string(v);

		s = !strcmp(name, "healthy")     ? ENV_HEALTH_HEALTHY
		    : !strcmp(name, "unhealthy") ? ENV_HEALTH_UNHEALTHY
		    : !strcmp(name, "starting")  ? ENV_HEALTH_STARTING
						 : ENV_HEALTH_UNKNOWN;
	}
	if (json_object_object_get_ex(o, "at", &v))
		*at = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "output", &v) && json_object_is_type(v, json_type_string))
		*output = dv_xstrdup(json_object_get_string(v));
	json_object_put(o);
	return s;
}

static ssize_t find_svc(const struct env *env, const char *name)
{
	for (size_t i = 0; i < env->state.n_services; i++)
		if (!strcmp(env->state.services[i].name, name))
			return (ssize_t)i;
	return -1;
}

/* Say why a waited-for service is gone: its status and last lines. */
static int gone(const struct layer_store *st, const struct env *env, size_t i, const char *why,
		struct dv_error *err)
{
	struct env_svc_info info;

	/* `halt`, `destroy` or `reload` elsewhere: not the service's doing. */
	if (ctr_exited(&env->state.init, 2000)) {
		dv_err(err, 0,
		       "env '%s' was halted by another command while %s waited for service "
		       "'%s'; 'devenv up' starts it again",
		       env->spec.name, why, env->state.services[i].name);
		err->errnum = ESRCH;
		return -1;
	}
	env_svc_info(st, env, i, &info);
	fprintf(stderr, "devenv: service '%s' stopped while %s waited for it; its last lines:\n",
		info.name, why);
	env_svc_tail(st, env->id, info.name, 5, stderr, "  ");
	if (info.exit_status >= 0)
		return dv_err(err, 0,
			      "service '%s' exited with status %d before it was ready; 'devenv logs "
			      "%s' shows why",
			      info.name, info.exit_status, info.name);
	return dv_err(err, 0, "service '%s' stopped before it was ready; 'devenv logs %s' shows why",
		      info.name, info.name);
}

static int wait_one(const struct dv_ctx *ctx, const struct layer_store *st, const struct env *env,
		    size_t i, unsigned long long deadline, const char *why, struct dv_error *err)
{
	const struct env_svc_record *ss = &env->state.services[i];
	const struct env_svc_health *h = ss->health;
	struct dv_buf out = { 0 };
	unsigned failures = 0;
	bool said = false;
	int ret = -1;

	for (;;) {
		unsigned long long t0 = dv_now_ns(), pause, age;
		int r;

		if (ctr_probe(&ss->init) == CTR_STOPPED) {
			gone(st, env, i, why, err);
			break;
		}
		if (!h) { /* no check: running is ready */
			ret = 0;
			break;
		}
		if (!said && !ctx->quiet) {
			printf("waiting for service '%s' to be healthy (%s)\n", ss->name, why);
			fflush(stdout);
			said = true;
		}
		out.len = 0;
		if (out.s)
			out.s[0] = 0;
		r = probe(st, env, i, &out);
		if (r == 0) {
			if (!ctx->quiet)
				printf("service '%s' is healthy\n", ss->name);
			remember(st, env, i, ENV_HEALTH_HEALTHY, &out);
			ret = 0;
			break;
		}
		if (ctr_probe(&ss->init) == CTR_STOPPED) {
			gone(st, env, i, why, err);
			break;
		}
		if (r < 0 && ctr_exited(&ss->init, 1000)) { /* it was going as we entered */
			gone(st, env, i, why, err);
			break;
		}
		if (r < 0) {
			dv_autofree char *line = one_line(&out);

			dv_err(err, 0, "cannot run the healthcheck of service '%s': %s", ss->name,
			       line);
			break;
		}
		age = age_ms(&ss->init);
		if (age >= h->start_period_ms && ++failures >= (unsigned)h->retries) {
			dv_autofree char *line = one_line(&out);

			dv_err(err, 0,
			       "service '%s' is unhealthy: its healthcheck failed %u times in a "
			       "row; last output: %s",
			       ss->name, failures, line);
			remember(st, env, i, ENV_HEALTH_UNHEALTHY, &out);
			break;
		}
		pause = (age < h->start_period_ms ? h->start_interval_ms : h->interval_ms) *
			1000000ULL;
		if (dv_now_ns() - t0 < pause)
			pause -= dv_now_ns() - t0;
		else
			pause = 0;
		if (deadline && dv_now_ns() + pause >= deadline) {
			dv_autofree char *line = one_line(&out);

			dv_err(err, 0,
			       "service '%s' was not healthy in time for %s (its wait_timeout); "
			       "its healthcheck's last output: %s",
			       ss->name, why, line);
			remember(st, env, i, ENV_HEALTH_STARTING, &out);
			break;
		}
		nanosleep(&(struct timespec){ (time_t)(pause / 1000000000ULL),
					      (long)(pause % 1000000000ULL) },
			  NULL);
	}
	dv_buf_release(&out);
	return ret;
}

int env_health_wait(const struct dv_ctx *ctx, const struct layer_store *st, const struct env *env,
		    char *const *names, size_t n, unsigned long long timeout_ms, const char *why,
		    struct dv_error *err)
{
	unsigned long long deadline = timeout_ms ? dv_now_ns() + timeout_ms * 1000000ULL : 0;

	for (size_t k = 0; k < n; k++) {
		ssize_t i = find_svc(env, names[k]);

		if (i < 0)
			return dv_err(err, 0,
				      "service '%s' is not running; 'devenv reload' starts it",
				      names[k]);
		if (wait_one(ctx, st, env, (size_t)i, deadline, why, err) < 0)
			return -1;
	}
	return 0;
}

enum env_health_state env_health_status(const struct layer_store *st, const struct env *env,
					size_t i, char **output, long long *at)
{
	const struct env_svc_record *ss = &env->state.services[i];
	struct dv_buf out = { 0 };
	enum env_health_state s = ENV_HEALTH_NONE;
	int r;

	*output = NULL;
	*at = 0;
	if (!ss->health || ctr_probe(&ss->init) != CTR_RUNNING)
		return ENV_HEALTH_NONE;
	r = probe(st, env, i, &out);
	if (r < 0) {
		dv_buf_release(&out);
		return recalled(st, env, i, at, output);
	}
	if (r == 0) {
		s = ENV_HEALTH_HEALTHY;
	} else if (r > 0) {
		/* Docker would not call it unhealthy before its start period
		 * and `retries` intervals have gone by. */
		const struct env_svc_health *h = ss->health;

		s = age_ms(&ss->init) < h->start_period_ms + h->retries * h->interval_ms
			    ? ENV_HEALTH_STARTING
			    : ENV_HEALTH_UNHEALTHY;
		*output = one_line(&out);
	}
	dv_buf_release(&out);
	return s;
}

void env_svc_order(const struct env_spec *spec, size_t *order)
{
	dv_autofree bool *placed = dv_xcalloc(spec->n_services + 1, sizeof(*placed));
	size_t n = 0;

	while (n < spec->n_services) {
		size_t before = n;

		for (size_t i = 0; i < spec->n_services && n == before; i++) {
			const struct env_service *svc = &spec->services[i];
			bool ready = !placed[i];

			for (size_t d = 0; ready && d < svc->n_depends_on; d++)
				for (size_t j = 0; j < spec->n_services; j++)
					if (!strcmp(spec->services[j].name, svc->depends_on[d].name))
						ready = placed[j];
			if (ready) {
				placed[i] = true;
				order[n++] = i;
			}
		}
		if (n == before) /* a cycle after all: the rest in file order */
			for (size_t i = 0; i < spec->n_services; i++)
				if (!placed[i]) {
					placed[i] = true;
					order[n++] = i;
				}
	}
}

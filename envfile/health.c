/*
 * envfile/health.c - a service's `healthcheck` and `depends_on`, and an
 * on_up step's `wait_for` and `wait_timeout` (compose's keys and meaning):
 *
 *   services:
 *     db:
 *       image: postgres:15
 *       healthcheck:
 *         test: ["CMD-SHELL", "pg_isready -U postgres"]  # or ["CMD", ...], a string, ["NONE"]
 *         interval: 2s          # Go durations, as compose: 1m30s, 500ms
 *         timeout: 5s
 *         retries: 3
 *         start_period: 10s
 *         start_interval: 1s
 *         disable: false
 *     web:
 *       image: busybox
 *       depends_on:             # or a list: [db] (service_started)
 *         db: { condition: service_healthy }
 *   on_up:
 *     - run: ./manage.py migrate
 *       wait_for: [db]
 *       wait_timeout: 2m
 *
 * Names are checked once every key is read (envfile_check_health): each
 * named service exists, and depends_on has no cycle.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

static const char *const health_keys[] = { "test",         "interval",       "timeout", "retries",
					   "start_period", "start_interval", "disable" };

/* A Go duration as compose takes it ("1m30s", "500ms", "1.5s"), in
 * milliseconds rounded up; -1 when it is not one. */
static long long parse_duration(const char *s)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = { { "ns", 1e-6 }, { "us", 1e-3 }, { "ms", 1 },
		      { "s", 1e3 },   { "m", 60e3 },  { "h", 3600e3 } };
	double total = 0;

	if (!*s)
		return -1;
	while (*s) {
		char *end;
		double n;
		size_t u, best = 0, best_len = 0;

		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		n = strtod(s, &end);
		if (end == s)
			return -1;
		s = end;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t l = strlen(units[u].unit);

			if (!strncmp(s, units[u].unit, l) && l > best_len) {
				best = u;
				best_len = l;
			}
		}
		if (!best_len)
			return -1;
		s += best_len;
		total += n * units[best].ms;
		if (total > 1e12)
			return -1;
	}
	return (long long)total + ((double)(long long)total < total);
}

static int set_duration(struct env_vctx *v, const char *what, const struct env_node *key,
			const struct env_node *val, bool zero_ok, unsigned long long *out)
{
	const char *s;
	char buf[64];
	long long ms;

	if (envfile_get_string(v, what, key, val, &s) < 0)
		return -1;
	ms = parse_duration(s);
	if (ms < 0)
		return ENV_AT(v, val,
			      "%s must be a duration such as '10s', '1m30s' or '500ms', not '%s'",
			      what, envfile_shown(s, buf, sizeof(buf)));
	if (!zero_ok && ms == 0)
		return ENV_AT(v, val, "%s must be more than 0", what);
	*out = (unsigned long long)ms;
	return 0;
}

static int set_test(struct env_vctx *v, const char *what, const struct env_node *key,
		    const struct env_node *val, struct env_health *h)
{
	const char *kind;

	if (val->type == ENV_NODE_SCALAR)
		return envfile_get_shell_command(v, what, key, val, &h->test);
	if (val->type != ENV_NODE_SEQ || val->n == 0)
		return ENV_AT(v, val,
			      "%s must be a string, or a list [\"CMD\", ARG...], "
			      "[\"CMD-SHELL\", \"COMMAND\"] or [\"NONE\"], not %s",
			      what,
			      val->type == ENV_NODE_SEQ ? "an empty list" : envfile_describe(val));
	for (size_t i = 0; i < val->n; i++)
		if (val->items[i]->type != ENV_NODE_SCALAR ||
		    strlen(val->items[i]->value) != val->items[i]->len)
			return ENV_AT(v, val->items[i], "each item of %s must be a string, not %s",
				      what, envfile_describe(val->items[i]));
	kind = val->items[0]->value;
	if (!strcmp(kind, "NONE")) {
		if (val->n != 1)
			return ENV_AT(v, val->items[1], "[\"NONE\"] takes nothing after it");
		h->none = true;
		return 0;
	}
	if (!strcmp(kind, "CMD-SHELL")) {
		if (val->n != 2 || !val->items[1]->value[strspn(val->items[1]->value, " \t\r\n")])
			return ENV_AT(v, val->n == 2 ? val->items[1] : val->items[0],
				      "\"CMD-SHELL\" takes one command string after it, such as "
				      "[\"CMD-SHELL\", \"pg_isready\"]");
		dv_strv_push(&h->test, "/bin/sh");
		dv_strv_push(&h->test, "-c");
		dv_strv_push(&h->test, val->items[1]->value);
		return 0;
	}
	if (strcmp(kind, "CMD"))
		return ENV_AT(v, val->items[0],
			      "%s must start with \"CMD\", \"CMD-SHELL\" or \"NONE\", not '%s'",
			      what, envfile_shown(kind, (char[64]){ 0 }, 64));
	if (val->n < 2 || !val->items[1]->value[0])
		return ENV_AT(v, val->items[0], "\"CMD\" needs the program to run after it");
	for (size_t i = 1; i < val->n; i++)
		dv_strv_push(&h->test, val->items[i]->value);
	return 0;
}

static int parse_health(struct env_vctx *v, const char *svc, const struct env_node *key,
			const struct env_node *val, struct env_health *h)
{
	dv_autofree char *what = NULL;
	bool disable = false;

	h->line = key->line;
	h->col = key->col;
	h->retries = -1;
	if (val->type != ENV_NODE_MAP || val->n == 0)
		return ENV_AT(v, envfile_is_null(val) ? key : val,
			      "'healthcheck' of service '%s' must be a mapping with 'test:' and "
			      "the like, not %s",
			      svc, envfile_describe(val));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i], *x = val->items[i + 1];
		int r = 0;

		if (envfile_check_key(v, val, i) < 0)
			return -1;
		free(what);
		what = dv_xasprintf("'%s' of the healthcheck of service '%s'", k->value, svc);
		if (!strcmp(k->value, "test")) {
			r = set_test(v, what, k, x, h);
		} else if (!strcmp(k->value, "interval")) {
			r = set_duration(v, what, k, x, false, &h->interval_ms);
		} else if (!strcmp(k->value, "timeout")) {
			r = set_duration(v, what, k, x, false, &h->timeout_ms);
		} else if (!strcmp(k->value, "start_period")) {
			r = set_duration(v, what, k, x, true, &h->start_period_ms);
		} else if (!strcmp(k->value, "start_interval")) {
			r = set_duration(v, what, k, x, false, &h->start_interval_ms);
		} else if (!strcmp(k->value, "retries")) {
			const char *s;
			char *end;
			long n;

			if (envfile_get_string(v, what, k, x, &s) < 0)
				return -1;
			n = strtol(s, &end, 10);
			if (!isdigit((unsigned char)*s) || *end || n < 1 || n > 1000)
				return ENV_AT(v, x, "%s must be a whole number from 1 to 1000",
					      what);
			h->retries = (int)n;
		} else if (!strcmp(k->value, "disable")) {
			if (x->type != ENV_NODE_SCALAR ||
			    (strcmp(x->value, "true") && strcmp(x->value, "false")))
				return ENV_AT(v, envfile_is_null(x) ? k : x,
					      "%s must be true or false", what);
			disable = !strcmp(x->value, "true");
		} else {
			free(what);
			what = dv_xasprintf(" in the healthcheck of service '%s'", svc);
			r = envfile_unknown_key(v, k, what, health_keys,
						sizeof(health_keys) / sizeof(health_keys[0]));
		}
		if (r < 0)
			return -1;
	}
	if (disable) {
		h->none = true;
		dv_strv_release(&h->test);
	}
	return 0;
}

static int parse_deps(struct env_vctx *v, const char *svc, const struct env_node *key,
		      const struct env_node *val, struct env_service *s)
{
	bool map = val->type == ENV_NODE_MAP;

	if ((val->type != ENV_NODE_SEQ && !map) || val->n == 0)
		return ENV_AT(v, envfile_is_null(val) ? key : val,
			      "'depends_on' of service '%s' must be a list of service names, or "
			      "a mapping NAME: { condition: service_started | service_healthy }, "
			      "not %s",
			      svc,
			      val->type == ENV_NODE_SEQ ? "an empty list" : envfile_describe(val));
	s->depends_on = dv_xcalloc(val->n + 1, sizeof(*s->depends_on));
	for (size_t i = 0; i < val->n; i += map ? 2 : 1) {
		const struct env_node *n = val->items[i];
		struct env_dep *d = &s->depends_on[s->n_depends_on];

		if (map && envfile_check_key(v, val, i) < 0)
			return -1;
		if (n->type != ENV_NODE_SCALAR || !n->value[0])
			return ENV_AT(v, n,
				      "each item of 'depends_on' of service '%s' must be a "
				      "service's name, not %s",
				      svc, envfile_describe(n));
		for (size_t j = 0; j < s->n_depends_on; j++)
			if (!strcmp(s->depends_on[j].name, n->value))
				return ENV_AT(v, n, "service '%s' depends on '%s' twice", svc,
					      n->value);
		d->name = dv_xstrdup(n->value);
		d->line = n->line;
		d->col = n->col;
		s->n_depends_on++;
		if (!map || envfile_is_null(val->items[i + 1]))
			continue;
		{
			const struct env_node *m = val->items[i + 1];

			if (m->type != ENV_NODE_MAP)
				return ENV_AT(v, m,
					      "'%s' in 'depends_on' of service '%s' must be a mapping "
					      "such as { condition: service_healthy }, not %s",
					      n->value, svc, envfile_describe(m));
			for (size_t j = 0; j < m->n; j += 2) {
				const struct env_node *k = m->items[j], *x = m->items[j + 1];

				if (envfile_check_key(v, m, j) < 0)
					return -1;
				if (strcmp(k->value, "condition"))
					return envfile_unknown_key(v, k, " in 'depends_on'",
								   (const char *const[]){
									   "condition" },
								   1);
				if (x->type == ENV_NODE_SCALAR &&
				    !strcmp(x->value, "service_healthy"))
					d->healthy = true;
				else if (x->type != ENV_NODE_SCALAR ||
					 strcmp(x->value, "service_started"))
					return ENV_AT(v, envfile_is_null(x) ? k : x,
						      "'condition' must be service_started or "
						      "service_healthy");
			}
		}
	}
	return 0;
}

int envfile_set_service_health(struct env_vctx *v, const struct env_node *key,
			       const struct env_node *val, struct env_service *svc)
{
	if (!strcmp(key->value, "healthcheck"))
		return parse_health(v, svc->name, key, val, &svc->health);
	return parse_deps(v, svc->name, key, val, svc);
}

int envfile_set_wait(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		     struct env_step *step)
{
	if (!strcmp(key->value, "wait_timeout"))
		return set_duration(v, "'wait_timeout'", key, val, false, &step->wait_timeout_ms);
	step->wait_line = key->line;
	step->wait_col = key->col;
	if (val->type != ENV_NODE_SEQ || val->n == 0)
		return ENV_AT(v, envfile_is_null(val) ? key : val,
			      "'wait_for' must be a list of service names such as [db], not %s",
			      val->type == ENV_NODE_SEQ ? "an empty list" : envfile_describe(val));
	for (size_t i = 0; i < val->n; i++) {
		const struct env_node *n = val->items[i];

		if (n->type != ENV_NODE_SCALAR || !n->value[0])
			return ENV_AT(v, n,
				      "each item of 'wait_for' must be a service's name, not %s",
				      envfile_describe(n));
		dv_strv_push(&step->wait_for, n->value);
	}
	return 0;
}

static const struct env_service *find_svc(const struct env_spec *spec, const char *name)
{
	for (size_t i = 0; i < spec->n_services; i++)
		if (!strcmp(spec->services[i].name, name))
			return &spec->services[i];
	return NULL;
}

/* Depth-first through depends_on: 1 when start reaches itself. */
static bool reaches(const struct env_spec *spec, const struct env_service *from,
		    const struct env_service *target, unsigned depth)
{
	if (depth > spec->n_services)
		return false;
	for (size_t i = 0; i < from->n_depends_on; i++) {
		const struct env_service *d = find_svc(spec, from->depends_on[i].name);

		if (d == target || (d && reaches(spec, d, target, depth + 1)))
			return true;
	}
	return false;
}

int envfile_check_health(struct env_vctx *v, const struct env_spec *spec)
{
	char buf[64];

	for (size_t i = 0; i < spec->n_services; i++) {
		const struct env_service *s = &spec->services[i];

		for (size_t j = 0; j < s->n_depends_on; j++) {
			const struct env_dep *d = &s->depends_on[j];

			if (!strcmp(d->name, s->name))
				return envfile_at(v, d->line, d->col,
						  "service '%s' cannot depend on itself", s->name);
			if (!find_svc(spec, d->name))
				return envfile_at(v, d->line, d->col,
						  "service '%s' depends on '%s', which is not in "
						  "'services'",
						  s->name, envfile_shown(d->name, buf, sizeof(buf)));
		}
		if (s->n_depends_on && reaches(spec, s, s, 0))
			return envfile_at(v, s->depends_on[0].line, s->depends_on[0].col,
					  "service '%s' depends on itself through 'depends_on' (a "
					  "cycle); remove one of its links",
					  s->name);
	}
	for (size_t i = 0; i < spec->n_on_up; i++) {
		const struct env_step *st = &spec->on_up[i];

		if (st->wait_timeout_ms && !st->wait_for.n)
			return envfile_at(v, st->line, st->col,
					  "'wait_timeout' goes with 'wait_for: [SERVICE, ...]'");
		for (size_t j = 0; j < st->wait_for.n; j++)
			if (!find_svc(spec, st->wait_for.v[j]))
				return envfile_at(v, st->wait_line, st->wait_col,
						  "'wait_for' names '%s', which is not in 'services'",
						  envfile_shown(st->wait_for.v[j], buf, sizeof(buf)));
	}
	return 0;
}

void envfile_health_release(struct env_service *s)
{
	dv_strv_release(&s->health.test);
	for (size_t i = 0; i < s->n_depends_on; i++)
		free(s->depends_on[i].name);
	free(s->depends_on);
}

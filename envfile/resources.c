/*
 * envfile/resources.c - `resources: { memory: 2g, cpus: 1.5, pids: 4096 }`.
 *
 * memory: bytes, or a whole number with k, m, g or t (binary: 1k = 1024);
 *         at least 6m, below which not even a shell starts reliably.
 * cpus:   a decimal number of CPUs with up to 3 decimals, 0.01 to 1024.
 *         Not checked against this machine's CPU count: a team's Envfile
 *         must read the same on every laptop, and a quota above the count
 *         merely never binds.
 * pids:   a whole number from 8 to 4194304 (the kernel's PID_MAX_LIMIT).
 *
 * And `logs: { max_size: 10m, max_files: 2 }`, the cap of the env's and
 * each service's log: max_size a size as memory's (a "b" or "ib" after
 * the unit is taken too: 10MiB, 10mb), 4k to 1g; max_files 1 to 100.
 *
 * Kept apart from validate.c, with its own small helpers, so that each
 * Envfile key's checks live in one place.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/parse.h"
#include "util/str.h"
#include "util/banned.h"

#define MEMORY_MIN (6ULL << 20)
#define MEMORY_MAX (1ULL << 50) /* 1 PiB: far above any machine, far below overflow */
#define PIDS_MIN 8ULL
#define PIDS_MAX 4194304ULL
#define CPUS_MAX_MILLI 1024000U

static const char *const keys[] = { "memory", "cpus", "pids" };

static bool null_value(const struct env_node *n)
{
	return n->type == ENV_NODE_SCALAR && n->plain &&
	       (!n->value[0] || !strcmp(n->value, "~") || !strcmp(n->value, "null") ||
		!strcmp(n->value, "Null") || !strcmp(n->value, "NULL"));
}

static const char *kind(const struct env_node *n)
{
	return n->type == ENV_NODE_MAP ? "a mapping" : n->type == ENV_NODE_SEQ ? "a list" : "empty";
}

/* "2g" -> 2147483648 (util/parse.h); false on anything else. A size past
 * MEMORY_MAX, even past 2^64, comes back as MEMORY_MAX + 1: reported as
 * too large, not as malformed. */
static bool parse_size(const char *s, unsigned long long *out)
{
	struct dv_error e = { 0 };

	if (dv_size_parse(s, out, &e) == 0)
		return true;
	if (e.errnum != ERANGE)
		return false;
	*out = MEMORY_MAX + 1;
	return true;
}

/* "1.5" -> 1500; false unless digits with at most 3 decimals. */
static bool parse_cpus(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p = s;
	int decimals = -1;

	if (!isdigit((unsigned char)*p) && *p != '.')
		return false;
	for (; *p; p++) {
		if (*p == '.' && decimals < 0) {
			decimals = 0;
			continue;
		}
		if (!isdigit((unsigned char)*p) || decimals >= 3 || v > 1000000000ULL)
			return false;
		v = v * 10 + (unsigned)(*p - '0');
		if (decimals >= 0)
			decimals++;
	}
	if (decimals == 0 && p[-1] == '.' && p - s == 1)
		return false; /* "." alone */
	for (int d = decimals < 0 ? 0 : decimals; d < 3; d++)
		v *= 10;
	*out = v;
	return true;
}

static bool parse_count(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return false;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p) || v > 100000000000ULL)
			return false;
		v = v * 10 + (unsigned)(*p - '0');
	}
	*out = v;
	return true;
}

static int one(const struct env_node *k, const struct env_node *x, const char *display,
	       struct env_resources *out, struct dv_error *err)
{
	const char *name = k->value;
	unsigned long long v = 0;
	char shown[52];

	if (x->type != ENV_NODE_SCALAR || null_value(x)) {
		if (x->type == ENV_NODE_SCALAR)
			return dv_err_at(err, display, k->line, k->col,
					 "'%s' in 'resources' has no value; give one or remove the line",
					 name);
		return dv_err_at(err, display, x->line, x->col,
				 "'%s' in 'resources' must be a number, not %s", name, kind(x));
	}
	snprintf(shown, sizeof(shown), "%s", x->value);
	for (char *c = shown; *c; c++)
		if (iscntrl((unsigned char)*c))
			*c = '?';
	if (!strcmp(name, "memory")) {
		if (!parse_size(x->value, &v))
			return dv_err_at(err, display, x->line, x->col,
					 "'memory' in 'resources' must be a size such as '512m' or '2g' "
					 "(k, m, g, t: powers of 1024), not '%s'",
					 shown);
		if (v < MEMORY_MIN)
			return dv_err_at(err, display, x->line, x->col,
					 "'memory' in 'resources' must be at least 6m, not '%s'",
					 shown);
		if (v > MEMORY_MAX)
			return dv_err_at(err, display, x->line, x->col,
					 "'memory' in 'resources' must be at most 1024t, not '%s'",
					 shown);
		out->memory = v;
	} else if (!strcmp(name, "cpus")) {
		if (!parse_cpus(x->value, &v) || v < 10 || v > CPUS_MAX_MILLI)
			return dv_err_at(err, display, x->line, x->col,
					 "'cpus' in 'resources' must be a number of CPUs from 0.01 to 1024 "
					 "such as '1.5', not '%s'",
					 shown);
		out->cpus_milli = (unsigned)v;
	} else {
		if (!parse_count(x->value, &v) || v < PIDS_MIN || v > PIDS_MAX)
			return dv_err_at(err, display, x->line, x->col,
					 "'pids' in 'resources' must be a whole number from 8 to 4194304, "
					 "not '%s'",
					 shown);
		out->pids = v;
	}
	return 0;
}

int envfile_resources(const struct env_node *key, const struct env_node *val, const char *display,
		      struct env_resources *out, struct dv_error *err)
{
	struct env_resources r = { 0 };

	(void)key;
	if (null_value(val))
		return 0;
	if (val->type != ENV_NODE_MAP)
		return dv_err_at(err, display, val->line, val->col,
				 "'resources' must be a mapping such as '{ memory: 2g, cpus: 1.5, "
				 "pids: 4096 }', not %s",
				 val->type == ENV_NODE_SEQ ? "a list" : "a single value");
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i], *x = val->items[i + 1];
		const char *best = NULL;
		size_t best_d = SIZE_MAX;

		if (k->type != ENV_NODE_SCALAR)
			return dv_err_at(err, display, k->line, k->col,
					 "a key in 'resources' must be a name, not %s", kind(k));
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(val->items[j]->value, k->value))
				return dv_err_at(err, display, k->line, k->col,
						 "duplicate key '%s' (first at line %u)", k->value,
						 val->items[j]->line);
		for (size_t j = 0; j < 3; j++) {
			size_t d = dv_str_distance(k->value, keys[j]);

			if (!strcmp(k->value, keys[j]))
				best_d = 0, best = keys[j], j = 3;
			else if (d < best_d)
				best_d = d, best = keys[j];
		}
		if (best_d != 0) {
			if (best_d <= 2 && best_d < strlen(k->value))
				return dv_err_at(err, display, k->line, k->col,
						 "unknown key '%.48s' in 'resources' (did you mean '%s'?)",
						 k->value, best);
			return dv_err_at(err, display, k->line, k->col,
					 "unknown key '%.48s' in 'resources' (valid keys: memory, cpus, pids)",
					 k->value);
		}
		if (one(k, x, display, &r, err) < 0)
			return -1;
	}
	*out = r;
	return 0;
}

/* "10m", "10MiB", "10mb", "4096": bytes (powers of 1024); false else. */
static bool parse_log_size(const char *s, unsigned long long *out)
{
	char t[32];
	size_t n = strlen(s);

	if (n >= sizeof(t))
		return false;
	memcpy(t, s, n + 1);
	if (n > 3 && isalpha((unsigned char)t[n - 3]) && tolower((unsigned char)t[n - 2]) == 'i' &&
	    tolower((unsigned char)t[n - 1]) == 'b')
		t[n - 2] = 0;
	else if (n > 2 && isalpha((unsigned char)t[n - 2]) && tolower((unsigned char)t[n - 1]) == 'b')
		t[n - 1] = 0;
	return parse_size(t, out);
}

int envfile_logs(const struct env_node *val, const char *display, struct env_logs *out,
		 struct dv_error *err)
{
	static const char *const lkeys[] = { "max_size", "max_files" };
	struct env_logs l = { ENV_LOG_SIZE_DEFAULT, ENV_LOG_FILES_DEFAULT };

	if (null_value(val)) {
		*out = l;
		return 0;
	}
	if (val->type != ENV_NODE_MAP)
		return dv_err_at(err, display, val->line, val->col,
				 "'logs' must be a mapping such as '{ max_size: 10m, max_files: 2 }', "
				 "not %s",
				 val->type == ENV_NODE_SEQ ? "a list" : "a single value");
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i], *x = val->items[i + 1];
		unsigned long long v = 0;
		char shown[52];

		if (k->type != ENV_NODE_SCALAR)
			return dv_err_at(err, display, k->line, k->col,
					 "a key in 'logs' must be a name, not %s", kind(k));
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(val->items[j]->value, k->value))
				return dv_err_at(err, display, k->line, k->col,
						 "duplicate key '%s' (first at line %u)", k->value,
						 val->items[j]->line);
		if (strcmp(k->value, lkeys[0]) && strcmp(k->value, lkeys[1])) {
			size_t d0 = dv_str_distance(k->value, lkeys[0]),
			       d1 = dv_str_distance(k->value, lkeys[1]);
			size_t d = d0 < d1 ? d0 : d1;

			if (d <= 2 && d < strlen(k->value))
				return dv_err_at(err, display, k->line, k->col,
						 "unknown key '%.48s' in 'logs' (did you mean '%s'?)",
						 k->value, d0 <= d1 ? lkeys[0] : lkeys[1]);
			return dv_err_at(err, display, k->line, k->col,
					 "unknown key '%.48s' in 'logs' (valid keys: max_size, max_files)",
					 k->value);
		}
		if (x->type != ENV_NODE_SCALAR || null_value(x)) {
			if (x->type == ENV_NODE_SCALAR)
				return dv_err_at(err, display, k->line, k->col,
						 "'%s' in 'logs' has no value; give one or remove the line",
						 k->value);
			return dv_err_at(err, display, x->line, x->col,
					 "'%s' in 'logs' must be a number, not %s", k->value,
					 kind(x));
		}
		snprintf(shown, sizeof(shown), "%s", x->value);
		for (char *c = shown; *c; c++)
			if (iscntrl((unsigned char)*c))
				*c = '?';
		if (!strcmp(k->value, "max_size")) {
			if (!parse_log_size(x->value, &v) || v < (4ULL << 10) || v > (1ULL << 30))
				return dv_err_at(err, display, x->line, x->col,
						 "'max_size' in 'logs' must be a size from 4k to 1g such as "
						 "'10m' or '10MiB' (k, m, g: powers of 1024), not '%s'",
						 shown);
			l.max_size = v;
		} else {
			if (!parse_count(x->value, &v) || v < 1 || v > 100)
				return dv_err_at(err, display, x->line, x->col,
						 "'max_files' in 'logs' must be a whole number from 1 to 100 "
						 "(the current log included), not '%s'",
						 shown);
			l.max_files = (unsigned)v;
		}
	}
	*out = l;
	return 0;
}

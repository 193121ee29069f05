/*
 * env/volname.c - what a named volume is called in the store.
 *
 * A volume is the env's own unless the Envfile says `shared`: its folder is
 * volumes/NAME-ID-VOLUME, the env's name, its id (12 hex digits of the
 * checkout's path, DESIGN.md) and the volume's name, in lower-case letters,
 * digits and dashes, at most 63 characters, so that it is also a DNS label
 * and a Kubernetes name. The id is what makes it the checkout's: two
 * checkouts of one project (one `name:`) or a hostile project naming the
 * same volume get two folders. A shared volume keeps the name the Envfile
 * gives it, and such a name may not hold a dash, 12 hex digits and a dash
 * (envfile/mounts.c), which every env's own volume holds: the two kinds
 * never meet.
 *
 * Pure functions, no I/O: test/unit/provision_test.c covers them.
 */
#include <stdio.h>
#include <string.h>

#include "env/env.h"
#include "util/hash.h"
#include "util/banned.h"

bool env_vol_name_ok(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 1; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr("_.-", s[i])))
			return false;
	return i <= ENV_VOL_NAME_MAX;
}

/* s as [a-z0-9-], at most max characters: '_', '.' (anything else) become
 * '-', a run of dashes one, and no dash at either end. */
static size_t label(const char *s, char *out, size_t max)
{
	size_t j = 0;

	for (size_t i = 0; s[i] && j < max; i++) {
		char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		if (c == '-' && (j == 0 || out[j - 1] == '-'))
			continue;
		out[j++] = c;
	}
	while (j && out[j - 1] == '-')
		j--;
	out[j] = 0;
	return j;
}

void env_vol_store_name(const char *env_name, const char *env_id, const char *volume,
			char out[ENV_VOL_NAME_MAX + 1])
{
	/* The two names share what the id and its two dashes leave. */
	const size_t room = ENV_VOL_NAME_MAX - 12 - 2;
	char n[ENV_VOL_NAME_MAX + 1], v[ENV_VOL_NAME_MAX + 1];
	size_t nl = label(env_name, n, ENV_VOL_NAME_MAX);
	size_t vl = label(volume, v, ENV_VOL_NAME_MAX);

	if (!nl)
		nl = (size_t)snprintf(n, sizeof(n), "env");
	if (!vl)
		vl = (size_t)snprintf(v, sizeof(v), "volume");
	if (nl + vl > room) {
		/* The volume's name matters most within its env; the env's
		 * name keeps at least 16 characters, the id says which env it
		 * is anyway. A volume's name cut short gets 8 hex digits of its
		 * sha256, so that two long names stay two volumes. */
		size_t nmin = nl < 16 ? nl : 16;

		if (vl > room - nmin) {
			char hex[DV_SHA256_HEX];

			dv_sha256_hex(volume, strlen(volume), hex);
			vl = room - nmin - 9;
			while (vl && v[vl - 1] == '-')
				vl--;
			vl += (size_t)snprintf(v + vl, sizeof(v) - vl, "-%.8s", hex);
		}
		if (nl > room - vl)
			nl = room - vl;
		while (nl > 1 && n[nl - 1] == '-')
			nl--;
	}
	snprintf(out, ENV_VOL_NAME_MAX + 1, "%.*s-%.12s-%.*s", (int)nl, n, env_id, (int)vl, v);
}

void env_vol_of(const struct env_spec *spec, const char *env_id, const struct env_mount *m,
		char out[ENV_VOL_NAME_MAX + 1])
{
	if (m->shared)
		snprintf(out, ENV_VOL_NAME_MAX + 1, "%s", m->source);
	else
		env_vol_store_name(spec->name, env_id, m->source, out);
}

void env_vol_names(const struct env_spec *spec, const char *env_id, struct dv_strv *out)
{
	const struct env_mount *m;
	char name[ENV_VOL_NAME_MAX + 1];

	for (size_t i = 0; (m = envfile_volume_nth(spec, i)) != NULL; i++) {
		size_t k;

		env_vol_of(spec, env_id, m, name);
		for (k = 0; k < out->n && strcmp(out->v[k], name); k++)
			;
		if (k == out->n)
			dv_strv_push(out, name);
	}
}

int env_vol_check(const struct env_spec *spec, const char *env_id, struct dv_error *err)
{
	const struct env_mount *a, *b;
	char na[ENV_VOL_NAME_MAX + 1], nb[ENV_VOL_NAME_MAX + 1];

	for (size_t j = 1; (b = envfile_volume_nth(spec, j)) != NULL; j++) {
		env_vol_of(spec, env_id, b, nb);
		for (size_t i = 0; i < j; i++) {
			a = envfile_volume_nth(spec, i);
			env_vol_of(spec, env_id, a, na);
			if (strcmp(na, nb) || !strcmp(a->source, b->source))
				continue;
			return dv_err_at(err, spec->display, b->line, b->col,
					 "volumes '%s' and '%s' (line %u) would be one folder '%s' in "
					 "the store; rename one",
					 b->source, a->source, a->line, nb);
		}
	}
	return 0;
}

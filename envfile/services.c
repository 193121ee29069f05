/*
 * envfile/services.c - `services`: sidecar containers beside the env.
 *
 *   services:
 *     db:
 *       image: postgres:15              # required
 *       env: { POSTGRES_PASSWORD: dev }
 *       command: ["postgres", "-c", "fsync=off"]   # or a string for /bin/sh -c
 *       volumes: ["pgdata:/var/lib/postgresql/data", "./initdb:/docker-entrypoint-initdb.d:ro"]
 *
 * The name is also the service's host name in the env's /etc/hosts.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

static const char *const service_keys[] = { "image",   "env",         "command",
					    "volumes", "healthcheck", "depends_on" };

static int set_image(struct env_vctx *v, const char *what, const struct env_node *key,
		     const struct env_node *val, struct env_service *svc)
{
	const char *s;
	char buf[64];
	size_t i;

	if (envfile_get_string(v, what, key, val, &s) < 0)
		return -1;
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-:/@", s[i]))
			break;
	if (s[i])
		return ENV_AT(v, val,
			      "%s must be an image reference such as 'postgres:15', not "
			      "'%s'",
			      what, envfile_shown(s, buf, sizeof(buf)));
	svc->image = dv_xstrdup(s);
	svc->image_line = val->line;
	svc->image_col = val->col;
	return 0;
}

static int set_command(struct env_vctx *v, const char *what, const struct env_node *key,
		       const struct env_node *val, struct env_service *svc)
{
	if (val->type == ENV_NODE_SCALAR)
		return envfile_get_shell_command(v, what, key, val, &svc->command);
	if (val->type != ENV_NODE_SEQ || val->n == 0)
		return ENV_AT(v, val, "%s must be a string or a list of arguments, not %s", what,
			      val->type == ENV_NODE_SEQ ? "an empty list" : envfile_describe(val));
	for (size_t i = 0; i < val->n; i++) {
		const struct env_node *a = val->items[i];

		if (a->type != ENV_NODE_SCALAR || strlen(a->value) != a->len)
			return ENV_AT(v, a, "each argument of %s must be a string, not %s", what,
				      envfile_describe(a));
		dv_strv_push(&svc->command, a->value);
	}
	return 0;
}

static int parse_service(struct env_vctx *v, const struct env_node *name,
			 const struct env_node *val, struct env_service *svc)
{
	dv_autofree char *what = NULL;
	const struct env_node *image_key = NULL;
	char buf[64];

	svc->line = name->line;
	svc->col = name->col;
	if (!envfile_valid_name(name->value) || strcmp(name->value, "localhost") == 0)
		return ENV_AT(v, name,
			      "service name '%s' must be 1 to 63 lower-case letters, "
			      "digits, '_', '.' or '-', starting with a letter or digit (and not "
			      "'localhost'): it is also the service's host name",
			      envfile_shown(name->value, buf, sizeof(buf)));
	svc->name = dv_xstrdup(name->value);
	if (val->type != ENV_NODE_MAP || val->n == 0)
		return ENV_AT(v, envfile_is_null(val) ? name : val,
			      "service '%s' must be a mapping with at least 'image:', not %s",
			      svc->name, envfile_describe(val));
	for (size_t i = 0; i < val->n; i += 2) {
		const struct env_node *k = val->items[i], *x = val->items[i + 1];
		int r;

		if (envfile_check_key(v, val, i) < 0)
			return -1;
		free(what);
		what = dv_xasprintf("'%s' of service '%s'", k->value, svc->name);
		if (strcmp(k->value, "image") == 0) {
			image_key = k;
			r = set_image(v, what, k, x, svc);
		} else if (strcmp(k->value, "env") == 0) {
			r = envfile_env_map(v, what, x, &svc->env, &svc->n_env);
		} else if (strcmp(k->value, "command") == 0) {
			r = set_command(v, what, k, x, svc);
		} else if (strcmp(k->value, "volumes") == 0) {
			r = envfile_set_mounts(v, k, x, ENV_MOUNT_ANY, what, &svc->volumes,
					       &svc->n_volumes);
		} else if (!strcmp(k->value, "healthcheck") || !strcmp(k->value, "depends_on")) {
			r = envfile_set_service_health(v, k, x, svc);
		} else {
			free(what);
			what = dv_xasprintf(" in service '%s'", svc->name);
			r = envfile_unknown_key(v, k, what, service_keys,
						sizeof(service_keys) / sizeof(service_keys[0]));
		}
		if (r < 0)
			return -1;
	}
	if (!image_key)
		return ENV_AT(v, name, "service '%s' needs 'image:', such as 'image: postgres:15'",
			      svc->name);
	return 0;
}

int envfile_set_services(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			 struct env_spec *spec)
{
	(void)key;
	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_MAP)
		return ENV_AT(v, val, "'services' must be a mapping of NAME: { image: ... }, not %s",
			      envfile_describe(val));
	spec->services = dv_xcalloc(val->n / 2 + 1, sizeof(*spec->services));
	for (size_t i = 0; i < val->n; i += 2) {
		if (envfile_check_key(v, val, i) < 0)
			return -1;
		spec->n_services++;
		if (parse_service(v, val->items[i], val->items[i + 1],
				  &spec->services[spec->n_services - 1]) < 0)
			return -1;
	}
	return 0;
}

void envfile_services_release(struct env_service *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].name);
		free(s[i].image);
		envfile_env_release(s[i].env, s[i].n_env);
		dv_strv_release(&s[i].command);
		envfile_mounts_release(s[i].volumes, s[i].n_volumes);
		envfile_health_release(&s[i]);
	}
	free(s);
}

/* registry/login.c - registry credentials in the docker client's config.json,
 * where registry.c (and docker, podman, skopeo) read them.
 *
 * login checks the user and password with the registry first, then sets
 * auths.<host>.auth to base64("user:pass"), or hands them to the
 * credential helper config.json names for the host (creds.c); logout
 * removes that entry, and asks the helper to erase its own.
 * The file is read, changed and written back whole (temporary name, fsync,
 * rename; mode 0600), keeping every other key, so credential helpers and
 * other registries' entries survive. A file that is not a JSON object is
 * left alone and reported. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

int reg_host_check(const char *host, struct dv_error *err)
{
	dv_autofree char *ref = NULL, *norm = NULL;

	if (!host[0] || strchr(host, '/') || strchr(host, '@'))
		return dv_err_usage(err, "invalid registry host '%s'", host);
	ref = dv_xasprintf("%s/x", host);
	if (!layer_ref_has_host(ref))
		return dv_err_usage(err,
				    "invalid registry host '%s': a host has a '.' or a "
				    "':port', or is 'localhost'",
				    host);
	if (layer_ref_normalize(ref, false, &norm, &(struct dv_error){ 0 }) < 0)
		return dv_err_usage(err, "invalid registry host '%s'", host);
	return 0;
}

/* Set (auth != NULL) or remove the entry of host in config.json; *found
 * (may be NULL) says whether there was one. */
static int config_update(const char *host, const char *auth, bool *found, struct dv_error *err)
{
	dv_autofree char *dir = reg_docker_config_dir(), *text = NULL, *out = NULL;
	layer_autojson struct json_object *o = NULL;
	struct json_object *auths, *entry;
	dv_autoclose int dfd = -1;
	struct dv_error e = { 0 };
	size_t len;

	if (!dir)
		return dv_err_plain(err, ENOENT,
				    "neither DOCKER_CONFIG nor HOME is set: no place "
				    "for credentials");
	if (dv_mkdir_p(dir, 0700, err) < 0 || (dfd = dv_open_dir_at(AT_FDCWD, dir, err)) < 0)
		return -1;
	if (dv_read_file_at(dfd, "config.json", &text, &len, &e) < 0) {
		if (e.errnum != ENOENT) {
			*err = e;
			return -1;
		}
		if (!auth) {
			*found = false;
			return 0;
		}
		text = dv_xstrdup("{}");
	}
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object))
		return dv_err_plain(err, EINVAL,
				    "'%s/config.json' is not a JSON object; not changed", dir);
	if (!json_object_object_get_ex(o, "auths", &auths) ||
	    !json_object_is_type(auths, json_type_object)) {
		auths = json_object_new_object();
		json_object_object_add(o, "auths", auths);
	}
	if (found)
		*found = json_object_object_get_ex(auths, reg_auths_key(host), NULL);
	if (auth) {
		if (!json_object_object_get_ex(auths, reg_auths_key(host), &entry) ||
		    !json_object_is_type(entry, json_type_object)) {
			entry = json_object_new_object();
			json_object_object_add(auths, reg_auths_key(host), entry);
		}
		json_object_object_add(entry, "auth", json_object_new_string(auth));
	} else if (found && *found) {
		json_object_object_del(auths, reg_auths_key(host));
	} else {
		return 0;
	}
	out = dv_xasprintf("%s\n",
			   json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_PRETTY_TAB |
								     JSON_C_TO_STRING_SPACED |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
	if (dv_write_file_atomic(dfd, "config.json", out, strlen(out), 0600, err) < 0)
		return dv_err_prefix(err, "cannot write '%s/config.json'", dir);
	return 0;
}

int reg_login(const char *host, const char *user, const char *password, struct dv_error *err)
{
	dv_autofree char *pair = NULL, *auth = NULL;

	if (reg_host_check(host, err) < 0)
		return -1;
	if (!user[0] || strchr(user, ':'))
		return dv_err_usage(err, "invalid user name '%s'", user);
	if (!password[0])
		return dv_err_usage(err, "the password is empty");
	pair = dv_xasprintf("%s:%s", user, password);
	auth = reg_base64(pair);
	if (reg_login_check(host, auth, err) < 0)
		return -1;
	/* Where config.json names a credential helper, docker keeps them there. */
	switch (reg_creds_helper_store(host, user, password, err)) {
	case 1:
		return 0;
	case 0:
		return config_update(host, auth, NULL, err);
	default:
		return -1;
	}
}

int reg_logout(const char *host, bool *found, struct dv_error *err)
{
	bool in_helper = false;

	if (reg_host_check(host, err) < 0)
		return -1;
	switch (reg_creds_helper_erase(host, &in_helper, err)) {
	case 1:
		/* An entry in auths too (from before the helper) goes as well. */
		if (config_update(host, NULL, found, err) < 0)
			return -1;
		*found |= in_helper;
		return 0;
	case 0:
		return config_update(host, NULL, found, err);
	default:
		return -1;
	}
}

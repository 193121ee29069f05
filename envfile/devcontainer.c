/*
 * envfile/devcontainer.c - a Dev Containers `devcontainer.json` read as an
 * Envfile.
 *
 * The file (JSON with comments, read by jsonc.c) is translated into the
 * same tree of struct env_node that parse.c makes of an Envfile, each node
 * carrying the position of the JSON value it came from. The tree then goes
 * through envfile_validate(): one set of rules and messages for both
 * formats, and `devenv init --from-devcontainer` only has to print the tree
 * as YAML (emit.c).
 *
 * Keys devenv cannot honour are collected for one warning; `customizations`
 * and the other editor-only keys are ignored without one. Writing the tree
 * out as an Envfile is devcontainer_init.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/str.h"
#include "util/banned.h"

#define DC_NAME_MAX 63

struct dc {
	const char *display;
	struct env_jsonc doc;
	json_object *root; /* doc.root */
	const char *base;  /* ${localWorkspaceFolder}: the folder holding the json's folder */
	char *workdir;     /* ${containerWorkspaceFolder} */
	struct dv_strv unsupported;
	struct dv_strv editor;        /* editor-only keys present, for init's header */
	struct env_hostvar *host_env; /* ${localEnv:...} met, for the trust prompt */
	size_t n_host_env;
	struct dv_error *err;
};

/* Keys with no meaning outside an editor: ignored without a warning. */
static const char *const editor_keys[] = {
	"$schema",        "customizations", "portsAttributes", "otherPortsAttributes",
	"shutdownAction", "waitFor",
};

static int err_off(struct dc *dc, size_t off, const char *fmt, ...) DV_FMT(3, 4);
static int err_off(struct dc *dc, size_t off, const char *fmt, ...)
{
	char msg[sizeof(dc->err->msg)];
	unsigned line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	envfile_jsonc_pos(&dc->doc, off, &line, &col);
	return dv_err_at(dc->err, dc->display, line, col, "%s", msg);
}

static size_t key_off(struct dc *dc, const json_object *parent, const char *key)
{
	return envfile_jsonc_key_off(&dc->doc, parent, key);
}

static size_t val_off(struct dc *dc, const json_object *parent, const char *key)
{
	return envfile_jsonc_val_off(&dc->doc, parent, key);
}

static size_t item_off(struct dc *dc, const json_object *parent, size_t idx)
{
	return envfile_jsonc_item_off(&dc->doc, parent, idx);
}

/* Where the object starts: errors about the whole file point there. */
static size_t first_off(struct dc *dc)
{
	return strspn(dc->doc.text, " \t\r\n");
}

/* ---- the tree for envfile_validate() ---- */

static struct env_node *node_new(struct dc *dc, enum env_node_type type, size_t off)
{
	struct env_node *n = dv_xcalloc(1, sizeof(*n));

	n->type = type;
	envfile_jsonc_pos(&dc->doc, off, &n->line, &n->col);
	return n;
}

static struct env_node *scalar(struct dc *dc, const char *s, size_t off)
{
	struct env_node *n = node_new(dc, ENV_NODE_SCALAR, off);

	n->value = dv_xstrdup(s);
	n->len = strlen(s);
	return n;
}

static struct env_node *scalar_owned(struct dc *dc, char *s, size_t off)
{
	struct env_node *n = scalar(dc, s, off);

	free(s);
	return n;
}

static void push(struct env_node *parent, struct env_node *child)
{
	parent->items = dv_xrealloc(parent->items, (parent->n + 1) * sizeof(*parent->items));
	parent->items[parent->n++] = child;
}

/* Add `key: val` to map, the key placed at the JSON key's position. */
static void map_set(struct dc *dc, struct env_node *map, const char *key, size_t off,
		    struct env_node *val)
{
	push(map, scalar(dc, key, off));
	push(map, val);
}

static const char *type_name(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
	case json_type_int:
		return "a number";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	default:
		return "a string";
	}
}

/* Where "${var}" is written inside the JSON string that starts at off (its
 * opening quote), so that the trust prompt points at the variable itself;
 * off when it is written some other way (escaped). */
static size_t var_off(struct dc *dc, size_t off, const char *var)
{
	const char *t = dc->doc.orig, *found;
	dv_autofree char *needle = dv_xasprintf("${%s}", var);
	size_t end;

	if (off >= dc->doc.len || t[off] != '"')
		return off;
	for (end = off + 1; end < dc->doc.len && t[end] != '"'; end++)
		if (t[end] == '\\')
			end++;
	if (end > dc->doc.len)
		end = dc->doc.len;
	found = memmem(t + off, end - off, needle, strlen(needle));
	return found ? (size_t)(found - t) : off;
}

/* A host variable read into the spec: a trust request (its name only). */
static void note_host_env(struct dc *dc, const char *name, size_t off)
{
	unsigned line, col;

	envfile_jsonc_pos(&dc->doc, off, &line, &col);
	for (size_t i = 0; i < dc->n_host_env; i++)
		if (dc->host_env[i].line == line && dc->host_env[i].col == col &&
		    !strcmp(dc->host_env[i].name, name))
			return;
	dc->host_env = dv_xrealloc(dc->host_env, (dc->n_host_env + 1) * sizeof(*dc->host_env));
	dc->host_env[dc->n_host_env++] = (struct env_hostvar){ dv_xstrdup(name), line, col };
}

/* ${localWorkspaceFolder} and its friends. ${containerEnv:X} has no value
 * before the env runs: *deferred says it was met, and the string is dropped. */
static int subst(struct dc *dc, const char *in, size_t off, bool *deferred, char **out)
{
	struct dv_buf b = { 0 };
	const char *p = in;

	*out = NULL;
	dv_buf_adds(&b, "");
	while (*p) {
		const char *end;
		char *var;

		if (p[0] != '$' || p[1] != '{' || !(end = strchr(p, '}'))) {
			dv_buf_add(&b, p++, 1);
			continue;
		}
		var = dv_xstrndup(p + 2, (size_t)(end - p - 2));
		if (!strcmp(var, "localWorkspaceFolder")) {
			dv_buf_adds(&b, dc->base);
		} else if (!strcmp(var, "localWorkspaceFolderBasename")) {
			dv_buf_adds(&b,
				    strrchr(dc->base, '/') ? strrchr(dc->base, '/') + 1 : dc->base);
		} else if (!strcmp(var, "containerWorkspaceFolder") && dc->workdir) {
			dv_buf_adds(&b, dc->workdir);
		} else if (!strcmp(var, "containerWorkspaceFolderBasename") && dc->workdir) {
			dv_buf_adds(&b, strrchr(dc->workdir, '/') + 1);
		} else if (dv_str_startswith(var, "localEnv:") || dv_str_startswith(var, "env:")) {
			char *name = strchr(var, ':') + 1, *dflt = strchr(name, ':');
			size_t at = var_off(dc, off, var);
			const char *v;

			if (dflt)
				*dflt++ = '\0';
			note_host_env(dc, name, at);
			v = getenv(name);
			dv_buf_adds(&b, v ? v : dflt ? dflt : "");
		} else if (dv_str_startswith(var, "containerEnv:") && deferred) {
			*deferred = true;
		} else {
			char shown[64];

			snprintf(shown, sizeof(shown), "%s", var);
			free(var);
			dv_buf_release(&b);
			return err_off(dc, off,
				       "'${%s}' is not a variable devenv can fill in; it knows "
				       "${localWorkspaceFolder}, ${localWorkspaceFolderBasename}, "
				       "${containerWorkspaceFolder} and ${localEnv:NAME}",
				       shown);
		}
		free(var);
		p = end + 1;
	}
	*out = dv_buf_steal(&b);
	return 0;
}

/* "\u0000" would cut a C string short behind the writer's back. */
static bool has_nul(json_object *o)
{
	return (size_t)json_object_get_string_len(o) != strlen(json_object_get_string(o));
}

static int get_str(struct dc *dc, json_object *o, const char *what, size_t off, char **out)
{
	if (!json_object_is_type(o, json_type_string))
		return err_off(dc, off, "'%s' must be a string, not %s", what, type_name(o));
	if (has_nul(o))
		return err_off(dc, off, "'%s' must not contain a NUL character", what);
	return subst(dc, json_object_get_string(o), off, NULL, out);
}

/* A command as a shell line: a string as is, an array as its argv quoted. */
static int command_line(struct dc *dc, json_object *o, const char *what, size_t off, char **out)
{
	struct dv_buf b = { 0 };
	size_t n;

	*out = NULL;
	if (json_object_is_type(o, json_type_string))
		return get_str(dc, o, what, off, out);
	if (!json_object_is_type(o, json_type_array) || !(n = json_object_array_length(o)))
		return err_off(dc, off,
			       "'%s' must be a command line, or an array of its "
			       "words, not %s",
			       what,
			       json_object_is_type(o, json_type_array) ? "an empty array"
								       : type_name(o));
	dv_buf_adds(&b, "");
	for (size_t i = 0; i < n; i++) {
		json_object *w = json_object_array_get_idx(o, i);
		dv_autofree char *s = NULL;

		if (get_str(dc, w, what, item_off(dc, o, i), &s) < 0) {
			dv_buf_release(&b);
			return -1;
		}
		if (i)
			dv_buf_adds(&b, " ");
		if (s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_/.:=@%+,-") == strlen(s)) {
			dv_buf_adds(&b, s);
			continue;
		}
		dv_buf_adds(&b, "'");
		for (const char *c = s; *c; c++)
			dv_buf_adds(&b, *c == '\'' ? "'\\''" : (char[]){ *c, 0 });
		dv_buf_adds(&b, "'");
	}
	*out = dv_buf_steal(&b);
	return 0;
}

/* One `run` step of the command cmd (a string or an argv array) at off. */
static int add_run_step(struct dc *dc, struct env_node *steps, json_object *cmd, const char *key,
			size_t off)
{
	struct env_node *step = node_new(dc, ENV_NODE_MAP, off);
	char *line;

	push(steps, step);
	if (command_line(dc, cmd, key, off, &line) < 0)
		return -1;
	map_set(dc, step, "run", off, scalar_owned(dc, line, off));
	return 0;
}

/* onCreateCommand & co: one `run` step, or one per member of an object. */
static int add_commands(struct dc *dc, const char *key, struct env_node **steps)
{
	json_object *o;
	size_t off = val_off(dc, dc->root, key);

	if (!json_object_object_get_ex(dc->root, key, &o))
		return 0;
	if (!*steps)
		*steps = node_new(dc, ENV_NODE_SEQ, off);
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, name, cmd)
		{
			if (add_run_step(dc, *steps, cmd, key, val_off(dc, o, name)) < 0)
				return -1;
		}
		return 0;
	}
	return add_run_step(dc, *steps, o, key, off);
}

/* containerEnv, then remoteEnv over it: devenv has one environment. */
static int add_env(struct dc *dc, const char *key, struct env_node *env)
{
	json_object *o;

	if (!json_object_object_get_ex(dc->root, key, &o))
		return 0;
	if (!json_object_is_type(o, json_type_object))
		return err_off(dc, val_off(dc, dc->root, key),
			       "'%s' must be an object of \"NAME\": \"value\", not %s", key,
			       type_name(o));
	json_object_object_foreach(o, name, val)
	{
		size_t koff = key_off(dc, o, name), voff = val_off(dc, o, name);
		bool deferred = false;
		char *s = NULL;
		size_t i;

		for (i = 0; i < env->n; i += 2)
			if (!strcmp(env->items[i]->value, name))
				break;
		if (!val && !strcmp(key, "remoteEnv")) { /* null unsets */
			if (i < env->n) {
				env_node_free(env->items[i]);
				env_node_free(env->items[i + 1]);
				memmove(&env->items[i], &env->items[i + 2],
					(env->n - i - 2) * sizeof(*env->items));
				env->n -= 2;
			}
			continue;
		}
		if (!json_object_is_type(val, json_type_string))
			return err_off(dc, voff,
				       "the value of '%s' in '%s' must be a string, not %s", name,
				       key, type_name(val));
		if (has_nul(val))
			return err_off(dc, voff,
				       "the value of '%s' in '%s' must not contain a NUL "
				       "character",
				       name, key);
		if (subst(dc, json_object_get_string(val), voff, &deferred, &s) < 0)
			return -1;
		if (deferred) {
			dv_strv_push_owned(&dc->unsupported,
					   dv_xasprintf("%s.%s (${containerEnv:...})", key, name));
			free(s);
			continue;
		}
		if (i < env->n) {
			env_node_free(env->items[i + 1]);
			env->items[i + 1] = scalar_owned(dc, s, voff);
		} else {
			map_set(dc, env, name, koff, scalar_owned(dc, s, voff));
		}
	}
	return 0;
}

/* forwardPorts: 3000, "3000", "localhost:3000"; "db:5432" names a Compose
 * service, which devenv has not. */
static int add_ports(struct dc *dc, struct env_node *root)
{
	json_object *o;
	struct env_node *ports;
	size_t n;

	if (!json_object_object_get_ex(dc->root, "forwardPorts", &o))
		return 0;
	if (!json_object_is_type(o, json_type_array))
		return err_off(dc, val_off(dc, dc->root, "forwardPorts"),
			       "'forwardPorts' must be an array of ports such as [3000], not %s",
			       type_name(o));
	if (!(n = json_object_array_length(o)))
		return 0;
	ports = node_new(dc, ENV_NODE_SEQ, val_off(dc, dc->root, "forwardPorts"));
	map_set(dc, root, "ports", key_off(dc, dc->root, "forwardPorts"), ports);
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(o, i);
		size_t off = item_off(dc, o, i);
		const char *s = json_object_get_string(p), *colon;

		if (json_object_is_type(p, json_type_int)) {
			push(ports, scalar_owned(dc, dv_xasprintf("%s:%s", s, s), off));
			continue;
		}
		if (!json_object_is_type(p, json_type_string))
			return err_off(dc, off,
				       "each of 'forwardPorts' must be a port number such "
				       "as 3000, or \"localhost:3000\", not %s",
				       type_name(p));
		colon = strrchr(s, ':');
		if (colon && (size_t)(colon - s) == strlen("localhost") &&
		    !strncmp(s, "localhost", 9))
			s = colon + 1;
		else if (colon && (size_t)(colon - s) == strlen("127.0.0.1") &&
			 !strncmp(s, "127.0.0.1", 9))
			s = colon + 1;
		else if (colon) {
			dv_strv_push_owned(&dc->unsupported, dv_xasprintf("forwardPorts \"%s\"", s));
			continue;
		}
		push(ports, scalar_owned(dc, dv_xasprintf("%s:%s", s, s), off));
	}
	return 0;
}

struct dc_mount {
	char *type, *source, *target;
	bool readonly;
};

static void dc_mount_release(struct dc_mount *m)
{
	free(m->type);
	free(m->source);
	free(m->target);
	memset(m, 0, sizeof(*m));
}

/* Docker's --mount syntax: "type=bind,source=X,target=/y,readonly". */
static int mount_from_string(struct dc *dc, const char *s, size_t off, struct dc_mount *m)
{
	dv_autofree char *copy = NULL;
	char *save = NULL;

	if (subst(dc, s, off, NULL, &copy) < 0)
		return -1;
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		const char *v = eq ? eq + 1 : "";

		if (eq)
			*eq = '\0';
		if (!strcmp(f, "type"))
			free(m->type), m->type = dv_xstrdup(v);
		else if (!strcmp(f, "source") || !strcmp(f, "src"))
			free(m->source), m->source = dv_xstrdup(v);
		else if (!strcmp(f, "target") || !strcmp(f, "destination") || !strcmp(f, "dst"))
			free(m->target), m->target = dv_xstrdup(v);
		else if (!strcmp(f, "readonly") || !strcmp(f, "ro"))
			m->readonly = !eq || !strcmp(v, "true") || !strcmp(v, "1");
		else if (strcmp(f, "consistency")) /* consistency only mattered on macOS */
			return err_off(dc, off,
				       "mount option '%s' is not supported; give type, "
				       "source, target and readonly",
				       f);
	}
	return 0;
}

static int mount_from_object(struct dc *dc, json_object *o, size_t off, struct dc_mount *m)
{
	json_object_object_foreach(o, k, v)
	{
		size_t voff = val_off(dc, o, k);
		char **dst = !strcmp(k, "type")     ? &m->type
			     : !strcmp(k, "source") ? &m->source
			     : !strcmp(k, "target") ? &m->target
						    : NULL;

		if (!strcmp(k, "readonly")) {
			m->readonly = json_object_get_boolean(v);
			continue;
		}
		if (!dst)
			return err_off(dc, key_off(dc, o, k),
				       "mount key '%s' is not supported; "
				       "give type, source, target and readonly",
				       k);
		free(*dst);
		*dst = NULL;
		if (get_str(dc, v, k, voff, dst) < 0)
			return -1;
	}
	(void)off;
	return 0;
}

/* A bind source as the Envfile writes it: "./sub" inside the folder. */
static char *bind_source(struct dc *dc, const char *src)
{
	size_t n = strlen(dc->base);

	if (!strcmp(src, dc->base))
		return dv_xstrdup(".");
	if (!strncmp(src, dc->base, n) && src[n] == '/')
		return dv_xasprintf(".%s", src + n);
	return dv_xstrdup(src);
}

static int read_mount(struct dc *dc, json_object *o, size_t off, struct dc_mount *m)
{
	if (json_object_is_type(o, json_type_string)) {
		if (mount_from_string(dc, json_object_get_string(o), off, m) < 0)
			return -1;
	} else if (json_object_is_type(o, json_type_object)) {
		if (mount_from_object(dc, o, off, m) < 0)
			return -1;
	} else {
		return err_off(dc, off,
			       "a mount must be a string such as "
			       "\"source=cache,target=/cache,type=volume\", or an object, not %s",
			       type_name(o));
	}
	if (!m->type)
		m->type = dv_xstrdup("volume"); /* Docker's default for --mount */
	if (!m->target || !m->target[0])
		return err_off(dc, off, "a mount needs a 'target': the path inside the env");
	return 0;
}

static int add_mounts(struct dc *dc, struct env_node *root)
{
	struct env_node *vols = NULL, *binds = NULL;
	json_object *o;
	size_t n, koff = key_off(dc, dc->root, "mounts"), voff = val_off(dc, dc->root, "mounts");

	if (!json_object_object_get_ex(dc->root, "mounts", &o))
		return 0;
	if (!json_object_is_type(o, json_type_array))
		return err_off(dc, voff, "'mounts' must be an array, not %s", type_name(o));
	n = json_object_array_length(o);
	for (size_t i = 0; i < n; i++) {
		size_t off = item_off(dc, o, i);
		struct dc_mount m = { 0 };
		struct env_node **list;
		char *src;

		if (read_mount(dc, json_object_array_get_idx(o, i), off, &m) < 0) {
			dc_mount_release(&m);
			return -1;
		}
		if (strcmp(m.type, "volume") && strcmp(m.type, "bind")) {
			dv_strv_push_owned(&dc->unsupported, dv_xasprintf("mounts type=%s", m.type));
			dc_mount_release(&m);
			continue;
		}
		if (!m.source || !m.source[0]) {
			dv_strv_push_owned(&dc->unsupported,
					   dv_xasprintf("mounts (anonymous volume at %s)", m.target));
			dc_mount_release(&m);
			continue;
		}
		list = !strcmp(m.type, "volume") ? &vols : &binds;
		if (!*list) {
			*list = node_new(dc, ENV_NODE_SEQ, voff);
			map_set(dc, root, list == &vols ? "volumes" : "mounts", koff, *list);
		}
		src = list == &vols ? dv_xstrdup(m.source) : bind_source(dc, m.source);
		push(*list,
		     scalar_owned(dc, dv_xasprintf("%s:%s%s", src, m.target, m.readonly ? ":ro" : ""),
				  off));
		free(src);
		dc_mount_release(&m);
	}
	return 0;
}

/* capAdd and securityOpt's seccomp=unconfined: the Envfile's `security`. */
static int add_security(struct dc *dc, struct env_node *root)
{
	struct env_node *sec = NULL;
	json_object *o;
	size_t off;

	if (json_object_object_get_ex(dc->root, "capAdd", &o)) {
		struct env_node *caps;

		off = val_off(dc, dc->root, "capAdd");
		if (!json_object_is_type(o, json_type_array))
			return err_off(dc, off,
				       "'capAdd' must be an array such as [\"SYS_PTRACE\"], not %s",
				       type_name(o));
		sec = node_new(dc, ENV_NODE_MAP, off);
		caps = node_new(dc, ENV_NODE_SEQ, off);
		map_set(dc, root, "security", key_off(dc, dc->root, "capAdd"), sec);
		map_set(dc, sec, "cap_add", key_off(dc, dc->root, "capAdd"), caps);
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			char *s;

			if (get_str(dc, json_object_array_get_idx(o, i), "capAdd",
				    item_off(dc, o, i), &s) < 0)
				return -1;
			push(caps, scalar_owned(dc, s, item_off(dc, o, i)));
		}
	}
	if (!json_object_object_get_ex(dc->root, "securityOpt", &o))
		return 0;
	off = val_off(dc, dc->root, "securityOpt");
	if (!json_object_is_type(o, json_type_array))
		return err_off(dc, off,
			       "'securityOpt' must be an array such as [\"seccomp=unconfined\"], "
			       "not %s",
			       type_name(o));
	for (size_t i = 0; i < json_object_array_length(o); i++) {
		size_t ioff = item_off(dc, o, i);
		dv_autofree char *s = NULL;

		if (get_str(dc, json_object_array_get_idx(o, i), "securityOpt", ioff, &s) < 0)
			return -1;
		/* a profile file would be a host path of the editor's machine */
		if (strcmp(s, "seccomp=unconfined") && strcmp(s, "seccomp:unconfined")) {
			dv_strv_push_owned(&dc->unsupported, dv_xasprintf("securityOpt \"%s\"", s));
			continue;
		}
		if (!sec) {
			sec = node_new(dc, ENV_NODE_MAP, off);
			map_set(dc, root, "security", key_off(dc, dc->root, "securityOpt"), sec);
		}
		map_set(dc, sec, "seccomp", key_off(dc, dc->root, "securityOpt"),
			scalar(dc, "unconfined", ioff));
		break;
	}
	return 0;
}

/* workspaceFolder, else the target of a workspaceMount that binds the
 * folder itself, else the Dev Containers default /workspaces/BASENAME. */
static int find_workdir(struct dc *dc, size_t *off)
{
	json_object *o;

	if (json_object_object_get_ex(dc->root, "workspaceFolder", &o)) {
		*off = val_off(dc, dc->root, "workspaceFolder");
		return get_str(dc, o, "workspaceFolder", *off, &dc->workdir);
	}
	if (json_object_object_get_ex(dc->root, "workspaceMount", &o)) {
		struct dc_mount m = { 0 };

		*off = val_off(dc, dc->root, "workspaceMount");
		if (read_mount(dc, o, *off, &m) < 0) {
			dc_mount_release(&m);
			return -1;
		}
		if (!strcmp(m.type, "bind") && m.source && !strcmp(m.source, dc->base) && !m.readonly)
			dc->workdir = dv_steal_ptr(&m.target);
		else
			dv_strv_push(&dc->unsupported, "workspaceMount");
		dc_mount_release(&m);
		if (dc->workdir)
			return 0;
	}
	*off = 0;
	dc->workdir = dv_xasprintf("/workspaces/%s", strrchr(dc->base, '/') + 1);
	return 0;
}

/* Any name to a valid env name, as a folder's name is: a Latin letter
 * with a mark is its letter ("Café API" is cafe-api), any other character
 * not allowed a '-'. */
static char *env_name(const char *s)
{
	char *name = dv_xcalloc(DC_NAME_MAX + 1, 1);
	size_t j = 0, n;
	unsigned cp;

	for (; *s && j < DC_NAME_MAX; s++) {
		char c = (char)tolower((unsigned char)*s);
		const char *as;

		if ((unsigned char)*s >= 0x80 &&
		    (n = envfile_utf8_char((const unsigned char *)s, 4, &cp)) &&
		    (as = envfile_latin_ascii(cp))) {
			for (; *as && j < DC_NAME_MAX; as++)
				name[j++] = *as;
			s += n - 1;
			continue;
		}

		if (!isalnum((unsigned char)c) && !strchr("_.-", c))
			c = '-';
		if ((j == 0 || name[j - 1] == '-') && !isalnum((unsigned char)c))
			continue;
		name[j++] = c;
	}
	while (j && !isalnum((unsigned char)name[j - 1]))
		name[--j] = '\0';
	if (!j) {
		free(name);
		return NULL;
	}
	return name;
}

static bool is_editor_key(const char *k)
{
	for (size_t i = 0; i < sizeof(editor_keys) / sizeof(editor_keys[0]); i++)
		if (!strcmp(k, editor_keys[i]))
			return true;
	return false;
}

static const char *const handled_keys[] = {
	"name",
	"image",
	"workspaceFolder",
	"workspaceMount",
	"forwardPorts",
	"containerEnv",
	"remoteEnv",
	"remoteUser",
	"containerUser",
	"mounts",
	"onCreateCommand",
	"updateContentCommand",
	"postCreateCommand",
	"postStartCommand",
	"capAdd",
	"securityOpt",
	"build",
	"dockerComposeFile",
};

static bool is_handled(const char *k)
{
	for (size_t i = 0; i < sizeof(handled_keys) / sizeof(handled_keys[0]); i++)
		if (!strcmp(k, handled_keys[i]))
			return true;
	return false;
}

static int translate(struct dc *dc, struct env_node **out)
{
	struct env_node *root = node_new(dc, ENV_NODE_MAP, 0), *env, *prov = NULL, *on_up = NULL;
	json_object *o;
	size_t off;
	int ret = -1;

	*out = NULL;
	if (!json_object_object_get_ex(dc->root, "image", &o)) {
		const char *why = json_object_object_get_ex(dc->root, "build", &o)
					  ? "build.dockerfile"
				  : json_object_object_get_ex(dc->root, "dockerComposeFile", &o)
					  ? "dockerComposeFile"
					  : NULL;

		if (why) {
			err_off(dc, key_off(dc, dc->root, strchr(why, '.') ? "build" : why),
				"'%s' is not supported yet; give an 'image' or write an Envfile "
				"(devenv init)",
				why);
			goto out;
		}
		err_off(dc, first_off(dc),
			"the devcontainer.json has no 'image'; give one such as "
			"\"image\": \"debian:bookworm\"");
		goto out;
	}

	if (json_object_object_get_ex(dc->root, "name", &o)) {
		dv_autofree char *s = NULL;
		char *name;

		off = val_off(dc, dc->root, "name");
		if (get_str(dc, o, "name", off, &s) < 0)
			goto out;
		if ((name = env_name(s)))
			map_set(dc, root, "name", key_off(dc, dc->root, "name"),
				scalar_owned(dc, name, off));
	}
	{
		dv_autofree char *s = NULL;

		json_object_object_get_ex(dc->root, "image", &o);
		off = val_off(dc, dc->root, "image");
		if (get_str(dc, o, "image", off, &s) < 0)
			goto out;
		map_set(dc, root, "image", key_off(dc, dc->root, "image"), scalar(dc, s, off));
	}
	if (find_workdir(dc, &off) < 0)
		goto out;
	map_set(dc, root, "workdir", off, scalar(dc, dc->workdir, off));

	{
		const char *key =
			json_object_object_get_ex(dc->root, "remoteUser", &o)      ? "remoteUser"
			: json_object_object_get_ex(dc->root, "containerUser", &o) ? "containerUser"
										   : NULL;
		dv_autofree char *s = NULL;

		off = key ? val_off(dc, dc->root, key) : 0;
		if (key && get_str(dc, o, key, off, &s) < 0)
			goto out;
		/* root is who commands run as without `user` */
		if (key && strcmp(s, "root") && strcmp(s, "0"))
			map_set(dc, root, "user", key_off(dc, dc->root, key), scalar(dc, s, off));
	}

	env = node_new(dc, ENV_NODE_MAP, val_off(dc, dc->root, "containerEnv"));
	if (add_env(dc, "containerEnv", env) < 0 || add_env(dc, "remoteEnv", env) < 0) {
		env_node_free(env);
		goto out;
	}
	if (env->n)
		map_set(dc, root, "env",
			key_off(dc, dc->root,
				json_object_object_get_ex(dc->root, "containerEnv", NULL)
					? "containerEnv"
					: "remoteEnv"),
			env);
	else
		env_node_free(env);

	if (add_ports(dc, root) < 0 || add_mounts(dc, root) < 0)
		goto out;

	if (add_security(dc, root) < 0)
		goto out;

	if (add_commands(dc, "onCreateCommand", &prov) < 0 ||
	    add_commands(dc, "updateContentCommand", &prov) < 0 ||
	    add_commands(dc, "postCreateCommand", &prov) < 0 ||
	    add_commands(dc, "postStartCommand", &on_up) < 0) {
		env_node_free(prov);
		env_node_free(on_up);
		goto out;
	}
	if (prov)
		map_set(dc, root, "provision",
			key_off(dc, dc->root, "onCreateCommand")
				? key_off(dc, dc->root, "onCreateCommand")
			: key_off(dc, dc->root, "updateContentCommand")
				? key_off(dc, dc->root, "updateContentCommand")
				: key_off(dc, dc->root, "postCreateCommand"),
			prov);
	if (on_up)
		map_set(dc, root, "on_up", key_off(dc, dc->root, "postStartCommand"), on_up);

	/* Everything else is named in the one warning. */
	json_object_object_foreach(dc->root, k, v)
	{
		if (is_editor_key(k))
			dv_strv_push(&dc->editor, k);
		if (is_editor_key(k) || (is_handled(k) && strcmp(k, "build")))
			continue;
		/* true is what devenv always does: its own init as PID 1, which
		 * keeps the env up without the image's command, and the user
		 * given the host user's uid */
		if ((!strcmp(k, "init") || !strcmp(k, "overrideCommand") ||
		     !strcmp(k, "updateRemoteUserUID")) &&
		    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v))
			continue;
		if (!strcmp(k, "build") && json_object_is_type(v, json_type_object) &&
		    json_object_object_get_ex(v, "dockerfile", NULL))
			dv_strv_push(&dc->unsupported, "build.dockerfile");
		else
			dv_strv_push(&dc->unsupported, k);
	}
	if (json_object_object_get_ex(dc->root, "dockerComposeFile", NULL))
		dv_strv_push(&dc->unsupported, "dockerComposeFile");
	*out = root;
	root = NULL;
	ret = 0;
out:
	env_node_free(root);
	return ret;
}

static void dc_release(struct dc *dc)
{
	envfile_jsonc_release(&dc->doc);
	free(dc->workdir);
	dv_strv_release(&dc->unsupported);
	dv_strv_release(&dc->editor);
	for (size_t i = 0; i < dc->n_host_env; i++)
		free(dc->host_env[i].name);
	free(dc->host_env);
}

bool envfile_is_devcontainer(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strcmp(base, "devcontainer.json") || !strcmp(base, ".devcontainer.json");
}

int envfile_dc_load(const char *text, size_t len, const char *display, const char *base,
		    struct env_node **root, struct dv_strv *unsupported, struct dv_strv *editor,
		    struct env_spec *spec, struct dv_error *err)
{
	struct dc dc = { .display = display, .base = base, .err = err };
	int ret = -1;

	if (envfile_jsonc_load(text, len, display, &dc.doc, err) < 0)
		return -1;
	dc.root = dc.doc.root;
	if (translate(&dc, root) == 0) {
		if (unsupported) {
			*unsupported = dc.unsupported;
			memset(&dc.unsupported, 0, sizeof(dc.unsupported));
		}
		if (editor) {
			*editor = dc.editor;
			memset(&dc.editor, 0, sizeof(dc.editor));
		}
		if (spec) {
			spec->host_env = dv_steal_ptr(&dc.host_env);
			spec->n_host_env = dc.n_host_env;
			dc.n_host_env = 0;
		}
		ret = 0;
	}
	dc_release(&dc);
	return ret;
}

int envfile_devcontainer_parse(const char *text, size_t len, const char *display, const char *dir,
			       const char *checkout, struct env_spec *out,
			       struct dv_strv *unsupported, struct dv_error *err)
{
	struct env_node *root = NULL;
	struct dv_strv unsup = { 0 };
	struct env_spec vars = { 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	if (!display)
		display = "devcontainer.json";
	if (!checkout)
		checkout = dir;
	if (envfile_dc_load(text, len, display, dir, &root, &unsup, NULL, &vars, err) < 0)
		return -1;
	ret = envfile_validate(root, display, dir, checkout, out, err);
	env_node_free(root);
	if (ret == 0) {
		out->host_env = dv_steal_ptr(&vars.host_env);
		out->n_host_env = vars.n_host_env;
		vars.n_host_env = 0;
	}
	env_spec_release(&vars);
	if (ret == 0 && unsupported)
		*unsupported = unsup;
	else
		dv_strv_release(&unsup);
	return ret;
}

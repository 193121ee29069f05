/*
 * envfile/internal.h - shared by the files of envfile/ only.
 *
 * Files (the public face is envfile.h):
 *   find.c              finding the Envfile (or a devcontainer.json) and its checkout, reading it
 *   parse.c             YAML text to a tree of struct env_node, with positions
 *   node.c              the checks every key's parser shares (positions, "must be X, not Y")
 *   validate.c          the tree to a checked struct env_spec: top-level keys, steps
 *   mounts.c            `volumes` and `mounts`
 *   network.c           `network` and `ports`
 *   resources.c         `resources` and `logs`
 *   security.c          `security`
 *   services.c          `services`
 *   secrets.c           `secrets`, and a step's `secrets: [NAME]`
 *   jsonc.c             JSON with comments (devcontainer.json), with positions
 *   devcontainer.c      a devcontainer.json translated into the Envfile's tree
 *   devcontainer_init.c that tree written out as an Envfile (`init --from-devcontainer`)
 *   emit.c              a tree written out as Envfile YAML
 *   cache.c             `cache` (top-level and a step's)
 *   userconfig.c        the user's config.yaml (`dotfiles`), not an Envfile
 *
 * parse.c turns YAML text into a small tree of struct env_node (rejecting
 * what YAML can say but an Envfile must not: aliases, tags, several
 * documents), validate.c turns that tree into a struct env_spec.
 */
#ifndef ENVFILE_INTERNAL_H
#define ENVFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "envfile/envfile.h"

static inline void envfile_parser_deletep(yaml_parser_t **p)
{
	if (*p)
		yaml_parser_delete(*p);
}
/* For a yaml_parser_t * pointing at an initialised parser (or NULL). */
#define envfile_autoparser __attribute__((cleanup(envfile_parser_deletep)))

enum env_node_type { ENV_NODE_SCALAR, ENV_NODE_SEQ, ENV_NODE_MAP };

struct env_node {
	enum env_node_type type;
	char *value;        /* SCALAR: its text, NUL-terminated */
	size_t len;         /* SCALAR: its length (may hold a NUL from "\0") */
	bool plain;         /* SCALAR: unquoted, so "1", "true" and "" are not strings */
	unsigned line, col; /* 1-based start */
	/* SEQ: n items; MAP: n/2 pairs stored key, value, key, value... */
	struct env_node **items;
	size_t n;
};

/* Parse text into *out (the root node, or NULL for a stream without any
 * document or whose document is empty). The caller frees it with
 * env_node_free(). */
int envfile_yaml_load(const char *text, size_t len, const char *display, struct env_node **out,
		      struct dv_error *err);
void env_node_free(struct env_node *node);

/* Fill *out from a root mapping; dir and checkout are real paths. */
int envfile_validate(const struct env_node *root, const char *display, const char *dir,
		     const char *checkout, struct env_spec *out, struct dv_error *err);

/* `logs: { max_size, max_files }` (resources.c); null gives the defaults. */
int envfile_logs(const struct env_node *val, const char *display, struct env_logs *out,
		 struct dv_error *err);
/* `resources: { memory, cpus, pids }` (resources.c); null gives no limits. */
int envfile_resources(const struct env_node *key, const struct env_node *val, const char *display,
		      struct env_resources *out, struct dv_error *err);
/* `security:` (security.c); dir and checkout as for envfile_validate. */
int envfile_set_security(const struct env_node *key, const struct env_node *val,
			 const char *display, const char *dir, const char *checkout,
			 struct env_security *out, struct dv_error *err);
void env_security_release(struct env_security *sec);

/* node.c: what the key parsers share. A parse's context: */
struct env_vctx {
	const char *display; /* file name in messages */
	const char *dir;     /* the Envfile's folder (relative paths start here) */
	const char *checkout;
	char *real_checkout; /* resolved on first use (envfile_real_checkout) */
	struct dv_error *err;
};
/* Every error: "display:line:col: message", status 2; returns -1. */
int envfile_at(struct env_vctx *v, unsigned line, unsigned col, const char *fmt, ...) DV_FMT(4, 5);
#define ENV_AT(v, node, ...) envfile_at((v), (node)->line, (node)->col, __VA_ARGS__)
/* A value quoted into a one-line message: control characters become '?',
 * long values are cut. */
const char *envfile_shown(const char *s, char *buf, size_t size);
bool envfile_is_null(const struct env_node *n);
/* "a mapping", "a list", "a number", "a string", "empty": for "not X". */
const char *envfile_describe(const struct env_node *n);
/* Keys are scalars and appear once; the pairs before index i are known good. */
int envfile_check_key(struct env_vctx *v, const struct env_node *map, size_t i);
/* A non-empty scalar's text; `what` names it in messages ("'image' in
 * service 'db'"); key (may be NULL) is where a missing value is reported. */
int envfile_get_string(struct env_vctx *v, const char *what, const struct env_node *key,
		       const struct env_node *val, const char **out);
/* A command given as one string (a service's `command`, a healthcheck's
 * `test`): envfile_get_string()'s, not blank, pushed to *out as
 * "/bin/sh", "-c", it. */
int envfile_get_shell_command(struct env_vctx *v, const char *what, const struct env_node *key,
			      const struct env_node *val, struct dv_strv *out);
int envfile_unknown_key(struct env_vctx *v, const struct env_node *key, const char *where,
			const char *const *valid, size_t n);
/* The strict UTF-8 character (RFC 3629: no overlong form, no surrogate,
 * nothing past U+10FFFF) at s, of at most len bytes: its length, *cp its
 * code point; 0 when the bytes are not one. At a NUL-terminated string's
 * end a len of 4 is safe: the NUL stops it. */
size_t envfile_utf8_char(const unsigned char *s, size_t len, unsigned *cp);
/* A Latin letter with a mark (U+00C0 to U+017F, Romanian's comma letters)
 * as ASCII letters ("e" for é, "ss" for ß), or NULL (validate.c). */
const char *envfile_latin_ascii(unsigned cp);
/* 1 to 63 of [a-z0-9_.-], starting with a letter or digit (env, service and
 * volume names). */
bool envfile_valid_name(const char *s);
/* NAME: value mapping (as `env`); *out and *n grow as entries are checked,
 * so envfile_env_release frees a half-filled one. */
int envfile_env_map(struct env_vctx *v, const char *what, const struct env_node *val,
		    struct env_kv **out, size_t *n);
void envfile_env_release(struct env_kv *env, size_t n);
/* The checkout's real path, or NULL with v->err set. */
const char *envfile_real_checkout(struct env_vctx *v);
bool envfile_path_inside(const char *path, const char *dir);

/* network.c: `network: host|private` and `ports`. */
int envfile_set_network(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			struct env_spec *spec);
int envfile_set_ports(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		      struct env_spec *spec);
/* After every key: 'auto' ports are an error with `network: host`. */
int envfile_check_auto_ports(struct env_vctx *v, const struct env_spec *spec);
void envfile_ports_release(struct env_port *ports, size_t n);

/* mounts.c: `volumes` (named volumes), `mounts` (host paths), and a
 * service's `volumes` (either kind). */
enum env_mount_kinds { ENV_MOUNT_VOLUMES, ENV_MOUNT_HOST, ENV_MOUNT_ANY };
int envfile_set_mounts(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		       enum env_mount_kinds kinds, const char *what, struct env_mount **out,
		       size_t *n);
void envfile_mounts_release(struct env_mount *m, size_t n);
/* After every key is read: targets unique and not the workdir. */
int envfile_check_mount_targets(struct env_vctx *v, const struct env_spec *spec);

/* gitcred.c: `git_credentials`; is s a host as an entry may write it? */
/* cachetrust.c: `cache_trust` (its path below the checkout). */
int envfile_set_cache_trust(struct env_vctx *v, const struct env_node *key,
			    const struct env_node *val, struct env_spec *spec);
int envfile_set_git_credentials(struct env_vctx *v, const struct env_node *key,
				const struct env_node *val, struct env_spec *spec);
bool envfile_gitcred_host_ok(const char *s);
/* agent.c: `ssh_agent` at the top and on a step. */
int envfile_set_agent(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		      struct env_agent *out);
int envfile_step_agent(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		       bool *out);
void envfile_agent_release(struct env_agent *a);

/* services.c: `services`. */
int envfile_set_services(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			 struct env_spec *spec);
void envfile_services_release(struct env_service *s, size_t n);

/* secrets.c: `secrets`, a step's (or on_up entry's) `secrets`, and the
 * check, once every key is read, that each name a step gives is declared. */
int envfile_set_secrets(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			struct env_spec *spec);
int envfile_step_secrets(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
			 struct env_step *step);
int envfile_check_secrets(struct env_vctx *v, const struct env_spec *spec);
void envfile_secrets_release(struct env_secret *s, size_t n);
/* health.c: a service's `healthcheck` and `depends_on` (key is either),
 * an on_up step's `wait_for` and `wait_timeout` (either); then, once every
 * key is read, the names they give checked (and no depends_on cycle). */
int envfile_set_service_health(struct env_vctx *v, const struct env_node *key,
			       const struct env_node *val, struct env_service *svc);
int envfile_set_wait(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		     struct env_step *step);
int envfile_check_health(struct env_vctx *v, const struct env_spec *spec);
void envfile_health_release(struct env_service *s);

/* jsonc.c: JSON with comments (devcontainer.json), parsed with json-c;
 * offsets count bytes of the text as given. */
struct json_object;
struct env_jsonc_pos;
struct env_jsonc {
	const char *orig; /* the text as given (borrowed) */
	size_t len;
	char *text;               /* orig with comments and trailing commas blanked */
	struct json_object *root; /* always an object */
	struct env_jsonc_pos *pos;
	size_t n_pos, cap_pos;
};
/* Errors name display:line:col; on failure *out stays zeroed. */
int envfile_jsonc_load(const char *text, size_t len, const char *display, struct env_jsonc *out,
		       struct dv_error *err);
void envfile_jsonc_release(struct env_jsonc *doc);
void envfile_jsonc_pos(const struct env_jsonc *doc, size_t off, unsigned *line, unsigned *col);
/* Where parent's member key (its name, its value) or item idx starts; 0
 * when unknown. */
size_t envfile_jsonc_key_off(const struct env_jsonc *doc, const struct json_object *parent,
			     const char *key);
size_t envfile_jsonc_val_off(const struct env_jsonc *doc, const struct json_object *parent,
			     const char *key);
size_t envfile_jsonc_item_off(const struct env_jsonc *doc, const struct json_object *parent,
			      size_t idx);

/* devcontainer.c: a devcontainer.json's text as the Envfile's tree (*root,
 * for envfile_validate()); *unsupported gets the keys left out, *editor
 * (when not NULL) the editor-only ones, spec (when not NULL) the
 * ${localEnv:...} met. base: ${localWorkspaceFolder}. All the caller's to
 * free. */
int envfile_dc_load(const char *text, size_t len, const char *display, const char *base,
		    struct env_node **root, struct dv_strv *unsupported, struct dv_strv *editor,
		    struct env_spec *spec, struct dv_error *err);

/* emit.c: a tree as Envfile YAML, appended to out. Fails on a value that
 * is not UTF-8. */
int envfile_node_emit(const struct env_node *root, struct dv_buf *out, struct dv_error *err);
/* "# " and the formatted text and a newline, appended to out, every control
 * character, line break (CR, LF, NEL, LS, PS), byte-order mark and byte
 * that is not UTF-8 in it written as an escape (\n, \x01, \u2028): the
 * comment ends where it should and the file stays readable, whatever the
 * text holds. */
void envfile_emit_comment(struct dv_buf *out, const char *fmt, ...) DV_FMT(2, 3);

/* cache.c: a `cache` list into *out (n entries); null is none. */
int envfile_set_cache(struct env_vctx *v, const struct env_node *val, struct env_cache **out,
		      size_t *n);
/* Is inner outer itself or inside it? */
bool envfile_cache_nested(const char *outer, const char *inner);
/* A step's paths against the top-level ones, once both are read. */
int envfile_check_caches(struct env_vctx *v, const struct env_spec *spec);
void envfile_cache_release(struct env_cache *c, size_t n);

/* aptsnap.c: `apt_snapshot` and `apt_snapshot_url`; after every key, the
 * URL without the time is an error. */
int envfile_set_apt_snapshot(struct env_vctx *v, const struct env_node *key,
			     const struct env_node *val, struct env_spec *spec);
int envfile_set_apt_snapshot_url(struct env_vctx *v, const struct env_node *key,
				 const struct env_node *val, struct env_spec *spec);
int envfile_check_apt_snapshot(struct env_vctx *v, const struct env_spec *spec);
/* "YYYY-MM-DDTHH:MM:SSZ" as seconds since the epoch, -1 when it is not a
 * real UTC time so written. */
long long envfile_apt_time(const char *s);
/* An http(s) URL of plain characters without its trailing '/', or NULL.
 * Caller frees. */
char *envfile_apt_url(const char *s);

#endif

/*
 * envfile/internal.h - shared by the files of envfile/ only.
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
int envfile_yaml_load(const char *text, size_t len, const char *display,
		      struct env_node **out, struct dv_error *err);
void env_node_free(struct env_node *node);

/* Fill *out from a root mapping; dir and checkout are real paths. */
int envfile_validate(const struct env_node *root, const char *display, const char *dir,
		     const char *checkout, struct env_spec *out, struct dv_error *err);

/* `resources: { memory, cpus, pids }` (resources.c); null gives no limits. */
int envfile_resources(const struct env_node *key, const struct env_node *val, const char *display,
		      struct env_resources *out, struct dv_error *err);
/* `security:` (security.c); dir and checkout as for envfile_validate. */
int envfile_set_security(const struct env_node *key, const struct env_node *val,
			 const char *display, const char *dir, const char *checkout,
			 struct env_security *out, struct dv_error *err);
void env_security_release(struct env_security *sec);

#endif

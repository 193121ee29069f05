/*
 * envfile/agent.c - `ssh_agent`: which of the developer's ssh keys the env
 * may use through an agent devenv serves (hostnet/agent.c).
 *
 *   ssh_agent: true                 every key the host's agent holds
 *   ssh_agent: confirm              every key, each signature asked for
 *   ssh_agent: [work, "SHA256:..."] the keys with this comment or fingerprint
 *   ssh_agent: false                none (as absent)
 *
 * Env-wide it serves `devenv ssh` sessions and on_up; a provisioning step
 * gets one only with its own `ssh_agent: true` (envfile_step_agent), and
 * the step's cache key leaves it out.
 */
#include <string.h>

#include "envfile/internal.h"
#include "util/str.h"
#include "util/banned.h"

/* "SHA256:" and 43 characters of unpadded base64, as ssh-keygen -l prints. */
static bool is_fingerprint(const char *s)
{
	if (strncmp(s, "SHA256:", 7) != 0)
		return false;
	s += 7;
	if (strlen(s) != 43)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '+' || *s == '/'))
			return false;
	return true;
}

static bool plain_word(const struct env_node *n, const char *w)
{
	return n->type == ENV_NODE_SCALAR && n->plain && strcmp(n->value, w) == 0;
}

int envfile_set_agent(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		      struct env_agent *out)
{
	char buf[64];

	out->line = key->line;
	out->col = key->col;
	if (plain_word(val, "true")) {
		out->mode = ENV_AGENT_ALL;
		return 0;
	}
	if (plain_word(val, "false")) {
		out->mode = ENV_AGENT_NONE;
		return 0;
	}
	if (val->type == ENV_NODE_SCALAR && strcmp(val->value, "confirm") == 0) {
		out->mode = ENV_AGENT_CONFIRM;
		return 0;
	}
	if (val->type == ENV_NODE_SCALAR && !envfile_is_null(val))
		return ENV_AT(v, val,
			      "'ssh_agent' must be true, false, confirm or a list of key comments "
			      "or SHA256 fingerprints, not '%s'",
			      envfile_shown(val->value, buf, sizeof(buf)));
	if (val->type != ENV_NODE_SEQ)
		return ENV_AT(v, envfile_is_null(val) ? key : val,
			      "'ssh_agent' must be true, false, confirm or a list of key comments "
			      "or SHA256 fingerprints, not %s",
			      envfile_describe(val));
	if (val->n == 0)
		return ENV_AT(v, val,
			      "'ssh_agent' lists no key; name one (its comment or SHA256 "
			      "fingerprint, as 'ssh-add -l' shows), or write false");
	for (size_t i = 0; i < val->n; i++) {
		const struct env_node *k = val->items[i];

		if (k->type != ENV_NODE_SCALAR || envfile_is_null(k) || !k->value[0])
			return ENV_AT(v, k,
				      "each entry of 'ssh_agent' must be a key's comment or SHA256 "
				      "fingerprint, not %s",
				      envfile_describe(k));
		if (strlen(k->value) != k->len || strpbrk(k->value, "\n\r"))
			return ENV_AT(v, k, "a key name in 'ssh_agent' must be one line");
		if (strncmp(k->value, "SHA256:", 7) == 0 && !is_fingerprint(k->value))
			return ENV_AT(v, k,
				      "'%s' is not a SHA256 fingerprint ('SHA256:' and 43 "
				      "characters, as 'ssh-add -l' prints)",
				      envfile_shown(k->value, buf, sizeof(buf)));
		if (strncmp(k->value, "MD5:", 4) == 0)
			return ENV_AT(v, k,
				      "MD5 fingerprints are not taken; give the key's SHA256 one "
				      "('ssh-add -l -E sha256')");
		dv_strv_push(&out->keys, k->value);
	}
	out->mode = ENV_AGENT_LIST;
	return 0;
}

int envfile_step_agent(struct env_vctx *v, const struct env_node *key, const struct env_node *val,
		       bool *out)
{
	if (plain_word(val, "true") || plain_word(val, "false")) {
		*out = val->value[0] == 't';
		return 0;
	}
	return ENV_AT(v, envfile_is_null(val) ? key : val,
		      "'ssh_agent' in a step must be true or false, not %s (which keys it "
		      "may use is the top-level 'ssh_agent')",
		      envfile_describe(val));
}

void envfile_agent_release(struct env_agent *a)
{
	dv_strv_release(&a->keys);
	*a = (struct env_agent){ 0 };
}

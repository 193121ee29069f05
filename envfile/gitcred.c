/*
 * envfile/gitcred.c - `git_credentials: [host, ...]`: the hosts whose
 * credentials the host's `git credential fill` may give the env's git
 * (hostnet/gitcred.c relays them).
 *
 * An entry is a host as git's credential protocol writes it: a name or an
 * IPv4 address, or an IPv6 one in brackets, with ":PORT" when the URL has
 * one ("github.com", "git.example.com:8443", "[::1]:3000"). No scheme, no
 * path, no user, no wildcard: each is one host the developer named. Kept
 * in lower case, since host names are compared without case.
 */
#include <ctype.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/str.h"
#include "util/banned.h"

/* "PORT" of 1 to 65535, no sign, no leading zero. */
static bool valid_port(const char *s)
{
	unsigned long p = 0;
	size_t i;

	if (!s[0] || s[0] == '0' || strlen(s) > 5)
		return false;
	for (i = 0; s[i]; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		p = p * 10 + (unsigned)(s[i] - '0');
	}
	return p <= 65535;
}

bool envfile_gitcred_host_ok(const char *s)
{
	const char *end, *colon;
	size_t i, n;

	if (s[0] == '[') { /* [IPv6]:port */
		end = strchr(s, ']');
		if (!end || end == s + 1)
			return false;
		for (const char *p = s + 1; p < end; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return false;
		return !end[1] || (end[1] == ':' && valid_port(end + 2));
	}
	colon = strchr(s, ':');
	n = colon ? (size_t)(colon - s) : strlen(s);
	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return !colon || valid_port(colon + 1);
}

int envfile_set_git_credentials(struct env_vctx *v, const struct env_node *key,
				const struct env_node *val, struct env_spec *spec)
{
	spec->git_credentials_line = key->line;
	spec->git_credentials_col = key->col;
	if (envfile_is_null(val))
		return 0;
	if (val->type != ENV_NODE_SEQ)
		return ENV_AT(v, val,
			      "'git_credentials' must be a list of hosts such as "
			      "[github.com, git.example.com:8443], not %s",
			      envfile_describe(val));
	for (size_t i = 0; i < val->n; i++) {
		const struct env_node *one = val->items[i];
		char buf[64], *host;
		const char *s;

		if (one->type != ENV_NODE_SCALAR || envfile_is_null(one))
			return ENV_AT(v, one,
				      "each entry of 'git_credentials' must be a host such as "
				      "'github.com', not %s",
				      envfile_describe(one));
		s = one->value;
		if (strstr(s, "://") || strchr(s, '/') || strchr(s, '@'))
			return ENV_AT(v, one,
				      "'git_credentials' takes hosts, not URLs: write the host "
				      "alone (and ':PORT' if the URL has one), not '%s'",
				      envfile_shown(s, buf, sizeof(buf)));
		if (!envfile_gitcred_host_ok(s))
			return ENV_AT(v, one,
				      "'%s' is not a host name such as 'github.com' or "
				      "'git.example.com:8443' (no wildcards)",
				      envfile_shown(s, buf, sizeof(buf)));
		host = dv_xstrdup(s);
		for (char *p = host; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		for (size_t j = 0; j < spec->git_credentials.n; j++)
			if (strcmp(spec->git_credentials.v[j], host) == 0) {
				ENV_AT(v, one, "'%s' is listed twice in 'git_credentials'",
				       envfile_shown(host, buf, sizeof(buf)));
				free(host);
				return -1;
			}
		dv_strv_push_owned(&spec->git_credentials, host);
	}
	return 0;
}

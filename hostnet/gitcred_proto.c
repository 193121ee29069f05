/*
 * hostnet/gitcred_proto.c - what the git credential relay (gitcred.c)
 * accepts from an env, and what it passes on: pure text work, no I/O.
 *
 * The env's git asks through `git credential-cache --socket PATH OP`, git's
 * own client, so that nothing of devenv's has to be in the env: it sends
 * "action=get|store|erase", "timeout=N", then the attributes git gave the
 * helper (git-credential(1): key=value lines), and half-closes. From that
 * the relay keeps protocol, host, path, username and password, and nothing
 * else (no url=, which would stand for all of them; no wwwauth[],
 * capability[] or other git-version extras): the host's `git credential`
 * gets only what it needs to look a credential up. A request is refused
 * whole when its host is not one the Envfile lists (compared without
 * case, port included), its protocol is not http or https, a value holds
 * a control character (git's own CVE-2020-5260 and CVE-2024-52006 were
 * newlines and carriage returns in these values), or it is not what git's
 * client sends.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hostnet/internal.h"
#include "util/str.h"
#include "util/banned.h"

void hnet_cred_release(struct hnet_cred *c)
{
	free(c->protocol);
	free(c->host);
	free(c->path);
	free(c->username);
	free(c->password);
	memset(c, 0, sizeof(*c));
}

static bool clean_value(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static char **field(struct hnet_cred *c, const char *key, size_t klen)
{
#define F(name) \
	if (klen == sizeof(#name) - 1 && memcmp(key, #name, klen) == 0) \
		return &c->name;
	F(protocol)
	F(host)
	F(path)
	F(username)
	F(password)
#undef F
	return NULL;
}

bool hnet_cred_host_listed(const char *host, const struct dv_strv *hosts)
{
	for (size_t i = 0; i < hosts->n; i++)
		if (strcasecmp(host, hosts->v[i]) == 0)
			return true;
	return false;
}

int hnet_cred_parse(const char *buf, size_t len, const struct dv_strv *hosts, struct hnet_cred *out,
		    const char **why)
{
	struct hnet_cred c = { 0 };
	bool have_action = false;
	size_t i = 0;

	*why = NULL;
	if (memchr(buf, 0, len)) {
		*why = "a NUL byte";
		return -1;
	}
	while (i < len) {
		const char *line = buf + i, *nl = memchr(line, '\n', len - i), *eq;
		size_t n = nl ? (size_t)(nl - line) : len - i, klen;
		char **slot;

		i += n + (nl ? 1 : 0);
		if (n == 0)
			continue; /* a blank line ends a credential; nothing follows in ours */
		eq = memchr(line, '=', n);
		if (!eq) {
			*why = "a line without '='";
			goto bad;
		}
		klen = (size_t)(eq - line);
		if (!clean_value(eq + 1, n - klen - 1)) {
			*why = "a control character in a value";
			goto bad;
		}
		if (klen == 6 && memcmp(line, "action", 6) == 0) {
			if (have_action) {
				*why = "two actions";
				goto bad;
			}
			have_action = true;
			if (n - 7 == 3 && memcmp(eq + 1, "get", 3) == 0)
				c.op = HNET_CRED_GET;
			else if (n - 7 == 5 && memcmp(eq + 1, "store", 5) == 0)
				c.op = HNET_CRED_STORE;
			else if (n - 7 == 5 && memcmp(eq + 1, "erase", 5) == 0)
				c.op = HNET_CRED_ERASE;
			else {
				*why = "an action other than get, store or erase";
				goto bad;
			}
			continue;
		}
		if (klen == 3 && memcmp(line, "url", 3) == 0) {
			*why = "a url= attribute";
			goto bad;
		}
		slot = field(&c, line, klen);
		if (!slot)
			continue; /* timeout=, wwwauth[]=, capability[]=...: not passed on */
		if (*slot) {
			*why = "an attribute given twice";
			goto bad;
		}
		*slot = dv_xstrndup(eq + 1, n - klen - 1);
	}
	if (!have_action) {
		*why = "no action";
		goto bad;
	}
	if (!c.protocol || (strcmp(c.protocol, "https") && strcmp(c.protocol, "http"))) {
		*why = "a protocol other than http or https";
		goto bad;
	}
	if (!c.host || !hnet_cred_host_listed(c.host, hosts)) {
		*why = "a host the Envfile does not list";
		goto bad;
	}
	if (c.op != HNET_CRED_GET && (!c.username || !c.password)) {
		*why = "store or erase without username and password";
		goto bad;
	}
	*out = c;
	return 0;
bad:
	hnet_cred_release(&c);
	return -1;
}

char *hnet_cred_format(const struct hnet_cred *c, bool with_user)
{
	struct dv_buf b = { 0 };

	dv_buf_addf(&b, "protocol=%s\nhost=%s\n", c->protocol, c->host);
	if (c->path)
		dv_buf_addf(&b, "path=%s\n", c->path);
	if (with_user && c->username)
		dv_buf_addf(&b, "username=%s\n", c->username);
	if (with_user && c->password)
		dv_buf_addf(&b, "password=%s\n", c->password);
	dv_buf_adds(&b, "\n");
	return dv_buf_steal(&b);
}

int hnet_cred_answer(const char *buf, size_t len, char **user, char **pass)
{
	size_t i = 0;

	*user = *pass = NULL;
	if (memchr(buf, 0, len))
		return -1;
	while (i < len) {
		const char *line = buf + i, *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i;
		char **slot = NULL;

		i += n + (nl ? 1 : 0);
		if (n > 9 && memcmp(line, "username=", 9) == 0)
			slot = user;
		else if (n > 9 && memcmp(line, "password=", 9) == 0)
			slot = pass;
		if (!slot || *slot)
			continue;
		if (!clean_value(line + 9, n - 9))
			break;
		*slot = dv_xstrndup(line + 9, n - 9);
	}
	if (*user && *pass)
		return 0;
	free(*user);
	free(*pass);
	*user = *pass = NULL;
	return -1;
}

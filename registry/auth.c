/* registry/auth.c - requests that answer the registry's auth challenge,
 * as docker does it: ask anonymously; on 401 with a Bearer challenge, get
 * a token from its realm (with the user's ~/.docker/config.json
 * credentials for that host when there are any) and ask again; on a Basic
 * challenge send those credentials. A push asks for a token of scope
 * pull,push (and pull on the repository it mounts from). Credentials go to
 * a token server only over https, or where the user chose clear text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/banned.h"

static int get_retry(struct reg *r, const char *url, const char *accept, bool with_auth,
		     struct reg_sink *s, long *status, struct dv_error *err)
{
	struct reg_req q = { .method = "GET", .url = url, .accept = accept };

	return reg_req_retry(r, &q, with_auth, s, status, err);
}

/* The value of key="value" (or key=value) in a challenge; caller frees. */
static char *challenge_param(const char *ch, const char *key)
{
	size_t k = strlen(key);
	const char *p = ch;

	while ((p = strstr(p, key))) {
		bool at_start = p == ch || p[-1] == ' ' || p[-1] == ',';

		p += k;
		if (!at_start || *p != '=')
			continue;
		p++;
		if (*p == '"') {
			const char *e = strchr(++p, '"');

			return e ? dv_xstrndup(p, (size_t)(e - p)) : NULL;
		}
		return dv_xstrndup(p, strcspn(p, ", "));
	}
	return NULL;
}

/* Answer a Bearer challenge: GET realm?service=..&scope=.. and keep the
 * token as our Authorization header. */
static int fetch_token(struct reg *r, const char *challenge, struct dv_error *err)
{
	dv_autofree char *realm = challenge_param(challenge, "realm");
	dv_autofree char *service = challenge_param(challenge, "service");
	dv_autofree char *scope = challenge_param(challenge, "scope");
	dv_autofree char *eservice = NULL, *escope = NULL, *url = NULL;
	dv_autofree char *from = NULL, *efrom = NULL;
	layer_autojson struct json_object *o = NULL;
	struct json_object *tok;
	struct reg_sink s = { .c = r->c, .fd = -1, .max = 1u << 20 };
	char msg[256];
	const char *t;
	long status;
	int ret = -1;
	size_t i;

	if (!realm || !(dv_str_startswith(realm, "https://") ||
			(r->insecure && dv_str_startswith(realm, "http://"))))
		return dv_err_plain(err, EACCES,
				    "registry '%s' asks for a token from an unusable realm '%s'",
				    r->host, realm ? realm : "");
	if (r->push) {
		/* Ours, whatever the challenge says: a push needs both. */
		free(scope);
		scope = dv_xasprintf("repository:%s:pull,push", r->path);
		if (r->from)
			from = dv_xasprintf("repository:%s:pull", r->from);
	} else if (!scope && r->path[0]) {
		scope = dv_xasprintf("repository:%s:pull", r->path);
	}
	/* No scope at all for a login: the token server checks who we are. */
	if ((scope && reg_url_escape(r->c, scope, &escope) < 0) ||
	    (service && reg_url_escape(r->c, service, &eservice) < 0) ||
	    (from && reg_url_escape(r->c, from, &efrom) < 0))
		return dv_err(err, ENOMEM, "cannot build the token request");
	{
		struct dv_buf u = { 0 };
		char sep = strchr(realm, '?') ? '&' : '?';

		dv_buf_adds(&u, realm);
		if (escope) {
			dv_buf_addf(&u, "%cscope=%s", sep, escope);
			sep = '&';
		}
		if (efrom) {
			dv_buf_addf(&u, "%cscope=%s", sep, efrom);
			sep = '&';
		}
		if (eservice)
			dv_buf_addf(&u, "%cservice=%s", sep, eservice);
		url = dv_buf_steal(&u);
	}
	/* Credentials go to the token server only over https (or where the
	 * user allowed clear text). */
	free(r->auth);
	r->auth = NULL;
	if (r->basic && (dv_str_startswith(realm, "https://") || r->insecure))
		r->auth = dv_xasprintf("Authorization: Basic %s", r->basic);
	if (get_retry(r, url, NULL, true, &s, &status, err) < 0)
		goto out;
	free(r->auth);
	r->auth = NULL;
	if (status != 200) {
		reg_error_message(&s.errbody, msg, sizeof(msg));
		dv_err_plain(err, EACCES, "registry '%s' refused a token for '%s' (HTTP %ld)%s%s%s",
			     r->host, r->name, status, msg[0] ? ": " : "", msg, reg_login_hint(r));
		goto out;
	}
	dv_buf_add(&s.mem, "", 0);
	o = s.mem.s ? json_tokener_parse(s.mem.s) : NULL;
	if (!o || !((json_object_object_get_ex(o, "token", &tok) ||
		     json_object_object_get_ex(o, "access_token", &tok)) &&
		    (t = json_object_get_string(tok)) && *t)) {
		dv_err_plain(err, EACCES, "registry '%s' sent no token", r->host);
		goto out;
	}
	for (i = 0; t[i]; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f) {
			dv_err_plain(err, EACCES, "registry '%s' sent a malformed token", r->host);
			goto out;
		}
	r->auth = dv_xasprintf("Authorization: Bearer %s", t);
	ret = 0;
out:
	reg_sink_release(&s);
	return ret;
}

/* One request, answering one auth challenge; 0 whatever the HTTP status. */
int reg_do(struct reg *r, const struct reg_req *q, struct reg_sink *s, long *status,
	   struct dv_error *err)
{
	bool retried = false;

	for (;;) {
		if (reg_req_retry(r, q, true, s, status, err) < 0)
			return -1;
		if (*status != 401 || retried || !s->challenge || q->no_auth)
			return 0;
		retried = true;
		if (!strncasecmp(s->challenge, "Bearer ", 7)) {
			dv_autofree char *ch = dv_xstrdup(s->challenge);

			if (fetch_token(r, ch, err) < 0)
				return -1;
		} else if (!strncasecmp(s->challenge, "Basic", 5) && r->basic) {
			/* Over https, or where the user chose clear text. */
			free(r->auth);
			r->auth = dv_xasprintf("Authorization: Basic %s", r->basic);
		} else {
			return 0;
		}
	}
}

/* GET base/<what>; fails on anything but 2xx. */
int reg_get(struct reg *r, const char *what, const char *accept, struct reg_sink *s,
	    const char *desc, struct dv_error *err)
{
	dv_autofree char *url = dv_xasprintf("%s/%s", r->base, what);
	struct reg_req q = { .method = "GET", .url = url, .accept = accept };
	long status;

	if (reg_do(r, &q, s, &status, err) < 0)
		return -1;
	if (status >= 200 && status < 300)
		return 0;
	return reg_status_err(r, status, s, desc, err);
}

/* PUT `up` to url; 201 or `also_ok` is success, anything else the
 * registry's message about `what`. */
int reg_put(struct reg *r, const char *url, const char *ctype, struct reg_upload *up, bool no_auth,
	    long also_ok, const char *what, struct dv_error *err)
{
	struct reg_sink s = { .c = r->c, .fd = -1, .max = REG_ERRBODY_MAX };
	struct reg_req q = { .method = "PUT",
			     .url = url,
			     .ctype = ctype,
			     .up = up,
			     .no_auth = no_auth };
	long status;
	int ret = -1;

	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status == 201 || status == also_ok)
		ret = 0;
	else
		reg_status_err(r, status, &s, what, err);
out:
	reg_sink_release(&s);
	return ret;
}

int reg_ping(struct reg *r, struct dv_error *err)
{
	dv_autofree char *url = dv_xasprintf("%s/v2/", r->origin);
	struct reg_sink s = { .c = r->c, .fd = -1, .max = REG_ERRBODY_MAX };
	struct reg_req q = { .method = "GET", .url = url };
	long status;
	int ret = -1;

	if (reg_do(r, &q, &s, &status, err) < 0)
		goto out;
	if (status >= 200 && status < 300)
		ret = 0;
	else
		reg_status_err(r, status, &s, "API root", err);
out:
	reg_sink_release(&s);
	return ret;
}

int reg_login_check(const char *host, const char *basic, struct dv_error *err)
{
	dv_autofree char *name = dv_xasprintf("%s/x", host);
	struct reg *r = reg_connect(name, false, err); /* the host itself, never a mirror */
	int ret;

	if (!r)
		return -1;
	/* The registry as a whole, with these credentials, not the saved ones. */
	free(r->name);
	r->name = dv_xstrdup(host);
	r->path[0] = 0;
	free(r->basic);
	r->basic = dv_xstrdup(basic);
	ret = reg_ping(r, err);
	/* A registry that lets anyone in says nothing about the password;
	 * one that asked and took it has vouched for it. */
	reg_free(r);
	return ret;
}

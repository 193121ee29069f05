/*
 * envfile/aptsnap.c - `apt_snapshot: TIME | auto` and `apt_snapshot_url`:
 * the dated Debian archive every run step of a Debian-based env sees
 * (provision/aptsnap.c rewrites its sources while it runs).
 *
 *   apt_snapshot: 2026-11-20T00:00:00Z   (RFC 3339, UTC, to the second)
 *   apt_snapshot: auto                   (the time of the first build)
 *   apt_snapshot_url: http://snapshot.example.com/archive
 *
 * The URL ends up in a sed replacement and in apt's sources, so it is held
 * to a plain set of characters: no white space, quote, '#', '&', '\\', '?'.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envfile/internal.h"
#include "util/str.h"
#include "util/banned.h"

#define EXAMPLE_TIME "2026-11-20T00:00:00Z"

/* "YYYY-MM-DDTHH:MM:SSZ", a real date and time: its seconds since the
 * epoch, or -1. */
long long envfile_apt_time(const char *s)
{
	struct tm tm = { 0 }, back, want;
	time_t t;

	if (strlen(s) != 20)
		return -1;
	for (size_t i = 0; i < 20; i++) {
		bool digit = isdigit((unsigned char)s[i]) != 0;
		char sep = i == 4 || i == 7     ? '-'
			   : i == 10            ? 'T'
			   : i == 13 || i == 16 ? ':'
			   : i == 19            ? 'Z'
						: 0;

		if (sep ? s[i] != sep : !digit)
			return -1;
	}
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	if (tm.tm_year < 70)
		return -1;
	/* timegm normalises 02-30 into March: a date that does not come back
	 * as written does not exist. */
	want = tm;
	t = timegm(&tm);
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_year != want.tm_year ||
	    back.tm_mon != want.tm_mon || back.tm_mday != want.tm_mday ||
	    back.tm_hour != want.tm_hour || back.tm_min != want.tm_min || back.tm_sec != want.tm_sec)
		return -1;
	return (long long)t;
}

int envfile_set_apt_snapshot(struct env_vctx *v, const struct env_node *key,
			     const struct env_node *val, struct env_spec *spec)
{
	const char *s;
	char buf[64];
	long long t;

	if (envfile_get_string(v, "'apt_snapshot'", key, val, &s) < 0)
		return -1;
	spec->apt_snapshot_line = val->line;
	spec->apt_snapshot_col = val->col;
	if (strcmp(s, "auto") == 0) {
		/* Resolved by the plan (provision/lockplan.c): Envfile.lock's
		 * time, or now on the first build (the lock then keeps it). */
		spec->apt_snapshot = dv_xstrdup(s);
		return 0;
	}
	t = envfile_apt_time(s);
	if (t < 0)
		return ENV_AT(v, val,
			      "'apt_snapshot' must be a UTC time such as '%s', or 'auto', not '%s'",
			      EXAMPLE_TIME, envfile_shown(s, buf, sizeof(buf)));
	if (t > (long long)time(NULL))
		return ENV_AT(v, val,
			      "'apt_snapshot' %s is in the future: the archive has no such "
			      "snapshot yet; give a time that has passed, or 'auto'",
			      s);
	spec->apt_snapshot = dv_xstrdup(s);
	spec->apt_snapshot_time = t;
	return 0;
}

/* An http:// or https:// URL of plain characters, without its trailing
 * '/'s: NULL when it is not one. Caller frees. */
char *envfile_apt_url(const char *s)
{
	size_t len = strlen(s), scheme;

	if (strncmp(s, "http://", 7) == 0)
		scheme = 7;
	else if (strncmp(s, "https://", 8) == 0)
		scheme = 8;
	else
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr(".-_~:/%+@[]=,;!$*()", s[i]))
			return NULL;
	while (len > scheme && s[len - 1] == '/')
		len--;
	if (len == scheme || s[scheme] == '/')
		return NULL;
	return dv_xstrndup(s, len);
}

int envfile_set_apt_snapshot_url(struct env_vctx *v, const struct env_node *key,
				 const struct env_node *val, struct env_spec *spec)
{
	const char *s;
	char buf[64];

	if (envfile_get_string(v, "'apt_snapshot_url'", key, val, &s) < 0)
		return -1;
	spec->apt_snapshot_url = envfile_apt_url(s);
	if (!spec->apt_snapshot_url)
		return ENV_AT(v, val,
			      "'apt_snapshot_url' must be an http:// or https:// URL such as "
			      "'%s', without white space, quotes, '#', '&', '?' or '\\', not '%s'",
			      ENV_APT_SNAPSHOT_URL, envfile_shown(s, buf, sizeof(buf)));
	spec->apt_snapshot_url_line = val->line;
	spec->apt_snapshot_url_col = val->col;
	return 0;
}

int envfile_check_apt_snapshot(struct env_vctx *v, const struct env_spec *spec)
{
	if (spec->apt_snapshot_url && !spec->apt_snapshot)
		return envfile_at(v, spec->apt_snapshot_url_line, spec->apt_snapshot_url_col,
				  "'apt_snapshot_url' needs 'apt_snapshot' with the time to see the "
				  "archive at, such as '%s'",
				  EXAMPLE_TIME);
	return 0;
}

/*
 * provision/lock.c - Envfile.lock as a file: parsed strictly (it comes with
 * the repository: every error at Envfile.lock:LINE:COL, nothing trusted
 * that was not checked), written in one fixed layout (a line per step, so
 * a diff shows what moved), read and written beneath the checkout without
 * following a symlink, as the folder's owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "provision/lock.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define LOCK_MAX (4u << 20) /* bytes: far more than any Envfile's lock */

static void image_release(struct prov_lock_image *m)
{
	free(m->name);
	free(m->image);
	free(m->ref);
	free(m->id);
	free(m->digest);
	memset(m, 0, sizeof(*m));
}

void prov_lock_release(struct prov_lock *l)
{
	for (size_t i = 0; i < l->n_steps; i++) {
		struct prov_lock_step *s = &l->steps[i];

		free(s->label);
		free(s->input);
		free(s->commit);
		free(s->sha256);
		free(s->content);
		free(s->key);
	}
	free(l->steps);
	for (size_t i = 0; i < l->n_svcs; i++)
		image_release(&l->svcs[i]);
	free(l->svcs);
	image_release(&l->base);
	memset(l, 0, sizeof(*l));
}

/* ---- time ---- */

bool prov_lock_time_parse(const char *s, long long *out)
{
	struct tm tm = { 0 };
	char tail;
	time_t t;

	if (strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tail) != 7 ||
	    tail != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':')
		return false;
	for (size_t i = 0; i < 19; i++)
		if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && (s[i] < '0' || s[i] > '9'))
			return false;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t <= 0)
		return false;
	{ /* no 31 February: it must come back as written */
		char again[21];

		prov_lock_time_format((long long)t, again);
		if (strcmp(again, s))
			return false;
	}
	*out = (long long)t;
	return true;
}

void prov_lock_time_format(long long t, char out[21])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- positions: where a value is written in the text ---- */

struct scan {
	const char *t;
	size_t len, i;
};

static void ws(struct scan *s)
{
	while (s->i < s->len && (s->t[s->i] == ' ' || s->t[s->i] == '\t' || s->t[s->i] == '\r' ||
				 s->t[s->i] == '\n'))
		s->i++;
}

static void skip_string(struct scan *s)
{
	for (s->i++; s->i < s->len && s->t[s->i] != '"'; s->i++)
		if (s->t[s->i] == '\\')
			s->i++;
	s->i++;
}

static void skip_value(struct scan *s)
{
	int depth = 0;

	ws(s);
	if (s->i >= s->len)
		return;
	if (s->t[s->i] == '"') {
		skip_string(s);
		return;
	}
	if (s->t[s->i] != '{' && s->t[s->i] != '[') {
		while (s->i < s->len && !strchr(",}] \t\r\n", s->t[s->i]))
			s->i++;
		return;
	}
	do {
		char c = s->t[s->i];

		if (c == '"') {
			skip_string(s);
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		s->i++;
	} while (depth > 0 && s->i < s->len);
}

/* Into the member `key` of the object at s->i: s->i at its value (or at
 * its name, at_key). false when absent. */
static bool enter_key(struct scan *s, const char *key, bool at_key)
{
	size_t n = strlen(key);

	ws(s);
	if (s->i >= s->len || s->t[s->i] != '{')
		return false;
	s->i++;
	for (;;) {
		size_t k;
		bool match;

		ws(s);
		if (s->i >= s->len || s->t[s->i] != '"')
			return false;
		k = s->i;
		skip_string(s);
		match = s->i - k == n + 2 && !memcmp(s->t + k + 1, key, n);
		ws(s);
		s->i++; /* ':' */
		ws(s);
		if (match) {
			if (at_key)
				s->i = k;
			return true;
		}
		skip_value(s);
		ws(s);
		if (s->i >= s->len || s->t[s->i] != ',')
			return false;
		s->i++;
	}
}

static bool enter_index(struct scan *s, size_t idx)
{
	ws(s);
	if (s->i >= s->len || s->t[s->i] != '[')
		return false;
	s->i++;
	for (size_t k = 0; k < idx; k++) {
		skip_value(s);
		ws(s);
		if (s->i >= s->len || s->t[s->i] != ',')
			return false;
		s->i++;
	}
	ws(s);
	return true;
}

/* What a parse error points at: top[idx].key (idx ~0: top.key; key NULL:
 * the object itself; at_key: the member's name). */
struct where {
	const char *top;
	size_t idx;
	const char *key;
	bool at_key;
};

static void offset_pos(const char *t, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && t[i]; i++) {
		if (t[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)t[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static size_t locate(const char *t, size_t len, const struct where *w)
{
	struct scan s = { t, len, 0 };

	ws(&s);
	if (w->top && !enter_key(&s, w->top, w->at_key && w->idx == (size_t)-1 && !w->key))
		return 0;
	if (w->idx != (size_t)-1) {
		if (!enter_index(&s, w->idx))
			return 0;
	}
	if (w->key && !enter_key(&s, w->key, w->at_key))
		return 0;
	ws(&s);
	return s.i;
}

struct pctx {
	const char *text;
	size_t len;
	const char *display;
	struct dv_error *err;
};

static int bad(const struct pctx *c, const struct where *w, const char *fmt, const char *a)
{
	unsigned line, col;
	char msg[256];

	offset_pos(c->text, locate(c->text, c->len, w), &line, &col);
	snprintf(msg, sizeof(msg), fmt, a);
	dv_err_at(c->err, c->display, line, col,
		  "%s; fix it, or delete the file and run 'devenv lock' to write it again", msg);
	c->err->status = 2;
	return -1;
}

/* ---- checks of the values ---- */

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_digest(const char *s)
{
	return !strncmp(s, "sha256:", 7) && is_hex(s + 7, 64);
}

static int need(const struct pctx *c, struct json_object *o, struct where w, const char *key);

enum kind { K_STR, K_DIGEST, K_HEX40, K_HEX64, K_TIME };

/* The string member key of o (NULL when absent and !required), checked. */
static int get_str(const struct pctx *c, struct json_object *o, struct where w, enum kind k,
		   bool required, char **out)
{
	struct json_object *v;
	const char *s;
	static const char *const what[] = { "a string", "a digest (sha256: and 64 hex digits)",
					    "a commit (40 hex digits)", "64 hex digits",
					    "a UTC time such as 2026-11-20T00:00:00Z" };
	long long t;

	*out = NULL;
	if (!json_object_object_get_ex(o, w.key, &v))
		return required ? need(c, o, w, w.key) : 0;
	if (!json_object_is_type(v, json_type_string))
		return bad(c, &w, "must be %s", what[k]);
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return bad(c, &w, "must be %s (it holds a NUL)", what[k]);
	if ((k == K_DIGEST && !is_digest(s)) || (k == K_HEX40 && !is_hex(s, 40)) ||
	    (k == K_HEX64 && !is_hex(s, 64)) || (k == K_TIME && !prov_lock_time_parse(s, &t)))
		return bad(c, &w, "must be %s", what[k]);
	*out = dv_xstrdup(s);
	return 0;
}

static int need(const struct pctx *c, struct json_object *o, struct where w, const char *key)
{
	if (json_object_object_get_ex(o, key, NULL))
		return 0;
	w.key = NULL;
	w.at_key = false;
	{
		unsigned line, col;

		offset_pos(c->text, locate(c->text, c->len, &w), &line, &col);
		dv_err_at(c->err, c->display, line, col,
			  "'%s' is missing here; delete the file and run 'devenv lock' to write it "
			  "again",
			  key);
		c->err->status = 2;
	}
	return -1;
}

/* Every member of o one of names. */
static int only(const struct pctx *c, struct json_object *o, struct where w,
		const char *const *names)
{
	json_object_object_foreach(o, key, val)
	{
		size_t i;

		(void)val;
		for (i = 0; names[i] && strcmp(names[i], key); i++) {
		}
		if (!names[i]) {
			w.key = key;
			w.at_key = true;
			return bad(c, &w, "unknown field '%.60s'", key);
		}
	}
	return 0;
}

static int parse_image(const struct pctx *c, struct json_object *o, struct where w, bool svc,
		       struct prov_lock_image *m)
{
	static const char *const base_keys[] = { "image", "name", "id", "digest", NULL };
	static const char *const svc_keys[] = { "name", "image", "id", "digest", NULL };
	struct where at = w;

	at.key = NULL;
	if (!json_object_is_type(o, json_type_object))
		return bad(c, &at, "must be an object%s", svc ? " (a service)" : " (the base)");
	if (only(c, o, w, svc ? svc_keys : base_keys) < 0 || need(c, o, w, "image") < 0 ||
	    need(c, o, w, "id") < 0 || (svc && need(c, o, w, "name") < 0) ||
	    (!svc && need(c, o, w, "name") < 0))
		return -1;
	w.key = "image";
	if (get_str(c, o, w, K_STR, true, &m->image) < 0)
		return -1;
	w.key = "name";
	if (get_str(c, o, w, K_STR, true, svc ? &m->name : &m->ref) < 0)
		return -1;
	w.key = "id";
	if (get_str(c, o, w, K_DIGEST, true, &m->id) < 0)
		return -1;
	w.key = "digest";
	return get_str(c, o, w, K_DIGEST, false, &m->digest);
}

static int parse_step(const struct pctx *c, struct json_object *o, size_t i,
		      struct prov_lock_step *s)
{
	static const char *const keys[] = { "step",   "label",   "input", "commit",
					    "sha256", "content", "key",   NULL };
	struct where w = { "steps", i, NULL, false };
	struct json_object *n;

	if (!json_object_is_type(o, json_type_object))
		return bad(c, &w, "must be an object (step %s)", "entry");
	if (only(c, o, w, keys) < 0 || need(c, o, w, "step") < 0 || need(c, o, w, "input") < 0 ||
	    need(c, o, w, "key") < 0)
		return -1;
	json_object_object_get_ex(o, "step", &n);
	w.key = "step";
	if (!json_object_is_type(n, json_type_int) || json_object_get_int64(n) != (int64_t)i + 1) {
		char num[24];

		snprintf(num, sizeof(num), "%zu", i + 1);
		return bad(c, &w, "must be the step's number, %s", num);
	}
	s->step = (unsigned)i + 1;
	w.key = "label";
	if (get_str(c, o, w, K_STR, false, &s->label) < 0)
		return -1;
	w.key = "input";
	if (get_str(c, o, w, K_DIGEST, true, &s->input) < 0)
		return -1;
	w.key = "commit";
	if (get_str(c, o, w, K_HEX40, false, &s->commit) < 0)
		return -1;
	w.key = "sha256";
	if (get_str(c, o, w, K_HEX64, false, &s->sha256) < 0)
		return -1;
	w.key = "content";
	if (get_str(c, o, w, K_DIGEST, false, &s->content) < 0)
		return -1;
	w.key = "key";
	return get_str(c, o, w, K_HEX64, true, &s->key);
}

static int parse_top(const struct pctx *c, struct json_object *doc, struct prov_lock *l)
{
	static const char *const keys[] = { "lockfile",     "note", "source_date_epoch",
					    "apt_snapshot", "base", "steps",
					    "services",     NULL };
	struct where w = { NULL, (size_t)-1, NULL, false };
	struct json_object *v;
	dv_autofree char *snap = NULL, *note = NULL;

	if (!json_object_is_type(doc, json_type_object))
		return bad(c, &w, "the lock must be a JSON object%s", "");
	if (only(c, doc, w, keys) < 0 || need(c, doc, w, "lockfile") < 0 ||
	    need(c, doc, w, "source_date_epoch") < 0 || need(c, doc, w, "base") < 0 ||
	    need(c, doc, w, "steps") < 0)
		return -1;
	w.top = "lockfile";
	json_object_object_get_ex(doc, "lockfile", &v);
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 1)
		return bad(c, &w, "this devenv reads lockfile version 1 only%s",
			   "; a newer devenv wrote it?");
	w.top = "source_date_epoch";
	json_object_object_get_ex(doc, "source_date_epoch", &v);
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
	    json_object_get_int64(v) > 253402300799LL)
		return bad(c, &w, "must be a time in whole seconds since 1970%s", "");
	l->source_date_epoch = json_object_get_int64(v);
	{
		struct where t = { NULL, (size_t)-1, "note", false };

		if (get_str(c, doc, t, K_STR, false, &note) < 0)
			return -1;
		t.key = "apt_snapshot";
		if (get_str(c, doc, t, K_TIME, false, &snap) < 0)
			return -1;
		if (snap)
			prov_lock_time_parse(snap, &l->apt_snapshot);
	}
	w.top = "base";
	json_object_object_get_ex(doc, "base", &v);
	if (parse_image(c, v, w, false, &l->base) < 0)
		return -1;
	w.top = "steps";
	json_object_object_get_ex(doc, "steps", &v);
	if (!json_object_is_type(v, json_type_array))
		return bad(c, &w, "must be a list%s", "");
	l->n_steps = json_object_array_length(v);
	l->steps = dv_xcalloc(l->n_steps + 1, sizeof(*l->steps));
	for (size_t i = 0; i < l->n_steps; i++)
		if (parse_step(c, json_object_array_get_idx(v, i), i, &l->steps[i]) < 0)
			return -1;
	w.top = "services";
	if (!json_object_object_get_ex(doc, "services", &v))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return bad(c, &w, "must be a list%s", "");
	l->n_svcs = json_object_array_length(v);
	l->svcs = dv_xcalloc(l->n_svcs + 1, sizeof(*l->svcs));
	for (size_t i = 0; i < l->n_svcs; i++) {
		w.idx = i;
		if (parse_image(c, json_object_array_get_idx(v, i), w, true, &l->svcs[i]) < 0)
			return -1;
	}
	return 0;
}

int prov_lock_parse(const char *text, size_t len, const char *display, struct prov_lock *out,
		    struct dv_error *err)
{
	struct pctx c = { text, len, display, err };
	struct json_tokener *tok;
	struct json_object *doc;
	size_t end;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len > LOCK_MAX || memchr(text, 0, len)) {
		dv_err_at(err, display, 1, 1,
			  "not a lock file (%s); delete it and run 'devenv lock'",
			  len > LOCK_MAX ? "over 4 MiB" : "it holds a NUL byte");
		err->status = 2;
		return -1;
	}
	tok = json_tokener_new_ex(16);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	doc = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!doc || json_tokener_get_error(tok) != json_tokener_success) {
		unsigned line, col;
		enum json_tokener_error e = json_tokener_get_error(tok);

		offset_pos(text, end, &line, &col);
		dv_err_at(err, display, line, col,
			  "not valid JSON (%s); fix it, or delete it and "
			  "run 'devenv lock' to write it again",
			  e == json_tokener_continue ? "it ends too soon"
						     : json_tokener_error_desc(e));
		err->status = 2;
		json_tokener_free(tok);
		json_object_put(doc);
		return -1;
	}
	json_tokener_free(tok);
	for (size_t i = end; i < len; i++)
		if (!strchr(" \t\r\n", text[i])) {
			unsigned line, col;

			offset_pos(text, i, &line, &col);
			json_object_put(doc);
			dv_err_at(err, display, line, col,
				  "text after the lock's JSON object; delete it");
			err->status = 2;
			return -1;
		}
	ret = parse_top(&c, doc, out);
	json_object_put(doc);
	if (ret < 0)
		prov_lock_release(out);
	return ret;
}

/* ---- the text ---- */

static void add_str(struct dv_buf *b, const char *name, const char *v, bool first)
{
	struct json_object *s;

	if (!v)
		return;
	s = json_object_new_string(v);
	dv_buf_addf(b, "%s\"%s\": %s", first ? "" : ", ", name,
		    json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(s);
}

static void add_image(struct dv_buf *b, const struct prov_lock_image *m, bool svc)
{
	dv_buf_adds(b, "{ ");
	if (svc) {
		add_str(b, "name", m->name, true);
		add_str(b, "image", m->image, false);
	} else {
		add_str(b, "image", m->image, true);
		add_str(b, "name", m->ref, false);
	}
	add_str(b, "id", m->id, false);
	add_str(b, "digest", m->digest, false);
	dv_buf_adds(b, " }");
}

char *prov_lock_format(const struct prov_lock *l)
{
	struct dv_buf b = { 0 };

	dv_buf_adds(&b, "{\n  \"lockfile\": 1,\n");
	dv_buf_adds(&b, "  \"note\": \"written by devenv: commit it with the Envfile; 'devenv lock "
			"--update' moves what it pins\",\n");
	dv_buf_addf(&b, "  \"source_date_epoch\": %lld,\n", l->source_date_epoch);
	if (l->apt_snapshot) {
		char t[21];

		prov_lock_time_format(l->apt_snapshot, t);
		dv_buf_addf(&b, "  \"apt_snapshot\": \"%s\",\n", t);
	}
	dv_buf_adds(&b, "  \"base\": ");
	add_image(&b, &l->base, false);
	dv_buf_adds(&b, ",\n  \"steps\": [");
	for (size_t i = 0; i < l->n_steps; i++) {
		const struct prov_lock_step *s = &l->steps[i];

		dv_buf_addf(&b, "%s\n    { \"step\": %u", i ? "," : "", s->step);
		add_str(&b, "label", s->label, false);
		add_str(&b, "input", s->input, false);
		add_str(&b, "commit", s->commit, false);
		add_str(&b, "sha256", s->sha256, false);
		add_str(&b, "content", s->content, false);
		add_str(&b, "key", s->key, false);
		dv_buf_adds(&b, " }");
	}
	dv_buf_adds(&b, l->n_steps ? "\n  ]" : "]");
	if (l->n_svcs) {
		dv_buf_adds(&b, ",\n  \"services\": [");
		for (size_t i = 0; i < l->n_svcs; i++) {
			dv_buf_adds(&b, i ? ",\n    " : "\n    ");
			add_image(&b, &l->svcs[i], true);
		}
		dv_buf_adds(&b, "\n  ]");
	}
	dv_buf_adds(&b, "\n}\n");
	return dv_buf_steal(&b);
}

/* ---- the file ---- */

char *prov_lock_display(const struct env_spec *spec)
{
	const char *d = spec->display ? spec->display : "Envfile";
	const char *slash = strrchr(d, '/');

	if (!slash)
		return dv_xstrdup(PROV_LOCK_NAME);
	return dv_xasprintf("%.*s/%s", (int)(slash - d), d, PROV_LOCK_NAME);
}

/* The Envfile's folder, opened beneath the checkout with no symlink on
 * the way (O_RDONLY: we fsync it). */
static int open_folder(const struct env_spec *spec, struct dv_error *err)
{
	dv_autoclose int root = -1;
	const char *rel = spec->relpath ? spec->relpath : "Envfile";
	const char *slash = strrchr(rel, '/');
	dv_autofree char *folder = slash ? dv_xstrndup(rel, (size_t)(slash - rel)) : dv_xstrdup(".");
	int fd;

	if (!spec->checkout)
		return dv_err_plain(err, EINVAL, "the Envfile has no checkout to write its lock in");
	root = dv_open_nosymlinks(spec->checkout, O_RDONLY | O_DIRECTORY, 0);
	if (root < 0)
		return dv_err(err, errno, "cannot open the checkout '%s'", spec->checkout);
	if (!strcmp(folder, "."))
		return dv_steal_fd(&root);
	fd = dv_openat2(root, folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
			RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return dv_err(err, errno, "cannot open the Envfile's folder '%s' in the checkout",
			      folder);
	return fd;
}

static int refuse(const struct env_spec *spec, const char *why, struct dv_error *err)
{
	dv_autofree char *disp = prov_lock_display(spec);

	dv_err_plain(err, ELOOP,
		     "%s is %s; devenv neither reads nor writes it: make it a regular "
		     "file (or delete it and run 'devenv lock')",
		     disp, why);
	err->status = 2;
	return -1;
}

/* The lock's current bytes: 0; 1 absent. */
static int read_at(const struct env_spec *spec, int dir, char **text, size_t *len,
		   struct dv_error *err)
{
	dv_autoclose int fd = openat(dir, PROV_LOCK_NAME,
				     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat sb;

	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0 && errno == ELOOP)
		return refuse(spec, "a symlink", err);
	if (fd < 0)
		return dv_err(err, errno, "cannot open %s", PROV_LOCK_NAME);
	if (fstat(fd, &sb) < 0)
		return dv_err(err, errno, "cannot stat %s", PROV_LOCK_NAME);
	if (!S_ISREG(sb.st_mode))
		return refuse(spec, "not a regular file", err);
	if ((unsigned long long)sb.st_size > LOCK_MAX) {
		dv_autofree char *disp = prov_lock_display(spec);

		dv_err_at(err, disp, 1, 1,
			  "not a lock file (over 4 MiB); delete it and run "
			  "'devenv lock'");
		err->status = 2;
		return -1;
	}
	return dv_read_all(fd, text, len, err);
}

int prov_lock_read(const struct env_spec *spec, struct prov_lock *out, struct dv_error *err)
{
	dv_autoclose int dir = open_folder(spec, err);
	dv_autofree char *text = NULL, *disp = NULL;
	size_t len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (dir < 0)
		return -1;
	if ((r = read_at(spec, dir, &text, &len, err)) != 0)
		return r;
	disp = prov_lock_display(spec);
	return prov_lock_parse(text, len, disp, out, err);
}

int prov_lock_write(const struct env_spec *spec, const char *text, struct dv_error *err)
{
	dv_autoclose int dir = open_folder(spec, err);
	dv_autoclose int fd = -1;
	dv_autofree char *old = NULL;
	size_t len = strlen(text), old_len = 0;
	struct stat ds;
	unsigned char rnd[6];
	char tmp[40];
	int r;

	if (dir < 0)
		return -1;
	r = read_at(spec, dir, &old, &old_len, err);
	if (r < 0)
		return -1;
	if (r == 0 && old_len == len && !memcmp(old, text, len))
		return 1;
	if (fstat(dir, &ds) < 0)
		return dv_err(err, errno, "cannot stat the Envfile's folder");
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return dv_err(err, errno, "cannot make a temporary name");
	snprintf(tmp, sizeof(tmp), ".%s.%02x%02x%02x%02x%02x%02x", PROV_LOCK_NAME, rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5]);
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return dv_err(err, errno, "cannot write %s next to the Envfile", PROV_LOCK_NAME);
	/* Root writing in a user's checkout: the file is the folder owner's. */
	if (geteuid() == 0 && (ds.st_uid != 0 || ds.st_gid != 0) &&
	    fchown(fd, ds.st_uid, ds.st_gid) < 0) {
		dv_err(err, errno, "cannot give %s to the checkout's owner", PROV_LOCK_NAME);
		goto fail;
	}
	if (fchmod(fd, 0644) < 0 || dv_write_full(fd, text, len, err) < 0 || fsync(fd) < 0) {
		if (!err->msg[0])
			dv_err(err, errno, "cannot write %s", PROV_LOCK_NAME);
		goto fail;
	}
	if (renameat(dir, tmp, dir, PROV_LOCK_NAME) < 0) {
		dv_err(err, errno, "cannot put %s in place", PROV_LOCK_NAME);
		goto fail;
	}
	fsync(dir);
	return 0;
fail:
	unlinkat(dir, tmp, 0);
	return -1;
}

/* envfile/validate.c - the tree from parse.c to a checked struct env_spec. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envfile/internal.h"
#include "util/cleanup.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/str.h"
#include "util/banned.h"

#define ENV_DEFAULT_IMAGE "debian:bookworm"
#define ENV_DEFAULT_WORKDIR "/workspace"
#define ENV_DEFAULT_SHELL "/bin/sh"
#define ENV_NAME_MAX 63

/* New keys go at the end, on rows of their own: small hunks to merge. */
/* clang-format off */
static const char *const top_keys[] = {
	"name",      "image",    "workdir", "shell",      "env",     "provision",       "on_up",
	"resources", "security", "user",    "cache_from", "network", "ports",           "volumes",
	"mounts",    "services", "logs",    "cache",      "secrets", "git_credentials", "ssh_agent",
	"apt_snapshot", "apt_snapshot_url", "cache_trust",
};
/* clang-format on */
static const char *const step_keys[] = { "run",    "copy", "git",   "download", "to",       "ref",
					 "sha256", "env",  "cache", "secrets",  "ssh_agent" };
static const char *const on_up_keys[] = { "run", "env", "secrets", "wait_for", "wait_timeout" };

/* The parse context is shared with the key parsers of node.c and others. */
#define vctx env_vctx

/* The checks every key shares live in node.c. */
#define AT_NODE ENV_AT
#define shown envfile_shown
#define is_null envfile_is_null
#define describe envfile_describe
#define check_key envfile_check_key
#define unknown_key envfile_unknown_key
#define valid_name envfile_valid_name
#define path_inside envfile_path_inside

/* Errors about a value point at the value, unless there is none to point at. */
static const struct env_node *val_pos(const struct env_node *key, const struct env_node *val)
{
	return is_null(val) ? key : val;
}

/* A scalar's text; numbers and booleans count as their text. A missing value
 * is an error unless null_ok, which gives "". */
static int get_string(struct vctx *v, const struct env_node *key, const struct env_node *val,
		      bool null_ok, const char **out)
{
	if (val->type != ENV_NODE_SCALAR)
		return AT_NODE(v, val, "'%s' must be a string, not %s", key->value, describe(val));
	if (is_null(val) && !null_ok)
		return AT_NODE(v, key, "'%s' has no value; give one or remove the line", key->value);
	if (strlen(val->value) != val->len)
		return AT_NODE(v, val, "'%s' must not contain a NUL character", key->value);
	*out = is_null(val) ? "" : val->value;
	return 0;
}

/* Latin letters with marks, and the Latin ligatures, as ASCII: U+00C0 to
 * U+017F (Latin-1 Supplement, Latin Extended-A) and Romanian's comma
 * letters. NULL: not a letter (×, ÷). */
const char *envfile_latin_ascii(unsigned cp)
{
	static const struct {
		unsigned lo, hi;
		const char *as;
	} map[] = {
		{ 0xC0, 0xC5, "a" },    { 0xC6, 0xC6, "ae" },  { 0xC7, 0xC7, "c" },
		{ 0xC8, 0xCB, "e" },    { 0xCC, 0xCF, "i" },   { 0xD0, 0xD0, "d" },
		{ 0xD1, 0xD1, "n" },    { 0xD2, 0xD6, "o" },   { 0xD8, 0xD8, "o" },
		{ 0xD9, 0xDC, "u" },    { 0xDD, 0xDD, "y" },   { 0xDE, 0xDE, "th" },
		{ 0xDF, 0xDF, "ss" },   { 0xE0, 0xE5, "a" },   { 0xE6, 0xE6, "ae" },
		{ 0xE7, 0xE7, "c" },    { 0xE8, 0xEB, "e" },   { 0xEC, 0xEF, "i" },
		{ 0xF0, 0xF0, "d" },    { 0xF1, 0xF1, "n" },   { 0xF2, 0xF6, "o" },
		{ 0xF8, 0xF8, "o" },    { 0xF9, 0xFC, "u" },   { 0xFD, 0xFD, "y" },
		{ 0xFE, 0xFE, "th" },   { 0xFF, 0xFF, "y" },   { 0x100, 0x105, "a" },
		{ 0x106, 0x10D, "c" },  { 0x10E, 0x111, "d" }, { 0x112, 0x11B, "e" },
		{ 0x11C, 0x123, "g" },  { 0x124, 0x127, "h" }, { 0x128, 0x131, "i" },
		{ 0x132, 0x133, "ij" }, { 0x134, 0x135, "j" }, { 0x136, 0x138, "k" },
		{ 0x139, 0x142, "l" },  { 0x143, 0x14B, "n" }, { 0x14C, 0x151, "o" },
		{ 0x152, 0x153, "oe" }, { 0x154, 0x159, "r" }, { 0x15A, 0x161, "s" },
		{ 0x162, 0x167, "t" },  { 0x168, 0x173, "u" }, { 0x174, 0x175, "w" },
		{ 0x176, 0x178, "y" },  { 0x179, 0x17E, "z" }, { 0x17F, 0x17F, "s" },
		{ 0x218, 0x219, "s" },  { 0x21A, 0x21B, "t" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (cp >= map[i].lo && cp <= map[i].hi)
			return map[i].as;
	return NULL;
}

/* The default name comes from a folder, which may be called "My App" or
 * "café web": make it a valid name ([a-z0-9_.-], for volume and host
 * names too) rather than refuse a checkout for its folder's name. ASCII
 * letters are lower-cased, any other ASCII character is a '-'; a Latin
 * letter with a mark is its letter ("café web" is "cafe-web", ß "ss", æ
 * "ae"); anything else (another script, a symbol, bytes that are not
 * UTF-8) is a '-' for a run of them, and the name ends in '-' and 8 hex
 * digits of the folder name's sha256, so that two such folders are two
 * names ("日本" is "env-…", "app 日本" "app-…"). */
char *envfile_name_from_folder(const char *folder)
{
	const char *base = strrchr(folder, '/');
	char *name = dv_xcalloc(ENV_NAME_MAX + 1, 1);
	const size_t hashed = 9; /* "-" and 8 hex digits */
	bool lossy = false, ascii = true;
	size_t j = 0, n;
	unsigned cp;

	base = base ? base + 1 : folder;
	for (const unsigned char *p = (const unsigned char *)base; *p && j < ENV_NAME_MAX; p += n) {
		const char *as;

		n = 1;
		if (*p < 0x80) {
			unsigned char c = (unsigned char)tolower(*p);

			if (!isalnum(c) && !strchr("_.-", c))
				c = '-';
			if (j == 0 && !isalnum(c))
				continue;
			name[j++] = (char)c;
			continue;
		}
		ascii = false;
		n = envfile_utf8_char(p, 4, &cp);
		as = n ? envfile_latin_ascii(cp) : NULL;
		if (!n)
			n = 1; /* a byte that is no UTF-8 */
		if (!as) {
			lossy = true;
			if (j && name[j - 1] != '-')
				name[j++] = '-';
			continue;
		}
		for (; *as && j < ENV_NAME_MAX; as++)
			name[j++] = *as;
	}
	if (!ascii) {
		/* Not all ASCII: one '-' for a run of them (an ASCII-only name
		 * stays as it always was). */
		size_t k = 0;

		for (size_t i = 0; i < j; i++)
			if (name[i] != '-' || !k || name[k - 1] != '-')
				name[k++] = name[i];
		j = k;
		name[j] = 0;
	}
	if (lossy) {
		char hex[DV_SHA256_HEX];

		dv_sha256_hex(base, strlen(base), hex);
		if (j > ENV_NAME_MAX - hashed)
			j = ENV_NAME_MAX - hashed;
		while (j && name[j - 1] == '-')
			j--;
		if (j == 0)
			j = (size_t)snprintf(name, ENV_NAME_MAX + 1, "env");
		snprintf(name + j, ENV_NAME_MAX + 1 - j, "-%.8s", hex);
		return name;
	}
	if (j == 0) {
		free(name);
		return dv_xstrdup("env");
	}
	return name;
}

static bool has_dotdot(const char *path)
{
	const char *p = path;

	while ((p = strstr(p, "..")) != NULL) {
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
		p += 2;
	}
	return false;
}

static int set_abs_path(struct vctx *v, const struct env_node *key, const struct env_node *val,
			const char *example, char **out)
{
	const char *s;
	char buf[64];

	if (get_string(v, key, val, false, &s) < 0)
		return -1;
	if (s[0] != '/')
		return AT_NODE(v, val, "'%s' must be an absolute path such as '%s', not '%s'",
			       key->value, example, shown(s, buf, sizeof(buf)));
	free(*out);
	*out = dv_xstrdup(s);
	return 0;
}

static int set_name(struct vctx *v, const struct env_node *key, const struct env_node *val,
		    struct env_spec *spec)
{
	const char *s;
	char buf[64];

	if (get_string(v, key, val, false, &s) < 0)
		return -1;
	if (!valid_name(s))
		return AT_NODE(v, val,
			       "'name' must be 1 to 63 lower-case letters, digits, '_', '.' "
			       "or '-', starting with a letter or digit, not '%s'",
			       shown(s, buf, sizeof(buf)));
	spec->name = dv_xstrdup(s);
	return 0;
}

static int set_image(struct vctx *v, const struct env_node *key, const struct env_node *val,
		     struct env_spec *spec)
{
	const char *s;
	char buf[64];
	size_t i;

	if (get_string(v, key, val, false, &s) < 0)
		return -1;
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-:/@", s[i]))
			break;
	if (!s[0] || s[i])
		return AT_NODE(v, val, "'image' must be an image reference such as '%s', not '%s'",
			       ENV_DEFAULT_IMAGE, shown(s, buf, sizeof(buf)));
	spec->image = dv_xstrdup(s);
	spec->image_line = val->line;
	spec->image_col = val->col;
	return 0;
}

/* `cache_from`: one image reference or a list of them. */
static int set_cache_from(struct vctx *v, const struct env_node *key, const struct env_node *val,
			  struct env_spec *spec)
{
	const struct env_node *one = val;
	size_t n = 1;

	spec->cache_from_line = key->line;
	spec->cache_from_col = key->col;
	if (val->type == ENV_NODE_SEQ)
		n = val->n;
	for (size_t i = 0; i < n; i++) {
		const char *s;
		char buf[64];
		size_t k;

		if (val->type == ENV_NODE_SEQ)
			one = val->items[i];
		if (one->type != ENV_NODE_SCALAR)
			return AT_NODE(v, one,
				       "'cache_from' must be an image reference in a "
				       "registry, such as 'registry.example.com/team/app-dev:cache', "
				       "or a list of them");
		if (get_string(v, key, one, false, &s) < 0)
			return -1;
		for (k = 0; s[k]; k++)
			if (!isalnum((unsigned char)s[k]) && !strchr("._-:/@", s[k]))
				break;
		if (!s[0] || s[k])
			return AT_NODE(v, one,
				       "'cache_from' must name images such as "
				       "'registry.example.com/team/app-dev:cache', not '%s'",
				       shown(s, buf, sizeof(buf)));
		dv_strv_push(&spec->cache_from, s);
	}
	return 0;
}

static int set_workdir(struct vctx *v, const struct env_node *key, const struct env_node *val,
		       struct env_spec *spec)
{
	const char *p;

	if (set_abs_path(v, key, val, ENV_DEFAULT_WORKDIR, &spec->workdir) < 0)
		return -1;
	for (p = spec->workdir; *p == '/'; p++)
		;
	if (!*p)
		return AT_NODE(v, val, "'workdir' cannot be '/'; choose a folder such as '%s'",
			       ENV_DEFAULT_WORKDIR);
	if (has_dotdot(spec->workdir))
		return AT_NODE(v, val, "'workdir' must not contain '..'; write the path without it");
	return 0;
}

/* A POSIX user name as useradd accepts it: [a-z_][a-z0-9_-]{0,31}; not root,
 * which every image has and which steps already run as. */
static int set_user(struct vctx *v, const struct env_node *key, const struct env_node *val,
		    struct env_spec *spec)
{
	const char *s;
	char buf[64];
	size_t i;

	if (get_string(v, key, val, false, &s) < 0)
		return -1;
	for (i = 0; s[i]; i++)
		if (!(islower((unsigned char)s[i]) || s[i] == '_' ||
		      (i && (isdigit((unsigned char)s[i]) || s[i] == '-'))))
			break;
	if (!s[0] || s[i] || i > 32)
		return AT_NODE(v, val,
			       "'user' must be a user name of 1 to 32 lower-case letters, digits, '_' "
			       "or '-', starting with a letter or '_', not '%s'",
			       shown(s, buf, sizeof(buf)));
	if (strcmp(s, "root") == 0)
		return AT_NODE(v, val,
			       "'user' cannot be 'root': commands run as root without it; "
			       "remove the line or name an ordinary user such as 'dev'");
	spec->user = dv_xstrdup(s);
	return 0;
}

static int set_env(struct vctx *v, const struct env_node *key, const struct env_node *val,
		   struct env_spec *spec)
{
	(void)key;
	return envfile_env_map(v, "'env'", val, &spec->env, &spec->n_env);
}

/* copy paths are resolved now, so that a missing file or one reached through
 * a symlink to outside the checkout is an Envfile error with a position, not
 * a surprise (or a leak of a host file) when provisioning runs. */
static int resolve_copy(struct vctx *v, const struct env_node *val, struct env_step *step)
{
	dv_autofree char *joined = NULL;
	char buf[64];
	char *real;

	if (!envfile_real_checkout(v))
		return -1;
	joined = dv_xasprintf("%s/%s", v->dir, step->copy);
	real = realpath(joined, NULL);
	if (!real && (errno == ENOENT || errno == ENOTDIR))
		return AT_NODE(v, val,
			       "'copy' path '%s' does not exist; paths are relative to the "
			       "Envfile's folder",
			       shown(step->copy, buf, sizeof(buf)));
	if (!real)
		return AT_NODE(v, val, "'copy' path '%s' cannot be resolved: %s",
			       shown(step->copy, buf, sizeof(buf)), strerror(errno));
	if (!path_inside(real, v->real_checkout)) {
		free(real);
		return AT_NODE(v, val,
			       "'copy' path '%s' is outside the checkout; only files of "
			       "the checkout can be copied",
			       shown(step->copy, buf, sizeof(buf)));
	}
	step->copy_abs = real;
	return 0;
}

/* A step's own `env`: the same rules as the top-level one. */
static int set_step_env(struct vctx *v, const struct env_node *val, struct env_step *step)
{
	return envfile_env_map(v, "the step's 'env'", val, &step->env, &step->n_env);
}

/* A URL for `git` or `download`: one of the schemes given, something after
 * it, and no white space or control characters (it ends up in messages and
 * in libgit2's and libcurl's hands). */
static int check_url(struct vctx *v, const struct env_node *k, const struct env_node *x,
		     const char *s, bool git)
{
	static const char *const git_schemes[] = { "https://", "http://", "file://" };
	static const char *const dl_schemes[] = { "https://", "http://" };
	const char *const *schemes = git ? git_schemes : dl_schemes;
	size_t n = git ? 3 : 2, i, len = 0;
	char buf[64];

	if (!s[0])
		return AT_NODE(v, val_pos(k, x), "'%s' is empty; give the URL of %s", k->value,
			       git ? "the repository" : "the file");
	for (i = 0; i < n && !len; i++)
		if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
			len = strlen(schemes[i]);
	if (!len || !s[len])
		return AT_NODE(v, x, "'%s' must be %s URL, not '%s'", k->value,
			       git ? "an https://, http:// or file://" : "an https:// or http://",
			       shown(s, buf, sizeof(buf)));
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return AT_NODE(v, x,
				       "'%s' URL '%s' contains white space or a control "
				       "character; percent-encode it",
				       k->value, shown(s, buf, sizeof(buf)));
	return 0;
}

/* A step: exactly one of run, copy, git, download, and the keys that go with
 * it (to, ref, sha256, env). on_up steps take run and env only. */
static int parse_step(struct vctx *v, const char *list, const struct env_node *item,
		      struct env_step *step)
{
	const struct env_node *kind_k = NULL, *kind_v = NULL, *to_k = NULL, *to_v = NULL;
	const struct env_node *ref_k = NULL, *ref_v = NULL, *sha_k = NULL, *sha_v = NULL;
	const struct env_node *env_k = NULL, *env_v = NULL, *cache_k = NULL, *cache_v = NULL;
	const struct env_node *secrets_k = NULL, *agent_k = NULL;
	bool on_up = strcmp(list, "on_up") == 0;
	const char *s;
	char buf[64];
	size_t i;

	step->line = item->line;
	step->col = item->col;
	if (item->type != ENV_NODE_MAP)
		return AT_NODE(v, item,
			       "each step in '%s' must be a mapping such as 'run: CMD', "
			       "not %s",
			       list, describe(item));
	if (item->n == 0)
		return AT_NODE(v, item, "a step in '%s' is empty; give it %s", list,
			       on_up ? "'run:'" : "'run:', or 'copy:' and 'to:'");
	for (i = 0; i < item->n; i += 2) {
		const struct env_node *k = item->items[i], *x = item->items[i + 1];
		bool is_kind = false;

		if (check_key(v, item, i) < 0)
			return -1;
		if (on_up && (!strcmp(k->value, "wait_for") || !strcmp(k->value, "wait_timeout"))) {
			if (envfile_set_wait(v, k, x, step) < 0)
				return -1;
			continue;
		}
		if (on_up && strcmp(k->value, "ssh_agent") == 0)
			return AT_NODE(v, k,
				       "'on_up' steps get the top-level 'ssh_agent'; remove it "
				       "here");
		if (on_up && strcmp(k->value, "run") && strcmp(k->value, "env") &&
		    strcmp(k->value, "secrets")) {
			for (size_t j = 0; j < sizeof(step_keys) / sizeof(*step_keys); j++)
				if (strcmp(k->value, step_keys[j]) == 0)
					return AT_NODE(v, k,
						       "'on_up' steps only run commands ('run:'); "
						       "use '%s' in 'provision' steps",
						       k->value);
			return unknown_key(v, k, " in an 'on_up' step", on_up_keys,
					   sizeof(on_up_keys) / sizeof(*on_up_keys));
		}
		if (!strcmp(k->value, "run") || !strcmp(k->value, "copy") ||
		    !strcmp(k->value, "git") || !strcmp(k->value, "download")) {
			is_kind = true;
		} else if (strcmp(k->value, "to") == 0) {
			to_k = k;
			to_v = x;
		} else if (strcmp(k->value, "ref") == 0) {
			ref_k = k;
			ref_v = x;
		} else if (strcmp(k->value, "sha256") == 0) {
			sha_k = k;
			sha_v = x;
		} else if (strcmp(k->value, "env") == 0) {
			env_k = k;
			env_v = x;
		} else if (strcmp(k->value, "cache") == 0) {
			cache_k = k;
			cache_v = x;
		} else if (strcmp(k->value, "secrets") == 0) {
			secrets_k = k;
			if (envfile_step_secrets(v, k, x, step) < 0)
				return -1;
		} else if (strcmp(k->value, "ssh_agent") == 0) {
			agent_k = k;
			if (envfile_step_agent(v, k, x, &step->ssh_agent) < 0)
				return -1;
		} else {
			return unknown_key(v, k, " in a step", step_keys,
					   sizeof(step_keys) / sizeof(*step_keys));
		}
		if (is_kind && kind_k)
			return AT_NODE(v, k,
				       "a step has both '%s' and '%s'; split it into two "
				       "steps",
				       kind_k->value, k->value);
		if (is_kind) {
			kind_k = k;
			kind_v = x;
		}
	}
	if (!kind_k) {
		/* A step with keys that go with a kind, but no kind: name the
		 * first such key and the kind it needs. */
		if (to_k)
			return AT_NODE(v, to_k, "'to' needs 'copy:' with the path to copy from");
		if (ref_k)
			return AT_NODE(v, ref_k, "'ref' needs 'git:' with the repository's URL");
		if (sha_k)
			return AT_NODE(v, sha_k, "'sha256' needs 'download:' with the file's URL");
		if (env_k)
			return AT_NODE(v, env_k,
				       "'env' in a step needs 'run:' with the command to run");
		if (cache_k)
			return AT_NODE(v, cache_k,
				       "'cache' in a step needs 'run:' with the command to run");
		if (agent_k)
			return AT_NODE(v, agent_k,
				       "'ssh_agent' in a step needs 'run:' with the command to run");
		return AT_NODE(v, secrets_k,
			       "'secrets' in a step needs 'run:' with the command to run");
	}
	if (agent_k && strcmp(kind_k->value, "run"))
		return AT_NODE(v, agent_k, "'ssh_agent' goes with 'run', not with '%s'",
			       kind_k->value);
	if (env_k && strcmp(kind_k->value, "run"))
		return AT_NODE(v, env_k,
			       "'env' goes with 'run', not with '%s'; steps that do not "
			       "run a command see no environment",
			       kind_k->value);
	if (env_k && set_step_env(v, env_v, step) < 0)
		return -1;
	if (cache_k && strcmp(kind_k->value, "run"))
		return AT_NODE(v, cache_k, "'cache' goes with 'run', not with '%s'", kind_k->value);
	if (cache_k && envfile_set_cache(v, cache_v, &step->cache, &step->n_cache) < 0)
		return -1;
	if (secrets_k && strcmp(kind_k->value, "run"))
		return AT_NODE(v, secrets_k, "'secrets' goes with 'run', not with '%s'",
			       kind_k->value);
	if (ref_k && strcmp(kind_k->value, "git"))
		return AT_NODE(v, ref_k, "'ref' goes with 'git', not with '%s'", kind_k->value);
	if (sha_k && strcmp(kind_k->value, "download"))
		return AT_NODE(v, sha_k, "'sha256' goes with 'download', not with '%s'",
			       kind_k->value);
	if (strcmp(kind_k->value, "run") == 0) {
		if (get_string(v, kind_k, kind_v, true, &s) < 0)
			return -1;
		if (!s[strspn(s, " \t\r\n")])
			return AT_NODE(v, val_pos(kind_k, kind_v),
				       "'run' is empty; give the command "
				       "to run");
		if (to_k)
			return AT_NODE(v, to_k,
				       "'to' goes with 'copy', 'git' or 'download', not "
				       "with 'run'");
		step->kind = ENV_STEP_RUN;
		step->run = dv_xstrdup(s);
		return 0;
	}
	if (get_string(v, kind_k, kind_v, true, &s) < 0)
		return -1;
	if (strcmp(kind_k->value, "copy") == 0) {
		if (!s[0])
			return AT_NODE(v, val_pos(kind_k, kind_v),
				       "'copy' is empty; give a path "
				       "relative to the Envfile's folder");
		if (s[0] == '/')
			return AT_NODE(v, kind_v,
				       "'copy' must be a path relative to the Envfile's "
				       "folder, not '%s'",
				       shown(s, buf, sizeof(buf)));
		step->kind = ENV_STEP_COPY;
		step->copy = dv_xstrdup(s);
	} else if (strcmp(kind_k->value, "git") == 0) {
		if (check_url(v, kind_k, kind_v, s, true) < 0)
			return -1;
		step->kind = ENV_STEP_GIT;
		step->git = dv_xstrdup(s);
	} else {
		if (check_url(v, kind_k, kind_v, s, false) < 0)
			return -1;
		step->kind = ENV_STEP_DOWNLOAD;
		step->download = dv_xstrdup(s);
	}
	if (!to_k)
		return AT_NODE(v, kind_k,
			       "'%s' needs 'to:' with the absolute path to %s inside "
			       "the env",
			       kind_k->value,
			       step->kind == ENV_STEP_COPY  ? "copy to"
			       : step->kind == ENV_STEP_GIT ? "clone into"
							    : "save the file as");
	if (get_string(v, to_k, to_v, false, &s) < 0)
		return -1;
	if (s[0] != '/')
		return AT_NODE(v, to_v, "'to' must be an absolute path inside the env, not '%s'",
			       shown(s, buf, sizeof(buf)));
	step->to = dv_xstrdup(s);
	if (ref_k) {
		if (get_string(v, ref_k, ref_v, false, &s) < 0)
			return -1;
		/* git check-ref-format's main rules, and no leading '-' (an option) */
		if (!s[0] || s[0] == '-' || strstr(s, "..") || strstr(s, "@{") ||
		    s[strcspn(s, " ~^:?*[\\")] || s[strlen(s) - 1] == '/' || s[strlen(s) - 1] == '.')
			return AT_NODE(v, ref_v,
				       "'ref' '%s' is not a valid branch, tag or commit "
				       "name",
				       shown(s, buf, sizeof(buf)));
		for (i = 0; s[i]; i++)
			if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
				return AT_NODE(v, ref_v,
					       "'ref' must not contain control characters");
		step->ref = dv_xstrdup(s);
	}
	if (step->kind == ENV_STEP_DOWNLOAD) {
		if (!sha_k)
			return AT_NODE(v, kind_k,
				       "'download' needs 'sha256:' with the file's "
				       "SHA-256 digest (64 hex digits; 'sha256sum FILE' prints it)");
		if (get_string(v, sha_k, sha_v, false, &s) < 0)
			return -1;
		if (!dv_is_sha256_hex(s))
			return AT_NODE(v, sha_v,
				       "'sha256' must be 64 lower-case hex digits, not "
				       "'%s'",
				       shown(s, buf, sizeof(buf)));
		step->sha256 = dv_xstrdup(s);
	}
	if (step->kind == ENV_STEP_COPY)
		return resolve_copy(v, kind_v, step);
	return 0;
}

static int set_steps(struct vctx *v, const struct env_node *key, const struct env_node *val,
		     struct env_step **steps, size_t *n)
{
	size_t i;

	if (is_null(val))
		return 0;
	if (val->type != ENV_NODE_SEQ)
		return AT_NODE(v, val, "'%s' must be a list of steps, not %s", key->value,
			       describe(val));
	*steps = dv_xcalloc(val->n + 1, sizeof(**steps));
	for (i = 0; i < val->n; i++) {
		/* counted first, so that release frees a half-filled step */
		(*n)++;
		if (parse_step(v, key->value, val->items[i], &(*steps)[i]) < 0)
			return -1;
	}
	return 0;
}

static int set_key(struct vctx *v, const struct env_node *key, const struct env_node *val,
		   struct env_spec *spec)
{
	const char *k = key->value;

	if (strcmp(k, "name") == 0)
		return set_name(v, key, val, spec);
	if (strcmp(k, "image") == 0)
		return set_image(v, key, val, spec);
	if (strcmp(k, "workdir") == 0)
		return set_workdir(v, key, val, spec);
	if (strcmp(k, "cache_from") == 0)
		return set_cache_from(v, key, val, spec);
	if (strcmp(k, "shell") == 0)
		return set_abs_path(v, key, val, "/bin/bash", &spec->shell);
	if (strcmp(k, "env") == 0)
		return set_env(v, key, val, spec);
	if (strcmp(k, "user") == 0)
		return set_user(v, key, val, spec);
	if (strcmp(k, "provision") == 0) {
		/* Each step is a layer: past the limit no image could take
		 * them, so say so now, not after building that many steps. The
		 * image's own layers count too, once it is known (prov_build). */
		if (val->type == ENV_NODE_SEQ && val->n > ENV_MAX_LAYERS)
			return AT_NODE(v, val->items[ENV_MAX_LAYERS],
				       "step %d is one layer too many: an env has at most %d layers, "
				       "its image's and one per step (overlay's limit); "
				       "merge steps, as one 'run' joined with '&&'",
				       ENV_MAX_LAYERS + 1, ENV_MAX_LAYERS);
		return set_steps(v, key, val, &spec->provision, &spec->n_provision);
	}
	if (strcmp(k, "on_up") == 0)
		return set_steps(v, key, val, &spec->on_up, &spec->n_on_up);
	if (strcmp(k, "resources") == 0)
		return envfile_resources(key, val, v->display, &spec->resources, v->err);
	if (strcmp(k, "logs") == 0)
		return envfile_logs(val, v->display, &spec->logs, v->err);
	if (strcmp(k, "security") == 0)
		return envfile_set_security(key, val, v->display, v->dir, v->checkout,
					    &spec->security, v->err);
	if (strcmp(k, "network") == 0)
		return envfile_set_network(v, key, val, spec);
	if (strcmp(k, "ports") == 0)
		return envfile_set_ports(v, key, val, spec);
	if (strcmp(k, "volumes") == 0)
		return envfile_set_mounts(v, key, val, ENV_MOUNT_VOLUMES, "'volumes'",
					  &spec->volumes, &spec->n_volumes);
	if (strcmp(k, "mounts") == 0)
		return envfile_set_mounts(v, key, val, ENV_MOUNT_HOST, "'mounts'", &spec->mounts,
					  &spec->n_mounts);
	if (strcmp(k, "services") == 0)
		return envfile_set_services(v, key, val, spec);
	if (strcmp(k, "cache") == 0)
		return envfile_set_cache(v, val, &spec->cache, &spec->n_cache);
	if (strcmp(k, "secrets") == 0)
		return envfile_set_secrets(v, key, val, spec);
	if (strcmp(k, "git_credentials") == 0)
		return envfile_set_git_credentials(v, key, val, spec);
	if (strcmp(k, "ssh_agent") == 0)
		return envfile_set_agent(v, key, val, &spec->ssh_agent);
	if (strcmp(k, "apt_snapshot") == 0)
		return envfile_set_apt_snapshot(v, key, val, spec);
	if (strcmp(k, "apt_snapshot_url") == 0)
		return envfile_set_apt_snapshot_url(v, key, val, spec);
	if (strcmp(k, "cache_trust") == 0)
		return envfile_set_cache_trust(v, key, val, spec);
	return unknown_key(v, key, "", top_keys, sizeof(top_keys) / sizeof(top_keys[0]));
}

int envfile_validate(const struct env_node *root, const char *display, const char *dir,
		     const char *checkout, struct env_spec *out, struct dv_error *err)
{
	struct vctx v = { .display = display, .dir = dir, .checkout = checkout, .err = err };
	struct env_spec spec = { .logs = { ENV_LOG_SIZE_DEFAULT, ENV_LOG_FILES_DEFAULT } };
	int ret = -1;
	size_t i;

	if (root->type != ENV_NODE_MAP) {
		AT_NODE(&v, root,
			"the Envfile must be a mapping of keys such as 'image: %s', "
			"not %s",
			ENV_DEFAULT_IMAGE, describe(root));
		goto out;
	}
	for (i = 0; i < root->n; i += 2) {
		if (check_key(&v, root, i) < 0)
			goto out;
		if (set_key(&v, root->items[i], root->items[i + 1], &spec) < 0)
			goto out;
	}
	spec.display = dv_xstrdup(display);
	spec.checkout = dv_xstrdup(checkout);
	if (!spec.name)
		spec.name = envfile_name_from_folder(checkout);
	if (!spec.image)
		spec.image = dv_xstrdup(ENV_DEFAULT_IMAGE);
	if (!spec.workdir)
		spec.workdir = dv_xstrdup(ENV_DEFAULT_WORKDIR);
	if (!spec.shell)
		spec.shell = dv_xstrdup(ENV_DEFAULT_SHELL);
	if (envfile_check_mount_targets(&v, &spec) < 0 || envfile_check_caches(&v, &spec) < 0 ||
	    envfile_check_health(&v, &spec) < 0)
		goto out;
	if (envfile_check_auto_ports(&v, &spec) < 0)
		goto out;
	if (envfile_check_secrets(&v, &spec) < 0 || envfile_check_apt_snapshot(&v, &spec) < 0)
		goto out;
	*out = spec;
	memset(&spec, 0, sizeof(spec));
	ret = 0;
out:
	env_spec_release(&spec);
	free(v.real_checkout);
	return ret;
}

int envfile_parse(const char *text, size_t len, const char *display, const char *dir,
		  const char *checkout, struct env_spec *out, struct dv_error *err)
{
	struct env_node *root = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!display)
		display = "Envfile";
	if (!dir)
		dir = ".";
	if (!checkout)
		checkout = dir;
	if (envfile_yaml_load(text, len, display, &root, err) < 0)
		return -1;
	if (!root || is_null(root) || (root->type == ENV_NODE_MAP && root->n == 0)) {
		env_node_free(root);
		return dv_err_at(err, display, 1, 1,
				 "the Envfile is empty; write at least a line such as "
				 "'image: %s' in it",
				 ENV_DEFAULT_IMAGE);
	}
	ret = envfile_validate(root, display, dir, checkout, out, err);
	env_node_free(root);
	return ret;
}

static void steps_release(struct env_step *steps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(steps[i].run);
		free(steps[i].copy);
		free(steps[i].copy_abs);
		free(steps[i].to);
		free(steps[i].git);
		free(steps[i].ref);
		free(steps[i].download);
		free(steps[i].sha256);
		free(steps[i].git_commit);
		envfile_env_release(steps[i].env, steps[i].n_env);
		envfile_cache_release(steps[i].cache, steps[i].n_cache);
		dv_strv_release(&steps[i].secrets);
		free(steps[i].secrets_pos);
		dv_strv_release(&steps[i].wait_for);
	}
	free(steps);
}

void env_spec_release(struct env_spec *spec)
{
	size_t i;

	if (!spec)
		return;
	free(spec->path);
	free(spec->display);
	free(spec->checkout);
	free(spec->relpath);
	free(spec->name);
	free(spec->image);
	dv_strv_release(&spec->cache_from);
	dv_strv_release(&spec->git_credentials);
	free(spec->cache_trust);
	free(spec->workdir);
	free(spec->shell);
	free(spec->user);
	for (i = 0; i < spec->n_env; i++) {
		free(spec->env[i].key);
		free(spec->env[i].value);
	}
	free(spec->env);
	steps_release(spec->provision, spec->n_provision);
	steps_release(spec->on_up, spec->n_on_up);
	env_security_release(&spec->security);
	envfile_ports_release(spec->ports, spec->n_ports);
	envfile_mounts_release(spec->volumes, spec->n_volumes);
	envfile_mounts_release(spec->mounts, spec->n_mounts);
	envfile_services_release(spec->services, spec->n_services);
	for (i = 0; i < spec->n_host_env; i++)
		free(spec->host_env[i].name);
	free(spec->host_env);
	envfile_cache_release(spec->cache, spec->n_cache);
	envfile_dotfiles_free(spec->dotfiles);
	envfile_secrets_release(spec->secrets, spec->n_secrets);
	envfile_agent_release(&spec->ssh_agent);
	free(spec->apt_snapshot);
	free(spec->apt_snapshot_url);
	memset(spec, 0, sizeof(*spec));
}

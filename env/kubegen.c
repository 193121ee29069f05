/*
 * env/kubegen.c - what `devenv kube generate` looks up before kube.c
 * writes the Pod: the env's image pinned by digest (--image, else the
 * env's last `devenv push`, recorded here as envs/<id>/pushed), the
 * services' images (one only this store has pushed next to the env's with
 * --push, else refused), and for --clone the checkout's remote and commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env/env.h"
#include "env/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

extern char **environ;

#define PUSHED "pushed"

void env_push_record(const struct layer_store *st, const char *env_id, const char *name,
		     const char *digest)
{
	dv_autoclose int efd = env_envs_fd(st);
	dv_autoclose int dfd =
		efd < 0 ? -1 : openat(efd, env_id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	dv_autofree char *text = dv_xasprintf("%s sha256:%s\n", name, digest);
	struct dv_error err = { 0 };

	/* Only an env the store has (a push needs its layers: `up` made it). */
	if (dfd < 0)
		return;
	if (dv_write_file_atomic(dfd, PUSHED, text, strlen(text), 0644, &err) < 0)
		fprintf(stderr, "devenv: warning: cannot record the push for 'kube generate': %s\n",
			err.msg);
}

/* "host/repo:tag" or "host/repo@sha256:..." without its tag and digest. */
static char *repo_of(const char *ref)
{
	const char *at = strchr(ref, '@'), *slash, *colon;
	size_t n = at ? (size_t)(at - ref) : strlen(ref);

	slash = memrchr(ref, '/', n);
	colon = memrchr(ref, ':', n);
	if (colon && (!slash || colon > slash))
		n = (size_t)(colon - ref);
	return dv_xstrndup(ref, n);
}

/* REPO@sha256:HEX of ref's repository. */
static char *pinned(const char *ref, const char *hex)
{
	dv_autofree char *repo = repo_of(ref);

	return dv_xasprintf("%s@sha256:%s", repo, hex);
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* The env's image as REPO@sha256:HEX. */
static int pin_image(const struct layer_store *st, const struct env *env, const char *ref,
		     char **out, struct dv_error *err)
{
	dv_autofree char *text = NULL, *norm = NULL;
	const char *at;

	if (ref && (at = strstr(ref, "@sha256:"))) {
		if (!hex64(at + 8))
			return dv_err_usage(err,
					    "--image '%s': a digest is sha256: and 64 lower-case hex "
					    "digits",
					    ref);
		if (layer_ref_normalize(ref, false, &norm, err) < 0)
			return -1;
		*out = pinned(norm, at + 8);
		return 0;
	}
	if (ref) {
		struct reg_remote *r = NULL;

		if (reg_remote_open(ref, &r, err) < 0)
			return dv_err_prefix(err, "--image '%s'", ref);
		*out = pinned(reg_remote_name(r), reg_remote_digest(r));
		reg_remote_free(r);
		return 0;
	}
	{
		dv_autoclose int efd = env_envs_fd(st);
		dv_autofree char *path = dv_xasprintf("%s/" PUSHED, env->id);
		char *sp, *nl;
		size_t len;

		if (efd < 0 || dv_read_file_at(efd, path, &text, &len, err) < 0) {
			if (efd >= 0 && err->errnum != ENOENT)
				return -1;
			return dv_err_plain(err, ENOENT,
					    "env '%s' has no pushed image to name: push it first "
					    "('devenv push REGISTRY/NAME[:TAG]'), or give --image REF",
					    env->spec.name);
		}
		sp = strchr(text, ' ');
		nl = sp ? strchr(sp, '\n') : NULL;
		if (!sp || !nl || !dv_str_startswith(sp + 1, "sha256:") || (*nl = 0, !hex64(sp + 8)))
			return dv_err_plain(err, EBADMSG,
					    "'%s/envs/%s/" PUSHED "' is damaged: push the env again",
					    st->root, env->id);
		*sp = 0;
		*out = pinned(text, sp + 8);
	}
	return 0;
}

/* Each service's image as the Pod names it: normalised; one only this
 * store has (a `localhost/` name: committed, imported, bootstrapped)
 * pushed beside the env's image with push, else refused. */
static int svc_images(const struct dv_ctx *ctx, const struct layer_store *st,
		      const struct env_spec *spec, const char *env_image, bool push,
		      struct dv_strv *out, struct dv_error *err)
{
	for (size_t i = 0; i < spec->n_services; i++) {
		const struct env_service *s = &spec->services[i];
		struct layer_image img = { 0 };
		dv_autofree char *norm = NULL, *name = NULL, *dest = NULL, *repo = NULL;
		bool local = false;
		char digest[65];

		if (layer_image_resolve(st, s->image, &img, &(struct dv_error){ 0 }) == 0) {
			local = img.name && dv_str_startswith(img.name, "localhost/");
			layer_image_release(&img);
		}
		if (!local) {
			if (layer_ref_normalize(s->image, false, &norm, err) < 0)
				return dv_err_prefix(err, "%s:%u:%u: service '%s'", spec->display,
						     s->image_line, s->image_col, s->name);
			dv_strv_push(out, norm);
			continue;
		}
		if (!push)
			return dv_err_at(err, spec->display, s->image_line, s->image_col,
					 "service '%s': image '%s' is only in this store, and a Pod "
					 "can only name images a registry serves: add --push (it goes "
					 "next to the env's image), or push it and name that",
					 s->name, s->image);
		repo = repo_of(env_image);
		dest = dv_xasprintf("%s:service-%s", repo, s->name);
		if (reg_push(st, s->image, dest, REG_GZIP, ctx->quiet ? NULL : stderr, &name,
			     digest, err) < 0)
			return dv_err_prefix(err, "service '%s': cannot push '%s' to '%s'", s->name,
					     s->image, dest);
		if (!ctx->quiet)
			fprintf(stderr, "pushed service '%s' (%s) as %s@sha256:%s\n", s->name,
				s->image, name, digest);
		dv_strv_push_owned(out, pinned(name, digest));
	}
	return 0;
}

/* The first line git prints for args run in the checkout, or NULL. Only
 * plumbing that runs nothing of the repository's (no hook, no fsmonitor). */
static char *git_line(const char *checkout, const char *const *args, size_t n)
{
	dv_autofree char *safe = dv_xasprintf("safe.directory=%s", checkout);
	const char *argv[16] = { "git", "-c", safe, "-C", checkout };
	posix_spawn_file_actions_t fa;
	int p[2], status;
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	for (size_t i = 0; i < n && i < 10; i++)
		argv[5 + i] = args[i];
	if (pipe2(p, O_CLOEXEC) < 0)
		return NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "git", &fa, NULL, (char *const *)argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	while ((r = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && (len += (size_t)r) == sizeof(buf) - 1)
			break;
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !len)
		return NULL;
	buf[len] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return dv_xstrdup(buf);
}

/* url without the password of its userinfo ("https://me:TOKEN@host/..."
 * is "https://me@host/..."): true when there was one. */
static bool strip_password(char *url)
{
	char *scheme = strstr(url, "://"), *end, *at, *colon;

	if (!scheme)
		return false;
	scheme += 3;
	end = scheme + strcspn(scheme, "/?#");
	at = memrchr(scheme, '@', (size_t)(end - scheme));
	colon = at ? memchr(scheme, ':', (size_t)(at - scheme)) : NULL;
	if (!colon)
		return false;
	memmove(colon, at, strlen(at) + 1);
	return true;
}

int env_kube_generate(const struct dv_ctx *ctx, const struct layer_store *st, struct env *env,
		      const struct env_kube_opts *o, struct dv_buf *yaml, struct dv_strv *warnings,
		      struct dv_error *err)
{
	struct env_kube_in in = { .env_id = env->id };
	struct dv_strv svc = { 0 };
	dv_autofree char *image = NULL, *url = NULL, *commit = NULL;
	int ret = -1;

	if (pin_image(st, env, o->image, &image, err) < 0)
		goto out;
	in.image = image;
	if (svc_images(ctx, st, &env->spec, image, o->push, &svc, err) < 0)
		goto out;
	in.svc_images = (const char *const *)svc.v;
	if (o->clone) {
		url = git_line(env->spec.checkout,
			       (const char *[]){ "config", "--get", "remote.origin.url" }, 3);
		commit = git_line(env->spec.checkout,
				  (const char *[]){ "rev-parse", "--verify", "HEAD^{commit}" }, 3);
		if (!url || !commit) {
			dv_err_plain(err, ENOENT,
				     "--clone: the checkout '%s' has no %s: a Pod clones the "
				     "remote 'origin' at the current commit; add one, or leave "
				     "--clone out for a hostPath",
				     env->spec.checkout, !url ? "remote 'origin'" : "commit");
			goto out;
		}
		if (strip_password(url))
			dv_strv_push(warnings, "--clone: the remote 'origin' has a password in its "
					       "URL: left out (the cluster clones with its own "
					       "credentials)");
		if (url[0] == '/' || dv_str_startswith(url, "file:") || url[0] == '.')
			dv_strv_push_owned(warnings,
					   dv_xasprintf("--clone: the remote 'origin' is a path of "
							"this machine ('%s'): a cluster's node "
							"cannot clone it",
							url));
		in.clone_url = url;
		in.clone_commit = commit;
	}
	ret = env_kube_yaml(&env->spec, &in, yaml, warnings, err);
out:
	dv_strv_release(&svc);
	return ret;
}

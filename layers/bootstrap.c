/* layers/bootstrap.c - build a Debian image from the mirror, then import it.
 *
 * mmdebstrap writes a tarball directly; debootstrap (the fallback) needs a
 * folder, which we then tar. Either way the result goes through the same
 * safe import as any tarball. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/banned.h"

#define DEFAULT_MIRROR "http://deb.debian.org/debian"

/* Is s an http(s) URI ending in "/debian" (not debian-security etc.)? */
static bool debian_uri(const char *s, size_t n)
{
	while (n && s[n - 1] == '/')
		n--;
	return (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8)) && n >= 7 &&
	       !memcmp(s + n - 7, "/debian", 7);
}

static char *first_word(const char *p)
{
	size_t n;

	p += strspn(p, " \t");
	n = strcspn(p, " \t\r\n");
	return n ? dv_xstrndup(p, n) : NULL;
}

/* The machine's Debian mirror: the first "deb" source whose URI ends in
 * /debian, in sources.list (one-line form) or *.sources (deb822 form). */
static char *scan_sources(const char *text, bool deb822)
{
	const char *line;
	bool is_deb = !deb822;
	char *uri = NULL;

	for (line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *p = line + strspn(line, " \t");

		if (!deb822) {
			char *w;

			if (strncmp(p, "deb ", 4) && strncmp(p, "deb\t", 4))
				continue;
			p += 4;
			p += strspn(p, " \t");
			if (*p == '[') /* options: [arch=amd64 signed-by=...] */
				p = strchr(p, ']') ? strchr(p, ']') + 1 : p + strlen(p);
			w = first_word(p);
			if (w && debian_uri(w, strlen(w)))
				return w;
			free(w);
			continue;
		}
		if (*p == '\n' || *p == 0 || *p == '\r') { /* a blank line ends a stanza */
			if (uri && is_deb)
				return uri;
			free(uri);
			uri = NULL;
			is_deb = false;
		} else if (!strncasecmp(p, "Types:", 6)) {
			const char *t = p + 6;
			const char *eol = strchrnul(t, '\n');
			const char *hit = strstr(t, "deb");

			/* "deb" as a word, not only "deb-src" */
			while (hit && hit < eol && (hit[3] == '-' || (hit > t && hit[-1] == '-')))
				hit = strstr(hit + 3, "deb");
			is_deb = hit && hit < eol;
		} else if (!strncasecmp(p, "URIs:", 5) && !uri) {
			char *w = first_word(p + 5);

			if (w && debian_uri(w, strlen(w)))
				uri = w;
			else
				free(w);
		}
	}
	if (uri && is_deb)
		return uri;
	free(uri);
	return NULL;
}

static char *find_mirror(void)
{
	dv_autoclosedir DIR *d = NULL;
	dv_autofree char *text = NULL;
	struct dirent *de;
	size_t len;
	char *uri;

	if (dv_read_file_at(AT_FDCWD, "/etc/apt/sources.list", &text, &len,
			    &(struct dv_error){ 0 }) == 0 &&
	    (uri = scan_sources(text, false)))
		return uri;
	d = opendir("/etc/apt/sources.list.d");
	while (d && (de = readdir(d))) {
		dv_autofree char *path = NULL, *t = NULL;
		bool list = dv_str_endswith(de->d_name, ".list");

		if (!list && !dv_str_endswith(de->d_name, ".sources"))
			continue;
		path = dv_xasprintf("/etc/apt/sources.list.d/%s", de->d_name);
		if (dv_read_file_at(AT_FDCWD, path, &t, &len, &(struct dv_error){ 0 }) == 0 &&
		    (uri = scan_sources(t, !list)))
			return uri;
	}
	return dv_xstrdup(DEFAULT_MIRROR);
}

int layer_image_bootstrap(const struct layer_store *st, const char *ref, struct layer_image *out,
			  struct dv_error *err)
{
	dv_autofree char *norm = NULL, *name = NULL, *dir = NULL, *tar = NULL, *rootfs = NULL;
	dv_autofree char *mirror = NULL;
	const char *suite;
	unsigned skipped = 0;
	int code = 0, ret = -1;
	unsigned long long t0 = dv_now_ns();

	if (layer_ref_normalize(ref, true, &norm, err) < 0)
		return -1;
	if (!dv_str_startswith(norm, "localhost/debian:"))
		return dv_err_usage(err,
				    "cannot bootstrap '%s': only debian:SUITE images can be built",
				    ref);
	suite = norm + strlen("localhost/debian:");
	mirror = find_mirror();
	/* In tmp/, under a name gc knows: a killed bootstrap leaves no trace. */
	if (layer_staging_create(st, false, "bootstrap", &name, err) < 0)
		return -1;
	dir = layer_staging_path(st, name, NULL);
	tar = dv_xasprintf("%s/rootfs.tar", dir);
	fprintf(stderr, "devenv: building %s with mmdebstrap from %s\n", norm, mirror);
	if (st->rootless && geteuid() == 0) {
		/* Root of our user namespace (util/userns.h): mmdebstrap's root
		 * mode, in mount and pid namespaces of its own so that it may
		 * mount /proc; device nodes cannot be made or bound here, and
		 * sysfs belongs to the host's network namespace. The util-linux
		 * `unshare` is Essential in Debian. */
		char *argv[] = { "unshare",      "--mount",
				 "--pid",        "--fork",
				 "--kill-child", "--",
				 "mmdebstrap",   "--variant=minbase",
				 "--mode=root",  "--skip=chroot/mount/dev,chroot/mount/sys",
				 (char *)suite,  tar,
				 mirror,         NULL };

		if (dv_run(argv, false, &code, err) < 0)
			goto out;
	} else {
		char *argv[] = { "mmdebstrap",
				 "--variant=minbase",
				 geteuid() == 0 ? "--mode=root" : "--mode=unshare",
				 (char *)suite,
				 tar,
				 mirror,
				 NULL };

		if (dv_run(argv, false, &code, err) < 0)
			goto out;
	}
	if (code == 127) {
		fprintf(stderr, "devenv: mmdebstrap is not installed; trying debootstrap\n");
		rootfs = dv_xasprintf("%s/rootfs", dir);
		{
			char *argv[] = { "debootstrap", "--variant=minbase",
					 (char *)suite, rootfs,
					 mirror,        NULL };

			if (dv_run(argv, false, &code, err) < 0)
				goto out;
		}
		if (code == 0) {
			char *argv[] = { "tar",      "--numeric-owner",
					 "--xattrs", "--xattrs-include=*",
					 "-C",       rootfs,
					 "-cf",      tar,
					 ".",        NULL };

			if (dv_run(argv, false, &code, err) < 0)
				goto out;
			if (code) {
				dv_err(err, 0, "cannot bootstrap '%s': tar exited with status %d",
				       ref, code);
				goto out;
			}
		} else if (code == 127) {
			dv_err(err, 0,
			       "cannot bootstrap '%s': neither mmdebstrap nor debootstrap is "
			       "installed",
			       ref);
			goto out;
		}
	}
	if (code) {
		dv_err(err, 0, "cannot bootstrap '%s': %s exited with status %d", ref,
		       rootfs ? "debootstrap" : "mmdebstrap", code);
		goto out;
	}
	fprintf(stderr, "devenv: importing %s\n", norm);
	if (layer_image_import(st, tar, norm, out, &skipped, err) < 0) {
		dv_err_prefix(err, "cannot bootstrap '%s'", ref);
		goto out;
	}
	fprintf(stderr, "devenv: built %s in %.1f s (%u device nodes left to the runtime)\n", norm,
		(double)(dv_now_ns() - t0) / 1e9, skipped);
	ret = 0;
out:
	layer_rm_tree(st->tmp_fd, name, &(struct dv_error){ 0 });
	return ret;
}

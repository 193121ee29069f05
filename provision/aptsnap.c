/*
 * provision/aptsnap.c - `apt_snapshot`: a run step of a Debian-based env
 * sees the Debian archive as of a time.
 *
 * How: the step's command runs behind a prelude, a POSIX shell script run
 * by the image's /bin/sh inside the build container, before it. On an image
 * with /etc/debian_version and /etc/apt it writes, on the container's own
 * /dev/shm (a tmpfs, never part of the step's layer):
 *   - sources.list and sources.list.d/ : the image's, with every Debian
 *     archive URI (deb.debian.org, ftp.*.debian.org, httpredir,
 *     security.debian.org; the archives debian, debian-security,
 *     debian-debug, debian-ports) rewritten to BASE/ARCHIVE/STAMP/ and
 *     check-valid-until=no on those sources only (a snapshot's Release
 *     is older than its Valid-Until); Signed-By and the other options kept,
 *     nothing marked trusted: apt checks the signatures as it always does;
 *   - apt.conf : Dir::Etc::sourcelist and ::sourceparts pointing there,
 *     after an #include of the step's own APT_CONFIG if it has one;
 * and exports APT_CONFIG, then execs `SHELL -c RUN` as a step always runs.
 * Nothing of the image's /etc/apt is written: the layer holds what the
 * step did, and the env afterwards has its sources as they were (its
 * /var/lib/apt/lists are the snapshot's until an 'apt-get update').
 *
 * The sources are read when the step starts: a source the step adds or
 * changes is seen by the next step, not by apt in this one; a step that
 * changed them and ran apt is warned of after it (prov_apt_changed).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "provision.h"
#include "util/cleanup.h"
#include "util/banned.h"

/* $1 base URL, $2 stamp, $3 shell, $4 the step's command. The URL is held
 * to plain characters by the Envfile's parser (no '#', '&', '\\', quote or
 * space), so it is safe in the sed replacement. */
static const char prelude[] =
	"if [ -f /etc/debian_version ] && [ -d /etc/apt ]; then\n"
	"d=/dev/shm/devenv-apt-snapshot\n"
	"h='(https?)://((deb|ftp|httpredir|security|ftp\\.[a-z0-9-]+)\\.debian\\.org)/"
	"(debian|debian-security|debian-debug|debian-ports)/?([[:space:]]|$)'\n"
	"r=\"$1/\\\\4/$2/\\\\5\"\n"
	"s='https?://security\\.debian\\.org/?([[:space:]]|$)'\n"
	"rs=\"$1/debian-security/$2/\\\\1\"\n"
	"mkdir -p \"$d/sources.list.d\" && {\n"
	"printf '%s\\n' '/^[[:space:]]*deb(-src)?[[:space:]]/{' \"s#$h#$r#\" 't r' \"s#$s#$rs#\" 't r' "
	"'b' ':r' 's#^([[:space:]]*deb(-src)?[[:space:]]+)\\[#\\1[check-valid-until=no #' 't' "
	"'s#^([[:space:]]*deb(-src)?[[:space:]]+)#\\1[check-valid-until=no] #' '}' >\"$d/one\" &&\n"
	"printf '%s\\n' '/^[Uu][Rr][Ii][Ss]:/{' \"s#$h#$r#g\" \"s#$s#$rs#g\" 't r' 'b' ':r' "
	"'a Check-Valid-Until: no' '}' >\"$d/822\"\n"
	"} || { echo 'devenv: apt_snapshot: cannot write its sources on /dev/shm' >&2; exit 125; }\n"
	"if [ -f /etc/apt/sources.list ]; then sed -E -f \"$d/one\" /etc/apt/sources.list; fi "
	">\"$d/sources.list\" || exit 125\n"
	"for f in /etc/apt/sources.list.d/*; do\n"
	"[ -f \"$f\" ] || continue\n"
	"case $f in *.sources) p=822 ;; *) p=one ;; esac\n"
	"sed -E -f \"$d/$p\" \"$f\" >\"$d/sources.list.d/${f##*/}\" || exit 125\n"
	"done\n"
	"{ if [ -n \"${APT_CONFIG:-}\" ]; then printf '#include \"%s\";\\n' \"$APT_CONFIG\"; fi\n"
	"printf 'Dir::Etc::sourcelist \"%s/sources.list\";\\nDir::Etc::sourceparts "
	"\"%s/sources.list.d\";\\n' \"$d\" \"$d\"; } >\"$d/apt.conf\" || exit 125\n"
	"APT_CONFIG=$d/apt.conf\n"
	"export APT_CONFIG\n"
	"fi\n"
	"exec \"$3\" -c \"$4\"\n";

void prov_apt_stamp(long long t, char out[PROV_APT_STAMP])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, PROV_APT_STAMP, "%Y%m%dT%H%M%SZ", &tm))
		snprintf(out, PROV_APT_STAMP, "19700101T000000Z");
}

const char *prov_apt_url(const struct env_spec *spec)
{
	return spec->apt_snapshot_url ? spec->apt_snapshot_url : ENV_APT_SNAPSHOT_URL;
}

char **prov_apt_argv(const struct env_spec *spec, const struct env_step *step, struct prov_apt *a)
{
	if (!spec->apt_snapshot_time) {
		a->argv[0] = spec->shell;
		a->argv[1] = "-c";
		a->argv[2] = step->run;
		a->argv[3] = NULL;
		return a->argv;
	}
	prov_apt_stamp(spec->apt_snapshot_time, a->stamp);
	a->argv[0] = "/bin/sh";
	a->argv[1] = "-c";
	a->argv[2] = (char *)prelude;
	a->argv[3] = "devenv-apt-snapshot";
	a->argv[4] = (char *)prov_apt_url(spec);
	a->argv[5] = a->stamp;
	a->argv[6] = spec->shell;
	a->argv[7] = step->run;
	a->argv[8] = NULL;
	return a->argv;
}

/* Is `path` in the upper folder (written, removed, or a folder with
 * anything written in it)? */
static bool in_upper(int up, const char *path, bool dir)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;
	bool any = false;
	int fd;

	if (fstatat(up, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (!dir || !S_ISDIR(sb.st_mode))
		return true;
	fd = openat(up, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return any;
}

bool prov_apt_changed(const struct env_spec *spec, const struct env_step *step, const char *upper)
{
	dv_autoclose int up = -1;

	if (!spec->apt_snapshot_time || step->kind != ENV_STEP_RUN)
		return false;
	up = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* Sources changed, and apt ran (an update's lists, an install's dpkg). */
	return up >= 0 &&
	       (in_upper(up, "etc/apt/sources.list", false) ||
		in_upper(up, "etc/apt/sources.list.d", true)) &&
	       (in_upper(up, "var/lib/apt/lists", true) || in_upper(up, "var/lib/dpkg", true));
}

void prov_apt_warn(const struct env_spec *spec, const struct env_step *step, size_t index,
		   const char *label, bool changed)
{
	if (!changed)
		return;
	fprintf(stderr,
		"devenv: warning: %s:%u:%u: step %zu (%s) changed apt's sources and ran apt: "
		"with apt_snapshot its apt read the sources as they were when it started; "
		"move the source to a step of its own\n",
		spec->display, step->line, step->col, index + 1, label);
}

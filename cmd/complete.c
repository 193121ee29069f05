/*
 * cmd/complete.c - __complete: the word lists the shell completions offer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/fault.h"
#include "util/term.h"
#include "util/userns.h"
#include "templates/templates.h"
#include "util/banned.h"

/* Names of env (state.json "name") under envs/, one a line. Reads only;
 * an env being created or removed is skipped. */
static void complete_envs(int root_fd)
{
	dv_autoclose int fd = root_fd < 0 ? -1 : openat(root_fd, "envs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : dv_opendir_fd(fd);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		dv_autofree char *path = dv_xasprintf("envs/%s/state.json", e->d_name);
		dv_autofree char *text = NULL;
		struct dv_error ignored = { 0 };
		struct json_object *o, *name;
		size_t len;

		if (e->d_name[0] == '.' ||
		    dv_read_file_at(root_fd, path, &text, &len, &ignored) < 0)
			continue;
		o = json_tokener_parse(text);
		if (o && json_object_object_get_ex(o, "name", &name) &&
		    json_object_is_type(name, json_type_string))
			printf("%s\n", json_object_get_string(name));
		json_object_put(o);
	}
	closedir(d);
}

/* images/<repo...>/<tag>.json as REPO:TAG, and the short name for
 * localhost/ and docker.io/library/ images, which commands accept too. */
static void complete_images_in(int dirfd, const char *repo, int depth)
{
	DIR *d = dv_opendir_fd(fcntl(dirfd, F_DUPFD_CLOEXEC, 3));
	struct dirent *e;

	if (!d || depth > 8) {
		if (d)
			closedir(d);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if (n > 5 && !strcmp(e->d_name + n - 5, ".json") && *repo) {
			const char *shortname = dv_str_startswith(repo, "localhost/") ? repo + 10
						: dv_str_startswith(repo, "docker.io/library/") ? repo + 18
						: NULL;

			printf("%s:%.*s\n", repo, (int)(n - 5), e->d_name);
			if (shortname)
				printf("%s:%.*s\n", shortname, (int)(n - 5), e->d_name);
			continue;
		}
		int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (sub >= 0) {
			dv_autofree char *r = *repo ? dv_xasprintf("%s/%s", repo, e->d_name)
						    : dv_xstrdup(e->d_name);

			complete_images_in(sub, r, depth + 1);
			close(sub);
		}
	}
	closedir(d);
}

/* devenv __complete commands|options CMD [SUB]|subcommands CMD|envs|images|volumes|templates: the words
 * the shell completions (completions/) offer, one a line. Reads the store
 * without opening it properly (no user namespace, nothing created), so a
 * TAB stays instant. */
int cmd_complete(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		 struct dv_error *err)
{
	(void)ctx;
	if (call->argc < 2)
		return dv_err_usage(err, "usage: devenv __complete commands|options CMD [SUB]|subcommands CMD|envs|images|volumes|templates");
	if (!strcmp(call->argv[1], "commands")) {
		for (size_t i = 0; i < call->table->n; i++)
			if (!(call->table->cmds[i].flags & CMD_HIDDEN))
				printf("%s\n", call->table->cmds[i].name);
	} else if (!strcmp(call->argv[1], "options")) {
		/* `options CMD [SUB]`: the command's own, then the common ones
		 * that mean something for it. */
		const struct cmd *c = call->argc > 2 ? cmd_find(call->table, call->argv[2]) : NULL;

		if (c && call->argc > 3 && (c->flags & CMD_SUBCOMMANDS) && cmd_find_sub(c, call->argv[3]))
			c = cmd_find_sub(c, call->argv[3]);
		for (const struct cmd_opt *o = c ? c->opts : NULL; o && (o->shortname || o->name); o++)
			if (o->name)
				printf("--%s\n", o->name);
		printf("--help\n--quiet\n");
		if (c && (c->flags & CMD_ENV))
			printf("--env\n");
		if (c && (c->flags & CMD_JSON))
			printf("--json\n");
	} else if (!strcmp(call->argv[1], "subcommands")) {
		const struct cmd *c = call->argc > 2 ? cmd_find(call->table, call->argv[2]) : NULL, *sub;

		for (size_t k = 0; c && (sub = cmd_sub_nth(c, k)) != NULL; k++)
			printf("%s\n", sub->name + strlen(c->name) + 1);
	} else if (!strcmp(call->argv[1], "envs")) {
		complete_envs(st->root_fd);
	} else if (!strcmp(call->argv[1], "images")) {
		dv_autoclose int fd = st->root_fd < 0 ? -1 : openat(st->root_fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0)
			complete_images_in(fd, "", 0);
	} else if (!strcmp(call->argv[1], "volumes")) {
		dv_autoclose int fd = st->root_fd < 0 ? -1 : openat(st->root_fd, "volumes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd < 0 ? NULL : dv_opendir_fd(fcntl(fd, F_DUPFD_CLOEXEC, 3));
		struct dirent *e;

		while (d && (e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN))
				printf("%s\n", e->d_name);
		if (d)
			closedir(d);
	} else if (!strcmp(call->argv[1], "templates")) {
		size_t n;
		const struct tmpl *t = tmpl_all(&n);

		for (size_t i = 0; i < n; i++)
			printf("%s\n", t[i].name);
	} else {
		return dv_err_usage(err, "__complete: unknown word list '%s'", call->argv[1]);
	}
	return 0;
}

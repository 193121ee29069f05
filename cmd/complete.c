/*
 * cmd/complete.c - __complete: the word lists the shell completions offer.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "templates/templates.h"
#include "util/cleanup.h"
#include "util/banned.h"

/* The store's listings (the names `-e`, rmi and volume rm take), one a
 * line. They read only: an env, image or volume being created or removed
 * is skipped, a damaged one too (its warning goes to stderr, which the
 * completions drop). */
static void complete_envs(const struct layer_store *st)
{
	struct env_record *all = NULL;
	struct dv_error ignored = { 0 };
	size_t n = 0;

	if (st->root_fd < 0 || env_list(st, NULL, &all, &n, &ignored) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		printf("%s\n", all[i].name);
		env_record_release(&all[i]);
	}
	free(all);
}

/* REPO:TAG, and the short name of localhost/ and docker.io/library/
 * images, which commands accept too. */
static void complete_images(const struct layer_store *st)
{
	static const char *const short_of[] = { "localhost/", "docker.io/library/" };
	struct layer_image *imgs = NULL;
	struct dv_error ignored = { 0 };
	size_t n = 0;

	if (layer_image_list(st, &imgs, &n, &ignored) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		printf("%s\n", imgs[i].name);
		for (size_t k = 0; k < sizeof(short_of) / sizeof(short_of[0]); k++)
			if (dv_str_startswith(imgs[i].name, short_of[k]))
				printf("%s\n", imgs[i].name + strlen(short_of[k]));
		layer_image_release(&imgs[i]);
	}
	free(imgs);
}

static void complete_volumes(const struct layer_store *st)
{
	struct env_vol *v = NULL;
	struct dv_error ignored = { 0 };
	size_t n = 0;

	if (st->root_fd < 0 || env_vol_list(st, false, &v, &n, &ignored) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		printf("%s\n", v[i].name);
	env_vols_free(v, n);
}

/* devenv __complete commands|options CMD [SUB]|subcommands CMD|envs|images|volumes|templates: the words
 * the shell completions (completions/) offer, one a line. Reads the store
 * through its own listings without opening it properly (no user namespace,
 * nothing created), so a TAB stays instant. */
int cmd_complete(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
		 struct dv_error *err)
{
	(void)ctx;
	if (call->argc < 2)
		return dv_err_usage(
			err,
			"usage: devenv __complete commands|options CMD [SUB]|subcommands CMD|envs|images|volumes|templates");
	if (!strcmp(call->argv[1], "commands")) {
		for (size_t i = 0; i < call->table->n; i++)
			if (!(call->table->cmds[i].flags & CMD_HIDDEN))
				printf("%s\n", call->table->cmds[i].name);
	} else if (!strcmp(call->argv[1], "options")) {
		/* `options CMD [SUB]`: the command's own, then the common ones
		 * that mean something for it. */
		const struct cmd *c = call->argc > 2 ? cmd_find(call->table, call->argv[2]) : NULL;

		if (c && call->argc > 3 && (c->flags & CMD_SUBCOMMANDS) &&
		    cmd_find_sub(c, call->argv[3]))
			c = cmd_find_sub(c, call->argv[3]);
		for (const struct cmd_opt *o = c ? c->opts : NULL; o && (o->shortname || o->name);
		     o++)
			if (o->name)
				printf("--%s\n", o->name);
		printf("--help\n--quiet\n");
		if (c && (c->flags & CMD_ENV))
			printf("--env\n");
		if (c && (c->flags & CMD_JSON))
			printf("--json\n");
		if (c && (c->flags & CMD_REMOTE))
			printf("--host\n");
	} else if (!strcmp(call->argv[1], "subcommands")) {
		const struct cmd *c = call->argc > 2 ? cmd_find(call->table, call->argv[2]) : NULL,
				 *sub;

		for (size_t k = 0; c && (sub = cmd_sub_nth(c, k)) != NULL; k++)
			printf("%s\n", sub->name + strlen(c->name) + 1);
	} else if (!strcmp(call->argv[1], "envs")) {
		complete_envs(st);
	} else if (!strcmp(call->argv[1], "images")) {
		complete_images(st);
	} else if (!strcmp(call->argv[1], "volumes")) {
		complete_volumes(st);
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

/*
 * cmd/df.c - df: disk use, in docker system df's shape.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "util/banned.h"

static int verbose_opt(int c, const char *arg, void *data, struct dv_error *err)
{
	(void)arg;
	(void)err;
	if (c != 'v')
		return -1;
	*(bool *)data = true;
	return 0;
}

/* `df`: docker system df's shape, from provision/df.c. */
int cmd_df(struct dv_ctx *ctx, struct layer_store *st, const struct cmd_call *call,
	   struct dv_error *err)
{
	bool verbose = false, helped;
	struct opt_spec os = { NULL, NULL, verbose_opt, &verbose };
	int oi = cmd_parse_opts(ctx, call, &os, &helped, err);
	struct env_df df;

	if (oi < 0)
		return helped ? 0 : -1;
	if (cmd_no_args(call, oi, err) < 0 || env_df(st, &df, err) < 0)
		return -1;
	if (ctx->json) {
		struct json_object *o = json_object_new_object();

		for (size_t r = 0; r < ENV_DF_N; r++) {
			const struct env_df_row *row = &df.rows[r];
			struct json_object *x = json_object_new_object(),
					   *items = json_object_new_array();
			char key[16];

			for (size_t i = 0; i < row->n; i++) {
				const struct env_df_item *it = &row->items[i];
				struct json_object *y = json_object_new_object();

				json_object_object_add(y, "name", json_object_new_string(it->name));
				if (it->id)
					json_object_object_add(y, "id",
							       json_object_new_string(it->id));
				if (it->state)
					json_object_object_add(y, "state",
							       json_object_new_string(it->state));
				json_object_object_add(y, "size",
						       json_object_new_int64((int64_t)it->size));
				json_object_object_add(y, "active",
						       json_object_new_boolean(it->active));
				json_object_object_add(y, "estimate",
						       json_object_new_boolean(it->estimate));
				if (r == ENV_DF_CACHES)
					json_object_object_add(y, "env",
							       it->env ? json_object_new_string(
										 it->env)
								       : NULL);
				json_object_array_add(items, y);
			}
			json_object_object_add(x, "total", json_object_new_int((int)row->total));
			json_object_object_add(x, "active", json_object_new_int((int)row->active));
			json_object_object_add(x, "size", json_object_new_int64((int64_t)row->size));
			json_object_object_add(x, "reclaimable",
					       json_object_new_int64((int64_t)row->reclaimable));
			json_object_object_add(x, "estimate",
					       json_object_new_boolean(row->estimate));
			json_object_object_add(x, "items", items);
			snprintf(key, sizeof(key), "%s", row->type);
			key[0] = (char)(key[0] - 'A' + 'a');
			json_object_object_add(o, key, x);
		}
		prov_json_print(stdout, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		json_object_put(o);
		env_df_release(&df);
		return 0;
	}
	printf("%-8s  %5s  %6s  %-11s  %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
	for (size_t r = 0; r < ENV_DF_N; r++) {
		const struct env_df_row *row = &df.rows[r];
		char size[40], rec[40];

		cmd_size(size, sizeof(size), row->size, row->estimate);
		dv_str_size(rec, sizeof(rec), row->reclaimable);
		printf("%-8s  %5u  %6u  %-11s  %s (%llu%%)\n", row->type, row->total, row->active,
		       size, rec, row->size ? row->reclaimable * 100 / row->size : 0ULL);
	}
	for (size_t r = 0; verbose && r < ENV_DF_N; r++) {
		const struct env_df_row *row = &df.rows[r];

		printf("\n%s:\n", row->type);
		for (size_t i = 0; i < row->n; i++) {
			const struct env_df_item *it = &row->items[i];
			char size[40];

			cmd_size(size, sizeof(size), it->size, it->estimate);
			if (r == ENV_DF_IMAGES)
				printf("  %-40s  %-19.19s  %-11s  %s\n", it->name, it->id, size,
				       it->active ? "used by an env" : "unused");
			else if (r == ENV_DF_LAYERS)
				printf("  %.12s  %-11s  %s\n", it->name, size,
				       it->active ? "in use" : "unused (gc)");
			else if (r == ENV_DF_CACHES)
				printf("  %-12s  %-16s  %-30s  %s\n", it->id,
				       it->env ? it->env : "-", it->name, size);
			else if (r == ENV_DF_INPUTS)
				printf("  %-73s  %s\n", it->name, size);
			else if (r == ENV_DF_ENVS)
				printf("  %-12s  %-16s  %-8s  %s\n", it->id, it->name, it->state,
				       size);
			else
				printf("  %-40s  %-11s  %s\n", it->name, size, it->state);
		}
	}
	if (df.rows[ENV_DF_ENVS].estimate)
		printf("~: a running env's size as of its last halt or commit\n");
	env_df_release(&df);
	return 0;
}

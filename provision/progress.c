/*
 * provision/progress.c - what a person (or a script) sees of provisioning.
 *
 * One line per step: "[3/7] run: … (cached)", "(pulled)" from the team
 * cache, or the label before the step's output and "ran in 12.3 s" (or
 * "failed after …") after it. Colour only on a terminal, without NO_COLOR,
 * and with a TERM that is not "dumb". With -q no lines at all, and a step's
 * output is held in a memfd and shown (on stderr) only when the step
 * fails. With --json, ctx->events gets one JSON object per step instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "provision.h"
#include "util/fs.h"
#include "util/banned.h"

#define DIM "\033[2m"
#define GREEN "\033[32m"
#define RED "\033[31m"
#define RESET "\033[0m"

void prov_progress_init(struct prov_progress *p, const struct dv_ctx *ctx, size_t of)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	*p = (struct prov_progress){ .ctx = ctx,
				     .of = of,
				     .saved_out = -1,
				     .saved_err = -1,
				     .capture = -1 };
	p->color = ctx->tty_out && !ctx->quiet && !ctx->events && !(no_color && *no_color) &&
		   term && *term && strcmp(term, "dumb") != 0;
}

/* Seconds with two decimals: json-c would print a double's every digit. */
struct json_object *prov_json_seconds(double secs)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.2f", secs);
	return json_object_new_double_s(secs, buf);
}

void prov_json_print(FILE *f, struct json_object *o, int flags)
{
	struct dv_buf safe = { 0 };

	dv_buf_add_safe_json(&safe, json_object_to_json_string_ext(o, flags));
	fprintf(f, "%s\n", safe.s);
	dv_buf_release(&safe);
}

static void event(const struct prov_progress *p, size_t i, const char *label, const char *result,
		  double secs)
{
	struct json_object *o = json_object_new_object();
	const struct dv_strv *ex = p->ctx->explain;
	size_t kl = strcspn(label, ":");

	json_object_object_add(o, "step", json_object_new_uint64(i + 1));
	json_object_object_add(o, "of", json_object_new_uint64(p->of));
	json_object_object_add(o, "kind", json_object_new_string_len(label, (int)kl));
	json_object_object_add(o, "label",
			       json_object_new_string(label[kl] ? label + kl + 2 : label));
	json_object_object_add(o, "result", json_object_new_string(result));
	json_object_object_add(o, "seconds", prov_json_seconds(secs));
	/* --explain: why a step that ran (or failed) ran, as `why` says it. */
	if (ex && i < ex->n && ex->v[i][0])
		json_object_object_add(o, "why", json_object_new_string(ex->v[i]));
	prov_json_print(p->ctx->events, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	fflush(p->ctx->events);
	json_object_put(o);
}

void prov_progress_start(struct prov_progress *p, size_t i, const char *label)
{
	if (!p->ctx->quiet && !p->ctx->events) {
		printf("[%zu/%zu] %s\n", i + 1, p->of, label);
		fflush(stdout);
		return;
	}
	if (!p->ctx->quiet)
		return;
	/* -q: the step's output goes to a memfd, shown only if it fails. When
	 * that cannot be set up, the output is simply shown. */
	fflush(stdout);
	fflush(stderr);
	p->capture = memfd_create("devenv-step-output", MFD_CLOEXEC);
	if (p->capture < 0)
		return;
	p->saved_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	p->saved_err = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (p->saved_out < 0 || p->saved_err < 0 || dup2(p->capture, 1) < 0 ||
	    dup2(p->capture, 2) < 0) {
		if (p->saved_out >= 0)
			dup2(p->saved_out, 1);
		if (p->saved_err >= 0)
			dup2(p->saved_err, 2);
		prov_progress_release(p);
	}
}

void prov_progress_end(struct prov_progress *p, size_t i, const char *label, enum prov_result r,
		       double secs)
{
	static const char *const names[] = { "cached", "pulled", "ran", "failed" };

	if (p->capture >= 0) {
		fflush(stdout);
		fflush(stderr);
		dup2(p->saved_out, 1);
		dup2(p->saved_err, 2);
		if (r == PROV_FAILED) {
			char buf[8192];
			ssize_t n;
			struct dv_error ignored = { 0 };

			lseek(p->capture, 0, SEEK_SET);
			while ((n = read(p->capture, buf, sizeof(buf))) > 0)
				if (dv_write_full(2, buf, (size_t)n, &ignored) < 0)
					break;
		}
		prov_progress_release(p);
	}
	if (p->ctx->events) {
		event(p, i, label, names[r], secs);
		return;
	}
	if (p->ctx->quiet)
		return;
	switch (r) {
	case PROV_CACHED:
	case PROV_PULLED:
		printf("%s[%zu/%zu] %s (%s)%s\n", p->color ? (r == PROV_CACHED ? DIM : GREEN) : "",
		       i + 1, p->of, label, names[r], p->color ? RESET : "");
		break;
	case PROV_RAN:
		printf("      %sran in %.1f s%s\n", p->color ? GREEN : "", secs,
		       p->color ? RESET : "");
		break;
	case PROV_FAILED:
		printf("      %sfailed after %.1f s%s\n", p->color ? RED : "", secs,
		       p->color ? RESET : "");
		break;
	}
	fflush(stdout);
}

void prov_progress_release(struct prov_progress *p)
{
	if (p->capture >= 0)
		close(p->capture);
	if (p->saved_out >= 0)
		close(p->saved_out);
	if (p->saved_err >= 0)
		close(p->saved_err);
	p->capture = p->saved_out = p->saved_err = -1;
}

void prov_progress_on_up(const struct dv_ctx *ctx, size_t i, size_t of, const char *run, bool ok,
			 double secs)
{
	struct json_object *o;

	if (!ctx->events)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "on_up", json_object_new_uint64(i + 1));
	json_object_object_add(o, "of", json_object_new_uint64(of));
	json_object_object_add(o, "label", json_object_new_string_len(run, (int)strcspn(run, "\n")));
	json_object_object_add(o, "result", json_object_new_string(ok ? "ran" : "failed"));
	json_object_object_add(o, "seconds", prov_json_seconds(secs));
	prov_json_print(ctx->events, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	fflush(ctx->events);
	json_object_put(o);
}

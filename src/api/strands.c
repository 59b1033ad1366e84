/*
 * /v1/strands: the prog engine's durable state machines, for watching
 * progress and failures, and the strand's JSON that a host's view embeds.
 */
#include "api/internal.h"

#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"

json_t *api_strand_json(const struct loam_strand_view *s)
{
	cleanup_err loam_err err = NULL;
	json_t *exitval =
	    s->exitval ? loam_json_parse(s->exitval, strlen(s->exitval), "exitval", &err) : NULL;
	return json_pack(
	    "{s:s?, s:s?, s:s?, s:b, s:I, s:s?, s:b, s:I, s:s?, s:o, s:s?, s:o, s:I, "
	    "s:I}",
	    "id", s->id, "prog", s->prog, "label", s->label, "done", s->done, "tries",
	    (json_int_t)s->tries, "last_error", s->last_error, "stuck", s->stuck, "schedule",
	    (json_int_t)s->schedule, "lease_owner", s->lease_owner, "lease_expires_at",
	    s->has_lease_expiry ? json_integer(s->lease_expires_at) : json_null(), "parent_id",
	    s->parent_id, "exitval", exitval ? exitval : json_null(), "created_at",
	    (json_int_t)s->created_at, "updated_at", (json_int_t)s->updated_at);
}

int api_strands_list(struct api_req *r, loam_err *err)
{
	cleanup_strand_views struct loam_strand_views l = {0};
	if (loam_strand_view_list(r->db, &r->q.page, &l, err) < 0)
		return -1;
	json_t *list = json_array();
	size_t shown = api_page_shown(r, l.n);
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(list, api_strand_json(&l.v[i]));
	if (l.n > shown)
		api_page_link(r, l.v[shown - 1].id);
	r->out = list;
	return 0;
}

int api_strands_show(struct api_req *r, loam_err *err)
{
	const char *id = r->seg[1];
	if (strlen(id) != 26 || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789") != 26)
		return loam_fail(err, LOAM_E_INVALID,
				 "a strand id is 26 lower-case letters and digits");
	struct loam_strand_view s = {0};
	int found = loam_strand_view_get(r->db, id, &s, err);
	if (found < 0)
		return -1;
	if (found == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no strand %s; see: GET /v1/strands", id);
	r->out = api_strand_json(&s);
	loam_strand_view_free(&s);
	return 0;
}

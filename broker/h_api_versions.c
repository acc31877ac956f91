/* h_api_versions.c: ApiVersions: the APIs and versions this node serves. */
#include "broker/conn.h"
#include "broker/handlers.h"
#include "wire/codec.h"

void handle_api_versions(struct req *r)
{
	size_t count = 0;
	const struct wire_api_range *table = wire_api_table(&count);
	Runnel__ApiVersionsResponse *body = req_alloc(r, sizeof(*body));
	runnel__api_versions_response__init(body);
	body->n_apis = count;
	body->apis = req_alloc(r, count * sizeof(*body->apis));
	for (size_t i = 0; i < count; i++) {
		Runnel__ApiVersionRange *a = req_alloc(r, sizeof(*a));
		runnel__api_version_range__init(a);
		a->api_key = table[i].api_key;
		a->min_version = table[i].min_version;
		a->max_version = table[i].max_version;
		body->apis[i] = a;
	}
	body->software_version = req_strdup(r, "runneld " RUNNEL_VERSION);
	Runnel__Response resp = RUNNEL__RESPONSE__INIT;
	resp.body_case = RUNNEL__RESPONSE__BODY_API_VERSIONS;
	resp.api_versions = body;
	req_respond(r, &resp);
}

/* health.c: the health of the cluster as the metadata image describes it. */
#include "controller/health.h"

#include <string.h>

bool controller_partition_offline(const struct meta_image *img, const struct meta_partition *p)
{
	if (p->leader == META_NO_LEADER)
		return true;
	const struct meta_broker *b = meta_image_broker(img, p->leader);
	return !b || b->fenced;
}

void controller_health(const struct meta_image *img, struct controller_health *out)
{
	memset(out, 0, sizeof(*out));
	out->broker_count = meta_image_broker_count(img);
	for (uint32_t i = 0; i < out->broker_count; i++)
		if (meta_image_broker_at(img, i)->fenced)
			out->fenced_brokers++;
	out->topic_count = meta_image_topic_count(img);
	for (uint32_t i = 0; i < out->topic_count; i++) {
		const struct meta_topic *t = meta_image_topic_at(img, i);
		for (uint32_t p = 0; p < t->partition_count; p++) {
			const struct meta_partition *part = &t->partitions[p];
			out->partition_count++;
			if (controller_partition_offline(img, part))
				out->offline_partitions++;
			if (part->isr_count < part->replica_count)
				out->under_replicated_partitions++;
		}
	}
	out->healthy = out->fenced_brokers == 0 && out->offline_partitions == 0;
}

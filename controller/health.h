/* health.h: the health of the cluster as the metadata image describes it (brokers fenced, partitions offline or under-replicated). */
#ifndef RUNNEL_CONTROLLER_HEALTH_H
#define RUNNEL_CONTROLLER_HEALTH_H

/*
 * Pure: computed from an image, for `runnel cluster status` and the node's
 * own status reporting.  Whether a quorum leader exists is Raft's business
 * and is not part of this summary: the cluster is healthy when a leader
 * exists and `healthy` below is true.
 */

#include <stdbool.h>
#include <stdint.h>

#include "controller/metadata.h"

struct controller_health {
	uint32_t broker_count;
	uint32_t fenced_brokers;
	uint32_t topic_count;
	uint32_t partition_count;
	/* Partitions without a leader (-1), or whose leader is fenced or not
	 * registered: nobody can produce to or fetch from them. */
	uint32_t offline_partitions;
	/* Partitions whose ISR is smaller than their replica set. */
	uint32_t under_replicated_partitions;
	/* No broker fenced and no partition offline. */
	bool healthy;
};

/* Fills *out from img.  Never fails. */
void controller_health(const struct meta_image *img, struct controller_health *out);

/* True when partition p of the image is offline (see above). */
bool controller_partition_offline(const struct meta_image *img, const struct meta_partition *p);

#endif

/* listener.h: which address of a node a client is given, by the listener its connection arrived on. */
#ifndef RUNNEL_BROKER_LISTENER_H
#define RUNNEL_BROKER_LISTENER_H

/*
 * A node may bind several named listeners (config.h): for example INTERNAL
 * on the container network for the other nodes and EXTERNAL on a published
 * port for clients outside.  Every broker announces each listener's
 * advertised address when it registers, the inter-node one first (that one
 * is the broker's host:port in the metadata image, used by followers and
 * controllers).  A request is answered with addresses of the listener it
 * arrived on (struct req's listener, which for a forwarded request is the
 * listener of the client's own connection), so a client outside never
 * learns an address it cannot reach.
 */

#include <stdbool.h>
#include <stdint.h>

struct node;
struct meta_broker;

/*
 * The address of broker b for a client of listener `listener`: b's endpoint
 * of that name, or, when b announced none by that name, its inter-node
 * address (b->host, b->port), so that the broker is still listed.  *host
 * points into b.  Returns true when b has an endpoint of that name.
 */
bool listener_broker_address(const struct meta_broker *b, const char *listener, const char **host,
			     int32_t *port);

/* True when listener is this node's inter-node listener. */
bool listener_is_inter_node(const struct node *n, const char *listener);

/*
 * Where a client of `listener` reaches node_id as a controller: its voter
 * address when listener is the inter-node listener (the voters list names
 * the controllers' inter-node addresses), else its endpoint of that name
 * when node_id is a registered broker that has one.  *host points into the
 * configuration or the image (valid until the next apply).  Returns false
 * when such a client has no address for node_id: it then reaches the
 * controller through a broker that forwards.
 */
bool listener_controller_address(struct node *n, int32_t node_id, const char *listener,
				 const char **host, int32_t *port);

/*
 * Writes into why (CTRL_WHY_LEN bytes) the sentence a client of `listener`
 * gets with NOT_CONTROLLER: as ctrl_not_controller_why, but naming the
 * active controller's address only when listener_controller_address knows
 * one for that listener.
 */
void listener_not_controller_why(struct node *n, const char *listener, char *why);

#endif

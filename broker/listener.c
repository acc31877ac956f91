/* listener.c: addresses by listener name, for answers that name nodes. */
#include "broker/listener.h"

#include "broker/ctrl.h"
#include "broker/node.h"
#include "controller/metadata.h"

#include <stdio.h>
#include <string.h>

/* Every listener is announced at registration, within the image's bounds. */
_Static_assert(CONFIG_MAX_LISTENERS <= META_MAX_ENDPOINTS, "listeners exceed endpoints");
_Static_assert(CONFIG_MAX_LISTENER_NAME_LEN <= META_MAX_LISTENER_NAME_LEN,
	       "listener names exceed the image's");

bool listener_broker_address(const struct meta_broker *b, const char *listener, const char **host,
			     int32_t *port)
{
	for (uint32_t i = 0; i < b->endpoint_count; i++) {
		if (strcmp(b->endpoints[i].name, listener) == 0) {
			*host = b->endpoints[i].host;
			*port = b->endpoints[i].port;
			return true;
		}
	}
	*host = b->host;
	*port = b->port;
	return false;
}

bool listener_is_inter_node(const struct node *n, const char *listener)
{
	return strcmp(n->cfg.listeners[n->cfg.inter_node].name, listener) == 0;
}

bool listener_controller_address(struct node *n, int32_t node_id, const char *listener,
				 const char **host, int32_t *port)
{
	if (listener_is_inter_node(n, listener)) {
		const struct config_addr *a = ctrl_voter_addr(n->ctrl, node_id);
		if (a) {
			*host = a->host;
			*port = a->port;
			return true;
		}
	}
	const struct meta_broker *b = meta_image_broker(ctrl_image(n->ctrl), node_id);
	return b && listener_broker_address(b, listener, host, port);
}

void listener_not_controller_why(struct node *n, const char *listener, char *why)
{
	int32_t self = n->cfg.node_id;
	int32_t leader = ctrl_leader_id(n->ctrl);
	const char *host = NULL;
	int32_t port = 0;
	if (leader < 0 || leader == self) {
		ctrl_not_controller_why(n->ctrl, why);
		return;
	}
	if (listener_controller_address(n, leader, listener, &host, &port))
		snprintf(why, CTRL_WHY_LEN, "node %d is not the active controller; the active "
					    "controller is node %d at %s:%d",
			 self, leader, host, port);
	else
		snprintf(why, CTRL_WHY_LEN, "node %d is not the active controller; the active "
					    "controller is node %d, reached through a broker",
			 self, leader);
}

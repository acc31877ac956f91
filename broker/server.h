/* server.h: the listening socket: accepts connections up to RN_MAX_CONNECTIONS. */
#ifndef RUNNEL_BROKER_SERVER_H
#define RUNNEL_BROKER_SERVER_H

struct node;

/*
 * Binds n->cfg.listen (so a taken port fails start-up at once) without
 * accepting yet.  Returns 0, RN_E_INVALID_CONFIG (the address does not
 * resolve) or RN_E_IO (bind or listen failed; logged).
 */
int server_start(struct node *n);

/* Starts accepting (once the node has caught up with the metadata log). */
void server_enable(struct node *n);

/* Stops accepting and closes the listening socket.  NULL-safe. */
void server_free(struct node *n);

#endif

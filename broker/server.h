/* server.h: the listening sockets, one per listener: accepts connections up to RN_MAX_CONNECTIONS. */
#ifndef RUNNEL_BROKER_SERVER_H
#define RUNNEL_BROKER_SERVER_H

struct node;

/*
 * Binds every listener of n->cfg (so a taken port fails start-up at once)
 * without accepting yet.  Each connection accepted later knows the name of
 * the listener it arrived on.  RN_MAX_CONNECTIONS bounds the connections of
 * all listeners together.  Returns 0, RN_E_INVALID_CONFIG (an address does
 * not resolve), RN_E_IO (bind or listen failed; logged) or RN_E_NOMEM.
 */
int server_start(struct node *n);

/* Starts accepting (once the node has caught up with the metadata log). */
void server_enable(struct node *n);

/* Stops accepting and closes the listening socket.  NULL-safe. */
void server_free(struct node *n);

#endif

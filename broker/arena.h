/* arena.h: a bump allocator that lives as long as one request. */
#ifndef RUNNEL_BROKER_ARENA_H
#define RUNNEL_BROKER_ARENA_H

/*
 * Responses are trees of small protobuf-c structs.  Allocating them from an
 * arena freed with the request replaces hundreds of malloc/free pairs and
 * makes every error path free everything with one call.
 */

#include <stddef.h>

/* Bytes of the first chunk; later chunks double up to ARENA_MAX_CHUNK_BYTES. */
#define ARENA_FIRST_CHUNK_BYTES 4096u
#define ARENA_MAX_CHUNK_BYTES (1024u * 1024u)

struct arena_chunk;

struct arena {
	struct arena_chunk *chunks;
	size_t next_chunk_bytes;
};

void arena_init(struct arena *a);

/* Returns n zeroed bytes aligned for any type, or NULL when out of memory.
 * The memory lives until arena_free. */
void *arena_alloc(struct arena *a, size_t n);

/* Copies s into the arena; NULL when out of memory. */
char *arena_strdup(struct arena *a, const char *s);

/* Frees every allocation at once; the arena may be used again after. */
void arena_free(struct arena *a);

#endif

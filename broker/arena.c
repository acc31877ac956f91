/* arena.c: chunked bump allocation. */
#include "broker/arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap;
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a)
{
	a->chunks = NULL;
	a->next_chunk_bytes = ARENA_FIRST_CHUNK_BYTES;
}

void *arena_alloc(struct arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	n = (n + align - 1) & ~(align - 1);
	struct arena_chunk *c = a->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = a->next_chunk_bytes;
		if (cap < n)
			cap = n;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->chunks;
		a->chunks = c;
		if (a->next_chunk_bytes < ARENA_MAX_CHUNK_BYTES)
			a->next_chunk_bytes *= 2;
	}
	void *p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void arena_free(struct arena *a)
{
	struct arena_chunk *c = a->chunks;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	arena_init(a);
}

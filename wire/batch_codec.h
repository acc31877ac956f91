/* batch_codec.h: the compression codecs of record batches: lz4 and zstd frames, by Kafka's codec numbers. */
#ifndef RUNNEL_WIRE_BATCH_CODEC_H
#define RUNNEL_WIRE_BATCH_CODEC_H

/*
 * A compressed batch carries its records as one frame of its codec (see
 * docs/record-batch.md): an lz4 frame (the LZ4 Frame Format, not a raw lz4
 * block) or a zstd frame.  This module compresses and decompresses such
 * frames between caller-owned buffers; it never sizes or allocates an
 * output buffer itself, so a frame that would expand past the buffer a
 * caller offers is refused rather than followed.  The codec contexts are
 * made on first use and kept in a struct batch_codec, so that compressing
 * or decompressing batch after batch allocates nothing.  Not thread-safe:
 * one struct batch_codec per thread.
 */

#include <stddef.h>
#include <stdint.h>

/* Codec numbers, as bits 0-2 of a batch's attributes carry them (Kafka's
 * numbering).  This build reads and writes none, lz4 and zstd. */
#define BATCH_COMPRESSION_NONE 0
#define BATCH_COMPRESSION_GZIP 1
#define BATCH_COMPRESSION_SNAPPY 2
#define BATCH_COMPRESSION_LZ4 3
#define BATCH_COMPRESSION_ZSTD 4

/* A compression level meaning "the codec's own default" (lz4's fast mode,
 * zstd level 3). */
#define BATCH_CODEC_LEVEL_DEFAULT (-1)
/* The highest levels accepted: lz4 levels 1-2 are its fast mode and 3-12
 * its high-compression mode; zstd goes to 22. */
#define BATCH_CODEC_LZ4_MAX_LEVEL 12
#define BATCH_CODEC_ZSTD_MAX_LEVEL 22

struct batch_codec {
	void *lz4_cctx;
	void *lz4_dctx;
	void *zstd_cctx;
	void *zstd_dctx;
	int zstd_level; /* the level zstd_cctx is set to; 0 before it is set */
};

/* Starts with no contexts. */
void batch_codec_init(struct batch_codec *c);

/* Frees the contexts; c may then be initialised again. */
void batch_codec_destroy(struct batch_codec *c);

/* "none", "gzip", "snappy", "lz4", "zstd", or "unknown" for other numbers. */
const char *batch_codec_name(int codec);

/* The codec named name (one of "none", "lz4", "zstd"; gzip and snappy are
 * known but not supported).  Returns 0 with *codec set, or RN_E_INVAL. */
int batch_codec_parse(const char *name, int *codec);

/* True when this build reads and writes codec (none, lz4, zstd). */
int batch_codec_supported(int codec);

/* True when level is BATCH_CODEC_LEVEL_DEFAULT or within codec's range
 * (lz4 0..12, zstd 1..22; none takes only the default). */
int batch_codec_level_valid(int codec, int level);

/* The most bytes one frame of src_len input bytes can take (codec lz4 or
 * zstd; 0 for any other). */
size_t batch_codec_bound(int codec, size_t src_len);

/*
 * Compresses src[0..src_len) into one frame of codec (lz4 or zstd) at level
 * (BATCH_CODEC_LEVEL_DEFAULT or batch_codec_level_valid), written to
 * dst[0..cap), which must hold batch_codec_bound(codec, src_len) bytes.
 * The frame records src_len as its content size.  Returns 0 with *out_len
 * set, RN_E_INVAL (bad codec or level, cap too small) or RN_E_NOMEM.
 */
int batch_codec_compress(struct batch_codec *c, int codec, int level, const uint8_t *src,
			 size_t src_len, uint8_t *dst, size_t cap, size_t *out_len);

/*
 * Decompresses src[0..src_len), which must be exactly one frame of codec,
 * into dst[0..cap).  Returns 0 with *out_len set, or:
 *   RN_E_FULL                the content does not fit in cap bytes (a larger
 *                            buffer may be offered; nothing else is wrong yet)
 *   RN_E_CORRUPT_MESSAGE     not one well-formed frame (bad header or data,
 *                            truncated, trailing bytes, a failed checksum)
 *   RN_E_UNSUPPORTED_COMPRESSION_TYPE  a codec this build does not read
 *   RN_E_NOMEM
 */
int batch_codec_decompress(struct batch_codec *c, int codec, const uint8_t *src, size_t src_len,
			   uint8_t *dst, size_t cap, size_t *out_len);

/* The content size the frame header at src declares, or 0 when it declares
 * none or cannot be read.  Only a hint for sizing a buffer: the frame may
 * lie, and batch_codec_decompress never trusts it. */
size_t batch_codec_content_size(int codec, const uint8_t *src, size_t src_len);

#endif

/* batch_codec.c: lz4 and zstd frames for compressed record batches, between caller-owned buffers. */
#include "wire/batch_codec.h"

#include <lz4frame.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/errors.h"

/* The lz4 frame header: a little-endian magic number, then the FLG byte
 * whose bit 3 says an 8-byte little-endian content size follows the BD
 * byte. */
#define LZ4_FRAME_MAGIC 0x184D2204u
#define LZ4_FLG_CONTENT_SIZE 0x08u
#define LZ4_CONTENT_SIZE_OFFSET 6u

void batch_codec_init(struct batch_codec *c)
{
	memset(c, 0, sizeof(*c));
}

void batch_codec_destroy(struct batch_codec *c)
{
	if (c->lz4_cctx)
		LZ4F_freeCompressionContext(c->lz4_cctx);
	if (c->lz4_dctx)
		LZ4F_freeDecompressionContext(c->lz4_dctx);
	ZSTD_freeCCtx(c->zstd_cctx);
	ZSTD_freeDCtx(c->zstd_dctx);
	memset(c, 0, sizeof(*c));
}

const char *batch_codec_name(int codec)
{
	switch (codec) {
	case BATCH_COMPRESSION_NONE:
		return "none";
	case BATCH_COMPRESSION_GZIP:
		return "gzip";
	case BATCH_COMPRESSION_SNAPPY:
		return "snappy";
	case BATCH_COMPRESSION_LZ4:
		return "lz4";
	case BATCH_COMPRESSION_ZSTD:
		return "zstd";
	default:
		return "unknown";
	}
}

int batch_codec_parse(const char *name, int *codec)
{
	static const int supported[] = {BATCH_COMPRESSION_NONE, BATCH_COMPRESSION_LZ4,
					BATCH_COMPRESSION_ZSTD};
	for (size_t i = 0; name && i < sizeof(supported) / sizeof(supported[0]); i++) {
		if (strcmp(name, batch_codec_name(supported[i])) == 0) {
			*codec = supported[i];
			return 0;
		}
	}
	return RN_E_INVAL;
}

int batch_codec_supported(int codec)
{
	return codec == BATCH_COMPRESSION_NONE || codec == BATCH_COMPRESSION_LZ4 ||
	       codec == BATCH_COMPRESSION_ZSTD;
}

int batch_codec_level_valid(int codec, int level)
{
	if (level == BATCH_CODEC_LEVEL_DEFAULT)
		return batch_codec_supported(codec);
	if (codec == BATCH_COMPRESSION_LZ4)
		return level >= 0 && level <= BATCH_CODEC_LZ4_MAX_LEVEL;
	if (codec == BATCH_COMPRESSION_ZSTD)
		return level >= 1 && level <= BATCH_CODEC_ZSTD_MAX_LEVEL;
	return 0;
}

/* The frame settings: the content size recorded (a sizing hint for readers),
 * no content checksum (the batch's CRC32C already covers the frame), and
 * independent blocks, so that the context needs no history buffer. */
static void lz4_prefs(LZ4F_preferences_t *prefs, int level, size_t src_len)
{
	memset(prefs, 0, sizeof(*prefs));
	prefs->frameInfo.blockSizeID = LZ4F_max64KB;
	prefs->frameInfo.blockMode = LZ4F_blockIndependent;
	prefs->frameInfo.contentSize = src_len;
	prefs->compressionLevel = level == BATCH_CODEC_LEVEL_DEFAULT ? 0 : level;
	prefs->autoFlush = 1;
}

size_t batch_codec_bound(int codec, size_t src_len)
{
	if (codec == BATCH_COMPRESSION_LZ4) {
		LZ4F_preferences_t prefs;
		lz4_prefs(&prefs, BATCH_CODEC_LEVEL_DEFAULT, src_len);
		return LZ4F_compressFrameBound(src_len, &prefs);
	}
	if (codec == BATCH_COMPRESSION_ZSTD)
		return ZSTD_compressBound(src_len);
	return 0;
}

static int lz4_compress(struct batch_codec *c, int level, const uint8_t *src, size_t src_len,
			uint8_t *dst, size_t cap, size_t *out_len)
{
	if (!c->lz4_cctx && LZ4F_isError(LZ4F_createCompressionContext(
				    (LZ4F_cctx **)&c->lz4_cctx, LZ4F_VERSION)))
		return RN_E_NOMEM;
	LZ4F_preferences_t prefs;
	lz4_prefs(&prefs, level, src_len);
	size_t n = LZ4F_compressBegin(c->lz4_cctx, dst, cap, &prefs);
	if (LZ4F_isError(n))
		return RN_E_INVAL;
	size_t k = LZ4F_compressUpdate(c->lz4_cctx, dst + n, cap - n, src, src_len, NULL);
	if (LZ4F_isError(k))
		return RN_E_INVAL;
	n += k;
	k = LZ4F_compressEnd(c->lz4_cctx, dst + n, cap - n, NULL);
	if (LZ4F_isError(k))
		return RN_E_INVAL;
	*out_len = n + k;
	return 0;
}

static int zstd_compress(struct batch_codec *c, int level, const uint8_t *src, size_t src_len,
			 uint8_t *dst, size_t cap, size_t *out_len)
{
	int want = level == BATCH_CODEC_LEVEL_DEFAULT ? ZSTD_CLEVEL_DEFAULT : level;
	if (!c->zstd_cctx && !(c->zstd_cctx = ZSTD_createCCtx()))
		return RN_E_NOMEM;
	if (c->zstd_level != want) {
		if (ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd_cctx, ZSTD_c_compressionLevel, want)))
			return RN_E_INVAL;
		c->zstd_level = want;
	}
	size_t n = ZSTD_compress2(c->zstd_cctx, dst, cap, src, src_len);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? RN_E_NOMEM : RN_E_INVAL;
	*out_len = n;
	return 0;
}

int batch_codec_compress(struct batch_codec *c, int codec, int level, const uint8_t *src,
			 size_t src_len, uint8_t *dst, size_t cap, size_t *out_len)
{
	if (codec != BATCH_COMPRESSION_LZ4 && codec != BATCH_COMPRESSION_ZSTD)
		return RN_E_INVAL;
	if (!batch_codec_level_valid(codec, level) || cap < batch_codec_bound(codec, src_len))
		return RN_E_INVAL;
	if (codec == BATCH_COMPRESSION_LZ4)
		return lz4_compress(c, level, src, src_len, dst, cap, out_len);
	return zstd_compress(c, level, src, src_len, dst, cap, out_len);
}

/*
 * Runs the lz4 frame decoder until the frame ends, the input runs out, or the
 * output is full.  With the output full and the frame not finished the
 * answer is RN_E_FULL even if the input is also cut short: only a larger
 * buffer tells the two apart, and the caller offers one up to its limit.
 */
static int lz4_decompress(struct batch_codec *c, const uint8_t *src, size_t src_len, uint8_t *dst,
			  size_t cap, size_t *out_len)
{
	if (!c->lz4_dctx && LZ4F_isError(LZ4F_createDecompressionContext(
				    (LZ4F_dctx **)&c->lz4_dctx, LZ4F_VERSION)))
		return RN_E_NOMEM;
	LZ4F_dctx *d = c->lz4_dctx;
	size_t in = 0, out = 0;
	int rc;
	for (;;) {
		size_t in_size = src_len - in, out_size = cap - out;
		size_t hint = LZ4F_decompress(d, dst + out, &out_size, src + in, &in_size, NULL);
		if (LZ4F_isError(hint)) {
			rc = RN_E_CORRUPT_MESSAGE;
			break;
		}
		in += in_size;
		out += out_size;
		if (hint == 0) {
			/* A whole frame; anything after it is not ours. */
			*out_len = out;
			return in == src_len ? 0 : RN_E_CORRUPT_MESSAGE;
		}
		if (out == cap) {
			rc = RN_E_FULL;
			break;
		}
		if (in_size == 0 && out_size == 0) {
			rc = RN_E_CORRUPT_MESSAGE; /* the frame is cut short */
			break;
		}
	}
	/* An unfinished or failed frame leaves the context mid-way. */
	LZ4F_resetDecompressionContext(d);
	return rc;
}

static int zstd_decompress(struct batch_codec *c, const uint8_t *src, size_t src_len, uint8_t *dst,
			   size_t cap, size_t *out_len)
{
	/* Exactly one frame: ZSTD_decompressDCtx would also take several. */
	size_t frame = ZSTD_findFrameCompressedSize(src, src_len);
	if (ZSTD_isError(frame) || frame != src_len)
		return RN_E_CORRUPT_MESSAGE;
	if (!c->zstd_dctx && !(c->zstd_dctx = ZSTD_createDCtx()))
		return RN_E_NOMEM;
	size_t n = ZSTD_decompressDCtx(c->zstd_dctx, dst, cap, src, src_len);
	if (!ZSTD_isError(n)) {
		*out_len = n;
		return 0;
	}
	switch (ZSTD_getErrorCode(n)) {
	case ZSTD_error_dstSize_tooSmall:
		return RN_E_FULL;
	case ZSTD_error_memory_allocation:
		return RN_E_NOMEM;
	default:
		return RN_E_CORRUPT_MESSAGE;
	}
}

int batch_codec_decompress(struct batch_codec *c, int codec, const uint8_t *src, size_t src_len,
			   uint8_t *dst, size_t cap, size_t *out_len)
{
	if (codec == BATCH_COMPRESSION_LZ4)
		return lz4_decompress(c, src, src_len, dst, cap, out_len);
	if (codec == BATCH_COMPRESSION_ZSTD)
		return zstd_decompress(c, src, src_len, dst, cap, out_len);
	return RN_E_UNSUPPORTED_COMPRESSION_TYPE;
}

static size_t lz4_content_size(const uint8_t *src, size_t src_len)
{
	if (src_len < LZ4_CONTENT_SIZE_OFFSET + 8)
		return 0;
	uint32_t magic = (uint32_t)src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 |
			 (uint32_t)src[3] << 24;
	if (magic != LZ4_FRAME_MAGIC || !(src[4] & LZ4_FLG_CONTENT_SIZE))
		return 0;
	uint64_t size = 0;
	for (int i = 7; i >= 0; i--)
		size = size << 8 | src[LZ4_CONTENT_SIZE_OFFSET + (size_t)i];
	return (size_t)size;
}

size_t batch_codec_content_size(int codec, const uint8_t *src, size_t src_len)
{
	if (codec == BATCH_COMPRESSION_LZ4)
		return lz4_content_size(src, src_len);
	if (codec == BATCH_COMPRESSION_ZSTD) {
		unsigned long long size = ZSTD_getFrameContentSize(src, src_len);
		if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR)
			return 0;
		return (size_t)size;
	}
	return 0;
}

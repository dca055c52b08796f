// zlib's gzip interface (Debian: zlib1g-dev), used by PlateauData to read and write .gz files.
#include <zlib.h>
#include <limits.h>
#include <stdlib.h>

// zlib works through pointers kept in a z_stream between calls (next_in, next_out) and a
// z_stream whose address must not change (its state points back to it). Swift can only lend
// an array's storage for the length of one call, so the pointer-level part of inflating and
// deflating lives in these small helpers: each call takes plain arrays and offsets, sets the
// stream's pointers, calls zlib once and returns. The Swift side (Gzip.swift) keeps no
// pointers.

// A heap-allocated gzip inflater (a z_stream); opaque to Swift.
typedef struct plateau_inflater plateau_inflater;

// A gzip inflater with the largest window (15 + 16: a gzip wrapper), or NULL on failure.
static inline plateau_inflater *plateau_inflater_create(void) {
    z_stream *stream = (z_stream *)calloc(1, sizeof(z_stream));
    if (stream == NULL) return NULL;
    if (inflateInit2(stream, 15 + 16) != Z_OK) {
        free(stream);
        return NULL;
    }
    return (plateau_inflater *)stream;
}

static inline void plateau_inflater_destroy(plateau_inflater *inflater) {
    z_stream *stream = (z_stream *)inflater;
    inflateEnd(stream);
    free(stream);
}

// One call of inflate(Z_NO_FLUSH): reads input from input[*consumed ..< input_count], writes at
// most `capacity` bytes to output, advances *consumed and sets *produced. Returns zlib's status.
static inline int plateau_inflate(
    plateau_inflater *inflater, const unsigned char *input, size_t input_count, size_t *consumed,
    unsigned char *output, size_t capacity, size_t *produced) {
    z_stream *stream = (z_stream *)inflater;
    size_t available = input_count - *consumed;
    if (available > UINT_MAX) available = UINT_MAX;
    if (capacity > UINT_MAX) capacity = UINT_MAX;
    stream->next_in = (Bytef *)(input + *consumed);
    stream->avail_in = (uInt)available;
    stream->next_out = output;
    stream->avail_out = (uInt)capacity;
    int status = inflate(stream, Z_NO_FLUSH);
    *consumed += available - stream->avail_in;
    *produced = capacity - stream->avail_out;
    stream->next_in = Z_NULL;
    stream->next_out = Z_NULL;
    return status;
}

// Starts the next gzip member of a concatenated file.
static inline int plateau_inflate_reset(plateau_inflater *inflater) {
    return inflateReset((z_stream *)inflater);
}

// zlib's message for the last error, or NULL.
static inline const char *plateau_inflate_message(plateau_inflater *inflater) {
    return ((z_stream *)inflater)->msg;
}

// The most bytes plateau_gzip_compress can write for `count` input bytes, or 0 on failure.
static inline size_t plateau_gzip_compress_bound(size_t count, int level) {
    z_stream stream = {0};
    if (deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    size_t bound = (size_t)deflateBound(&stream, (uLong)count) + 32;
    deflateEnd(&stream);
    return bound;
}

// A single-member gzip file of input[0 ..< count] (window 15, memory level 8, default
// strategy) into output[0 ..< capacity]; sets *written. Returns Z_STREAM_END on success.
static inline int plateau_gzip_compress(
    const unsigned char *input, size_t count, int level, unsigned char *output, size_t capacity, size_t *written) {
    if (count > UINT_MAX || capacity > UINT_MAX) return Z_BUF_ERROR;
    z_stream stream = {0};
    int status = deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (status != Z_OK) return status;
    // zlib never reads next_in when avail_in is 0.
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)count;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    status = deflate(&stream, Z_FINISH);
    *written = capacity - stream.avail_out;
    deflateEnd(&stream);
    return status;
}

/* actstream.h: read one layer of an activations artifact in blocks of whole images.
 *
 * Activations are /layers/<layer> float32 (N, C, H, W) (any rank >= 2: dimension 0 = image, the
 * rest flattened in C order = PyTorch's unit order c*H*W + h*W + w), chunked one image per chunk
 * (contracts.md). A reader hands out consecutive blocks of images as rows [nrows][U], each block
 * at most ~block_bytes (at least one image), so a layer of any size streams in bounded memory.
 * Progress is reported on stderr (progress.h) under the layer's name.
 */
#ifndef TDANN_ACTSTREAM_H
#define TDANN_ACTSTREAM_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ActReader ActReader;

/* Dies (exit 2) naming the file when /layers/<layer> is missing (the hint lists the layers present)
 * or has rank < 2. block_bytes 0: 64 MiB. */
ActReader *act_reader_open(hid_t f, const char *file, const char *layer, size_t block_bytes);
int64_t act_reader_images(const ActReader *r);
int64_t act_reader_units(const ActReader *r);
/* Dimensions after the image dimension (C, H, W for convolutional layers); returns their count. */
int act_reader_unit_dims(const ActReader *r, int64_t dims[7]);
/* Next block: *rows points to [nrows][U] floats owned by the reader (valid until the next call),
 * *image0 = index of its first image. Returns nrows, 0 at the end. */
int64_t act_reader_next(ActReader *r, const float **rows, int64_t *image0);
void act_reader_close(ActReader *r);

#endif

/* engine_cuda.h: what the CUDA engine offers beyond engine.h (CUDA builds only; C API).
 *
 * - Images may also be passed as device pointers (uint8 [n][S][S][3] in GPU memory) to
 *   engine_forward and engine_train_step: the engine detects them (cudaPointerGetAttributes) and
 *   skips the host upload. Benchmarks use this to time compute on data already on the GPU.
 * - engine_train_step runs its first step with a given shape eagerly, captures the second as a
 *   CUDA graph and replays it from then on (the shape: rows, loss layers, k, kinds, alphas,
 *   temperature; the learning rate, momentum, weight decay, units, coordinates and labels are
 *   copied into fixed device buffers before each launch, so they may change every step).
 *   TDANN_CUDA_GRAPH=0 in the environment disables graphs. If capturing fails, the engine warns
 *   once and runs eagerly.
 * - Environment: TDANN_CUDNN_WS_MB (cuDNN workspace bound, default 256), TDANN_SYNC_CHECK=1
 *   (synchronise after every kernel launch, for debugging).
 */
#ifndef TDANN_ENGINE_CUDA_H
#define TDANN_ENGINE_CUDA_H

#include <stddef.h>

#include "engine.h"

#if TDANN_CUDA
/* Bytes of device memory this engine allocated (buffers, workspaces; not the CUDA context nor the
 * libraries' own handles). */
size_t engine_cuda_device_bytes(const Engine *e);
/* 1 when train steps replay a CUDA graph now. */
int engine_cuda_graph_active(const Engine *e);
/* Waits for all queued work of the engine (for timing). */
void engine_cuda_sync(Engine *e);
#endif

#endif

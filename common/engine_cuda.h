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
 *   (synchronise after every kernel launch, for debugging), TDANN_PROFILE=1 (below).
 * - Profiling: with TDANN_PROFILE=1 (not "0") in the environment when the engine is created, it
 *   makes 1024 CUDA events and profiles training steps in one of two modes (default 1):
 *   1: engine_train_step runs eagerly (no graph) and records an event on the engine's stream at each
 *      boundary between operation categories (input, convolutions per direction and stage, BN
 *      statistics/finalize/apply, BN backward reduce/finalize/apply, pools, head, NT-Xent, spatial
 *      loss, SGD, other); the events are read after the step's usual synchronisation.
 *   2: steps run as usual (graph replay) with one event pair around each.
 *   Numerics are unchanged (the eager and the graph path are bit-identical). Without the variable
 *   nothing is allocated or recorded. An engine freed with unreported mode-1 figures prints the table
 *   on stderr. See tests/bench/gpu/bench_gpu.c --profile and tests/gpu/profile-run.sh.
 */
#ifndef TDANN_ENGINE_CUDA_H
#define TDANN_ENGINE_CUDA_H

#include <stddef.h>
#include <stdio.h>

#include "engine.h"

#if TDANN_CUDA
/* Bytes of device memory this engine allocated (buffers, workspaces; not the CUDA context nor the
 * libraries' own handles). */
size_t engine_cuda_device_bytes(const Engine *e);
/* 1 when train steps replay a CUDA graph now. */
int engine_cuda_graph_active(const Engine *e);
/* Waits for all queued work of the engine (for timing). */
void engine_cuda_sync(Engine *e);
/* Profiling (TDANN_PROFILE=1 at creation, see above). Sets the mode (0 off, 1 eager with category
 * events, 2 graph steps bracketed); returns 0 when profiling was not enabled (then nothing happens). */
int engine_cuda_profile_mode(Engine *e, int mode);
/* Clears the accumulated figures of both modes. */
void engine_cuda_profile_reset(Engine *e);
/* Prints the table of the mode-1 steps (mean per step by category, estimated bytes and FLOPs, achieved
 * GB/s and TFLOP/s, cudnnFind's own times of the convolutions) and the mode-2 step time; with
 * host_graph_ms > 0 also that figure (a host-clock step time measured by the caller). */
void engine_cuda_profile_report(Engine *e, FILE *f, double host_graph_ms);
/* Profiling aid (any engine; allocates ~1.3 GB and a 256 MiB workspace for the duration, about a second
 * or two of cudnnFind at max_rows): cudnnFind's times (ms) of the forward [0] and filter-gradient [1]
 * algorithms for the stem as built (ms[0]: 7x7/2 on the padded input) and for its space-to-depth
 * equivalent (ms[1]: 4x4/1, 16 channels, 115 x 115 input at 224 px; 0 when not applicable). */
void engine_cuda_probe_stem(Engine *e, double ms[2][2]);
/* The figures so far: mode-1 steps, their mean time from the first to the last event and the mean
 * sum of the category regions (equal up to rounding); mode-2 steps and their mean time (ms). Any
 * pointer may be NULL. Returns 0 when profiling was not enabled. */
int engine_cuda_profile_summary(const Engine *e, int *steps, double *step_ms, double *category_sum_ms, int *graph_steps,
                                double *graph_ms);
#endif

#endif

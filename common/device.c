/* device.c: see device.h. CUDA queries go through the runtime API only in CUDA builds. */
#include "device.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "h5io.h"

#if TDANN_CUDA
#include <cuda_runtime_api.h>
#endif

int cuda_device_count(void) {
#if TDANN_CUDA
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
#else
    return 0;
#endif
}

Device device_resolve(const char *spec) {
    Device d;
    memset(&d, 0, sizeof d);
    const char *s = spec && *spec ? spec : "auto";
    int want_cuda = 0, idx = 0;
    if (strcmp(s, "cpu") == 0) want_cuda = 0;
    else if (strcmp(s, "auto") == 0) want_cuda = cuda_device_count() > 0 ? 1 : 0;
    else if (strcmp(s, "cuda") == 0) want_cuda = 2;
    else if (strncmp(s, "cuda:", 5) == 0) {
        char *end;
        long v = strtol(s + 5, &end, 10);
        if (*end || v < 0) die(EXIT_USAGE, "bad device '%s' (auto, cpu, cuda or cuda:N)", s);
        want_cuda = 2;
        idx = (int)v;
    } else die(EXIT_USAGE, "bad device '%s' (auto, cpu, cuda or cuda:N)", s);

    if (want_cuda) {
#if TDANN_CUDA
        int n = cuda_device_count();
        if (idx >= n) die(EXIT_USAGE, "device '%s' is not available (%d CUDA device%s found)", s, n, n == 1 ? "" : "s");
        struct cudaDeviceProp prop;
        cudaGetDeviceProperties(&prop, idx);
        cudaSetDevice(idx);
        d.kind = DEVICE_CUDA;
        d.index = idx;
        snprintf(d.name, sizeof d.name, "cuda:%d %s", idx, prop.name);
#else
        (void)idx;
        die(EXIT_USAGE, "device '%s' asked for, but this build has no CUDA path (rebuild where nvcc and cuDNN are found)", s);
#endif
    } else {
        d.kind = DEVICE_CPU;
        snprintf(d.name, sizeof d.name, "cpu (%d threads)", omp_get_max_threads());
    }
    prov_set_device(d.name);
    return d;
}

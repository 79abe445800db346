/* cuda_check.cu: failure reporting for CUDA_CHECK / CUDNN_CHECK / CUBLAS_CHECK / KERNEL_CHECK
 * (see cuda_common.h), the soft-failure mode used while a CUDA graph is captured, and small device
 * queries. */
#include "cuda_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_capture = 0;           /* inside cu_capture_begin/end */
static int g_capture_failed = 0;
static char g_capture_msg[1024];
static int g_sync_check = -1;       /* TDANN_SYNC_CHECK, read once */

void cu_fail(const char *file, int line, const char *expr, const char *lib, int code, const char *msg) {
    char detail[512] = "";
    if (strcmp(lib, "cuDNN") == 0) {
        char last[480] = "";
        cudnnGetLastErrorString(last, sizeof last);
        if (last[0]) snprintf(detail, sizeof detail, "; cuDNN says: %s", last);
    }
    if (g_capture) {
        if (!g_capture_failed) {
            g_capture_failed = 1;
            snprintf(g_capture_msg, sizeof g_capture_msg, "%s:%d: %s: %s error %d (%s)%s", file, line, expr, lib, code,
                     msg ? msg : "?", detail);
        }
        return;
    }
    die(EXIT_RUNTIME, "%s:%d: %s: %s error %d (%s)%s", file, line, expr, lib, code, msg ? msg : "?", detail);
}

void cu_after_launch(const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) cu_fail(file, line, "kernel launch", "CUDA", (int)e, cudaGetErrorString(e));
    if (g_sync_check < 0) {
        const char *s = getenv("TDANN_SYNC_CHECK");
        g_sync_check = s && *s && strcmp(s, "0") != 0;
    }
    if (g_sync_check && !g_capture) {
        e = cudaDeviceSynchronize();
        if (e != cudaSuccess) cu_fail(file, line, "kernel (TDANN_SYNC_CHECK synchronisation)", "CUDA", (int)e, cudaGetErrorString(e));
    }
}

void cu_capture_begin(void) {
    g_capture = 1;
    g_capture_failed = 0;
    g_capture_msg[0] = 0;
}

int cu_capture_end(char *msg, size_t msg_len) {
    g_capture = 0;
    if (msg && msg_len) snprintf(msg, msg_len, "%s", g_capture_msg);
    return g_capture_failed;
}

int cu_capturing(void) { return g_capture; }

int cu_sm_count(void) {
    static int count = 0, dev_cached = -1;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    if (dev != dev_cached) {
        CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev));
        dev_cached = dev;
    }
    return count;
}

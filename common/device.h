/* device.h: the --device option. "auto" = the first CUDA device when this build has the CUDA path
 * and a GPU is present, else the CPU; "cpu"; "cuda" or "cuda:N". Asking for CUDA in a CPU-only
 * build, or for a device that is not there, is an error (exit 2). */
#ifndef TDANN_DEVICE_H
#define TDANN_DEVICE_H

typedef enum { DEVICE_CPU = 0, DEVICE_CUDA = 1 } DeviceKind;
typedef struct {
    DeviceKind kind;
    int index;
    char name[300]; /* "cpu (2 threads)" or "cuda:0 NVIDIA H100 80GB HBM3" */
} Device;

/* Resolves a --device string; dies on a bad or unavailable device. Also records the device in the
 * provenance of every output written afterwards. */
Device device_resolve(const char *spec);
int cuda_device_count(void); /* 0 in a CPU-only build or without a GPU */

#endif

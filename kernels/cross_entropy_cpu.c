/* cross_entropy_cpu.c: CPU reference of cross_entropy.h (log-sum-exp in double). */
#include "cross_entropy.h"

#include <math.h>
#include <string.h>

#include "error.h"

double cross_entropy_cpu(const float *logits, const int32_t *labels, int n, int k, float *dlogits) {
    int valid = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < -1 || labels[i] >= k) die(EXIT_RUNTIME, "label %d of row %d outside [0, %d)", labels[i], i, k);
        valid += labels[i] >= 0;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * k;
        float *d = dlogits ? dlogits + (size_t)i * k : NULL;
        if (labels[i] < 0) {
            if (d) memset(d, 0, sizeof(float) * (size_t)k);
            continue;
        }
        double mx = l[0];
        for (int j = 1; j < k; j++) if (l[j] > mx) mx = l[j];
        double se = 0;
        for (int j = 0; j < k; j++) se += exp((double)l[j] - mx);
        double lse = mx + log(se);
        total += lse - l[labels[i]];
        if (d)
            for (int j = 0; j < k; j++) d[j] = (float)((exp((double)l[j] - lse) - (j == labels[i])) / valid);
    }
    return valid ? total / valid : 0.0;
}

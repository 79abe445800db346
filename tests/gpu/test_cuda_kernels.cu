/* test_cuda_kernels.cu: every CUDA kernel of kernels/ against a plain CPU reference in double
 * precision, on fresh random inputs, in fp32 and bf16 storage. Outputs are poisoned with NaN
 * before each launch, so an element the kernel did not write fails. SKIP without a GPU.
 *
 * Tolerances (relative L2 per tensor): fp32 storage 1e-4 (float32 arithmetic vs double; the
 * project bound is 1e-3), bf16 storage 1e-2 (outputs rounded to bf16, 2^-9 per element; project
 * bound 3e-2). The references take the inputs after rounding to the storage type, so only the
 * kernel's own error is measured. Shapes are odd on purpose (partial blocks, channel tiles).
 */
#include "gpu_test_util.h"

#include <math.h>
#include <string.h>

#include "conv_cudnn.h"
#include "cuda_kernels.h"

static double tol_of(int bf) { return bf ? 1e-2 : 1e-4; }
static const char *pname(int bf) { return bf ? "bf16" : "fp32"; }

/* ---- input normalisation ------------------------------------------------------------------------ */
TEST(cuda_normalize_input) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_normalize_input"), 1);
    size_t npix = 5003;
    uint8_t *img = (uint8_t *)xmalloc(npix * 3);
    for (size_t i = 0; i < npix * 3; i++) img[i] = (uint8_t)rng_below(&r, 256);
    uint8_t *dimg;
    CUDA_CHECK(cudaMalloc(&dimg, npix * 3));
    CUDA_CHECK(cudaMemcpy(dimg, img, npix * 3, cudaMemcpyHostToDevice));
    const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
    for (int bf = 0; bf < 2; bf++)
        for (int cp = 4; cp <= 8; cp += 4) {
            void *out = gt_poisoned(npix * cp, bf);
            cuk_normalize_input(0, out, bf, cp, dimg, npix);
            double *ref = gt_dvec(npix * cp);
            for (size_t p = 0; p < npix; p++)
                for (int c = 0; c < 3; c++) ref[p * cp + c] = (img[p * 3 + c] / 255.0 - mean[c]) / sd[c];
            char what[64];
            snprintf(what, sizeof what, "normalize %s cpad %d", pname(bf), cp);
            gt_check(what, out, ref, npix * cp, bf, bf ? 5e-3 : 1e-6);
            cudaFree(out);
            free(ref);
        }
    cudaFree(dimg);
    free(img);
}

/* ---- batch norm forward --------------------------------------------------------------------------- */
static void bn_fwd_case(Rng *r, int bf, long M, int C) {
    char what[96];
    float *x = gt_rand(r, (size_t)M * C, -1.5f, 2.5f);
    gt_round_all(x, (size_t)M * C, bf);
    float *gam = gt_rand(r, C, 0.5f, 1.5f), *bet = gt_rand(r, C, -0.5f, 0.5f);
    float *rm0 = gt_rand(r, C, -0.2f, 0.2f), *rv0 = gt_rand(r, C, 0.5f, 2.0f);
    void *dx = gt_upload(x, (size_t)M * C, bf);
    float *dg = (float *)gt_upload(gam, C, 0), *db = (float *)gt_upload(bet, C, 0);
    float *drm = (float *)gt_upload(rm0, C, 0), *drv = (float *)gt_upload(rv0, C, 0);
    float *dstat = (float *)gt_poisoned(4 * (size_t)C, 0);
    size_t pcap = cuk_bn_parts_floats(M, C, bf, 2);
    float *parts = (float *)gt_poisoned(pcap, 0);
    int np = cuk_bn_stats(0, parts, dx, bf, M, C);
    CHECK(np >= 1 && (size_t)np * 2 * C <= pcap);
    cuk_bn_fwd_finalize(0, parts, np, C, (double)M, 1e-5f, 0.1f, dg, db, drm, drv, dstat, dstat + C, dstat + 2 * C,
                        dstat + 3 * C, NULL);
    double *rmean = gt_dvec(C), *rinv = gt_dvec(C), *rsc = gt_dvec(C), *rsh = gt_dvec(C), *rrm = gt_dvec(C), *rrv = gt_dvec(C);
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (long i = 0; i < M; i++) s += x[i * C + c];
        double m = s / M;
        for (long i = 0; i < M; i++) q += (x[i * C + c] - m) * (x[i * C + c] - m);
        double var = q / M;
        rmean[c] = m;
        rinv[c] = 1 / sqrt(var + 1e-5);
        rsc[c] = gam[c] * rinv[c];
        rsh[c] = bet[c] - m * rsc[c];
        rrm[c] = 0.9 * rm0[c] + 0.1 * m;
        rrv[c] = 0.9 * rv0[c] + 0.1 * q / (M - 1);
    }
    const char *nm[4] = {"mean", "invstd", "scale", "shift"};
    double *refs[4] = {rmean, rinv, rsc, rsh};
    for (int k = 0; k < 4; k++) {
        snprintf(what, sizeof what, "bn fwd %s %s M%ld C%d", nm[k], pname(bf), M, C);
        gt_check(what, dstat + (size_t)k * C, refs[k], C, 0, 1e-5);
    }
    snprintf(what, sizeof what, "bn running_mean %s C%d", pname(bf), C);
    gt_check(what, drm, rrm, C, 0, 1e-5);
    snprintf(what, sizeof what, "bn running_var %s C%d", pname(bf), C);
    gt_check(what, drv, rrv, C, 0, 1e-5);

    /* apply: every residual mode, with and without ReLU; y in a fresh buffer and in place */
    float *res = gt_rand(r, (size_t)M * C, -1.f, 1.f);
    gt_round_all(res, (size_t)M * C, bf);
    float *rs2 = gt_rand(r, C, 0.5f, 1.5f), *rh2 = gt_rand(r, C, -0.5f, 0.5f);
    void *dres = gt_upload(res, (size_t)M * C, bf);
    float *drs2 = (float *)gt_upload(rs2, C, 0), *drh2 = (float *)gt_upload(rh2, C, 0);
    double *ref = gt_dvec((size_t)M * C);
    for (int mode = 0; mode < 3; mode++)
        for (int relu = 0; relu < 2; relu++) {
            void *y = gt_poisoned((size_t)M * C, bf);
            cuk_bn_apply(0, y, dx, bf, M, C, dstat + 2 * C, dstat + 3 * C, mode, dres, drs2, drh2, relu);
            for (long i = 0; i < M; i++)
                for (int c = 0; c < C; c++) {
                    double v = x[i * C + c] * rsc[c] + rsh[c];
                    if (mode == 1) v += res[i * C + c];
                    if (mode == 2) v += res[i * C + c] * rs2[c] + rh2[c];
                    if (relu && v < 0) v = 0;
                    ref[i * C + c] = v;
                }
            snprintf(what, sizeof what, "bn apply %s res%d relu%d C%d", pname(bf), mode, relu, C);
            gt_check(what, y, ref, (size_t)M * C, bf, tol_of(bf));
            cudaFree(y);
        }
    /* in place (y aliases x), as the engine may do */
    void *dx2 = gt_upload(x, (size_t)M * C, bf);
    cuk_bn_apply(0, dx2, dx2, bf, M, C, dstat + 2 * C, dstat + 3 * C, 0, NULL, NULL, NULL, 1);
    for (long i = 0; i < M * C; i++) {
        double v = x[i] * rsc[i % C] + rsh[i % C];
        ref[i] = v > 0 ? v : 0;
    }
    snprintf(what, sizeof what, "bn apply in place %s C%d", pname(bf), C);
    gt_check(what, dx2, ref, (size_t)M * C, bf, tol_of(bf));
    cudaFree(dx2);
    cudaFree(dx); cudaFree(dg); cudaFree(db); cudaFree(drm); cudaFree(drv); cudaFree(dstat); cudaFree(parts);
    cudaFree(dres); cudaFree(drs2); cudaFree(drh2);
    free(x); free(gam); free(bet); free(rm0); free(rv0); free(res); free(rs2); free(rh2); free(ref);
    free(rmean); free(rinv); free(rsc); free(rsh); free(rrm); free(rrv);
}

TEST(cuda_bn_forward) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_bn_forward"), 2);
    for (int bf = 0; bf < 2; bf++) {
        bn_fwd_case(&r, bf, 3001, 64);   /* vector width 8 (bf16) / 4 */
        bn_fwd_case(&r, bf, 777, 12);    /* width 4 */
        bn_fwd_case(&r, bf, 513, 7);     /* width 1 */
        bn_fwd_case(&r, bf, 41, 2056);   /* more than 256 channel groups: two channel tiles */
        bn_fwd_case(&r, bf, 70001, 8);   /* many row chunks */
        /* the channel counts of width 0.3 (odd-width engine test): 19 and 77 (width 1), 38 and
         * 154 (bf16 width 2, fp32 width 2) */
        bn_fwd_case(&r, bf, 2049, 19);
        bn_fwd_case(&r, bf, 1031, 38);
        bn_fwd_case(&r, bf, 515, 77);
        bn_fwd_case(&r, bf, 131, 154);
    }
}

TEST(cuda_bn_eval_coef) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_bn_eval_coef"), 3);
    int C = 300;
    float *g = gt_rand(&r, C, 0.5f, 1.5f), *b = gt_rand(&r, C, -1, 1), *m = gt_rand(&r, C, -1, 1), *v = gt_rand(&r, C, 0.1f, 3);
    float *dg = (float *)gt_upload(g, C, 0), *db = (float *)gt_upload(b, C, 0), *dm = (float *)gt_upload(m, C, 0),
          *dv = (float *)gt_upload(v, C, 0);
    float *sc = (float *)gt_poisoned(C, 0), *sh = (float *)gt_poisoned(C, 0);
    cuk_bn_eval_coef(0, C, 1e-5f, dg, db, dm, dv, sc, sh);
    double *rs = gt_dvec(C), *rh = gt_dvec(C);
    for (int c = 0; c < C; c++) {
        rs[c] = g[c] / sqrt((double)v[c] + 1e-5);
        rh[c] = b[c] - m[c] * rs[c];
    }
    gt_check("bn eval scale", sc, rs, C, 0, 1e-6);
    gt_check("bn eval shift", sh, rh, C, 0, 1e-6);
    cudaFree(dg); cudaFree(db); cudaFree(dm); cudaFree(dv); cudaFree(sc); cudaFree(sh);
    free(g); free(b); free(m); free(v); free(rs); free(rh);
}

/* ---- batch norm backward -------------------------------------------------------------------------- */
/* variant 0: single gradient, dx in place (BN1 in the engine); 1: pair + dz_out with the engine's
 * aliasing (dz over dyA, dx over dyB); 2: pair + downsample (dxd over dyA, dx over dyB); 3: pair +
 * dz_out into fresh poisoned buffers */
static void bn_bwd_case(Rng *r, int bf, long M, int C, int variant) {
    char what[96];
    size_t n = (size_t)M * C;
    int has_b = variant >= 1, has_d = variant == 2, has_z = variant == 1 || variant == 3;
    float *dA = gt_rand(r, n, -1, 1), *dB = gt_rand(r, n, -1, 1), *y = gt_rand(r, n, -1, 1);
    float *x = gt_rand(r, n, -2, 3), *xd = gt_rand(r, n, -1, 2);
    gt_round_all(dA, n, bf); gt_round_all(dB, n, bf); gt_round_all(y, n, bf); gt_round_all(x, n, bf); gt_round_all(xd, n, bf);
    float *mean = gt_rand(r, C, 0, 0.5f), *inv = gt_rand(r, C, 0.5f, 1.5f), *gam = gt_rand(r, C, 0.5f, 1.5f);
    float *meand = gt_rand(r, C, 0, 0.5f), *invd = gt_rand(r, C, 0.5f, 1.5f), *gamd = gt_rand(r, C, 0.5f, 1.5f);
    void *ddA = gt_upload(dA, n, bf), *ddB = has_b ? gt_upload(dB, n, bf) : NULL, *dy = gt_upload(y, n, bf);
    void *dx = gt_upload(x, n, bf), *dxd = has_d ? gt_upload(xd, n, bf) : NULL;
    float *dmean = (float *)gt_upload(mean, C, 0), *dinv = (float *)gt_upload(inv, C, 0), *dgam = (float *)gt_upload(gam, C, 0);
    float *dmeand = (float *)gt_upload(meand, C, 0), *dinvd = (float *)gt_upload(invd, C, 0), *dgamd = (float *)gt_upload(gamd, C, 0);
    int ns = has_d ? 3 : 2;
    size_t pcap = cuk_bn_parts_floats(M, C, bf, ns);
    float *parts = (float *)gt_poisoned(pcap, 0);
    float *grads = (float *)gt_poisoned(4 * (size_t)C, 0), *coef = (float *)gt_poisoned(3 * (size_t)C, 0),
          *coefd = (float *)gt_poisoned(3 * (size_t)C, 0);
    int np = cuk_bn_bwd_reduce(0, parts, bf, M, C, ddA, ddB, dy, dx, dmean, dinv, dxd, dmeand, dinvd);
    CHECK(np >= 1 && (size_t)np * ns * C <= pcap);
    cuk_bn_bwd_finalize(0, parts, np, ns, C, (double)M, dgam, dmean, dinv, dgamd, dmeand, dinvd, grads, grads + C,
                        has_d ? grads + 2 * C : NULL, has_d ? grads + 3 * C : NULL, coef, has_d ? coefd : NULL, NULL);
    /* outputs with the engine's aliasing */
    void *out_dx = variant == 0 ? ddA : variant == 3 ? gt_poisoned(n, bf) : ddB;
    void *out_z = variant == 1 ? ddA : variant == 3 ? gt_poisoned(n, bf) : NULL;
    void *out_dxd = has_d ? ddA : NULL;
    cuk_bn_bwd_apply(0, bf, M, C, ddA, ddB, dy, dx, coef, out_dx, out_z, dxd, has_d ? coefd : NULL, out_dxd);
    /* reference */
    double *s1 = gt_dvec(C), *s2 = gt_dvec(C), *s3 = gt_dvec(C);
    double *rdx = gt_dvec(n), *rz = gt_dvec(n), *rdxd = gt_dvec(n);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % C);
        double g = dA[i] + (has_b ? dB[i] : 0);
        double dz = y[i] > 0 ? g : 0;
        rz[i] = dz;
        s1[c] += dz;
        s2[c] += dz * (x[i] - mean[c]) * inv[c];
        s3[c] += dz * (xd[i] - meand[c]) * invd[c];
    }
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % C);
        double xh = (x[i] - mean[c]) * inv[c], xhd = (xd[i] - meand[c]) * invd[c];
        rdx[i] = gam[c] * inv[c] * (rz[i] - s1[c] / M - xh * s2[c] / M);
        rdxd[i] = gamd[c] * invd[c] * (rz[i] - s1[c] / M - xhd * s3[c] / M);
    }
    snprintf(what, sizeof what, "bn bwd dgamma %s v%d C%d", pname(bf), variant, C);
    gt_check(what, grads, s2, C, 0, 1e-4);
    snprintf(what, sizeof what, "bn bwd dbeta %s v%d C%d", pname(bf), variant, C);
    gt_check(what, grads + C, s1, C, 0, 1e-4);
    snprintf(what, sizeof what, "bn bwd dx %s v%d C%d", pname(bf), variant, C);
    gt_check(what, out_dx, rdx, n, bf, tol_of(bf));
    if (has_z) {
        snprintf(what, sizeof what, "bn bwd dz (identity) %s v%d C%d", pname(bf), variant, C);
        gt_check(what, out_z, rz, n, bf, tol_of(bf));
    }
    if (has_d) {
        snprintf(what, sizeof what, "bn bwd dgamma_d %s C%d", pname(bf), C);
        gt_check(what, grads + 2 * C, s3, C, 0, 1e-4);
        snprintf(what, sizeof what, "bn bwd dbeta_d %s C%d", pname(bf), C);
        gt_check(what, grads + 3 * C, s1, C, 0, 1e-4);
        snprintf(what, sizeof what, "bn bwd dxd %s C%d", pname(bf), C);
        gt_check(what, out_dxd, rdxd, n, bf, tol_of(bf));
    }
    if (variant == 3) { cudaFree(out_dx); cudaFree(out_z); }
    cudaFree(ddA); if (ddB) cudaFree(ddB); cudaFree(dy); cudaFree(dx); if (dxd) cudaFree(dxd);
    cudaFree(dmean); cudaFree(dinv); cudaFree(dgam); cudaFree(dmeand); cudaFree(dinvd); cudaFree(dgamd);
    cudaFree(parts); cudaFree(grads); cudaFree(coef); cudaFree(coefd);
    free(dA); free(dB); free(y); free(x); free(xd); free(mean); free(inv); free(gam); free(meand); free(invd); free(gamd);
    free(s1); free(s2); free(s3); free(rdx); free(rz); free(rdxd);
}

TEST(cuda_bn_backward) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_bn_backward"), 4);
    for (int bf = 0; bf < 2; bf++)
        for (int v = 0; v < 4; v++) {
            bn_bwd_case(&r, bf, 2999, 64, v);
            bn_bwd_case(&r, bf, 301, 20, v);
            bn_bwd_case(&r, bf, 37, 2056, v);
            bn_bwd_case(&r, bf, 1031, 38, v); /* width 0.3 channel counts (see cuda_bn_forward) */
            bn_bwd_case(&r, bf, 515, 77, v);
        }
}

/* ---- stem: BN + ReLU + max pool, forward and backward ----------------------------------------------- */
static void stem_case(Rng *r, int bf, int n, int H, int W, int C) {
    char what[96];
    int Ho = (H + 2 - 3) / 2 + 1, Wo = (W + 2 - 3) / 2 + 1;
    size_t nx = (size_t)n * H * W * C, np = (size_t)n * Ho * Wo * C;
    float *x = gt_rand(r, nx, -2, 2);
    gt_round_all(x, nx, bf);
    float *sc = gt_rand(r, C, 0.5f, 1.5f), *sh = gt_rand(r, C, -0.5f, 0.5f);
    void *dx = gt_upload(x, nx, bf);
    float *dsc = (float *)gt_upload(sc, C, 0), *dsh = (float *)gt_upload(sh, C, 0);
    void *out = gt_poisoned(np, bf);
    uint8_t *am;
    CUDA_CHECK(cudaMalloc(&am, np));
    CUDA_CHECK(cudaMemset(am, 0xFF, np));
    cuk_bn_relu_maxpool(0, out, am, dx, bf, n, H, W, C, Ho, Wo, dsc, dsh);
    /* reference in float with fmaf, the kernel's arithmetic, so ties resolve identically */
    double *rout = gt_dvec(np);
    uint8_t *ram = (uint8_t *)xmalloc(np);
    for (int i = 0; i < n; i++)
        for (int ho = 0; ho < Ho; ho++)
            for (int wo = 0; wo < Wo; wo++)
                for (int c = 0; c < C; c++) {
                    float best = -INFINITY;
                    int bi = 0;
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            int h = 2 * ho - 1 + kh, w = 2 * wo - 1 + kw;
                            if (h < 0 || h >= H || w < 0 || w >= W) continue;
                            float v = fmaf(x[(((size_t)i * H + h) * W + w) * C + c], sc[c], sh[c]);
                            v = v > 0 ? v : 0;
                            if (v > best) { best = v; bi = kh * 3 + kw; }
                        }
                    size_t o = (((size_t)i * Ho + ho) * Wo + wo) * C + c;
                    rout[o] = best;
                    ram[o] = (uint8_t)bi;
                }
    snprintf(what, sizeof what, "stem maxpool out %s", pname(bf));
    gt_check(what, out, rout, np, bf, bf ? 5e-3 : 1e-6);
    uint8_t *gam_ = (uint8_t *)xmalloc(np);
    CUDA_CHECK(cudaMemcpy(gam_, am, np, cudaMemcpyDeviceToHost));
    size_t bad = 0;
    for (size_t i = 0; i < np; i++) bad += gam_[i] != ram[i];
    CHECK_MSG(bad == 0, "stem maxpool %s: %zu of %zu argmax entries differ", pname(bf), bad, np);

    /* backward: pooled gradient pair -> conv-output gradient through pool, ReLU and BN */
    float *gA = gt_rand(r, np, -1, 1), *gB = gt_rand(r, np, -1, 1);
    gt_round_all(gA, np, bf);
    gt_round_all(gB, np, bf);
    float *mean = gt_rand(r, C, -0.3f, 0.3f), *inv = gt_rand(r, C, 0.5f, 1.5f), *gam = gt_rand(r, C, 0.5f, 1.5f);
    void *dgA = gt_upload(gA, np, bf), *dgB = gt_upload(gB, np, bf);
    float *dmean = (float *)gt_upload(mean, C, 0), *dinv = (float *)gt_upload(inv, C, 0), *dgam = (float *)gt_upload(gam, C, 0);
    long M = (long)n * H * W;
    float *parts = (float *)gt_poisoned(cuk_bn_parts_floats(M, C, bf, 2), 0);
    float *grads = (float *)gt_poisoned(2 * (size_t)C, 0), *coef = (float *)gt_poisoned(3 * (size_t)C, 0);
    int npart = cuk_stem_bwd_reduce(0, parts, bf, n, H, W, C, Ho, Wo, dgA, dgB, am, dx, dsc, dsh, dmean, dinv);
    cuk_bn_bwd_finalize(0, parts, npart, 2, C, (double)M, dgam, dmean, dinv, NULL, NULL, NULL, grads, grads + C, NULL, NULL,
                        coef, NULL, NULL);
    void *ddx = gt_poisoned(nx, bf);
    cuk_stem_bwd_apply(0, ddx, bf, n, H, W, C, Ho, Wo, dgA, dgB, am, dx, dsc, dsh, coef);
    double *dz = gt_dvec(nx), *s1 = gt_dvec(C), *s2 = gt_dvec(C), *rdx = gt_dvec(nx);
    for (int i = 0; i < n; i++)
        for (int ho = 0; ho < Ho; ho++)
            for (int wo = 0; wo < Wo; wo++)
                for (int c = 0; c < C; c++) {
                    size_t o = (((size_t)i * Ho + ho) * Wo + wo) * C + c;
                    int kh = ram[o] / 3, kw = ram[o] % 3, h = 2 * ho - 1 + kh, w = 2 * wo - 1 + kw;
                    dz[(((size_t)i * H + h) * W + w) * C + c] += (double)gA[o] + gB[o];
                }
    for (size_t k = 0; k < nx; k++) {
        int c = (int)(k % C);
        if (!(fmaf(x[k], sc[c], sh[c]) > 0)) dz[k] = 0;
        s1[c] += dz[k];
        s2[c] += dz[k] * (x[k] - mean[c]) * inv[c];
    }
    for (size_t k = 0; k < nx; k++) {
        int c = (int)(k % C);
        rdx[k] = gam[c] * inv[c] * (dz[k] - s1[c] / M - (x[k] - mean[c]) * inv[c] * s2[c] / M);
    }
    snprintf(what, sizeof what, "stem bwd dgamma %s", pname(bf));
    gt_check(what, grads, s2, C, 0, 1e-4);
    snprintf(what, sizeof what, "stem bwd dbeta %s", pname(bf));
    gt_check(what, grads + C, s1, C, 0, 1e-4);
    snprintf(what, sizeof what, "stem bwd dx %s", pname(bf));
    gt_check(what, ddx, rdx, nx, bf, tol_of(bf));
    cudaFree(dx); cudaFree(dsc); cudaFree(dsh); cudaFree(out); cudaFree(am); cudaFree(dgA); cudaFree(dgB);
    cudaFree(dmean); cudaFree(dinv); cudaFree(dgam); cudaFree(parts); cudaFree(grads); cudaFree(coef); cudaFree(ddx);
    free(x); free(sc); free(sh); free(rout); free(ram); free(gam_); free(gA); free(gB); free(mean); free(inv); free(gam);
    free(dz); free(s1); free(s2); free(rdx);
}

TEST(cuda_stem_pool) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_stem_pool"), 5);
    for (int bf = 0; bf < 2; bf++) {
        stem_case(&r, bf, 3, 13, 13, 16);
        stem_case(&r, bf, 2, 16, 10, 64);
        stem_case(&r, bf, 2, 9, 9, 6);
        stem_case(&r, bf, 2, 16, 16, 19); /* width 0.3 stem (vector width 1) */
    }
}

/* ---- small ops ------------------------------------------------------------------------------------ */
TEST(cuda_avgpool_cast_layout) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_avgpool_cast_layout"), 6);
    for (int bf = 0; bf < 2; bf++) {
        int n = 5, HW = 49, C = 40;
        size_t N = (size_t)n * HW * C;
        float *y = gt_rand(&r, N, 0, 2);
        gt_round_all(y, N, bf);
        void *dy = gt_upload(y, N, bf);
        float *feat = (float *)gt_poisoned((size_t)n * C, 0);
        cuk_avgpool_fwd(0, feat, dy, bf, n, HW, C);
        double *rf = gt_dvec((size_t)n * C);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < HW; k++)
                for (int c = 0; c < C; c++) rf[i * C + c] += y[((size_t)i * HW + k) * C + c] / HW;
        gt_check(bf ? "avgpool fwd bf16" : "avgpool fwd fp32", feat, rf, (size_t)n * C, 0, 1e-5);
        float *g = gt_rand(&r, (size_t)n * C, -1, 1);
        float *dg = (float *)gt_upload(g, (size_t)n * C, 0);
        void *dback = gt_poisoned(N, bf);
        cuk_avgpool_bwd(0, dback, dg, bf, n, HW, C);
        double *rb = gt_dvec(N);
        for (size_t i = 0; i < N; i++) rb[i] = g[(i / ((size_t)HW * C)) * C + i % C] / HW;
        gt_check(bf ? "avgpool bwd bf16" : "avgpool bwd fp32", dback, rb, N, bf, tol_of(bf));
        float *lay = (float *)gt_poisoned(N, 0);
        cuk_nhwc_to_nchw(0, lay, dy, bf, n, HW, C);
        double *rl = gt_dvec(N);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < HW; k++) rl[((size_t)i * C + c) * HW + k] = y[((size_t)i * HW + k) * C + c];
        gt_check(bf ? "nhwc->nchw bf16" : "nhwc->nchw fp32", lay, rl, N, 0, 0);
        cudaFree(dy); cudaFree(feat); cudaFree(dg); cudaFree(dback); cudaFree(lay);
        free(y); free(rf); free(g); free(rb); free(rl);
    }
    size_t n = 100003;
    float *a = gt_rand(&r, n, -3, 3);
    float *da = (float *)gt_upload(a, n, 0);
    bf16 *h = (bf16 *)gt_poisoned(n, 1);
    float *back = (float *)gt_poisoned(n, 0);
    cuk_f32_to_bf16(0, h, da, n);
    cuk_bf16_to_f32(0, back, h, n);
    double *ra = gt_dvec(n);
    for (size_t i = 0; i < n; i++) ra[i] = gt_round(a[i], 1);
    gt_check("f32 -> bf16 -> f32", back, ra, n, 0, 0);
    /* head helpers */
    int rows = 33, cols = 70;
    float *y = gt_rand(&r, (size_t)rows * cols, -1, 1), *b = gt_rand(&r, cols, -1, 1);
    float *dy = (float *)gt_upload(y, (size_t)rows * cols, 0), *db = (float *)gt_upload(b, cols, 0);
    cuk_bias_act(0, dy, db, rows, cols, 1);
    double *ry = gt_dvec((size_t)rows * cols);
    for (int i = 0; i < rows * cols; i++) ry[i] = fmax(0.0, (double)y[i] + b[i % cols]);
    gt_check("bias + relu", dy, ry, (size_t)rows * cols, 0, 1e-6);
    float *cs = (float *)gt_poisoned(cols, 0);
    cuk_colsum(0, cs, dy, rows, cols);
    double *rc = gt_dvec(cols);
    for (int i = 0; i < rows * cols; i++) rc[i % cols] += ry[i];
    gt_check("column sums", cs, rc, cols, 0, 1e-6);
    float *m = (float *)gt_upload(y, (size_t)rows * cols, 0);
    cuk_relu_mask(0, m, dy, (size_t)rows * cols);
    for (int i = 0; i < rows * cols; i++) ry[i] = ry[i] > 0 ? y[i] : 0;
    gt_check("relu mask", m, ry, (size_t)rows * cols, 0, 0);
    cudaFree(da); cudaFree(h); cudaFree(back); cudaFree(dy); cudaFree(db); cudaFree(cs); cudaFree(m);
    free(a); free(ra); free(y); free(b); free(ry); free(rc);
}

TEST(cuda_gemm_rowmajor) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_gemm_rowmajor"), 7);
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    int M = 37, N = 29, K = 23;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float *A = gt_rand(&r, (size_t)M * K, -1, 1), *B = gt_rand(&r, (size_t)K * N, -1, 1), *C = gt_rand(&r, (size_t)M * N, -1, 1);
            float *dA = (float *)gt_upload(A, (size_t)M * K, 0), *dB = (float *)gt_upload(B, (size_t)K * N, 0),
                  *dC = (float *)gt_upload(C, (size_t)M * N, 0);
            cuk_gemm(h, ta, tb, M, N, K, 0.7f, dA, dB, 0.3f, dC);
            double *ref = gt_dvec((size_t)M * N);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int k = 0; k < K; k++) {
                        double a = ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                        double b = tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                        s += a * b;
                    }
                    ref[(size_t)i * N + j] = 0.7 * s + 0.3 * C[(size_t)i * N + j];
                }
            char what[64];
            snprintf(what, sizeof what, "gemm transA %d transB %d", ta, tb);
            gt_check(what, dC, ref, (size_t)M * N, 0, 1e-6);
            cudaFree(dA); cudaFree(dB); cudaFree(dC);
            free(A); free(B); free(C); free(ref);
        }
    cublasDestroy(h);
}

/* ---- NT-Xent and cross-entropy pieces --------------------------------------------------------------- */
TEST(cuda_ntxent_pieces) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_ntxent_pieces"), 8);
    int rows = 50, d = 37;
    float *z = gt_rand(&r, (size_t)rows * d, -1, 1);
    z[3 * d + 1] *= 5;
    float *dz_ = (float *)gt_upload(z, (size_t)rows * d, 0);
    float *zn = (float *)gt_poisoned((size_t)rows * d, 0), *nr = (float *)gt_poisoned(rows, 0);
    cuk_l2_normalize(0, zn, nr, dz_, rows, d);
    double *rzn = gt_dvec((size_t)rows * d), *rnr = gt_dvec(rows);
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)z[i * d + j] * z[i * d + j];
        rnr[i] = sqrt(s);
        for (int j = 0; j < d; j++) rzn[i * d + j] = z[i * d + j] / rnr[i];
    }
    gt_check("l2 normalize", zn, rzn, (size_t)rows * d, 0, 1e-6);
    gt_check("l2 norms", nr, rnr, rows, 0, 1e-6);
    float *g = gt_rand(&r, (size_t)rows * d, -1, 1);
    float *dg = (float *)gt_upload(g, (size_t)rows * d, 0), *dzo = (float *)gt_poisoned((size_t)rows * d, 0);
    cuk_l2_normalize_bwd(0, dzo, dg, zn, nr, rows, d);
    double *rdz = gt_dvec((size_t)rows * d);
    for (int i = 0; i < rows; i++) {
        double t = 0;
        for (int j = 0; j < d; j++) t += rzn[i * d + j] * g[i * d + j];
        for (int j = 0; j < d; j++) rdz[i * d + j] = (g[i * d + j] - rzn[i * d + j] * t) / rnr[i];
    }
    gt_check("l2 normalize backward", dzo, rdz, (size_t)rows * d, 0, 1e-5);

    /* NT-Xent rows: 2 ranks' worth of columns, this rank = 1 */
    int n = 12, ncols = 24, row0 = 12;
    float *S = gt_rand(&r, (size_t)n * ncols, -10, 10);
    float *dS_ = (float *)gt_upload(S, (size_t)n * ncols, 0);
    float *rl = (float *)gt_poisoned(n, 0), *dsg = (float *)gt_poisoned((size_t)n * ncols, 0);
    cuk_ntxent_rows(0, rl, dsg, dS_, n, ncols, row0, 1.0f / n);
    double *rrl = gt_dvec(n), *rds = gt_dvec((size_t)n * ncols);
    for (int i = 0; i < n; i++) {
        int self = row0 + i, pos = row0 + (i + n / 2) % n;
        double mx = -1e300, s = 0;
        for (int j = 0; j < ncols; j++) if (j != self && S[i * ncols + j] > mx) mx = S[i * ncols + j];
        for (int j = 0; j < ncols; j++) if (j != self) s += exp(S[i * ncols + j] - mx);
        rrl[i] = mx + log(s) - S[i * ncols + pos];
        for (int j = 0; j < ncols; j++)
            rds[i * ncols + j] = j == self ? 0 : (exp(S[i * ncols + j] - mx) / s - (j == pos)) / n;
    }
    gt_check("ntxent row losses", rl, rrl, n, 0, 1e-5);
    gt_check("ntxent dS", dsg, rds, (size_t)n * ncols, 0, 1e-5);
    double *dsum, hsum = 0;
    CUDA_CHECK(cudaMalloc(&dsum, sizeof(double)));
    cuk_sum_to_double(0, dsum, rl, n, 0.5);
    CUDA_CHECK(cudaMemcpy(&hsum, dsum, sizeof(double), cudaMemcpyDeviceToHost));
    double want = 0;
    for (int i = 0; i < n; i++) want += rrl[i] * 0.5;
    CHECK_NEAR(hsum, want, 1e-5 * fabs(want));

    /* supervised rows, one ignored label */
    int ncls = 300;
    float *L = gt_rand(&r, (size_t)n * ncls, -5, 5);
    int32_t lab[12];
    for (int i = 0; i < n; i++) lab[i] = (int32_t)rng_below(&r, (uint32_t)ncls);
    lab[4] = -1;
    float gs = 1.0f / 11;
    float *dL = (float *)gt_upload(L, (size_t)n * ncls, 0), *dgs = (float *)gt_upload(&gs, 1, 0);
    int32_t *dlab;
    CUDA_CHECK(cudaMalloc(&dlab, sizeof lab));
    CUDA_CHECK(cudaMemcpy(dlab, lab, sizeof lab, cudaMemcpyHostToDevice));
    float *crl = (float *)gt_poisoned(n, 0), *cdl = (float *)gt_poisoned((size_t)n * ncls, 0);
    cuk_softmax_ce_rows(0, crl, cdl, dL, dlab, n, ncls, dgs);
    double *rcl = gt_dvec(n), *rcd = gt_dvec((size_t)n * ncls);
    for (int i = 0; i < n; i++) {
        if (lab[i] < 0) continue;
        double mx = -1e300, s = 0;
        for (int j = 0; j < ncls; j++) mx = fmax(mx, L[i * ncls + j]);
        for (int j = 0; j < ncls; j++) s += exp(L[i * ncls + j] - mx);
        rcl[i] = mx + log(s) - L[i * ncls + lab[i]];
        for (int j = 0; j < ncls; j++) rcd[i * ncls + j] = (exp(L[i * ncls + j] - mx) / s - (j == lab[i])) / 11.0;
    }
    gt_check("cross-entropy row losses", crl, rcl, n, 0, 1e-5);
    gt_check("cross-entropy dlogits", cdl, rcd, (size_t)n * ncls, 0, 1e-5);
    cudaFree(dz_); cudaFree(zn); cudaFree(nr); cudaFree(dg); cudaFree(dzo); cudaFree(dS_); cudaFree(rl); cudaFree(dsg);
    cudaFree(dsum); cudaFree(dL); cudaFree(dgs); cudaFree(dlab); cudaFree(crl); cudaFree(cdl);
    free(z); free(rzn); free(rnr); free(g); free(rdz); free(S); free(rrl); free(rds); free(L); free(rcl); free(rcd);
}

/* ---- spatial loss ------------------------------------------------------------------------------------ */
/* Reference: loss and dL/dX (alpha included) for one layer, X [n][k], in double. */
static double sl_ref(const double *X, const float *coords, int n, int k, int kind, double alpha, double *dX) {
    double *Z = gt_dvec((size_t)n * k), *dv = gt_dvec(k);
    int *zv = (int *)xcalloc((size_t)k, sizeof(int));
    for (int j = 0; j < k; j++) {
        double m = 0, ss = 0;
        for (int i = 0; i < n; i++) m += X[i * k + j];
        m /= n;
        for (int i = 0; i < n; i++) ss += (X[i * k + j] - m) * (X[i * k + j] - m);
        zv[j] = !(ss > 0);
        dv[j] = zv[j] ? sqrt((double)(n - 1)) : sqrt(ss);
        for (int i = 0; i < n; i++) Z[i * k + j] = (X[i * k + j] - m) / dv[j];
    }
    double *R = gt_dvec((size_t)k * k), *Dm = gt_dvec((size_t)k * k), *G = gt_dvec((size_t)k * k);
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += Z[i * k + a] * Z[i * k + b];
            R[a * k + b] = s;
            double dx = (double)coords[2 * a] - coords[2 * b], dy = (double)coords[2 * a + 1] - coords[2 * b + 1];
            Dm[a * k + b] = 1 / (sqrt(dx * dx + dy * dy) + 1);
        }
    double P = k * (k - 1) / 2.0, sr = 0, sd = 0, srr = 0, sdd = 0, srd = 0, sab = 0;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < a; b++) {
            double rr = fmin(fmax(R[a * k + b], -1), 1), d = Dm[a * k + b];
            sr += rr; sd += d; srr += rr * rr; sdd += d * d; srd += rr * d; sab += fabs(rr - d);
        }
    double loss, rm = sr / P, dm = sd / P, saa = srr - P * rm * rm, sbb = sdd - P * dm * dm, sxy = srd - P * rm * dm;
    int degenerate = !(saa > 1e-12 * srr && sbb > 1e-12 * sdd);
    double rho = degenerate ? 0 : sxy / sqrt(saa * sbb);
    loss = kind == 0 ? (1 - rho) / 2 : sab / P;
    if (dX) {
        for (int a = 0; a < k; a++)
            for (int b = 0; b < a; b++) {
                double raw = R[a * k + b], rr = fmin(fmax(raw, -1), 1), d = Dm[a * k + b], g;
                if (raw < -1 || raw > 1 || (kind == 0 && degenerate)) g = 0;
                else if (kind == 0) g = -0.5 * ((d - dm) / sqrt(saa * sbb) - rho * (rr - rm) / saa);
                else g = (rr > d ? 1 : rr < d ? -1 : 0) / P;
                G[a * k + b] = G[b * k + a] = alpha * g;
            }
        for (int j = 0; j < k; j++) {
            double t = 0, mean = 0;
            double *dZ = gt_dvec(n);
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int b = 0; b < k; b++) s += Z[i * k + b] * G[b * k + j];
                dZ[i] = s;
                t += Z[i * k + j] * s;
            }
            if (zv[j]) t = 0;
            for (int i = 0; i < n; i++) mean += (dZ[i] - Z[i * k + j] * t) / dv[j];
            mean /= n;
            for (int i = 0; i < n; i++) dX[i * k + j] = (dZ[i] - Z[i * k + j] * t) / dv[j] - mean;
            free(dZ);
        }
    }
    free(Z); free(dv); free(zv); free(R); free(Dm); free(G);
    return loss;
}

TEST(cuda_spatial_loss_reference_fd) {
    /* the reference gradient above is itself checked by central differences (no GPU needed) */
    Rng r;
    rng_init(&r, gt_seed("cuda_spatial_loss_reference_fd"), 9);
    int n = 9, k = 7;
    double *X = gt_dvec((size_t)n * k), *dX = gt_dvec((size_t)n * k);
    float *coords = gt_rand(&r, 2 * (size_t)k, 0, 3);
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < n * k; i++) X[i] = rng_uniform(&r) * 2;
        sl_ref(X, coords, n, k, kind, 0.7, dX);
        double maxerr = 0;
        for (int t = 0; t < n * k; t++) {
            double h = 1e-6, x0 = X[t];
            X[t] = x0 + h;
            double lp = sl_ref(X, coords, n, k, kind, 0.7, NULL);
            X[t] = x0 - h;
            double lm = sl_ref(X, coords, n, k, kind, 0.7, NULL);
            X[t] = x0;
            double fd = 0.7 * (lp - lm) / (2 * h);
            double err = fabs(fd - dX[t]) / (fabs(fd) + 1e-4);
            if (err > maxerr) maxerr = err;
        }
        fprintf(stderr, "spatial loss kind %d: max relative FD error %.2e\n", kind, maxerr);
        CHECK_MSG(maxerr < 1e-4, "spatial loss kind %d reference gradient disagrees with finite differences (%.2e)", kind, maxerr);
    }
    free(X); free(dX); free(coords);
}

static void spatial_case(Rng *r, int bf, int serial_dupes) {
    const int nl = 3, n = 24;
    int k[3] = {40, 57, 5}, kind[3] = {0, 1, 0}, C[3] = {16, 8, 32}, HW[3] = {25, 49, 9};
    float alpha[3] = {0.25f, 1.5f, 0.5f};
    int kmax = 60; /* padded, a multiple of 4 */
    SpatialShape sh;
    memset(&sh, 0, sizeof sh);
    sh.nl = nl; sh.n = n; sh.kmax = kmax; sh.is_bf16 = bf;
    float *act[3];
    void *dact[3];
    int32_t *units = (int32_t *)xcalloc((size_t)nl * kmax, sizeof(int32_t));
    float *coords = (float *)xcalloc((size_t)nl * kmax * 2, sizeof(float));
    for (int l = 0; l < nl; l++) {
        size_t U = (size_t)C[l] * HW[l];
        act[l] = gt_rand(r, (size_t)n * U, -0.5f, 2.0f);
        for (size_t i = 0; i < (size_t)n * U; i++) if (act[l][i] < 0) act[l][i] = 0; /* ReLU-like, exact zeros */
        /* a dead unit (zero variance) in the neighbourhood of layer 0: unit 0 */
        for (int i = 0; i < n; i++) act[l][(size_t)i * U + 0] = 0;
        gt_round_all(act[l], (size_t)n * U, bf);
        dact[l] = gt_upload(act[l], (size_t)n * U, bf);
        int32_t *perm = (int32_t *)xmalloc(U * sizeof(int32_t));
        for (size_t u = 0; u < U; u++) perm[u] = (int32_t)u;
        rng_shuffle_i32(r, perm, (int64_t)U);
        if (l == 0) /* the dead unit 0 goes to position 3, once */
            for (size_t q = 0; q < U; q++)
                if (perm[q] == 0) { perm[q] = perm[3]; perm[3] = 0; break; }
        for (int j = 0; j < k[l]; j++) units[l * kmax + j] = perm[j];
        if (serial_dupes && l == 1) units[l * kmax + 5] = units[l * kmax + 9]; /* a repeated unit */
        free(perm);
        for (int j = 0; j < k[l]; j++) {
            coords[(l * kmax + j) * 2] = 3 * rng_uniform(r);
            coords[(l * kmax + j) * 2 + 1] = 3 * rng_uniform(r);
        }
        sh.k[l] = k[l]; sh.kind[l] = kind[l]; sh.alpha[l] = alpha[l]; sh.act[l] = dact[l]; sh.C[l] = C[l]; sh.HW[l] = HW[l];
    }
    int32_t *dunits;
    CUDA_CHECK(cudaMalloc(&dunits, sizeof(int32_t) * nl * kmax));
    CUDA_CHECK(cudaMemcpy(dunits, units, sizeof(int32_t) * nl * kmax, cudaMemcpyHostToDevice));
    float *dcoords = (float *)gt_upload(coords, (size_t)nl * kmax * 2, 0);
    SpatialBufs b;
    b.Z = (float *)gt_poisoned((size_t)nl * n * kmax, 0);
    b.dinv = (float *)gt_poisoned((size_t)nl * kmax * 2, 0);
    b.R = (float *)gt_poisoned((size_t)nl * kmax * kmax, 0);
    b.G = (float *)gt_poisoned((size_t)nl * kmax * kmax, 0);
    b.dZ = (float *)gt_poisoned((size_t)nl * n * kmax, 0);
    CUDA_CHECK(cudaMalloc(&b.part, sizeof(double) * nl * SPATIAL_PAIR_BLOCKS * 6));
    b.coef = (float *)gt_poisoned((size_t)nl * 4, 0);
    double *dloss;
    CUDA_CHECK(cudaMalloc(&dloss, sizeof(double) * nl));
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    cuk_spatial_forward_backward(0, h, &sh, dunits, dcoords, &b, dloss);
    double gl[3];
    CUDA_CHECK(cudaMemcpy(gl, dloss, sizeof gl, cudaMemcpyDeviceToHost));
    float *gdX = gt_download(b.dZ, (size_t)nl * n * kmax, 0);
    for (int l = 0; l < nl; l++) {
        size_t U = (size_t)C[l] * HW[l];
        double *X = gt_dvec((size_t)n * k[l]), *dX = gt_dvec((size_t)n * k[l]);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k[l]; j++) {
                int u = units[l * kmax + j], c = u / HW[l], hw = u % HW[l];
                X[i * k[l] + j] = act[l][(size_t)i * U + (size_t)hw * C[l] + c];
            }
        double ref = sl_ref(X, coords + (size_t)l * kmax * 2, n, k[l], kind[l], alpha[l], dX);
        fprintf(stderr, "spatial layer %d (%s, k %d) %s: loss %.9g ref %.9g\n", l, kind[l] ? "abs" : "rel", k[l], pname(bf), gl[l], ref);
        CHECK_NEAR(gl[l], ref, 1e-4 * fabs(ref) + 1e-6);
        float *g = (float *)xmalloc(sizeof(float) * n * k[l]), *rf = (float *)xmalloc(sizeof(float) * n * k[l]);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k[l]; j++) {
                g[i * k[l] + j] = gdX[((size_t)l * n + i) * kmax + j];
                rf[i * k[l] + j] = (float)dX[i * k[l] + j];
            }
        char what[64];
        snprintf(what, sizeof what, "spatial dX layer %d %s", l, pname(bf));
        t_check_rel(what, g, rf, (size_t)n * k[l], 1e-3);
        /* scatter into a gradient tensor */
        float *base = gt_rand(r, (size_t)n * U, -1, 1);
        gt_round_all(base, (size_t)n * U, bf);
        void *dbase = gt_upload(base, (size_t)n * U, bf);
        int serial = serial_dupes && l == 1;
        cuk_spatial_scatter(0, &sh, l, dunits, b.dZ, dbase, serial);
        double *rs = gt_dvec((size_t)n * U);
        for (size_t i = 0; i < (size_t)n * U; i++) rs[i] = base[i];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k[l]; j++) {
                int u = units[l * kmax + j], c = u / HW[l], hw = u % HW[l];
                rs[(size_t)i * U + (size_t)hw * C[l] + c] += gdX[((size_t)l * n + i) * kmax + j];
            }
        snprintf(what, sizeof what, "spatial scatter layer %d %s%s", l, pname(bf), serial ? " (repeated unit)" : "");
        gt_check(what, dbase, rs, (size_t)n * U, bf, bf ? 1e-2 : 1e-6);
        cudaFree(dbase);
        free(base); free(rs); free(X); free(dX); free(g); free(rf);
    }
    cublasDestroy(h);
    for (int l = 0; l < nl; l++) { cudaFree(dact[l]); free(act[l]); }
    cudaFree(dunits); cudaFree(dcoords); cudaFree(b.Z); cudaFree(b.dinv); cudaFree(b.R); cudaFree(b.G); cudaFree(b.dZ);
    cudaFree(b.part); cudaFree(b.coef); cudaFree(dloss);
    free(units); free(coords); free(gdX);
}

TEST(cuda_spatial_loss) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_spatial_loss"), 10);
    for (int bf = 0; bf < 2; bf++) spatial_case(&r, bf, 0);
    spatial_case(&r, 1, 1);
}

/* ---- SGD ------------------------------------------------------------------------------------------------ */
TEST(cuda_sgd) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_sgd"), 11);
    size_t n = 300001, nd = 200000, nsh = 123457;
    for (int nest = 0; nest < 2; nest++) {
        float *p = gt_rand(&r, n, -1, 1), *m = gt_rand(&r, n, -1, 1), *g = gt_rand(&r, n, -1, 1);
        float *dp = (float *)gt_upload(p, n, 0), *dm = (float *)gt_upload(m, n, 0), *dg = (float *)gt_upload(g, n, 0);
        CudaSgdParams sp = {0.3f, 0.9f, 1e-2f, nest};
        CudaSgdParams *dsp;
        CUDA_CHECK(cudaMalloc(&dsp, sizeof sp));
        CUDA_CHECK(cudaMemcpy(dsp, &sp, sizeof sp, cudaMemcpyHostToDevice));
        bf16 *shadow = (bf16 *)gt_poisoned(nsh, 1);
        cuk_sgd(0, dp, dm, dg, n, nd, dsp, shadow, nsh);
        double *rp = gt_dvec(n), *rm = gt_dvec(n), *rsh = gt_dvec(nsh);
        for (size_t i = 0; i < n; i++) {
            double gi = g[i] + (i < nd ? 1e-2 * p[i] : 0);
            double b = 0.9 * m[i] + gi;
            rm[i] = b;
            rp[i] = p[i] - 0.3 * (nest ? gi + 0.9 * b : b);
            if (i < nsh) rsh[i] = rp[i];
        }
        gt_check(nest ? "sgd params (nesterov)" : "sgd params", dp, rp, n, 0, 1e-6);
        gt_check(nest ? "sgd momentum (nesterov)" : "sgd momentum", dm, rm, n, 0, 1e-6);
        gt_check("sgd bf16 shadow", shadow, rsh, nsh, 1, 5e-3);
        cudaFree(dp); cudaFree(dm); cudaFree(dg); cudaFree(dsp); cudaFree(shadow);
        free(p); free(m); free(g); free(rp); free(rm); free(rsh);
    }
}

/* ---- convolutions through cuDNN ------------------------------------------------------------------------- */
static void conv_case(Rng *r, cudnnHandle_t h, int bf, int det, int n, int cin, int creal, int H, int cout, int k,
                      int stride, int pad, int need_dgrad) {
    char what[128];
    ConvShape s = {n, cin, H, H, cout, k, stride, pad, (H + 2 * pad - k) / stride + 1, (H + 2 * pad - k) / stride + 1,
                   bf, need_dgrad};
    int Ho = s.hout;
    size_t nx = (size_t)n * H * H * cin, nw = (size_t)cout * k * k * cin, ny = (size_t)n * Ho * Ho * cout;
    float *x = gt_rand(r, nx, -1, 1), *w = gt_rand(r, nw, -0.3f, 0.3f), *gy = gt_rand(r, ny, -1, 1);
    for (size_t i = 0; i < nx; i++) if ((int)(i % cin) >= creal) x[i] = 0; /* zero padding channels (stem) */
    gt_round_all(x, nx, bf); gt_round_all(w, nw, bf); gt_round_all(gy, ny, bf);
    void *dx = gt_upload(x, nx, bf), *dw = gt_upload(w, nw, bf), *dgy = gt_upload(gy, ny, bf);
    void *y = gt_poisoned(ny, bf), *gx = gt_poisoned(nx, bf), *gw = gt_poisoned(nw, bf);
    void *sx = gt_poisoned(nx, bf), *sw = gt_poisoned(nw, bf);
    size_t wsb = (size_t)64 << 20;
    void *ws;
    CUDA_CHECK(cudaMalloc(&ws, wsb));
    ConvPlan *p = conv_plan_create(h, &s, det, ws, wsb, dx, dw, y, sx, sw);
    char alg[64];
    conv_plan_describe(p, alg, sizeof alg);
    conv_forward(p, h, dx, dw, y, ws, wsb);
    if (need_dgrad) conv_backward_data(p, h, dgy, dw, gx, ws, wsb);
    conv_backward_filter(p, h, dx, dgy, gw, ws, wsb);
    double *ry = gt_dvec(ny), *rgx = gt_dvec(nx), *rgw = gt_dvec(nw);
    for (int i = 0; i < n; i++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Ho; ow++)
                for (int o = 0; o < cout; o++) {
                    size_t yo = (((size_t)i * Ho + oh) * Ho + ow) * cout + o;
                    double acc = 0;
                    for (int kh = 0; kh < k; kh++)
                        for (int kw = 0; kw < k; kw++) {
                            int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                            if (ih < 0 || ih >= H || iw < 0 || iw >= H) continue;
                            for (int c = 0; c < cin; c++) {
                                size_t xi = (((size_t)i * H + ih) * H + iw) * cin + c, wi = (((size_t)o * k + kh) * k + kw) * cin + c;
                                acc += (double)x[xi] * w[wi];
                                rgx[xi] += (double)gy[yo] * w[wi];
                                rgw[wi] += (double)gy[yo] * x[xi];
                            }
                        }
                    ry[yo] = acc;
                }
    double tol = bf ? 1e-2 : 1e-3; /* fp32: cuDNN may pick FFT / Winograd algorithms (errors ~1e-5..1e-4) */
    snprintf(what, sizeof what, "conv %dx%d/%d %d->%d %s fwd [%s]", k, k, stride, cin, cout, pname(bf), alg);
    gt_check(what, y, ry, ny, bf, tol);
    if (need_dgrad) {
        snprintf(what, sizeof what, "conv %dx%d/%d %d->%d %s dgrad", k, k, stride, cin, cout, pname(bf));
        gt_check(what, gx, rgx, nx, bf, tol);
    }
    snprintf(what, sizeof what, "conv %dx%d/%d %d->%d %s wgrad", k, k, stride, cin, cout, pname(bf));
    gt_check(what, gw, rgw, nw, bf, tol);
    conv_plan_free(p);
    cudaFree(dx); cudaFree(dw); cudaFree(dgy); cudaFree(y); cudaFree(gx); cudaFree(gw); cudaFree(sx); cudaFree(sw); cudaFree(ws);
    free(x); free(w); free(gy); free(ry); free(rgx); free(rgw);
}

TEST(cuda_conv_cudnn) {
    NEED_GPU();
    Rng r;
    rng_init(&r, gt_seed("cuda_conv_cudnn"), 12);
    cudnnHandle_t h;
    CUDNN_CHECK(cudnnCreate(&h));
    for (int bf = 0; bf < 2; bf++) {
        conv_case(&r, h, bf, 0, 3, 16, 16, 11, 24, 3, 1, 1, 1);
        conv_case(&r, h, bf, 1, 2, 16, 16, 12, 32, 3, 2, 1, 1);  /* deterministic algorithms */
        conv_case(&r, h, bf, 0, 2, 16, 16, 12, 32, 1, 2, 0, 1);  /* downsample 1x1/2 */
        conv_case(&r, h, bf, 0, 2, bf ? 8 : 4, 3, 20, 16, 7, 2, 3, 0); /* stem: padded input channels, no dgrad */
        if (bf) conv_case(&r, h, bf, 0, 2, 4, 3, 20, 16, 7, 2, 3, 0);   /* bf16 stem with 4 input channels (the engine may pick 4) */
        /* width 0.3 (odd-width engine test): channel counts 19, 38, 77, 154 */
        conv_case(&r, h, bf, 0, 2, 4, 3, 20, 19, 7, 2, 3, 0);           /* stem 3 (padded to 4) -> 19 */
        if (bf) conv_case(&r, h, bf, 0, 2, 8, 3, 20, 19, 7, 2, 3, 0);   /* stem 3 (padded to 8) -> 19 */
        conv_case(&r, h, bf, 0, 2, 19, 19, 8, 19, 3, 1, 1, 1);          /* layer1 */
        conv_case(&r, h, bf, 0, 2, 19, 19, 8, 38, 3, 2, 1, 1);          /* layer2.0 conv1 */
        conv_case(&r, h, bf, 0, 2, 19, 19, 8, 38, 1, 2, 0, 1);          /* layer2.0 downsample */
        conv_case(&r, h, bf, 0, 2, 77, 77, 4, 154, 3, 2, 1, 1);         /* layer4.0 conv1 */
        conv_case(&r, h, bf, 1, 2, 77, 77, 4, 77, 3, 1, 1, 1);          /* deterministic, odd both sides */
    }
    cudnnDestroy(h);
}

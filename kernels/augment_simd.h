/* augment_simd.h: SIMD helpers private to kernels/augment_cpu.c (not an API; include nowhere else).
 *
 * 1. Register-wide vectors through GCC/clang vector extensions: vi32 / vu32 / vf32 are VL int32 /
 *    uint32 / float lanes (VL = 16 with AVX-512, 8 with AVX2, 4 otherwise). Comparisons give -1
 *    (true) or 0 per lane; V_SEL(mask, a, b) picks per lane. Bytes come in and go out through
 *    v_load / v_store (zero-extend VL bytes to VL lanes; VL lanes in 0..255 to bytes), with
 *    intrinsics where GCC's generic conversions are slow. vu16 holds W16 uint16 lanes (a register's
 *    worth: 32 with AVX-512BW), with v16_load / v16_store / v16_mulhi likewise.
 * 2. 16 x 16 byte tile transposes, TW tiles side by side per register (4 with AVX-512BW, 2 with AVX2,
 *    1 with SSE2; a scalar loop elsewhere):
 *      tiles_rows_to_cols(dst, ds, src, ss): src is 16 rows (stride ss) of 16 * TW bytes; column x of
 *        them (16 bytes, one per row) goes to dst + x * ds.
 *      tiles_cols_to_rows(dst, ds, src, ss): the inverse: column x is read from src + x * ss
 *        (16 bytes), row j (16 * TW bytes) is written to dst + j * ds.
 *    tile1_* do one tile with 128-bit registers (for the ragged end of a row). All vectors stay
 *    in registers: four rounds of in-place unpacks (8, 16, 32, 64-bit) over register pairs that
 *    differ in index bit 3, 2, 1, 0 leave column c in register c when register i was loaded with
 *    row bitrev4(i).
 * Helpers are static and always inlined; vectors are passed by pointer (GCC notes by-value vector
 * parameters of 64 bytes without AVX-512 even when inlined), and the "vector return changes the
 * ABI without AVX-512" warning cannot apply to file-local inlined functions, hence -Wpsabi off.
 */
#ifndef TDANN_AUGMENT_SIMD_H
#define TDANN_AUGMENT_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#pragma GCC diagnostic ignored "-Wpsabi"

/* VL lanes: the widest registers -march gives (wider generic vectors are lowered badly by GCC 12:
 * comparisons of 64-byte vectors on AVX2 become scalar code). */
#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX2__)
#define VL 8
#else
#define VL 4
#endif
typedef int32_t vi32 __attribute__((vector_size(VL * 4)));
typedef uint32_t vu32 __attribute__((vector_size(VL * 4)));
typedef float vf32 __attribute__((vector_size(VL * 4)));

#define V_INLINE static inline __attribute__((always_inline))
#define V_SEL(m, a, b) (((m) & (a)) | (~(m) & (b)))
#define V_SELF(m, a, b) ((vf32)V_SEL((m), (vi32)(a), (vi32)(b)))
#define V_MAX(a, b) V_SEL((a) > (b), (a), (b))
#define V_MIN(a, b) V_SEL((a) < (b), (a), (b))
#define V_I2F(x) __builtin_convertvector((x), vf32)
#define V_F2I(x) __builtin_convertvector((x), vi32) /* truncation toward zero */
#define V_SPLAT(x) ((vi32){0} + (x))

/* VL bytes, zero-extended to VL lanes */
V_INLINE vi32 v_load(const uint8_t *p) {
#if defined(__AVX512F__)
    return (vi32)_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
#elif defined(__AVX2__)
    return (vi32)_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
#elif defined(__SSE2__)
    int32_t w;
    memcpy(&w, p, 4);
    __m128i z = _mm_setzero_si128(), x = _mm_cvtsi32_si128(w);
    return (vi32)_mm_unpacklo_epi16(_mm_unpacklo_epi8(x, z), z);
#else
    vi32 r;
    for (int i = 0; i < VL; i++) r[i] = p[i];
    return r;
#endif
}

/* VL lanes in 0..255 to VL bytes */
V_INLINE void v_store(uint8_t *p, const vi32 *xp) {
#if defined(__AVX512F__)
    _mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8((__m512i)*xp));
#elif defined(__AVX2__)
    __m256i x = (__m256i)*xp;
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1));
    _mm_storel_epi64((__m128i *)p, _mm_packus_epi16(w, w));
#elif defined(__SSE2__)
    __m128i w = _mm_packs_epi32((__m128i)*xp, (__m128i)*xp);
    int32_t b = _mm_cvtsi128_si32(_mm_packus_epi16(w, w));
    memcpy(p, &b, 4);
#else
    for (int i = 0; i < VL; i++) p[i] = (uint8_t)(*xp)[i];
#endif
}

/* ---- 16-bit lanes: W16 uint16 lanes per register (32 with AVX-512BW, 16 with AVX2, 8 otherwise) ---- */
#if defined(__AVX512BW__)
#define W16 32
#elif defined(__AVX2__)
#define W16 16
#else
#define W16 8
#endif
typedef uint16_t vu16 __attribute__((vector_size(W16 * 2)));

/* W16 bytes, zero-extended to W16 lanes */
V_INLINE vu16 v16_load(const uint8_t *p) {
#if defined(__AVX512BW__)
    return (vu16)_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
#elif defined(__AVX2__)
    return (vu16)_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
#elif defined(__SSE2__)
    return (vu16)_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)p), _mm_setzero_si128());
#else
    vu16 r;
    for (int i = 0; i < W16; i++) r[i] = p[i];
    return r;
#endif
}

/* W16 lanes in 0..255 to W16 bytes */
V_INLINE void v16_store(uint8_t *p, const vu16 *xp) {
#if defined(__AVX512BW__)
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi16_epi8((__m512i)*xp));
#elif defined(__AVX2__)
    __m256i x = (__m256i)*xp;
    _mm_storeu_si128((__m128i *)p, _mm_packus_epi16(_mm256_castsi256_si128(x), _mm256_extracti128_si256(x, 1)));
#elif defined(__SSE2__)
    _mm_storel_epi64((__m128i *)p, _mm_packus_epi16((__m128i)*xp, (__m128i)*xp));
#else
    for (int i = 0; i < W16; i++) p[i] = (uint8_t)(*xp)[i];
#endif
}

/* high 16 bits of the 32-bit products */
V_INLINE vu16 v16_mulhi(const vu16 *a, const vu16 *b) {
#if defined(__AVX512BW__)
    return (vu16)_mm512_mulhi_epu16((__m512i)*a, (__m512i)*b);
#elif defined(__AVX2__)
    return (vu16)_mm256_mulhi_epu16((__m256i)*a, (__m256i)*b);
#elif defined(__SSE2__)
    return (vu16)_mm_mulhi_epu16((__m128i)*a, (__m128i)*b);
#else
    vu16 r;
    for (int i = 0; i < W16; i++) r[i] = (uint16_t)(((uint32_t)(*a)[i] * (*b)[i]) >> 16);
    return r;
#endif
}

/* ---- tile transposes ------------------------------------------------------------------------------ */
static const uint8_t TILE_BITREV4[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};

#define TILE_ROUNDS(a, LO8, HI8, LO16, HI16, LO32, HI32, LO64, HI64) do { \
        _Pragma("GCC unroll 16") for (int i_ = 0; i_ < 8; i_++) { \
            __typeof__(a[0]) x_ = LO8(a[i_], a[i_ + 8]), y_ = HI8(a[i_], a[i_ + 8]); \
            a[i_] = x_; a[i_ + 8] = y_; } \
        _Pragma("GCC unroll 16") for (int i_ = 0; i_ < 16; i_++) if (!(i_ & 4)) { \
            __typeof__(a[0]) x_ = LO16(a[i_], a[i_ + 4]), y_ = HI16(a[i_], a[i_ + 4]); \
            a[i_] = x_; a[i_ + 4] = y_; } \
        _Pragma("GCC unroll 16") for (int i_ = 0; i_ < 16; i_++) if (!(i_ & 2)) { \
            __typeof__(a[0]) x_ = LO32(a[i_], a[i_ + 2]), y_ = HI32(a[i_], a[i_ + 2]); \
            a[i_] = x_; a[i_ + 2] = y_; } \
        _Pragma("GCC unroll 16") for (int i_ = 0; i_ < 16; i_ += 2) { \
            __typeof__(a[0]) x_ = LO64(a[i_], a[i_ + 1]), y_ = HI64(a[i_], a[i_ + 1]); \
            a[i_] = x_; a[i_ + 1] = y_; } \
    } while (0)

#if defined(__SSE2__)
#define TILE_ROUNDS_128(a) TILE_ROUNDS(a, _mm_unpacklo_epi8, _mm_unpackhi_epi8, _mm_unpacklo_epi16, _mm_unpackhi_epi16, \
                                       _mm_unpacklo_epi32, _mm_unpackhi_epi32, _mm_unpacklo_epi64, _mm_unpackhi_epi64)
V_INLINE void tile1_rows_to_cols(uint8_t *dst, size_t ds, const uint8_t *src, size_t ss) {
    __m128i a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128((const __m128i *)(src + TILE_BITREV4[i] * ss));
    TILE_ROUNDS_128(a);
    for (int c = 0; c < 16; c++) _mm_storeu_si128((__m128i *)(dst + c * ds), a[c]);
}
#define tile1_cols_to_rows tile1_rows_to_cols /* one tile: the same transpose */
#else
V_INLINE void tile1_rows_to_cols(uint8_t *dst, size_t ds, const uint8_t *src, size_t ss) {
    for (int c = 0; c < 16; c++)
        for (int i = 0; i < 16; i++) dst[c * ds + i] = src[i * ss + c];
}
#define tile1_cols_to_rows tile1_rows_to_cols
#endif

#if defined(__AVX512BW__)
enum { TILE_W = 4 };
#define TILE_ROUNDS_W(a) TILE_ROUNDS(a, _mm512_unpacklo_epi8, _mm512_unpackhi_epi8, _mm512_unpacklo_epi16, \
                                     _mm512_unpackhi_epi16, _mm512_unpacklo_epi32, _mm512_unpackhi_epi32, \
                                     _mm512_unpacklo_epi64, _mm512_unpackhi_epi64)
V_INLINE void tiles_rows_to_cols(uint8_t *dst, size_t ds, const uint8_t *src, size_t ss) {
    __m512i a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm512_loadu_si512((const void *)(src + TILE_BITREV4[i] * ss));
    TILE_ROUNDS_W(a);
    for (int c = 0; c < 16; c++) {
        _mm_storeu_si128((__m128i *)(dst + c * ds), _mm512_castsi512_si128(a[c]));
        _mm_storeu_si128((__m128i *)(dst + (16 + c) * ds), _mm512_extracti32x4_epi32(a[c], 1));
        _mm_storeu_si128((__m128i *)(dst + (32 + c) * ds), _mm512_extracti32x4_epi32(a[c], 2));
        _mm_storeu_si128((__m128i *)(dst + (48 + c) * ds), _mm512_extracti32x4_epi32(a[c], 3));
    }
}
V_INLINE void tiles_cols_to_rows(uint8_t *dst, size_t ds, const uint8_t *src, size_t ss) {
    __m512i a[16];
    for (int i = 0; i < 16; i++) {
        const uint8_t *s = src + TILE_BITREV4[i] * ss;
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)s));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(s + 16 * ss)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(s + 32 * ss)), 2);
        a[i] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(s + 48 * ss)), 3);
    }
    TILE_ROUNDS_W(a);
    for (int c = 0; c < 16; c++) _mm512_storeu_si512((void *)(dst + c * ds), a[c]);
}
#elif defined(__AVX2__)
enum { TILE_W = 2 };
#define TILE_ROUNDS_W(a) TILE_ROUNDS(a, _mm256_unpacklo_epi8, _mm256_unpackhi_epi8, _mm256_unpacklo_epi16, \
                                     _mm256_unpackhi_epi16, _mm256_unpacklo_epi32, _mm256_unpackhi_epi32, \
                                     _mm256_unpacklo_epi64, _mm256_unpackhi_epi64)
V_INLINE void tiles_rows_to_cols(uint8_t *dst, size_t ds, const uint8_t *src, size_t ss) {
    __m256i a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm256_loadu_si256((const __m256i *)(src + TILE_BITREV4[i] * ss));
    TILE_ROUNDS_W(a);
    for (int c = 0; c < 16; c++) {
        _mm_storeu_si128((__m128i *)(dst + c * ds), _mm256_castsi256_si128(a[c]));
        _mm_storeu_si128((__m128i *)(dst + (16 + c) * ds), _mm256_extracti128_si256(a[c], 1));
    }
}
V_INLINE void tiles_cols_to_rows(uint8_t *dst, size_t ds, const uint8_t *src, size_t ss) {
    __m256i a[16];
    for (int i = 0; i < 16; i++) {
        const uint8_t *s = src + TILE_BITREV4[i] * ss;
        a[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)s)),
                                       _mm_loadu_si128((const __m128i *)(s + 16 * ss)), 1);
    }
    TILE_ROUNDS_W(a);
    for (int c = 0; c < 16; c++) _mm256_storeu_si256((__m256i *)(dst + c * ds), a[c]);
}
#else
enum { TILE_W = 1 };
#define tiles_rows_to_cols tile1_rows_to_cols
#define tiles_cols_to_rows tile1_cols_to_rows
#endif

#endif

/* The compute floor for ULA on the 8-mode ring: one fused pass per step over all chains,
 * structure of arrays, float32, SIMD across chains, nothing but x and y in memory:
 *   x' = x - eps * grad E(x) + sqrt(2 eps) * xi,  E(x) = -log sum_k N(x; mu_k, s^2 I) / K.
 * To let the compiler vectorise it, exp is a degree-5 polynomial after range reduction and the
 * normals are Irwin-Hall sums of 4 uniforms from a per-chain xorshift32 stream (approximate:
 * this is a speed floor, not a sampler).
 * Built by benchmarks/samplers.py with: cc -O3 -march=native -ffast-math -fopenmp-simd */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static inline float fast_exp(float x) {
    x = fmaxf(x, -80.0f);
    float t = x * 1.442695041f;
    float fi = floorf(t);
    float f = t - fi;
    float p = 1.0f + f * (0.6931472f + f * (0.2402265f + f * (0.05550411f
              + f * (0.009618129f + f * 0.001333355f))));
    union { int32_t i; float f; } u;
    u.i = ((int32_t)fi + 127) << 23;
    return p * u.f;
}

static inline float uniform(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    *s = x;
    return (float)(int32_t)(x >> 8) * (1.0f / 16777216.0f);
}

void ula_ring(float *restrict px, float *restrict py, int n, int steps, float eps,
              const float *restrict mx, const float *restrict my, int k, float inv_var,
              uint32_t seed) {
    uint32_t *st = malloc(sizeof(uint32_t) * n);
    for (int i = 0; i < n; i++) st[i] = (seed ^ (2654435761u * (uint32_t)(i + 1))) | 1u;
    const float noise = sqrtf(2.0f * eps) * 1.7320508f;  /* Irwin-Hall(4): var 1/3 */
    float cx[8], cy[8];
    for (int j = 0; j < 8; j++) { cx[j] = mx[j % k]; cy[j] = my[j % k]; }
    for (int t = 0; t < steps; t++) {
#pragma omp simd
        for (int i = 0; i < n; i++) {
            float x = px[i], y = py[i];
            float top = -1e30f;
            for (int j = 0; j < 8; j++) {
                float dx = x - cx[j], dy = y - cy[j];
                top = fmaxf(top, -0.5f * inv_var * (dx * dx + dy * dy));
            }
            float z = 0.f, gx = 0.f, gy = 0.f;
            for (int j = 0; j < 8; j++) {
                float dx = x - cx[j], dy = y - cy[j];
                float w = fast_exp(-0.5f * inv_var * (dx * dx + dy * dy) - top);
                z += w;
                gx += w * dx;
                gy += w * dy;
            }
            uint32_t s = st[i];
            float n1 = uniform(&s) + uniform(&s) + uniform(&s) + uniform(&s) - 2.0f;
            float n2 = uniform(&s) + uniform(&s) + uniform(&s) + uniform(&s) - 2.0f;
            st[i] = s;
            float sc = eps * inv_var / z;
            px[i] = x - sc * gx + noise * n1;
            py[i] = y - sc * gy + noise * n2;
        }
    }
    free(st);
}

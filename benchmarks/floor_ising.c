/* Compute floors for the 2-D Ising model (J = 1, h = 0, periodic L x L, one lattice):
 *
 *   gibbs_checkerboard: heat-bath sweeps, colour 0 then colour 1, int8 spins updated in place,
 *     the five possible flip probabilities tabulated, one xorshift32 uniform per site; one
 *     fused pass per colour, no temporaries.
 *   wolff: single-cluster flips grown with an explicit stack (each spin visited once per
 *     cluster, bonds to aligned neighbours added with p = 1 - exp(-2/T)); returns the number
 *     of spins flipped.
 *
 * Speed floors, not library code: float32 uniforms from xorshift32 (not a research-grade RNG).
 * Built by benchmarks/discrete.py with: cc -O3 -march=native -shared -fPIC */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static inline uint32_t xs32(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return *s = x;
}

static inline float unif(uint32_t *s) { return (float)(xs32(s) >> 8) * (1.0f / 16777216.0f); }

void gibbs_checkerboard(int8_t *restrict s, int L, int sweeps, float beta, uint32_t seed) {
    /* P(s_i = +1 | neighbours) = 1 / (1 + exp(-2 beta f)), f = sum of the 4 neighbours. */
    float p_up[9];
    for (int f = -4; f <= 4; f++) p_up[f + 4] = 1.0f / (1.0f + expf(-2.0f * beta * f));
    uint32_t st = seed | 1u;
    for (int t = 0; t < sweeps; t++) {
        for (int colour = 0; colour < 2; colour++) {
            for (int r = 0; r < L; r++) {
                const int8_t *up = s + ((r + L - 1) % L) * L, *dn = s + ((r + 1) % L) * L;
                int8_t *row = s + r * L;
                for (int c = (r + colour) & 1; c < L; c += 2) {
                    int f = up[c] + dn[c] + row[c == 0 ? L - 1 : c - 1]
                            + row[c == L - 1 ? 0 : c + 1];
                    row[c] = unif(&st) < p_up[f + 4] ? 1 : -1;
                }
            }
        }
    }
}

long wolff(int8_t *restrict s, int L, int clusters, float beta, uint32_t seed) {
    const float p_add = 1.0f - expf(-2.0f * beta);
    const int n = L * L;
    int *stack = malloc(sizeof(int) * n);
    uint32_t st = seed | 1u;
    long flipped = 0;
    for (int k = 0; k < clusters; k++) {
        int i = (int)(xs32(&st) % (uint32_t)n);
        const int8_t old = s[i];
        int top = 0;
        stack[top++] = i;
        s[i] = -old; /* flipped on entry: marks the spin as in the cluster */
        flipped++;
        while (top) {
            const int j = stack[--top];
            const int r = j / L, c = j % L;
            const int nb[4] = {r * L + (c + 1) % L, r * L + (c + L - 1) % L,
                               ((r + 1) % L) * L + c, ((r + L - 1) % L) * L + c};
            for (int q = 0; q < 4; q++) {
                const int m = nb[q];
                if (s[m] == old && unif(&st) < p_add) {
                    s[m] = -old;
                    stack[top++] = m;
                    flipped++;
                }
            }
        }
    }
    free(stack);
    return flipped;
}

// Tensor-core products of four-bit weights for 5 to 64 rows.
#pragma once
#include "matvec.cuh"

// Batches of 5 to 64 rows with four-bit weights: tensor-core products (mma m16n8k16, bf16 in, float32 sums) that read
// the repacked codes once, where expanding them to bf16 for cuBLAS moves 4.5 bytes per weight. A warp takes 16 * MT
// features and 8 * NT activation rows (x in bf16); the block's W warps split the input and add their sums in a fixed
// order. The order of the products within a tile is free as long as weights and activations agree:
// k-step (ci, gg) gives thread (g = lane / 4, t = lane % 4) the four weights 128 gg + 4 (t + 4 ci) + 0..3 of its rows
// g and g + 8, which are one byte pair of its chunk t + 4 ci of the tile, and the same four activations of row g.
// Needs sm_80 or newer; the backend launches it only there.

__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t selector) {
    uint32_t d;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(selector));
    return d;
}

// The codebook in bf16 as byte planes for codes4_bf16: lo[i] and hi[i] hold the low and high bytes of entries 4i..4i+3.
// Read at a lane-dependent copy, so that the compiler keeps them in ordinary registers (from uniform ones it copied
// them back before every use).
__device__ __forceinline__ void bf16_codebook_planes(const float* codebook, uint32_t* lo, uint32_t* hi) {
    __shared__ __align__(16) uint32_t table[2][8];
    if (threadIdx.x < 32) {
        __nv_bfloat16 v = __float2bfloat16_rn(codebook[threadIdx.x & 15]);
        reinterpret_cast<unsigned short*>(table)[threadIdx.x] = *reinterpret_cast<unsigned short*>(&v);
    }
    __syncthreads();
    uint32_t t[8];
    *reinterpret_cast<uint4*>(t) = reinterpret_cast<const uint4*>(table[threadIdx.x & 1])[0];
    *reinterpret_cast<uint4*>(t + 4) = reinterpret_cast<const uint4*>(table[threadIdx.x & 1])[1];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        lo[i] = prmt(t[2 * i], t[2 * i + 1], 0x6420);
        hi[i] = prmt(t[2 * i], t[2 * i + 1], 0x7531);
    }
}

// The bf16 codebook values of the four codes in the low 16 bits of `pair` (two bytes, each its high nibble first), by
// byte permutes instead of a shared-memory load per code: `byte0Values` holds the first byte's two values (high nibble
// in the low half), `byte1Values` the second byte's.
__device__ __forceinline__ void codes4_bf16(uint32_t pair, const uint32_t* lo, const uint32_t* hi, uint32_t& byte0Values,
                                            uint32_t& byte1Values) {
    uint32_t index = pair & 0x7777u, upper = 0x3210u | ((pair >> 1) & 0x4444u);  // entry within a half; which half
    uint32_t l = prmt(prmt(lo[0], lo[1], index), prmt(lo[2], lo[3], index), upper);
    uint32_t u = prmt(prmt(hi[0], hi[1], index), prmt(hi[2], hi[3], index), upper);
    byte0Values = prmt(l, u, 0x4051);
    byte1Values = prmt(l, u, 0x6273);
}

__device__ __forceinline__ uint32_t bf16_scaled(uint32_t pair, __nv_bfloat162 scale) {
    __nv_bfloat162 v = __hmul2(*reinterpret_cast<__nv_bfloat162*>(&pair), scale);
    return *reinterpret_cast<uint32_t*>(&v);
}

template <int MT, int NT, int W, int E>
__device__ void mma_4bit_body(int block, const __nv_bfloat16* x, const uint8_t* w, const float* scales, const float* codebook,
                              int blockShift, float* out, int rows, int in, int outCols) {
#if __CUDA_ARCH__ >= 800
    __shared__ float sums[W / 2][MT * NT * 4][32];
    int first = block * 16 * MT;
    pdl_launch_next();
    uint32_t lo[4], hi[4];
    bf16_codebook_planes(codebook, lo, hi);
    pdl_wait();
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const uint4* codes[MT][2];
    const float* rowScales[MT][2];
#pragma unroll
    for (int m = 0; m < MT; m++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            long long rowBase = (long long) min(first + 16 * m + 8 * h + g, outCols - 1) * in;
            codes[m][h] = reinterpret_cast<const uint4*>(w + (rowBase >> 1)) + t;
            rowScales[m][h] = scales + (rowBase >> blockShift);
        }
    }
    const __nv_bfloat16* xRow[NT];
#pragma unroll
    for (int n = 0; n < NT; n++) xRow[n] = x + (long long) min(8 * n + g, rows - 1) * in;
    float acc[MT][NT][4] = {};
    // the block's warps split (tile, chunk) units, so that even one tile keeps them all busy
    int units = in / TILE_4BIT * 8;
#pragma unroll 2
    for (int unit = warp; unit < units; unit += W) {
        int tile = unit >> 3, ci = unit & 7;
        {
            uint4 c[MT][2];
#pragma unroll
            for (int m = 0; m < MT; m++)
#pragma unroll
                for (int h = 0; h < 2; h++) c[m][h] = codes[m][h][tile * (TILE_4BIT / 32) + 4 * ci];
#pragma unroll
            for (int gg = 0; gg < 8; gg++) {
                int k = tile * TILE_4BIT + 128 * gg + 4 * (t + 4 * ci);
                uint32_t b[NT][2];
#pragma unroll
                for (int n = 0; n < NT; n++) {
                    uint2 v = 8 * n + g < rows ? *reinterpret_cast<const uint2*>(xRow[n] + k) : make_uint2(0, 0);
                    b[n][0] = v.x;
                    b[n][1] = v.y;
                }
#pragma unroll
                for (int m = 0; m < MT; m++) {
                    uint32_t a[4];
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        uint32_t word = (gg >> 1) == 0 ? c[m][h].x : (gg >> 1) == 1 ? c[m][h].y : (gg >> 1) == 2 ? c[m][h].z : c[m][h].w;
                        __nv_bfloat162 s = __float2bfloat162_rn(rowScales[m][h][k >> blockShift]);
                        uint32_t byte0Values, byte1Values;
                        codes4_bf16(word >> (16 * (gg & 1)), lo, hi, byte0Values, byte1Values);
                        a[h] = bf16_scaled(byte0Values, s);
                        a[2 + h] = bf16_scaled(byte1Values, s);
                    }
#pragma unroll
                    for (int n = 0; n < NT; n++) {
                        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                                     "{%0,%1,%2,%3};"
                                     : "+f"(acc[m][n][0]), "+f"(acc[m][n][1]), "+f"(acc[m][n][2]), "+f"(acc[m][n][3])
                                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[n][0]), "r"(b[n][1]));
                    }
                }
            }
        }
    }
    // the upper half of the warps hands its sums to the lower half, which then leaves them for the final sum
    if (warp >= W / 2) {
#pragma unroll
        for (int m = 0; m < MT; m++)
#pragma unroll
            for (int n = 0; n < NT; n++)
#pragma unroll
                for (int i = 0; i < 4; i++) sums[warp - W / 2][(m * NT + n) * 4 + i][lane] = acc[m][n][i];
    }
    __syncthreads();
    if (warp < W / 2) {
#pragma unroll
        for (int m = 0; m < MT; m++)
#pragma unroll
            for (int n = 0; n < NT; n++)
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    float* slot = &sums[warp][(m * NT + n) * 4 + i][lane];
                    *slot += acc[m][n][i];
                }
    }
    __syncthreads();
    // sum i of lane l: feature first + 16 m + g(l) + 8 (i / 2), row 8 n + 2 t(l) + i % 2
    for (int j = threadIdx.x; j < MT * NT * 4 * 32; j += blockDim.x) {
        int l = j & 31, i = (j >> 5) & 3, mn = j >> 7, m = mn / NT, n = mn % NT;
        int feature = first + 16 * m + (l >> 2) + 8 * (i >> 1), row = 8 * n + 2 * (l & 3) + (i & 1);
        if (feature < outCols && row < rows) {
            float s = 0.f;
#pragma unroll
            for (int v = 0; v < W / 2; v++) s += sums[v][j >> 5][l];
            put_sum<E>(out + (long long) row * outCols + feature, s);
        }
    }
#else
    __trap();
#endif
}

// Launched with 32 * W threads and ceil(outCols / (16 * MT)) blocks; at most 8 * NT rows.
#define MMA_KERNELS(MT, NT, W)                                                                                                     \
    extern "C" __global__ void __launch_bounds__(32 * W) mma_4bit_m##MT##_n##NT##_w##W(const __nv_bfloat16* x, const uint8_t* w,  \
            const float* scales, const float* codebook, int blockShift, float* out, int rows, int in, int outCols) {              \
        mma_4bit_body<MT, NT, W, EPI_STORE>(blockIdx.x, x, w, scales, codebook, blockShift, out, rows, in, outCols);              \
    }                                                                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * W) mma_4bit_m##MT##_n##NT##_w##W##_add(const __nv_bfloat16* x,               \
            const uint8_t* w, const float* scales, const float* codebook, int blockShift, float* out, int rows, int in,            \
            int outCols) {                                                                                                         \
        mma_4bit_body<MT, NT, W, EPI_ADD>(blockIdx.x, x, w, scales, codebook, blockShift, out, rows, in, outCols);                 \
    }                                                                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * W) mma_4bit_m##MT##_n##NT##_w##W##_trio(const __nv_bfloat16* x,              \
            const float* codebook, int blockShift, int rows, int in, TRIO_PARAMS) {                                                \
        Trio p = trio_pick(16 * MT, TRIO_ARGS);                                                                                    \
        mma_4bit_body<MT, NT, W, EPI_STORE>(p.block, x, p.w, p.scales, codebook, blockShift, p.out, rows, in, p.outCols);          \
    }

// a row of MMA_TABLE (constants.cuh); the fewest outputs are the host's choice
#define MMA_VARIANT(MT, NT, W, MIN_OUTPUTS) MMA_KERNELS(MT, NT, W)
MMA_TABLE(MMA_VARIANT)

// Decode-sized four-bit products (float32 sums), their repacking and the q/k/v trio.
#pragma once
#include "common.cuh"
// Decode-sized products of up to R activation rows. A block of MV_THREADS threads computes F output features: the
// threads split the input dimension, every weight is read once with a 128-bit load, many loads are in flight per
// feature, and activations loaded once serve F weight rows. Per-thread sums are reduced across the block in a fixed
// order, so results are deterministic. Four-bit needs in % 1024 == 0 and blocks of at least 64 weights; bf16 (8
// weights per 128-bit load) needs in % 8 == 0.

template <int R, int F>
__device__ __forceinline__ void dot8(const float* x, int rows, int in, long long col, const float (*wv)[8], float (*acc)[F]) {
#pragma unroll
    for (int r = 0; r < R; r++) {
        if (r < rows) {
            const float4* xr = reinterpret_cast<const float4*>(x + (long long) r * in + col);
            float4 a = xr[0], b = xr[1];
#pragma unroll
            for (int f = 0; f < F; f++) {
                acc[r][f] += wv[f][0] * a.x + wv[f][1] * a.y + wv[f][2] * a.z + wv[f][3] * a.w + wv[f][4] * b.x + wv[f][5] * b.y
                        + wv[f][6] * b.z + wv[f][7] * b.w;
            }
        }
    }
}

// How a block's sums reach `out`: stored; added to what is there (a projection into the residual stream); or, for a
// gate/up pair, silu(gate) * up, the block's first F / 2 sums of a row being gate features and the next F / 2 the same
// up features.
#define EPI_STORE 0
#define EPI_ADD 1
#define EPI_SWIGLU 2

// a sum stored (EPI_STORE) or added to what is there (EPI_ADD)
template <int E>
__device__ __forceinline__ void put_sum(float* o, float s) { *o = E == EPI_ADD ? *o + s : s; }

template <int R, int F, int E>
__device__ __forceinline__ void block_store(float (*acc)[F], float* out, int rows, int outCols, int first) {
    __shared__ float partial[MV_THREADS / 32][R * F];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int f = 0; f < F; f++) {
            float s = warp_sum(acc[r][f]);
            if (lane == 0) partial[warp][r * F + f] = s;
        }
    }
    __syncthreads();
    constexpr int features = E == EPI_SWIGLU ? F / 2 : F;
    for (int i = threadIdx.x; i < R * features; i += blockDim.x) {
        int r = i / features, f = i % features;
        if (r < rows && first + f < outCols) {
            float s = 0.f;
#pragma unroll
            for (int w = 0; w < MV_THREADS / 32; w++) s += partial[w][r * F + f];
            float* o = out + (long long) r * outCols + first + f;
            if (E == EPI_SWIGLU) {
                float u = 0.f;
#pragma unroll
                for (int w = 0; w < MV_THREADS / 32; w++) u += partial[w][r * F + features + f];
                *o = silu_times(s, u);
            } else {
                put_sum<E>(o, s);
            }
        }
    }
}

// The weight row a block's f-th sum reads: feature first + f of w, or for a gate/up pair (F sums, F / 2 features)
// feature first + f % (F / 2) of w (gate) or w2 (up). Blocks past the end read the last row and store nothing.
template <int F, int E>
__device__ __forceinline__ long long sum_row(int first, int f, int outCols, bool& second) {
    constexpr int features = E == EPI_SWIGLU ? F / 2 : F;
    second = E == EPI_SWIGLU && f >= features;
    return min(first + f % features, outCols - 1);
}

// Asks the L2 for the codes and scales of `count` weight rows from `first` (prefetch_l2, one thread of a block): a decode
// block issues it before pdl_wait, so its weights stream in while the kernel before it finishes, and a block's whole
// slice is asked for at once rather than as its warps reach each load (ops/cuda/tune-matvec: a 14336x4096 one-row
// product 20.2 -> 18.7 us). The tensor-core kernels do without: their blocks take 16-64 rows, and asking for all of them
// at once made the 70B batch-32 step 67.8 -> 70.9 ms on two H200s.
__device__ __forceinline__ void prefetch_rows(const uint8_t* w, const float* scales, int first, int count, int in, int shift) {
    long long base = (long long) first * in, weights = (long long) count * in;
    prefetch_l2(w + (base >> 1), weights >> 1);
    prefetch_l2(scales + (base >> shift), (weights >> shift) * 4);
}

// Four-bit weights are repacked on upload (repack_4bit) into tiles of 1024 weights per row, in which lane l's 16 bytes
// hold weights 128g + 4l .. 128g + 4l + 3 for g = 0..7: the codes are one coalesced 128-bit load per lane and each
// group of four weights meets a float4 of the activations that the warp reads contiguously.

// one thread per 16 bytes of the repacked weights; rows * in / 2 bytes, in % TILE_4BIT == 0
extern "C" __global__ void repack_4bit(const uint8_t* src, uint8_t* dst, long long chunks, int in) {
    pdl_start();
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= chunks) return;
    long long tileBase = (t >> 5) * (TILE_4BIT / 2);
    int lane = t & 31;
    uint8_t bytes[16];
#pragma unroll
    for (int g = 0; g < 8; g++) {
        bytes[2 * g] = src[tileBase + 64 * g + 2 * lane];
        bytes[2 * g + 1] = src[tileBase + 64 * g + 2 * lane + 1];
    }
    *reinterpret_cast<uint4*>(dst + tileBase + 16 * lane) = *reinterpret_cast<const uint4*>(bytes);
}

// Eight codebook values from a 32-bit word of a repacked tile, in weight order (two groups of four). The nibbles are
// first moved to bits 2..5 of each byte, so that one byte permute yields a byte offset into the codebook.
__device__ __forceinline__ void codes8(uint32_t word, const float* book, float (*w)[4]) {
    uint32_t hi = (word >> 2) & 0x3c3c3c3cu, lo = (word << 2) & 0x3c3c3c3cu;
    const char* b = reinterpret_cast<const char*>(book);
    w[0][0] = *reinterpret_cast<const float*>(b + __byte_perm(hi, 0, 0x4440));
    w[0][1] = *reinterpret_cast<const float*>(b + __byte_perm(lo, 0, 0x4440));
    w[0][2] = *reinterpret_cast<const float*>(b + __byte_perm(hi, 0, 0x4441));
    w[0][3] = *reinterpret_cast<const float*>(b + __byte_perm(lo, 0, 0x4441));
    w[1][0] = *reinterpret_cast<const float*>(b + __byte_perm(hi, 0, 0x4442));
    w[1][1] = *reinterpret_cast<const float*>(b + __byte_perm(lo, 0, 0x4442));
    w[1][2] = *reinterpret_cast<const float*>(b + __byte_perm(hi, 0, 0x4443));
    w[1][3] = *reinterpret_cast<const float*>(b + __byte_perm(lo, 0, 0x4443));
}

// Each warp takes whole tiles; a lane's 32 weights of a feature are 8 groups of 4 with one scale each. Blocks of 64 to
// 1024 weights: a tile starts on a block boundary and a group lies in one block. S is the block shift when known at
// compile time (6: bitsandbytes' default of 64), else 0 and blockShift says it: a known shift turns each scale's address
// into an immediate offset, where a computed one cost about a third of the loop's instructions. (Loading the first
// tile's weights before pdl_wait was slower in ops/cuda/tune-matvec: 96 registers instead of 56.)
template <int R, int F, int E, int S>
__device__ void matvec_4bit_tiles(int block, const float* x, const uint8_t* w, const float* scales, const uint8_t* w2,
                                  const float* scales2, const float* codebook, int blockShift, float* out, int rows, int in, int outCols) {
    __shared__ float book[16];
    constexpr int features = E == EPI_SWIGLU ? F / 2 : F;
    int first = block * features;
    const int shift = S ? S : blockShift;
    if (threadIdx.x == 0 && first < outCols) {
        int count = min(features, outCols - first);
        prefetch_rows(w, scales, first, count, in, shift);
        if (E == EPI_SWIGLU) prefetch_rows(w2, scales2, first, count, in, shift);
    }
    pdl_launch_next();
    if (threadIdx.x < 16) book[threadIdx.x] = codebook[threadIdx.x];
    __syncthreads();
    pdl_wait();
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const uint4* rowCodes[F];
    const float* rowScales[F];
#pragma unroll
    for (int f = 0; f < F; f++) {
        bool second;
        long long rowBase = sum_row<F, E>(first, f, outCols, second) * in;
        rowCodes[f] = reinterpret_cast<const uint4*>((second ? w2 : w) + (rowBase >> 1)) + lane;
        // this lane's first group's scale; group g's is (128 g) >> shift further on
        rowScales[f] = (second ? scales2 : scales) + (rowBase >> shift) + ((4 * lane) >> shift);
    }
    float acc[R][F] = {};
    int tiles = in / TILE_4BIT;
    int tileScales = TILE_4BIT >> shift;
    for (int tile = warp; tile < tiles; tile += MV_THREADS / 32) {
        uint4 packed[F];
        float scale[F][8];
#pragma unroll
        for (int f = 0; f < F; f++) {
            packed[f] = rowCodes[f][tile * (TILE_4BIT / 32)];
            const float* s = rowScales[f] + tile * tileScales;
#pragma unroll
            for (int g = 0; g < 8; g++) scale[f][g] = s[(128 * g) >> shift];
        }
        const float* xt = x + tile * TILE_4BIT + 4 * lane;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float wv[F][2][4];
#pragma unroll
            for (int f = 0; f < F; f++) {
                uint32_t word = j == 0 ? packed[f].x : j == 1 ? packed[f].y : j == 2 ? packed[f].z : packed[f].w;
                codes8(word, book, wv[f]);
            }
#pragma unroll
            for (int r = 0; r < R; r++) {
                if (r < rows) {
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        float4 a = *reinterpret_cast<const float4*>(xt + r * in + 128 * (2 * j + h));
#pragma unroll
                        for (int f = 0; f < F; f++) {
                            acc[r][f] += scale[f][2 * j + h]
                                    * (wv[f][h][0] * a.x + wv[f][h][1] * a.y + wv[f][h][2] * a.z + wv[f][h][3] * a.w);
                        }
                    }
                }
            }
        }
    }
    block_store<R, F, E>(acc, out, rows, outCols, first);
}

// Several products of one input in one launch (a layer's q, k and v; a gate/up pair on the tensor cores): up to three
// four-bit matrices of the input's width with one codebook and block size. Blocks [0, b0) take matrix 0, [b0, b0 + b1)
// matrix 1 and the rest matrix 2, b_i = ceil(outCols_i / perBlock) (outCols_2 may be 0 for two matrices).
struct Trio {
    const uint8_t* w;
    const float* scales;
    float* out;
    int outCols;
    int block;  // the block's index within its matrix
};

__device__ __forceinline__ Trio trio_pick(int perBlock, const uint8_t* w0, const float* s0, float* o0, int n0, const uint8_t* w1,
                                          const float* s1, float* o1, int n1, const uint8_t* w2, const float* s2, float* o2, int n2) {
    int b0 = (n0 + perBlock - 1) / perBlock, b1 = (n1 + perBlock - 1) / perBlock, b = blockIdx.x;
    if (b < b0) return {w0, s0, o0, n0, b};
    if (b < b0 + b1) return {w1, s1, o1, n1, b - b0};
    return {w2, s2, o2, n2, b - b0 - b1};
}

#define TRIO_PARAMS                                                                                                                \
    const uint8_t *w0, const float *s0, float *o0, int n0, const uint8_t *w1, const float *s1, float *o1, int n1,                \
            const uint8_t *w2, const float *s2, float *o2, int n2
#define TRIO_ARGS w0, s0, o0, n0, w1, s1, o1, n1, w2, s2, o2, n2

// Prefill and large batches: four-bit weights are expanded to bf16 (then a cuBLAS GEMM). One thread per 16 bytes of the

// The bf16 decode product, and the decode kernels of both weight formats by row count.
#pragma once
#include "matvec.cuh"

template <int R, int F, int E>
__device__ void matvec_bf16_body(const float* x, const uint16_t* w, const uint16_t* w2, float* out, int rows, int in, int outCols) {
    pdl_start();
    int first = blockIdx.x * (E == EPI_SWIGLU ? F / 2 : F);
    float acc[R][F] = {};
    int chunks = in >> 3;
    for (int c = threadIdx.x; c < chunks; c += MV_THREADS) {
        float wv[F][8];
#pragma unroll
        for (int f = 0; f < F; f++) {
            bool second;
            long long row = sum_row<F, E>(first, f, outCols, second);
            to_floats8(reinterpret_cast<const uint4*>((second ? w2 : w) + row * in)[c], wv[f]);
        }
        dot8<R, F>(x, rows, in, 8LL * c, wv, acc);
    }
    block_store<R, F, E>(acc, out, rows, outCols, first);
}

// Launched with MV_THREADS threads and ceil(outCols / F) blocks (ceil(outCols / (F / 2)) for a gate/up pair); R is the
// most rows the variant takes, F the sums per row a block makes. Four-bit names: matvec_4bit_r1_f4, ..._add, ..._swiglu,
// ..._trio for any block size, and the same ending in _b64 for blocks of 64 (bitsandbytes' default), whose shift is
// known at compile time: those need 40-64 registers where a kernel that also took other sizes needed 72-96 (one-row
// layer products 78.9 -> 77.1 us in ops/cuda/tune-matvec on an H100).
#define MATVEC_4BIT_KERNEL(R, F, E, S, SUFFIX)                                                                                     \
    extern "C" __global__ void __launch_bounds__(MV_THREADS) matvec_4bit_r##R##_f##F##SUFFIX(                                     \
            const float* x, const uint8_t* w, const float* scales, const uint8_t* w2, const float* scales2, const float* codebook,  \
            int blockShift, float* out, int rows, int in, int outCols) {                                                           \
        matvec_4bit_tiles<R, F, E, S>(blockIdx.x, x, w, scales, w2, scales2, codebook, blockShift, out, rows, in, outCols);        \
    }
#define MATVEC_4BIT_VARIANT(R, F, FS, S, SUFFIX)                                                                                   \
    MATVEC_4BIT_KERNEL(R, F, EPI_STORE, S, SUFFIX)                                                                                 \
    MATVEC_4BIT_KERNEL(R, F, EPI_ADD, S, _add##SUFFIX)                                                                             \
    MATVEC_4BIT_KERNEL(R, FS, EPI_SWIGLU, S, _swiglu##SUFFIX)                                                                      \
    extern "C" __global__ void __launch_bounds__(MV_THREADS) matvec_4bit_r##R##_f##F##_trio##SUFFIX(const float* x,                \
            const float* codebook, int blockShift, int rows, int in, TRIO_PARAMS) {                                                \
        Trio p = trio_pick(F, TRIO_ARGS);                                                                                          \
        matvec_4bit_tiles<R, F, EPI_STORE, S>(p.block, x, p.w, p.scales, p.w, p.scales, codebook, blockShift, p.out, rows, in,     \
                                              p.outCols);                                                                          \
    }
#define MATVEC_BF16_KERNEL(R, F, E, SUFFIX)                                                                                        \
    extern "C" __global__ void __launch_bounds__(MV_THREADS) matvec_bf16_r##R##_f##F##SUFFIX(const float* x, const uint16_t* w,    \
            const uint16_t* w2, float* out, int rows, int in, int outCols) {                                                       \
        matvec_bf16_body<R, F, E>(x, w, w2, out, rows, in, outCols);                                                               \
    }
// names pasted from constants: the arguments are expanded first, then pasted by the macros above
#define PASTE_EXPANDED(a, b) a##b
#define PASTE(a, b) PASTE_EXPANDED(a, b)
#define MATVEC_BF16_KERNEL_EXPANDED(R, F, E, SUFFIX) MATVEC_BF16_KERNEL(R, F, E, SUFFIX)
#define MATVEC_4BIT_VARIANT_EXPANDED(R, F, FS, S, SUFFIX) MATVEC_4BIT_VARIANT(R, F, FS, S, SUFFIX)
// a row of MATVEC_TABLE: F and FS, sums per row of a four-bit block and of a four-bit gate/up block; FB of a bf16 block
#define MATVEC_VARIANTS(R, F, FS, FB)                                                                                              \
    MATVEC_4BIT_VARIANT(R, F, FS, 0, )                                                                                             \
    MATVEC_4BIT_VARIANT_EXPANDED(R, F, FS, MV_SPECIAL_SHIFT, PASTE(_b, MV_SPECIAL_BLOCKSIZE))                                      \
    MATVEC_BF16_KERNEL(R, FB, EPI_STORE, )                                                                                         \
    MATVEC_BF16_KERNEL(R, FB, EPI_ADD, _add)                                                                                       \
    MATVEC_BF16_KERNEL_EXPANDED(R, MV_BF16_SWIGLU_SUMS, EPI_SWIGLU, _swiglu)

MATVEC_TABLE(MATVEC_VARIANTS)

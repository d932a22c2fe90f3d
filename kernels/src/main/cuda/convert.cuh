// Conversions for cuBLAS: four-bit weights and float32 activations to bf16.
#pragma once
#include "matvec.cuh"
// repacked tiles, for the chunks [firstChunk, firstChunk + chunks) (whole rows); out holds those rows, row-major.
extern "C" __global__ void dequant_4bit_bf16(const uint8_t* w, const float* scales, const float* codebook, int blockShift,
                                              long long firstChunk, long long chunks, __nv_bfloat16* out) {
    pdl_start();
    __shared__ float book[16];
    if (threadIdx.x < 16) book[threadIdx.x] = codebook[threadIdx.x];
    __syncthreads();
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= chunks) return;
    long long c = firstChunk + t;
    long long tile = (c >> 5) * TILE_4BIT + 4 * (c & 31);
    uint4 packed = reinterpret_cast<const uint4*>(w)[c];
    uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float wv[2][4];
        codes8(words[j], book, wv);
#pragma unroll
        for (int h = 0; h < 2; h++) {
            long long e = tile + 128 * (2 * j + h);
            float scale = scales[e >> blockShift];
            __nv_bfloat162 lo = __floats2bfloat162_rn(wv[h][0] * scale, wv[h][1] * scale);
            __nv_bfloat162 hi = __floats2bfloat162_rn(wv[h][2] * scale, wv[h][3] * scale);
            uint2 pair = {*reinterpret_cast<uint32_t*>(&lo), *reinterpret_cast<uint32_t*>(&hi)};
            *reinterpret_cast<uint2*>(out + (e - 32 * firstChunk)) = pair;
        }
    }
}

// activations to bf16 for the GEMM, rounding to nearest even
extern "C" __global__ void to_bf16(const float* x, __nv_bfloat16* y, long long n) {
    pdl_start();
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2bfloat16_rn(x[i]);
}

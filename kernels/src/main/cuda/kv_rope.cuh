// KV cache elements and rotary embeddings with the KV cache store.
#pragma once
#include "common.cuh"
// KV cache elements: float32 (exact) or bf16 (half the memory and the bandwidth). Each KV kernel comes in both.
__device__ __forceinline__ float kv_load(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float kv_load(const __nv_bfloat16* p, long long i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void kv_put(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void kv_put(__nv_bfloat16* p, long long i, float v) { p[i] = __float2bfloat16_rn(v); }
// four consecutive elements, 16-byte (float) or 8-byte (bf16) aligned
__device__ __forceinline__ float4 kv_load4(const float* p, long long i) { return *reinterpret_cast<const float4*>(p + i); }
__device__ __forceinline__ float4 kv_load4(const __nv_bfloat16* p, long long i) {
    uint2 raw = *reinterpret_cast<const uint2*>(p + i);
    return make_float4(bf16_low(raw.x), bf16_high(raw.x), bf16_low(raw.y), bf16_high(raw.y));
}

// The cache of a slot is [layers][capacity][width] elements from kBase/vBase[r]; this is the index of (layer, position).
__device__ __forceinline__ long long kv_offset(const int* capacities, int r, int layer, int position, int width) {
    return ((long long) layer * capacities[r] + position) * width;
}

// Rotary embedding (rotate-half: element i pairs with i + headDim / 2) of each row's queries in place and of its keys,
// which go to its cache slot at its position with its values: one thread per (row, head of q then of k, pair).
template <typename T>
__device__ void rope_store(float* q, const float* k, const float* v, const unsigned long long* kBase, const unsigned long long* vBase,
                           const int* capacities, int layer, const int* positions, const float* invFreq, int rows, int heads,
                           int kvHeads, int headDim) {
    pdl_start();
    int half = headDim / 2;
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) rows * (heads + kvHeads) * half) return;
    int i = t % half;
    int h = (t / half) % (heads + kvHeads);
    int r = t / ((long long) half * (heads + kvHeads));
    float angle = (float) positions[r] * invFreq[i];
    float c = cosf(angle), s = sinf(angle);
    if (h < heads) {
        float* p = q + ((long long) r * heads + h) * headDim;
        float x1 = p[i], x2 = p[i + half];
        p[i] = x1 * c - x2 * s;
        p[i + half] = x2 * c + x1 * s;
        return;
    }
    int width = kvHeads * headDim;
    long long from = (long long) r * width + (h - heads) * headDim + i;
    long long at = kv_offset(capacities, r, layer, positions[r], width) + (h - heads) * headDim + i;
    float x1 = k[from], x2 = k[from + half];
    kv_put((T*) kBase[r], at, x1 * c - x2 * s);
    kv_put((T*) kBase[r], at + half, x2 * c + x1 * s);
    kv_put((T*) vBase[r], at, v[from]);
    kv_put((T*) vBase[r], at + half, v[from + half]);
}

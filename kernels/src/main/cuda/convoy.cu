// Convoy's CUDA kernels. Activations are float32 [rows, cols] row-major; weights are read as stored. Every kernel has
// a CPU twin in ai.convoy.kernels.cpu.CpuBackend that the GPU tests compare it with.
#include <cstdint>
#include <cuda_bf16.h>

// bf16 as float: the low half of a 32-bit word (or a lone 16-bit value), the high half
__device__ __forceinline__ float bf16_low(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_high(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }
// the eight bf16 of a 128-bit load as floats, in order
__device__ __forceinline__ void to_floats8(uint4 v, float* o) {
    uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        o[2 * i] = bf16_low(words[i]);
        o[2 * i + 1] = bf16_high(words[i]);
    }
}
__device__ __forceinline__ float f16_to_float(uint16_t v) { return __half2float(*reinterpret_cast<const __half*>(&v)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Programmatic dependent launch (sm_90 and newer; no-ops elsewhere and when launched without it). A kernel launched
// with it may start while the kernel before it in the stream still runs: until pdl_wait returns it reads nothing that
// kernel writes and writes nothing at all, so it may only load weights, what the host uploaded before the step's first
// kernel that reads it (positions), and build tables. Every kernel lets the next one start at once (pdl_launch_next):
// its blocks then wait on the GPU, ready, instead of being launched after this kernel's tail.
__device__ __forceinline__ void pdl_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_next() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// the start of a kernel that reads only what earlier kernels wrote
__device__ __forceinline__ void pdl_start() {
    pdl_launch_next();
    pdl_wait();
}

// dtype: 0 f32, 1 bf16, 2 f16
__device__ __forceinline__ float load_weight(const void* w, long long i, int dtype) {
    if (dtype == 1) return bf16_low(((const uint16_t*) w)[i]);
    if (dtype == 2) return f16_to_float(((const uint16_t*) w)[i]);
    return ((const float*) w)[i];
}

// one thread per element
extern "C" __global__ void embed(const void* table, int dtype, const int* ids, float* out, int rows, int cols) {
    pdl_start();
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) rows * cols) return;
    int r = t / cols, c = t % cols;
    out[t] = load_weight(table, (long long) ids[r] * cols + c, dtype);
}

// Asks the L2 for `bytes` from p without waiting or holding registers (sm_90's bulk prefetch; a no-op before). The
// range is widened to 16-byte granules, which the bulk prefetch needs; allocations are 256-byte aligned, so that stays
// within them.
__device__ __forceinline__ void prefetch_l2(const void* p, long long bytes) {
#if __CUDA_ARCH__ >= 900
    uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(15);
    uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes + 15) & ~uintptr_t(15);
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(start), "r"((unsigned) (end - start)) : "memory");
#endif
}

// One block of up to 1024 threads per row: a decode step has one row, so the block reads it in as few rounds of loads
// as it can (float4 when cols % 4 == 0), rather than looping over it with a few warps.
extern "C" __global__ void rms_norm(const float* x, const float* w, float eps, float* out, int cols) {
    pdl_start();
    __shared__ float partial[32];
    const float* row = x + (long long) blockIdx.x * cols;
    float* o = out + (long long) blockIdx.x * cols;
    bool vector = (cols & 3) == 0;
    float s = 0.f;
    if (vector) {
        for (int c = threadIdx.x; c < cols / 4; c += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(row)[c];
            s += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) s += row[c] * row[c];
    }
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        float t = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.f;
        t = warp_sum(t);
        if (threadIdx.x == 0) partial[0] = t;
    }
    __syncthreads();
    float inv = rsqrtf(partial[0] / cols + eps);
    if (vector) {
        for (int c = threadIdx.x; c < cols / 4; c += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(row)[c], g = reinterpret_cast<const float4*>(w)[c];
            reinterpret_cast<float4*>(o)[c] = make_float4(g.x * (v.x * inv), g.y * (v.y * inv), g.z * (v.z * inv), g.w * (v.w * inv));
        }
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) o[c] = w[c] * (row[c] * inv);
    }
}

// One warp per output feature: the weight row is read once, coalesced, and dotted with every activation row.
// kind: 0 dense (dtype), 1 four-bit (codebook + per-block scales), 2 int8 rows (scales per row)
// accumulate: out += W x instead of out = W x
extern "C" __global__ void matmul(const float* x, const void* w, int kind, int dtype, const float* scales, const float* codebook,
                                  int blocksize, float* out, int rows, int in, int outCols, int accumulate) {
    pdl_start();
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= outCols) return;
    long long base = (long long) warp * in;
    for (int r = 0; r < rows; r++) {
        const float* xr = x + (long long) r * in;
        float acc = 0.f;
        for (int i = lane; i < in; i += 32) {
            float wv;
            long long e = base + i;
            if (kind == 0) {
                wv = load_weight(w, e, dtype);
            } else if (kind == 1) {
                uint8_t b = ((const uint8_t*) w)[e >> 1];
                int code = (e & 1) ? (b & 15) : (b >> 4);
                wv = codebook[code] * scales[e / blocksize];
            } else {
                wv = ((const int8_t*) w)[e] * scales[warp] / 127.f;
            }
            acc += wv * xr[i];
        }
        acc = warp_sum(acc);
        if (lane == 0) out[(long long) r * outCols + warp] = accumulate ? out[(long long) r * outCols + warp] + acc : acc;
    }
}

extern "C" __global__ void add_bias(float* x, const float* b, int rows, int cols) {
    pdl_start();
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long long) rows * cols) x[i] += b[i % cols];
}

__device__ __forceinline__ float silu_times(float gate, float up) { return gate / (1.f + expf(-gate)) * up; }

extern "C" __global__ void swiglu(const float* gate, const float* up, float* out, long long n) {
    pdl_start();
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = silu_times(gate[i], up[i]);
}

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

// Decode attention comes as two kernels over the same inputs and results: attention_lanes keeps each (query head,
// position) in the registers of a few lanes, the shortest path for a lone row; attention_tiles shares each key and
// value among all the query heads of a KV head through shared memory, for many rows. Both cut each row's visible
// positions into `parts` runs (enough blocks to fill the GPU when few rows read a long cache); with several parts,
// each (row, head, part) leaves its unnormalised sums, maximum and denominator in `partial` [rows * heads *
// parts][headDim + 2], and the last block of a group of blocks to finish merges its parts: `arrivals` counts them
// (one int per group, zero before the launch and reset by that last block). headDim a multiple of 8.
#define ATT_WARPS 8
#define ATT_THREADS (ATT_WARPS * 32)

// The weight of a partial softmax (maximum m) against the overall maximum; none for a part that saw no position.
__device__ __forceinline__ float part_weight(float m, float total) { return m == -INFINITY ? 0.f : expf(m - total); }

// The visible positions [x, y] of part `part` of row r. Positions and the cache's layout are set before the step and
// the keys and values before this position were written by earlier steps, so a block that `asks` has the L2 fetch
// them (all KV heads) while the kernel before it (which stores this position's) still runs.
template <typename T>
__device__ __forceinline__ int2 attention_run(const unsigned long long* kBase, const unsigned long long* vBase, const int* capacities,
        int layer, const int* positions, int r, int part, int parts, int width, int window, bool asks) {
    int pos = positions[r];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    int perPart = (pos - first + parts) / parts;
    int from = first + part * perPart, to = min(pos, from + perPart - 1);
    if (asks && threadIdx.x == 0 && from <= to) {
        long long at = kv_offset(capacities, r, layer, from, width), bytes = (long long) (to - from + 1) * width * sizeof(T);
        prefetch_l2((const T*) kBase[r] + at, bytes);
        prefetch_l2((const T*) vBase[r] + at, bytes);
    }
    return make_int2(from, to);
}

// After a block has left its part of heads firstHead .. firstHead + ownHeads - 1 of row r in `partial`: the last block
// of its group to arrive merges all parts into `out`. A warp per head weighs its parts (lane i: part i, at most 32),
// then each thread merges elements, its loads eight parts at a time; all read past L1, as other blocks wrote them
// during this launch. partScale: shared memory for 32 floats a head.
__device__ __noinline__ void attention_merge(const float* partial, int* arrivals, float* out, float* partScale, int r, int heads, int headDim,
        int parts, int firstHead, int ownHeads) {
    __shared__ bool lastPart;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        int* arrived = arrivals + blockIdx.x / parts;
        lastPart = atomicAdd(arrived, 1) == parts - 1;
        if (lastPart) atomicExch(arrived, 0);
    }
    __syncthreads();
    if (!lastPart) return;
    __threadfence();
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, partStride = headDim + 2;
    for (int h = warp; h < ownHeads; h += ATT_WARPS) {
        const float* p = partial + ((long long) r * heads + firstHead + h) * parts * partStride;
        float mPart = lane < parts ? __ldcg(p + lane * partStride + headDim) : -INFINITY;
        float lPart = lane < parts ? __ldcg(p + lane * partStride + headDim + 1) : 0.f;
        float weight = part_weight(mPart, warp_max(mPart));
        float denominator = warp_sum(lPart * weight);
        partScale[h * 32 + lane] = weight / denominator;
    }
    __syncthreads();
    for (int j = threadIdx.x; j < ownHeads * headDim; j += ATT_THREADS) {
        int h = j / headDim, d = j % headDim;
        long long rowHead = (long long) r * heads + firstHead + h;
        const float* p = partial + rowHead * parts * partStride + d;
        float o = 0.f;
        for (int i0 = 0; i0 < parts; i0 += 8) {
            float v[8];
#pragma unroll
            for (int u = 0; u < 8; u++) v[u] = i0 + u < parts ? __ldcg(p + (i0 + u) * partStride) : 0.f;
#pragma unroll
            for (int u = 0; u < 8; u++) o += i0 + u < parts ? v[u] * partScale[h * 32 + i0 + u] : 0.f;
        }
        out[rowHead * headDim + d] = o;
    }
}

// Eight consecutive cache elements (16-byte aligned for bf16, 32-byte for float32), loaded as stored and unpacked to
// floats apart (to_floats8), so that a pass's keys and values are all in flight before the first is used.
struct Raw8 {
    float4 a, b;
};
__device__ __forceinline__ Raw8 kv_raw8(const float* p) { return {reinterpret_cast<const float4*>(p)[0], reinterpret_cast<const float4*>(p)[1]}; }
__device__ __forceinline__ uint4 kv_raw8(const __nv_bfloat16* p) { return *reinterpret_cast<const uint4*>(p); }
__device__ __forceinline__ void to_floats8(Raw8 r, float* o) {
    o[0] = r.a.x, o[1] = r.a.y, o[2] = r.a.z, o[3] = r.a.w, o[4] = r.b.x, o[5] = r.b.y, o[6] = r.b.z, o[7] = r.b.w;
}

// A lane's k-th dimension in attention_lanes: runs of 8 dimensions, the lane's run0-th in every `lanes` runs, so that
// the lanes of a (head, position) read contiguous 16-byte pieces side by side.
__device__ __forceinline__ int att_dim(int k, int lanes, int run0) { return 8 * ((k / 8) * lanes + run0) + k % 8; }

// Decode attention by lanes. One block of ATT_WARPS warps per (row, query head, part). A (query head, position) pair
// has `lanes` lanes of ATT_CHUNK dimensions (the power of two that covers headDim; 16 dimensions a lane keep the
// kernel small enough for four blocks a multiprocessor), so a warp holds 32 / lanes positions at once with all their
// loads in flight; each such group of lanes runs an online softmax over its positions, and the positions, then the
// warps, are merged by their maxima and denominators. Groups of blocks for the merge: (row, query head).
#define ATT_CHUNK 16
template <typename T>
__device__ void attention_lanes(const float* q, const unsigned long long* kBase, const unsigned long long* vBase, const int* capacities,
        int layer, const int* positions, float* out, int heads, int kvHeads, int headDim, float scale, int window, int parts,
        float* partial, int* arrivals) {
    pdl_launch_next();
    int part = blockIdx.x % parts, h = blockIdx.x / parts % heads, r = blockIdx.x / parts / heads;
    int kvHead = h / (heads / kvHeads), width = kvHeads * headDim;
    int2 run = attention_run<T>(kBase, vBase, capacities, layer, positions, r, part, parts, width, window, h == 0);
    int from = run.x, to = run.y;
    pdl_wait();
    __shared__ float warpMax[ATT_WARPS], warpSum[ATT_WARPS];
    __shared__ float warpAcc[ATT_WARPS][32 * ATT_CHUNK];  // per warp: [element k][lane], lane-major (no bank conflicts)
    int lanes = 1;
    while (ATT_CHUNK * lanes < headDim) lanes <<= 1;
    int perWarp = 32 / lanes;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int at = lane / lanes, run0 = lane % lanes;  // this lane's position in the warp's pass and runs of dimensions (att_dim)
    long long base = kv_offset(capacities, r, layer, 0, width) + kvHead * headDim;
    const T* keys = (const T*) kBase[r] + base;
    const T* values = (const T*) vBase[r] + base;
    const float* qr = q + ((long long) r * heads + h) * headDim;
    float qd[ATT_CHUNK], acc[ATT_CHUNK];
#pragma unroll
    for (int i = 0; i < ATT_CHUNK; i++) {
        int d = att_dim(i, lanes, run0);
        qd[i] = d < headDim ? qr[d] : 0.f;
        acc[i] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int t0 = from + warp * perWarp; t0 <= to; t0 += ATT_WARPS * perWarp) {
        int t = t0 + at;
        bool visible = t <= to;
        decltype(kv_raw8(keys)) kRaw[ATT_CHUNK / 8] = {}, vRaw[ATT_CHUNK / 8] = {};
        if (visible) {
#pragma unroll
            for (int i = 0; i < ATT_CHUNK / 8; i++) {
                int d = att_dim(8 * i, lanes, run0);
                if (d < headDim) {
                    kRaw[i] = kv_raw8(keys + (long long) t * width + d);
                    vRaw[i] = kv_raw8(values + (long long) t * width + d);
                }
            }
        }
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < ATT_CHUNK / 8; i++) {
            float k8[8];
            to_floats8(kRaw[i], k8);
#pragma unroll
            for (int e = 0; e < 8; e++) s += qd[8 * i + e] * k8[e];
        }
        for (int o = 1; o < lanes; o <<= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (!visible) continue;
        s *= scale;
        float mNew = fmaxf(m, s);
        float correction = expf(m - mNew);
        float p = expf(s - mNew);
        l = l * correction + p;
#pragma unroll
        for (int i = 0; i < ATT_CHUNK / 8; i++) {
            float v8[8];
            to_floats8(vRaw[i], v8);
#pragma unroll
            for (int e = 0; e < 8; e++) acc[8 * i + e] = acc[8 * i + e] * correction + p * v8[e];
        }
        m = mNew;
    }
    // merge the warp's positions: afterwards the lanes at position 0 hold the warp's result
    for (int o = 1; o < perWarp; o <<= 1) {
        float mOther = __shfl_down_sync(0xffffffffu, m, o * lanes), lOther = __shfl_down_sync(0xffffffffu, l, o * lanes);
        bool merges = at % (2 * o) == 0 && at + o < perWarp;
        if (!merges) mOther = -INFINITY;
        float mNew = fmaxf(m, mOther);
        float ours = part_weight(m, mNew), theirs = part_weight(mOther, mNew);
        l = l * ours + (merges ? lOther * theirs : 0.f);
#pragma unroll
        for (int i = 0; i < ATT_CHUNK; i++) {
            float other = __shfl_down_sync(0xffffffffu, acc[i], o * lanes);
            acc[i] = acc[i] * ours + (merges ? other * theirs : 0.f);
        }
        m = mNew;
    }
    if (at == 0) {
        if (run0 == 0) {
            warpMax[warp] = m;
            warpSum[warp] = l;
        }
#pragma unroll
        for (int i = 0; i < ATT_CHUNK; i++) {
            warpAcc[warp][i * 32 + lane] = acc[i];
        }
    }
    __syncthreads();
    // thread j takes the value that lane c left as its element k, consecutive threads reading consecutive lanes
    long long rowHead = (long long) r * heads + h;
    for (int j = threadIdx.x; j < lanes * ATT_CHUNK; j += blockDim.x) {
        int c = j % lanes, k = j / lanes, d = att_dim(k, lanes, c);
        if (d >= headDim) continue;
        float total = -INFINITY;
        for (int w = 0; w < ATT_WARPS; w++) total = fmaxf(total, warpMax[w]);
        float denominator = 0.f, o = 0.f;
        for (int w = 0; w < ATT_WARPS; w++) {
            float weight = part_weight(warpMax[w], total);
            denominator += warpSum[w] * weight;
            o += warpAcc[w][k * 32 + c] * weight;
        }
        if (parts == 1) {
            out[rowHead * headDim + d] = o / denominator;
        } else {
            float* p = partial + (rowHead * parts + part) * (headDim + 2);
            p[d] = o;
            if (d == 0) {
                p[headDim] = total;
                p[headDim + 1] = denominator;
            }
        }
    }
    if (parts == 1) return;
    attention_merge(partial, arrivals, out, &warpAcc[0][0], r, heads, headDim, parts, h, 1);
}

// Sixteen bytes of cache elements as floats: four float32 or eight bf16.
__device__ __forceinline__ void piece_floats(uint4 p, float* o, float) {
    o[0] = __uint_as_float(p.x), o[1] = __uint_as_float(p.y), o[2] = __uint_as_float(p.z), o[3] = __uint_as_float(p.w);
}
__device__ __forceinline__ void piece_floats(uint4 p, float* o, __nv_bfloat16) { to_floats8(p, o); }

// Decode attention by tiles. One block of ATT_WARPS warps per (row, KV head, chunk of the group's query heads, part):
// the block's `blockHeads` query heads (the whole group unless blockHeads * headDim would pass ATT_HEAD_DIMS) share
// every key and value it loads. The block walks its run `tile` positions at a time (at most 32, and at most ATT_LOADS
// 16-byte pieces of keys and as many of values a thread), the next tile's loads in flight while it works on this one:
// the keys and values go to shared memory, a thread per (head, position) takes a score, a warp per head runs the
// online softmax over the tile, and a thread per four dimensions of a head adds up the weighted values. Groups of
// blocks for the merge: (row, KV head, chunk). Shared memory (dynamic): 2 * tile * (pieces | 1) pieces of 16 bytes,
// then blockHeads * (headDim + tile + 3) floats, and at least 32 * blockHeads floats in all for the merge (pieces:
// headDim * sizeof(T) / 16).
#define ATT_LOADS 2
#define ATT_HEAD_DIMS 2048
#define ATT_QUADS (ATT_HEAD_DIMS / 4 / ATT_THREADS)
template <typename T>
__device__ void attention_tiles(const float* q, const unsigned long long* kBase, const unsigned long long* vBase, const int* capacities,
        int layer, const int* positions, float* out, int heads, int kvHeads, int headDim, float scale, int window, int parts,
        float* partial, int* arrivals, int blockHeads, int tile) {
    pdl_launch_next();
    int group = heads / kvHeads, chunks = (group + blockHeads - 1) / blockHeads;
    int part = blockIdx.x % parts, rest = blockIdx.x / parts;
    int chunk = rest % chunks;
    rest /= chunks;
    int kvHead = rest % kvHeads, r = rest / kvHeads;
    int width = kvHeads * headDim;
    int2 run = attention_run<T>(kBase, vBase, capacities, layer, positions, r, part, parts, width, window, kvHead == 0 && chunk == 0);
    int from = run.x, to = run.y;
    pdl_wait();
    constexpr int perPiece = 16 / sizeof(T);
    // an odd number of pieces a row: the lanes of a quarter warp, reading one piece of eight rows, hit different banks
    int pieces = headDim / perPiece, stride = pieces | 1, quads = headDim / 4;
    int firstHead = kvHead * group + chunk * blockHeads, ownHeads = min(blockHeads, group - chunk * blockHeads);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    extern __shared__ uint4 attShared[];
    uint4* sK = attShared;                                      // [tile][stride]
    uint4* sV = sK + tile * stride;                             // [tile][stride]
    float* sQ = reinterpret_cast<float*>(sV + tile * stride);   // [blockHeads][headDim]
    float* sP = sQ + blockHeads * headDim;                      // [blockHeads][tile]: scores, then their weights
    float* sMax = sP + blockHeads * tile;                       // per head: the running maximum,
    float* sSum = sMax + blockHeads;                            // the running denominator
    float* sCorrection = sSum + blockHeads;                     // and what this tile scales the sums by
    const float4* qRow = reinterpret_cast<const float4*>(q + ((long long) r * heads + firstHead) * headDim);
    for (int i = threadIdx.x; i < ownHeads * quads; i += ATT_THREADS) reinterpret_cast<float4*>(sQ)[i] = qRow[i];
    if (threadIdx.x < ownHeads) {
        sMax[threadIdx.x] = -INFINITY;
        sSum[threadIdx.x] = 0.f;
    }
    long long base = kv_offset(capacities, r, layer, 0, width) + kvHead * headDim;
    const T* keys = (const T*) kBase[r] + base;
    const T* values = (const T*) vBase[r] + base;
    uint4 kNext[ATT_LOADS], vNext[ATT_LOADS];
    auto load = [&](int t0) {
        int count = min(tile, to - t0 + 1);
#pragma unroll
        for (int i = 0; i < ATT_LOADS; i++) {
            int j = threadIdx.x + i * ATT_THREADS, t = j / pieces, c = j % pieces;
            if (t < count) {
                kNext[i] = reinterpret_cast<const uint4*>(keys + (long long) (t0 + t) * width)[c];
                vNext[i] = reinterpret_cast<const uint4*>(values + (long long) (t0 + t) * width)[c];
            }
        }
    };
    float acc[ATT_QUADS][4] = {};
    if (from <= to) load(from);
    for (int t0 = from; t0 <= to; t0 += tile) {
        int count = min(tile, to - t0 + 1);
        __syncthreads();  // the tile before is done with (and sQ, sMax, sSum are set before the first)
#pragma unroll
        for (int i = 0; i < ATT_LOADS; i++) {
            int j = threadIdx.x + i * ATT_THREADS, t = j / pieces, c = j % pieces;
            if (t < count) {
                sK[t * stride + c] = kNext[i];
                sV[t * stride + c] = vNext[i];
            }
        }
        if (t0 + tile <= to) load(t0 + tile);
        __syncthreads();
        for (int j = threadIdx.x; j < ownHeads * tile; j += ATT_THREADS) {
            int h = j / tile, t = j % tile;
            float s = -INFINITY;
            if (t < count) {
                // four sums: four short chains of dependent adds instead of one long one
                float4 s4 = make_float4(0.f, 0.f, 0.f, 0.f);
                const float4* qh = reinterpret_cast<const float4*>(sQ + h * headDim);
                for (int c = 0; c < pieces; c++) {
                    float k[perPiece];
                    piece_floats(sK[t * stride + c], k, T());
#pragma unroll
                    for (int e = 0; e < perPiece; e += 4) {
                        float4 q4 = qh[(c * perPiece + e) / 4];
                        s4.x += q4.x * k[e];
                        s4.y += q4.y * k[e + 1];
                        s4.z += q4.z * k[e + 2];
                        s4.w += q4.w * k[e + 3];
                    }
                }
                s = (s4.x + s4.y + s4.z + s4.w) * scale;
            }
            sP[j] = s;
        }
        __syncthreads();
        for (int h = warp; h < ownHeads; h += ATT_WARPS) {
            float s = lane < tile ? sP[h * tile + lane] : -INFINITY;
            float mOld = sMax[h], mNew = fmaxf(mOld, warp_max(s));
            float p = expf(s - mNew);  // the tile has a visible position: mNew is finite
            float sum = warp_sum(p);
            if (lane < tile) sP[h * tile + lane] = p;
            if (lane == 0) {
                float correction = part_weight(mOld, mNew);
                sCorrection[h] = correction;
                sSum[h] = sSum[h] * correction + sum;
                sMax[h] = mNew;
            }
        }
        __syncthreads();
#pragma unroll
        for (int u = 0; u < ATT_QUADS; u++) {
            int j = threadIdx.x + u * ATT_THREADS, h = j / quads, d = 4 * (j % quads);
            if (h >= ownHeads) continue;
            float correction = sCorrection[h];
#pragma unroll
            for (int e = 0; e < 4; e++) acc[u][e] *= correction;
            const T* v = reinterpret_cast<const T*>(sV) + d;
            const float* p = sP + h * tile;
            for (int t = 0; t < count; t++) {
                float4 v4 = kv_load4(v, (long long) t * stride * perPiece);
                float w = p[t];
                acc[u][0] += w * v4.x;
                acc[u][1] += w * v4.y;
                acc[u][2] += w * v4.z;
                acc[u][3] += w * v4.w;
            }
        }
    }
    // the block's heads: normalised when it is the only part, else unnormalised with their maxima and denominators
#pragma unroll
    for (int u = 0; u < ATT_QUADS; u++) {
        int j = threadIdx.x + u * ATT_THREADS, h = j / quads, d = 4 * (j % quads);
        if (h >= ownHeads) continue;
        long long rowHead = (long long) r * heads + firstHead + h;
        if (parts == 1) {
            float inv = 1.f / sSum[h];
            *reinterpret_cast<float4*>(out + rowHead * headDim + d) = make_float4(acc[u][0] * inv, acc[u][1] * inv, acc[u][2] * inv, acc[u][3] * inv);
        } else {
            float* p = partial + (rowHead * parts + part) * (headDim + 2);
#pragma unroll
            for (int e = 0; e < 4; e++) p[d + e] = acc[u][e];
            if (d == 0) {
                p[headDim] = sMax[h];
                p[headDim + 1] = sSum[h];
            }
        }
    }
    if (parts == 1) return;
    // the tiles are done with once all threads arrive: their shared memory takes the merge's weights
    attention_merge(partial, arrivals, out, reinterpret_cast<float*>(attShared), r, heads, headDim, parts, firstHead, ownHeads);
}

// Prefill attention. A block takes one tile of rows (consecutive positions of one slot, tiles[2i] its first batch row
// and tiles[2i+1] its count) and one KV head: the PF_QUERIES query vectors of those rows' heads in that group share
// every key and value loaded into shared memory, PF_KEYS positions at a time. Each of the 8 warps owns 8 query
// vectors: scores with lanes as (key, half of the warp's vectors), an online softmax per vector, then lanes as
// dimensions for the weighted values. headDim at most 128 and a multiple of 4; PF_QUERIES / (heads / kvHeads) rows.
#define PF_QUERIES 64
#define PF_KEYS 16
#define PF_WARPS 8
#define PF_MAX_DIM 128
template <typename T>
__device__ void attention_prefill(const float* q, const unsigned long long* kBase,
        const unsigned long long* vBase, const int* capacities, int layer, const int* positions, const int* tiles, float* out,
        int heads, int kvHeads, int headDim, float scale, int window) {
    pdl_start();
    extern __shared__ float4 shared4[];
    float* shared = reinterpret_cast<float*>(shared4);
    int kStride = headDim + 4;  // padding: lanes reading different keys' float4s hit different banks
    float* sQ = shared;                              // [PF_QUERIES][headDim]
    float* sK = sQ + PF_QUERIES * headDim;           // [PF_KEYS][kStride]
    float* sV = sK + PF_KEYS * kStride;              // [PF_KEYS][headDim]
    float* sP = sV + PF_KEYS * headDim;              // [PF_WARPS][8][PF_KEYS]
    float* sCorrection = sP + PF_WARPS * 8 * PF_KEYS; // [PF_WARPS][8]
    // later tiles see more keys: they go first, so the short ones fill in behind them
    int tile = gridDim.x / kvHeads - 1 - blockIdx.x / kvHeads, kvHead = blockIdx.x % kvHeads;
    int firstRow = tiles[2 * tile], count = tiles[2 * tile + 1];
    int group = heads / kvHeads;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int width = kvHeads * headDim;
    int quads = headDim / 4;
    for (int i = threadIdx.x; i < PF_QUERIES * quads; i += blockDim.x) {
        int v = i / quads, d4 = i % quads, row = v / group;
        float4 value = make_float4(0.f, 0.f, 0.f, 0.f);
        if (row < count) {
            value = reinterpret_cast<const float4*>(q + (long long) (firstRow + row) * heads * headDim + (kvHead * group + v % group) * headDim)[d4];
        }
        reinterpret_cast<float4*>(sQ + v * headDim)[d4] = value;
    }
    int firstPos = positions[firstRow], lastPos = positions[firstRow + count - 1];
    int firstKey = window > 0 ? max(0, firstPos - window + 1) : 0;
    long long base = kv_offset(capacities, firstRow, layer, 0, width) + kvHead * headDim;
    const T* keys = (const T*) kBase[firstRow] + base;
    const T* values = (const T*) vBase[firstRow] + base;
    // score lanes: key (lane & 15) for the vectors 4 * (lane >> 4) .. + 3 of this warp
    int key = lane & (PF_KEYS - 1), half = lane >> 4;
    int myPos[4];
    float m[4], l[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        int row = (warp * 8 + half * 4 + j) / group;
        myPos[j] = row < count ? firstPos + row : -1;
        m[j] = -INFINITY;
        l[j] = 0.f;
    }
    float acc[8][4] = {};
    for (int chunk = firstKey; chunk <= lastPos; chunk += PF_KEYS) {
        __syncthreads();
        for (int i = threadIdx.x; i < PF_KEYS * quads; i += blockDim.x) {
            int t = i / quads, d4 = i % quads;
            bool valid = chunk + t <= lastPos;
            float4 kv = valid ? kv_load4(keys, (long long) (chunk + t) * width + 4 * d4) : make_float4(0.f, 0.f, 0.f, 0.f);
            float4 vv = valid ? kv_load4(values, (long long) (chunk + t) * width + 4 * d4) : make_float4(0.f, 0.f, 0.f, 0.f);
            reinterpret_cast<float4*>(sK + t * kStride)[d4] = kv;
            reinterpret_cast<float4*>(sV + t * headDim)[d4] = vv;
        }
        __syncthreads();
        float s[4] = {};
        const float4* kRow = reinterpret_cast<const float4*>(sK + key * kStride);
        const float* qBase = sQ + (warp * 8 + half * 4) * headDim;
        for (int d4 = 0; d4 < quads; d4++) {
            float4 k4 = kRow[d4];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float4 q4 = reinterpret_cast<const float4*>(qBase + j * headDim)[d4];
                s[j] += q4.x * k4.x + q4.y * k4.y + q4.z * k4.z + q4.w * k4.w;
            }
        }
        int pos = chunk + key;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            bool visible = pos <= myPos[j] && (window <= 0 || pos > myPos[j] - window);
            float sj = visible ? s[j] * scale : -INFINITY;
            float chunkMax = sj;
            for (int o = PF_KEYS / 2; o > 0; o >>= 1) chunkMax = fmaxf(chunkMax, __shfl_xor_sync(0xffffffffu, chunkMax, o));
            float mNew = fmaxf(m[j], chunkMax);
            float p = mNew == -INFINITY ? 0.f : expf(sj - mNew);
            float correction = mNew == -INFINITY ? 1.f : expf(m[j] - mNew);
            float sum = p;
            for (int o = PF_KEYS / 2; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            l[j] = l[j] * correction + sum;
            m[j] = mNew;
            sP[(warp * 8 + half * 4 + j) * PF_KEYS + key] = p;
            if (key == 0) sCorrection[warp * 8 + half * 4 + j] = correction;
        }
        __syncwarp();
        // value lanes: dimensions 4 * lane .. + 3 for all 8 vectors
        if (lane < quads) {
#pragma unroll
            for (int j = 0; j < 8; j++) {
                float c = sCorrection[warp * 8 + j];
#pragma unroll
                for (int e = 0; e < 4; e++) acc[j][e] *= c;
            }
            for (int t = 0; t < PF_KEYS; t++) {
                float4 v4 = reinterpret_cast<const float4*>(sV + t * headDim)[lane];
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    float p = sP[(warp * 8 + j) * PF_KEYS + t];
                    acc[j][0] += p * v4.x;
                    acc[j][1] += p * v4.y;
                    acc[j][2] += p * v4.z;
                    acc[j][3] += p * v4.w;
                }
            }
        }
        __syncwarp();
    }
    // the score lanes hold each vector's denominator; hand them to the value lanes through shared memory
    if (key == 0) {
#pragma unroll
        for (int j = 0; j < 4; j++) sCorrection[warp * 8 + half * 4 + j] = l[j];
    }
    __syncwarp();
    if (lane < quads) {
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int v = warp * 8 + j, row = v / group;
            if (row < count) {
                float inv = 1.f / sCorrection[v];
                float4 o = make_float4(acc[j][0] * inv, acc[j][1] * inv, acc[j][2] * inv, acc[j][3] * inv);
                reinterpret_cast<float4*>(out + (long long) (firstRow + row) * heads * headDim + (kvHead * group + v % group) * headDim)[lane] = o;
            }
        }
    }
}

// the KV kernels by cache element: rope_store_f32, attention_tiles_bf16, ...
#define KV_KERNELS(NAME, T)                                                                                                        \
    extern "C" __global__ void rope_store_##NAME(float* q, const float* k, const float* v, const unsigned long long* kBase,        \
            const unsigned long long* vBase, const int* capacities, int layer, const int* positions, const float* invFreq,         \
            int rows, int heads, int kvHeads, int headDim) {                                                                       \
        rope_store<T>(q, k, v, kBase, vBase, capacities, layer, positions, invFreq, rows, heads, kvHeads, headDim);                \
    }                                                                                                                              \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS, 4) attention_lanes_##NAME(const float* q,                         \
            const unsigned long long* kBase, const unsigned long long* vBase, const int* capacities, int layer,                    \
            const int* positions, float* out, int heads, int kvHeads, int headDim, float scale, int window, int parts,             \
            float* partial, int* arrivals) {                                                                                       \
        attention_lanes<T>(q, kBase, vBase, capacities, layer, positions, out, heads, kvHeads, headDim, scale, window, parts,      \
                           partial, arrivals);                                                                                     \
    }                                                                                                                              \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS, 4) attention_tiles_##NAME(const float* q,                         \
            const unsigned long long* kBase, const unsigned long long* vBase, const int* capacities, int layer,                    \
            const int* positions, float* out, int heads, int kvHeads, int headDim, float scale, int window, int parts,             \
            float* partial, int* arrivals, int blockHeads, int tile) {                                                             \
        attention_tiles<T>(q, kBase, vBase, capacities, layer, positions, out, heads, kvHeads, headDim, scale, window, parts,      \
                           partial, arrivals, blockHeads, tile);                                                                   \
    }                                                                                                                              \
    extern "C" __global__ void __launch_bounds__(PF_WARPS * 32) attention_prefill_##NAME(const float* q,                           \
            const unsigned long long* kBase, const unsigned long long* vBase, const int* capacities, int layer,                    \
            const int* positions, const int* tiles, float* out, int heads, int kvHeads, int headDim, float scale, int window) {    \
        attention_prefill<T>(q, kBase, vBase, capacities, layer, positions, tiles, out, heads, kvHeads, headDim, scale, window);   \
    }

KV_KERNELS(f32, float)
KV_KERNELS(bf16, __nv_bfloat16)

// ids[r] = the first index of the largest value of row r, a NaN counting as the largest (as torch.argmax has it):
// greedy picks made where the logits are, so only the ids travel to the host. Two stages: blocks of ARGMAX_THREADS
// take `span` columns of a row each (argmax_parts; a vocabulary row in one block was latency-bound, 60 us), then a warp
// per row merges its parts (argmax_merge).
__device__ __forceinline__ bool argmax_better(float v, int i, float best, int at) {
    if (isnan(v)) return !isnan(best) || i < at;
    return !isnan(best) && (v > best || (v == best && i < at));
}

// (v, i) becomes the running best if it beats it
__device__ __forceinline__ void argmax_take(float v, int i, float& best, int& at) {
    if (argmax_better(v, i, best, at)) {
        best = v;
        at = i;
    }
}

__device__ __forceinline__ void argmax_warp(float& best, int& at) {
    for (int o = 16; o > 0; o >>= 1) argmax_take(__shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, at, o), best, at);
}

#define ARGMAX_THREADS 256
// block b: part b % parts of row b / parts
extern "C" __global__ void __launch_bounds__(ARGMAX_THREADS) argmax_parts(const float* x, int cols, int span, int parts, float* partBest,
                                                                          int* partAt) {
    __shared__ float bests[ARGMAX_THREADS / 32];
    __shared__ int ats[ARGMAX_THREADS / 32];
    pdl_start();
    int row = blockIdx.x / parts, part = blockIdx.x % parts;
    const float* r = x + (long long) row * cols;
    int end = min(cols, (part + 1) * span);
    float best = -INFINITY;
    int at = 0x7fffffff;
    for (int i = part * span + threadIdx.x; i < end; i += ARGMAX_THREADS) argmax_take(r[i], i, best, at);
    argmax_warp(best, at);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) {
        bests[warp] = best;
        ats[warp] = at;
    }
    __syncthreads();
    if (warp == 0) {
        best = lane < ARGMAX_THREADS / 32 ? bests[lane] : -INFINITY;
        at = lane < ARGMAX_THREADS / 32 ? ats[lane] : 0x7fffffff;
        argmax_warp(best, at);
        if (lane == 0) {
            partBest[blockIdx.x] = best;
            partAt[blockIdx.x] = at;
        }
    }
}

// one warp per row
extern "C" __global__ void argmax_merge(const float* partBest, const int* partAt, int parts, int* ids) {
    pdl_start();
    int row = blockIdx.x, lane = threadIdx.x;
    float best = -INFINITY;
    int at = 0x7fffffff;
    for (int p = lane; p < parts; p += 32) argmax_take(partBest[row * parts + p], partAt[row * parts + p], best, at);
    argmax_warp(best, at);
    if (lane == 0) ids[row] = at;
}

extern "C" __global__ void gather_rows(const float* src, const int* rows, float* dst, int count, int cols) {
    pdl_start();
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) count * cols) return;
    int i = t / cols, c = t % cols;
    dst[t] = src[(long long) rows[i] * cols + c];
}

// Decode-sized products of up to R activation rows. A block of MV_THREADS threads computes F output features: the
// threads split the input dimension, every weight is read once with a 128-bit load, many loads are in flight per
// feature, and activations loaded once serve F weight rows. Per-thread sums are reduced across the block in a fixed
// order, so results are deterministic. Four-bit needs in % 1024 == 0 and blocks of at least 64 weights; bf16 (8
// weights per 128-bit load) needs in % 8 == 0.
#define MV_THREADS 128

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
#define TILE_4BIT 1024

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
// F and FS: sums per row of a four-bit block and of a four-bit gate/up block; FB of a bf16 block (a bf16 gate/up block
// makes four)
#define MATVEC_VARIANTS(R, F, FS, FB)                                                                                              \
    MATVEC_4BIT_VARIANT(R, F, FS, 0, )                                                                                             \
    MATVEC_4BIT_VARIANT(R, F, FS, 6, _b64)                                                                                         \
    MATVEC_BF16_KERNEL(R, FB, EPI_STORE, )                                                                                         \
    MATVEC_BF16_KERNEL(R, FB, EPI_ADD, _add)                                                                                       \
    MATVEC_BF16_KERNEL(R, 4, EPI_SWIGLU, _swiglu)

// the variants the backend picks by row count (the best of ops/cuda/tune-matvec on an H100)
MATVEC_VARIANTS(1, 4, 8, 2)
MATVEC_VARIANTS(2, 2, 4, 2)
MATVEC_VARIANTS(4, 4, 4, 4)
MATVEC_VARIANTS(8, 4, 4, 4)

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

// the variants the backend picks by row count (the fastest of ops/cuda/tune-matvec on an H100 for 5-8, 9-16, 17-32 and
// 33-64 rows over the Llama-3-8B and -70B shapes, m4_n4_w8 for 17-32 rows of 8192 outputs or more; up to 4 rows the
// float32 decode kernels are faster)
MMA_KERNELS(1, 1, 8)
MMA_KERNELS(1, 2, 4)
MMA_KERNELS(2, 4, 8)
MMA_KERNELS(4, 4, 8)
MMA_KERNELS(2, 8, 4)

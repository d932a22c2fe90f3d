// Attention: the decode kernels (lanes, tiles), their merge of parts, the prefill kernel, and the KV kernels of
// each cache element type.
#pragma once
#include "kv_rope.cuh"

// Decode attention comes as two kernels over the same inputs and results: attention_lanes keeps each (query head,
// position) in the registers of a few lanes, the shortest path for a lone row; attention_tiles shares each key and
// value among all the query heads of a KV head through shared memory, for many rows. Both cut each row's visible
// positions into `parts` runs (enough blocks to fill the GPU when few rows read a long cache); with several parts,
// each (row, head, part) leaves its unnormalised sums, maximum and denominator in `partial` [rows * heads *
// parts][headDim + 2], and the last block of a group of blocks to finish merges its parts: `arrivals` counts them
// (one int per group, zero before the launch and reset by that last block). headDim a multiple of 8.
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

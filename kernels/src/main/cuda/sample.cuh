// Sampled picks made where the logits are, so that only ids travel to the host. A block per picked row takes the
// steps of ai.convoy.kernels.TokenPick.pick, its CPU twin, in the same order: the repetition penalty on the row's seen
// tokens, the temperature, top-k, top-p, then a draw with the row's uniform number over what is left, in index order.
// Top-k and top-p are radix selects on order-preserving keys of the scores (four passes of eight bits, the second
// weighted by each score's share of the softmax), so nothing is sorted. When top-k leaves at most SAMPLE_CANDIDATES
// scores they move to shared memory in index order and the later steps read them there.
#pragma once
#include "common.cuh"

#define SAMPLE_WARPS (SAMPLE_THREADS / 32)
// copies of the radix histogram: warps share them in turn, fewer collisions on hot bins
#define SAMPLE_COPIES 8

// a float's bits as an unsigned that orders as the float does (-0 just below +0)
__device__ __forceinline__ unsigned sample_key(float v) {
    unsigned b = __float_as_uint(v);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__device__ __forceinline__ float sample_value(unsigned key) {
    return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

struct SampleShared {
    float bins[SAMPLE_COPIES][256];
    float candValue[SAMPLE_CANDIDATES];
    int candIndex[SAMPLE_CANDIDATES];
    double warpSum[SAMPLE_WARPS];
    int warpCount[SAMPLE_WARPS];
    float warpBest[SAMPLE_WARPS];
    int warpAt[SAMPLE_WARPS];
    unsigned binPicked;
    float binBefore;
    float binOwn;
    int walker;
    int picked;
};

// The scores of one row (divided by the temperature), those of key minKey or more kept (top-k's cut).
struct SampleRow {
    const float* x;
    int n;
    float temperature;
    unsigned minKey;
    __device__ __forceinline__ int size() const { return n; }
    __device__ __forceinline__ bool at(int j, float& s, int& index) const {
        s = x[j] / temperature;
        index = j;
        return sample_key(s) >= minKey;
    }
};

// The kept scores gathered in shared memory, in index order.
struct SampleCandidates {
    const float* value;
    const int* index;
    int n;
    __device__ __forceinline__ int size() const { return n; }
    __device__ __forceinline__ bool at(int j, float& s, int& i) const {
        s = value[j];
        i = index[j];
        return true;
    }
};

// the sum over the block, the same in every thread
__device__ double sample_block_sum(double v, SampleShared& sh) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) sh.warpSum[warp] = v;
    __syncthreads();
    double total = 0;
    for (int w = 0; w < SAMPLE_WARPS; w++) total += sh.warpSum[w];
    __syncthreads();
    return total;
}

// Of the 256 bins (summed over their copies) from the highest down, the one where the running total first reaches
// `need`, or the last non-empty one when rounding leaves the total short: sets binPicked, binBefore (the total of the
// bins above it) and binOwn (its own).
__device__ void sample_choose_bin(SampleShared& sh, float need) {
    if (threadIdx.x < 256) {
        float t = 0;
        for (int c = 0; c < SAMPLE_COPIES; c++) t += sh.bins[c][threadIdx.x];
        sh.bins[0][threadIdx.x] = t;
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        int lane = threadIdx.x;
        float mine[8], own = 0;
        for (int j = 0; j < 8; j++) {
            mine[j] = sh.bins[0][255 - lane * 8 - j];
            own += mine[j];
        }
        float incl = own;
        for (int o = 1; o < 32; o <<= 1) {
            float y = __shfl_up_sync(0xffffffffu, incl, o);
            if (lane >= o) incl += y;
        }
        float before = __shfl_up_sync(0xffffffffu, incl, 1);
        if (lane == 0) before = 0;
        need = fminf(fmaxf(need, 0.f), __shfl_sync(0xffffffffu, incl, 31));
        int first = __ffs(__ballot_sync(0xffffffffu, incl >= need && own > 0)) - 1;
        if (first < 0) first = 31 - (__clz(__ballot_sync(0xffffffffu, own > 0)));
        if (lane == first) {
            int chosen = -1;
            float chosenBefore = 0;
            for (int j = 0; j < 8; j++) {
                if (mine[j] > 0) {
                    chosen = j;
                    chosenBefore = before;
                    if (before + mine[j] >= need) break;
                }
                before += mine[j];
            }
            sh.binPicked = 255 - lane * 8 - chosen;
            sh.binBefore = chosenBefore;
            sh.binOwn = mine[chosen];
        }
    }
    __syncthreads();
}

// The key of the score where, from the highest down, the kept scores of q first reach `need`: each counting 1
// (weighted false: the need-th largest) or its softmax weight exp(s - m) (weighted true). above: the count or weight
// of the kept scores above that key; own: of those equal to it.
template <class Seq, bool weighted>
__device__ unsigned sample_radix(const Seq& q, float need, float m, SampleShared& sh, float& above, float& own) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    unsigned prefix = 0, mask = 0;
    above = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = threadIdx.x; i < SAMPLE_COPIES * 256; i += SAMPLE_THREADS) (&sh.bins[0][0])[i] = 0.f;
        __syncthreads();
        float* bins = sh.bins[warp % SAMPLE_COPIES];
        for (int base = 0; base < q.size(); base += SAMPLE_THREADS) {
            int j = base + threadIdx.x, index;
            float s = 0;
            bool take = j < q.size() && q.at(j, s, index);
            unsigned key = sample_key(s);
            take = take && (key & mask) == prefix;
            unsigned digit = (key >> shift) & 255u;
            if (weighted) {
                if (take) atomicAdd(&bins[digit], expf(s - m));
            } else {
                // lanes of one digit add together: most scores share the first digits
                unsigned takers = __ballot_sync(0xffffffffu, take);
                if (take) {
                    unsigned same = __match_any_sync(takers, digit);
                    if (lane == __ffs(same) - 1) atomicAdd(&bins[digit], (float) __popc(same));
                }
            }
        }
        __syncthreads();
        sample_choose_bin(sh, need - above);
        prefix |= sh.binPicked << shift;
        mask |= 255u << shift;
        above += sh.binBefore;
        own = sh.binOwn;
        __syncthreads();
    }
    return prefix;
}

// Moves the kept scores of q (n of them) to shared memory in index order: each warp takes a contiguous part of the row,
// counts its kept scores, then writes them after those of the warps before it.
__device__ void sample_gather(const SampleRow& q, SampleShared& sh) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int part = (q.size() + SAMPLE_THREADS - 1) / SAMPLE_THREADS * 32;
    int from = warp * part, to = min(q.size(), from + part);
    int count = 0;
    for (int j = from + lane; j - lane < to; j += 32) {
        float s;
        int index;
        count += __popc(__ballot_sync(0xffffffffu, j < to && q.at(j, s, index)));
    }
    if (lane == 0) sh.warpCount[warp] = count;
    __syncthreads();
    int at = 0;
    for (int w = 0; w < warp; w++) at += sh.warpCount[w];
    for (int j = from + lane; j - lane < to; j += 32) {
        float s = 0;
        int index = 0;
        bool kept = j < to && q.at(j, s, index);
        unsigned ahead = __ballot_sync(0xffffffffu, kept);
        if (kept) {
            int k = at + __popc(ahead & ((1u << lane) - 1));
            sh.candValue[k] = s;
            sh.candIndex[k] = index;
        }
        at += __popc(ahead);
    }
    __syncthreads();
}

// After top-p: whether a kept score stays, given its key and, for one equal to the cut's key, its rank among those in
// index order (the first tiesKept of them stay)
__device__ __forceinline__ bool sample_stays(bool kept, bool cut, unsigned key, unsigned cutKey, int tieRank, int tiesKept) {
    return kept && (!cut || key > cutKey || (key == cutKey && tieRank < tiesKept));
}

// Top-p over the kept scores of q, then the draw: the first index in index order where the running sum of the weights
// exp(s - m) that stay passes u times their total. Each warp takes a contiguous part of q; the warp whose part holds
// that point walks it.
template <class Seq>
__device__ int sample_draw(const Seq& q, float m, float topP, double u, SampleShared& sh) {
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    bool cut = topP < 1.f;
    unsigned cutKey = 0;
    int tiesKept = 0;
    float cutWeight = 0;
    if (cut) {
        double z = 0;
        for (int j = threadIdx.x; j < q.size(); j += SAMPLE_THREADS) {
            float s;
            int index;
            if (q.at(j, s, index)) z += expf(s - m);
        }
        float target = (float) (topP * sample_block_sum(z, sh));
        float above, own;
        cutKey = sample_radix<Seq, true>(q, target, m, sh, above, own);
        cutWeight = expf(sample_value(cutKey) - m);
        tiesKept = cutWeight > 0 ? (int) fminf(fmaxf(ceilf((target - above) / cutWeight), 1.f), 2e9f) : 0x7fffffff;
    }
    int part = (q.size() + SAMPLE_THREADS - 1) / SAMPLE_THREADS * 32;
    int from = warp * part, to = min(q.size(), from + part);
    // each warp: its ties with the cut's key, and the weight of its other scores that stay
    double rest = 0;
    int ties = 0;
    for (int j = from + lane; j < to; j += 32) {
        float s;
        int index;
        bool kept = q.at(j, s, index);
        unsigned key = sample_key(s);
        if (cut && kept && key == cutKey) ties++;
        else if (sample_stays(kept, cut, key, cutKey, 0, 0)) rest += expf(s - m);
    }
    for (int o = 16; o > 0; o >>= 1) {
        rest += __shfl_xor_sync(0xffffffffu, rest, o);
        ties += __shfl_xor_sync(0xffffffffu, ties, o);
    }
    if (lane == 0) {
        sh.warpSum[warp] = rest;
        sh.warpCount[warp] = ties;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        // each warp's weight with the ties it keeps; then the warp where u times the total falls
        double total = 0;
        int tiesBefore = 0;
        for (int w = 0; w < SAMPLE_WARPS; w++) {
            int kept = max(0, min(sh.warpCount[w], tiesKept - tiesBefore));
            tiesBefore += sh.warpCount[w];
            sh.warpCount[w] = tiesBefore - sh.warpCount[w];
            sh.warpSum[w] += (double) kept * cutWeight;
            total += sh.warpSum[w];
        }
        double target = u * total, before = 0, walkerBefore = 0;
        int walker = -1;
        bool found = false;
        for (int w = 0; w < SAMPLE_WARPS && !found; w++) {
            if (sh.warpSum[w] > 0) {
                walker = w;
                walkerBefore = before;
                found = target < before + sh.warpSum[w];
            }
            before += sh.warpSum[w];
        }
        // past the total by rounding: the last warp with weight, to its last score that stays
        sh.warpSum[0] = found ? target - walkerBefore : INFINITY;
        sh.walker = walker;
        sh.picked = -1;
    }
    __syncthreads();
    if (warp == sh.walker) {
        double left = sh.warpSum[0], sum = 0;
        int tieRank = sh.warpCount[warp], last = -1;
        for (int j = from + lane; j - lane < to; j += 32) {
            float s = 0;
            int index = 0;
            bool kept = j < to && q.at(j, s, index);
            unsigned key = sample_key(s);
            bool tie = cut && kept && key == cutKey;
            unsigned tiesAhead = __ballot_sync(0xffffffffu, tie);
            float w = sample_stays(kept, cut, key, cutKey, tieRank + __popc(tiesAhead & ((1u << lane) - 1)), tiesKept) ? expf(s - m) : 0.f;
            tieRank += __popc(tiesAhead);
            double incl = w;
            for (int o = 1; o < 32; o <<= 1) {
                double y = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += y;
            }
            unsigned hit = __ballot_sync(0xffffffffu, w > 0 && left < sum + incl);
            unsigned positive = __ballot_sync(0xffffffffu, w > 0);
            if (positive) last = __shfl_sync(0xffffffffu, index, 31 - __clz(positive));
            if (hit) {
                last = __shfl_sync(0xffffffffu, index, __ffs(hit) - 1);
                break;
            }
            sum += __shfl_sync(0xffffffffu, incl, 31);
        }
        if (lane == 0) sh.picked = last;
    }
    __syncthreads();
    return sh.picked;
}

// params: SAMPLE_PARAMS ints a pick (its logit row, top-k, the bits of temperature, top-p and the penalty, where its seen
// tokens start in `seen` and how many, the uniform number's double bits low then high); out: two ints a pick, the id and
// the bits of the row's largest logit (NaN where a logit is not finite, then no id is drawn). The penalty is applied
// in place.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_rows(float* logits, int cols, const int* params, const int* seen, int* out) {
    __shared__ SampleShared sh;
    pdl_start();
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int* p = params + blockIdx.x * SAMPLE_PARAMS;
    float* x = logits + (long long) p[0] * cols;
    int topK = p[1];
    float temperature = __int_as_float(p[2]), topP = __int_as_float(p[3]), penalty = __int_as_float(p[4]);
    double u = __hiloint2double(p[8], p[7]);
    for (int j = threadIdx.x; j < p[6]; j += SAMPLE_THREADS) {
        int t = seen[p[5] + j];
        float v = x[t];
        x[t] = v < 0 ? v * penalty : v / penalty;
    }
    __syncthreads();
    float best = -INFINITY;
    int at = 0x7fffffff;
    bool bad = false;
    for (int i = threadIdx.x; i < cols; i += SAMPLE_THREADS) {
        float v = x[i];
        bad |= !isfinite(v);
        argmax_take(v, i, best, at);
    }
    argmax_warp(best, at);
    if (lane == 0) {
        sh.warpBest[warp] = best;
        sh.warpAt[warp] = at;
    }
    bad = __syncthreads_or(bad);
    best = -INFINITY;
    at = 0x7fffffff;
    for (int w = 0; w < SAMPLE_WARPS; w++) argmax_take(sh.warpBest[w], sh.warpAt[w], best, at);
    if (threadIdx.x == 0) out[2 * blockIdx.x + 1] = __float_as_int(bad ? NAN : best);
    if (bad || temperature == 0.f) {
        if (threadIdx.x == 0) out[2 * blockIdx.x] = bad ? -1 : at;
        return;
    }
    float m = best / temperature;
    SampleRow row{x, cols, temperature, 0u};
    int kept = cols;
    if (topK > 0 && topK < cols) {
        float above, own;
        row.minKey = sample_radix<SampleRow, false>(row, (float) topK, m, sh, above, own);
        kept = (int) (above + own);
    }
    int id;
    if (kept <= SAMPLE_CANDIDATES) {
        sample_gather(row, sh);
        id = sample_draw(SampleCandidates{sh.candValue, sh.candIndex, kept}, m, topP, u, sh);
    } else {
        id = sample_draw(row, m, topP, u, sh);
    }
    if (threadIdx.x == 0) out[2 * blockIdx.x] = id;
}

package ai.convoy.kernels.cuda;

import static ai.convoy.kernels.cuda.CudaProducts.ptr;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.AttentionShape;
import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.kernels.TokenBatch;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUdeviceptr;

/**
 * Rotary embedding, the KV store and attention on the GPU (attention.cuh, kv_rope.cuh): the prefill kernel for runs of
 * consecutive positions, the decode kernels by lanes (a lone row) or by tiles (several), each row's positions split
 * into parts so that a single row reading a long cache still fills the GPU.
 */
final class CudaAttention {
    static final int THREADS = 32 * KernelConstants.value("ATT_WARPS");
    private static final int CHUNK = KernelConstants.value("ATT_CHUNK");
    private static final int LOADS = KernelConstants.value("ATT_LOADS");
    private static final int HEAD_DIMS = KernelConstants.value("ATT_HEAD_DIMS");
    /** The largest head dimension the decode kernels are tested with. */
    static final int MAX_DIM = 256;
    private static final int PREFILL_QUERIES = KernelConstants.value("PF_QUERIES");
    private static final int PREFILL_KEYS = KernelConstants.value("PF_KEYS");
    private static final int PREFILL_THREADS = 32 * KernelConstants.value("PF_WARPS");
    static final int PREFILL_MAX_DIM = KernelConstants.value("PF_MAX_DIM");
    /**
     * How the decode attention splits each row's positions: into as many parts as this many blocks per multiprocessor
     * allow, and into at most MAX_PARTS, each warp of the lanes kernel making at most PASSES passes over its part, each
     * block of the tiles kernel taking at most TILES tiles.
     */
    private static final int BLOCKS_PER_SM = 4;
    private static final int PASSES = 8;
    private static final int TILES = 16;
    private static final int MAX_PARTS = 32;
    private static final int[] NO_TILES = new int[0];

    private final CudaDevice device;
    private final StepQueue step;
    /** Rotary inverse frequencies, uploaded once, by identity. */
    private final Map<float[], CUdeviceptr> frequencies = new IdentityHashMap<>();

    CudaAttention(CudaDevice device, StepQueue step) {
        this.device = device;
        this.step = step;
    }

    void attention(CudaKvCache kv, int layer, Activations q, Activations k, Activations v, TokenBatch batch, AttentionShape shape, Activations out) {
        // checked before anything is queued, so a refused shape leaves no launch behind
        if (shape.headDim() > MAX_DIM || shape.headDim() % 8 != 0) {
            throw new IllegalArgumentException("head dimension " + shape.headDim() + ": the CUDA attention kernel takes multiples of 8 up to " + MAX_DIM);
        }
        CudaKvCache.Rows rows = cacheRows(kv, batch);
        CUdeviceptr positions = step.stepInts(batch.positions());
        String element = kv.elementBytes() == 2 ? "_bf16" : "_f32";
        step.launch("rope_store" + element, (long) batch.rows() * (shape.heads() + shape.kvHeads()) * (shape.headDim() / 2), 256, ptr(q), ptr(k),
                ptr(v), rows.keys(), rows.values(), rows.capacities(), layer, positions, frequencies(shape.ropeFrequencies()), batch.rows(),
                shape.heads(), shape.kvHeads(), shape.headDim());
        int[] tiles = prefillTiles(batch, shape);
        if (tiles != null) {
            step.queue(new StepQueue.Launch("attention_prefill" + element, tiles.length / 2 * shape.kvHeads(), PREFILL_THREADS,
                    prefillShared(shape.headDim()), new Object[] {ptr(q), rows.keys(), rows.values(), rows.capacities(), layer, positions,
                        step.stepInts(tiles), ptr(out), shape.heads(), shape.kvHeads(), shape.headDim(), shape.scale(), shape.window()}));
            return;
        }
        int visible = 0;
        for (int r = 0; r < batch.rows(); r++) {
            int p = batch.position(r) + 1;
            visible = Math.max(visible, shape.window() > 0 ? Math.min(p, shape.window()) : p);
        }
        int rowHeads = batch.rows() * shape.heads();
        if (batch.rows() == 1) {
            // the lanes kernel's layout: lanes per (query head, position), positions per pass of its blocks
            int lanes = Integer.highestOneBit(2 * Math.ceilDiv(shape.headDim(), CHUNK) - 1);
            int parts = parts(rowHeads, visible, THREADS / lanes, PASSES);
            step.launchBlocks("attention_lanes" + element, rowHeads * parts, THREADS, ptr(q), rows.keys(), rows.values(), rows.capacities(), layer,
                    positions, ptr(out), shape.heads(), shape.kvHeads(), shape.headDim(), shape.scale(), shape.window(), parts,
                    partials(rowHeads, parts, shape), step.arrivals(rowHeads));
            return;
        }
        // the tiles kernel's layout: query heads per block (the whole group unless that passes HEAD_DIMS), positions per
        // tile (as many as LOADS pieces of 16 bytes a thread hold, at most 32)
        int group = shape.heads() / shape.kvHeads();
        int blockHeads = Math.min(group, HEAD_DIMS / shape.headDim());
        int chunks = Math.ceilDiv(group, blockHeads);
        blockHeads = Math.ceilDiv(group, chunks);
        int pieces = shape.headDim() * kv.elementBytes() / 16;
        int tile = Math.min(32, LOADS * THREADS / pieces);
        int blocksPerPart = batch.rows() * shape.kvHeads() * chunks;
        int parts = parts(blocksPerPart, visible, tile, TILES);
        step.queue(new StepQueue.Launch("attention_tiles" + element, blocksPerPart * parts, THREADS, tilesShared(tile, pieces, blockHeads,
                shape.headDim()), new Object[] {ptr(q), rows.keys(), rows.values(), rows.capacities(), layer, positions, ptr(out), shape.heads(),
                    shape.kvHeads(), shape.headDim(), shape.scale(), shape.window(), parts, partials(rowHeads, parts, shape),
                    step.arrivals(blocksPerPart), blockHeads, tile}));
    }

    /** Dynamic shared memory of the tiles kernel: the tile's keys and values (rows padded to an odd number of pieces), queries, scores. */
    private static int tilesShared(int tile, int pieces, int blockHeads, int headDim) {
        return Math.max(32 * tile * (pieces | 1) + 4 * blockHeads * (headDim + tile + 3), 4 * 32 * blockHeads);
    }

    /** Dynamic shared memory of the prefill kernel for heads of {@code headDim}. */
    static int prefillShared(int headDim) {
        return 4 * (PREFILL_QUERIES * headDim + PREFILL_KEYS * (headDim + 4) + PREFILL_KEYS * headDim + PREFILL_QUERIES * PREFILL_KEYS
                + PREFILL_QUERIES);
    }

    /**
     * Into how many parts the decode attention cuts each row's positions: as many as fill the GPU's blocks at once (a
     * few more would wait for a second wave), so many that a block takes at most maxSteps steps of `step` positions, at
     * least one whole step each, at most MAX_PARTS.
     */
    private int parts(int blocksPerPart, int visible, int stepPositions, int maxSteps) {
        int parts = Math.max(BLOCKS_PER_SM * device.multiprocessors() / blocksPerPart, Math.ceilDiv(visible, maxSteps * stepPositions));
        return Math.max(1, Math.min(MAX_PARTS, Math.min(parts, Math.ceilDiv(visible, stepPositions))));
    }

    /** Where the parts of a split decode attention leave their sums (none needed for one part). */
    private CUdeviceptr partials(int rowHeads, int parts, AttentionShape shape) {
        return step.scratch("attention parts", parts > 1 ? 4L * rowHeads * parts * (shape.headDim() + 2) : 4);
    }

    /**
     * The prefill kernel's tiles for a batch, {first row, rows} pairs of consecutive positions of one slot, at most as
     * many rows as fill its query vectors; null when the decode kernels suit the batch better (rows mostly alone in
     * their slot, as in decode steps) or the shape is beyond the prefill kernel. Made once per step.
     */
    private int[] prefillTiles(TokenBatch batch, AttentionShape shape) {
        int group = shape.heads() / shape.kvHeads();
        if (batch.rows() <= ProductDispatch.MATVEC_MAX_ROWS || shape.headDim() > PREFILL_MAX_DIM || shape.headDim() % 4 != 0
                || PREFILL_QUERIES % group != 0) {
            return null;
        }
        int[] tiles = step.perStep(batch.slots(), slots -> {
            int perTile = PREFILL_QUERIES / group;
            List<Integer> out = new ArrayList<>();
            for (int r = 0; r < batch.rows(); r++) {
                boolean continues = r > 0 && out.getLast() < perTile && batch.slot(r) == batch.slot(r - 1)
                        && batch.position(r) == batch.position(r - 1) + 1;
                if (continues) {
                    out.set(out.size() - 1, out.getLast() + 1);
                } else {
                    out.add(r);
                    out.add(1);
                }
            }
            return out.size() <= batch.rows() ? out.stream().mapToInt(Integer::intValue).toArray() : NO_TILES;
        });
        return tiles == NO_TILES ? null : tiles;
    }

    /** Each row's cache addresses and capacity, uploaded once per step (every layer of the step uses them). */
    private CudaKvCache.Rows cacheRows(CudaKvCache kv, TokenBatch batch) {
        return step.perStep(batch, b -> {
            int n = b.rows();
            CUdeviceptr[] keys = new CUdeviceptr[n];
            CUdeviceptr[] values = new CUdeviceptr[n];
            int[] capacities = new int[n];
            kv.describe(b, keys, values, capacities);
            CUdeviceptr k = step.take((long) Sizeof.POINTER * n, 0);
            CUdeviceptr v = step.take((long) Sizeof.POINTER * n, 0);
            CUdeviceptr c = step.take(4L * n, 0);
            device.current();
            cuMemcpyHtoD(k, Pointer.to(keys), (long) Sizeof.POINTER * n);
            cuMemcpyHtoD(v, Pointer.to(values), (long) Sizeof.POINTER * n);
            cuMemcpyHtoD(c, Pointer.to(capacities), 4L * n);
            return new CudaKvCache.Rows(k, v, c);
        });
    }

    private CUdeviceptr frequencies(float[] values) {
        return frequencies.computeIfAbsent(values, f -> device.upload(f, DeviceOutOfMemoryException.Use.WEIGHTS));
    }

    void close() {
        frequencies.values().forEach(device::free);
        frequencies.clear();
    }
}

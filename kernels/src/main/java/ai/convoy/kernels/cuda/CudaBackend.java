package ai.convoy.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.AttentionShape;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.QuantizedWeight;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.WeightVector;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backend on one CUDA GPU, through JCuda's driver API and the kernels of {@code convoy.cu} (a committed
 * fatbin). Weights stay as stored (bf16/f16/f32, or 4-bit and 8-bit with their scales); activations are float32 and
 * live for one step; the KV cache is float32 or bf16 per slot. Each kernel is checked against the CPU backend.
 */
public final class CudaBackend implements Backend {
    private static final Logger log = LoggerFactory.getLogger(CudaBackend.class);
    private static final String FATBIN = "/ai/convoy/kernels/cuda/convoy.fatbin";

    private final int index;
    private final int kvBytes;
    private final String deviceName;
    /** Compute capability 8.0 or newer: the tensor-core kernels (mma_4bit_*) run. */
    private final boolean tensorCores;
    private final int multiprocessors;
    /** Compute capability 9.0 or newer: kernels launch with programmatic dependent launch; otherwise null. */
    private final DependentLaunch dependentLaunch;
    private final CUcontext context = new CUcontext();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final DeviceArena workspace = new DeviceArena(bytes -> alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS));
    /** Per-step uploads of host arrays (positions, row lists), by identity: a step's layers share them. */
    private final Map<Object, Object> stepUploads = new IdentityHashMap<>();
    private ByteBuffer uploadStaging = ByteBuffer.allocateDirect(1 << 16).order(ByteOrder.nativeOrder());
    /** Constant tables (rotary inverse frequencies) uploaded once, by identity. */
    private final Map<float[], CUdeviceptr> constants = new IdentityHashMap<>();
    /** Four-bit codebooks by content: weights of one codebook share it, so a gate/up pair can go in one launch. */
    private final Map<FloatBuffer, CUdeviceptr> codebooks = new HashMap<>();
    private long allocatedBytes;
    private long peakBytes;
    private final CUstream stream = new CUstream();
    /** cuBLAS for products of more than MATVEC_MAX_ROWS rows, or null: then the decode kernels take them 8 rows at a time. */
    private final Cublas cublas;
    private CUdeviceptr cublasWorkspace;
    /**
     * Buffers that one operation fills and the next consumes (bf16 inputs of the GEMM, four-bit weights expanded a
     * slice at a time, attention partial sums), by use: stream order lets every operation of a step share one, grown
     * on demand, where taking each from the step's workspace would hold one per operation until the step ends.
     */
    private final Map<String, Scratch> scratch = new HashMap<>();

    private record Scratch(CUdeviceptr ptr, long bytes) {
    }
    private static final long GEMM_WEIGHT_BYTES = 64L << 20;
    private final List<Op> pending = new ArrayList<>();
    /** Most rows of any activation this step: steps of up to GRAPH_ROWS rows (decode batches) are replayed as graphs. */
    private int stepRows;
    private static final int GRAPH_ROWS = 64;
    /** A step is submitted in chunks of this many operations: the GPU runs one while the host builds the next. */
    private static final int CHUNK_OPS = 32;
    /** Captured chunks kept: about ten per decode step shape (batch size, context bucket), for dozens of shapes. */
    private static final int MAX_GRAPHS = 512;
    private final Map<List<Op>, CUgraphExec> graphs = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<List<Op>, CUgraphExec> eldest) {
            if (size() > MAX_GRAPHS) {
                cuGraphExecDestroy(eldest.getValue());
                return true;
            }
            return false;
        }
    };

    /** A backend on GPU {@code index} with a float32 KV cache (exact against the CPU backend). */
    public CudaBackend(int index) {
        this(index, 4);
    }

    /** A backend on GPU {@code index} whose KV cache holds {@code kvBytes}-byte elements: 4 float32, 2 bf16. */
    public CudaBackend(int index, int kvBytes) {
        if (kvBytes != 2 && kvBytes != 4) {
            throw new IllegalArgumentException("the CUDA KV cache holds float32 (4 bytes) or bf16 (2 bytes), not " + kvBytes + "-byte values");
        }
        this.index = index;
        this.kvBytes = kvBytes;
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        CUdevice device = new CUdevice();
        cuDeviceGet(device, index);
        byte[] name = new byte[256];
        cuDeviceGetName(name, name.length, device);
        this.deviceName = new String(name).trim();
        int[] major = new int[1];
        JCudaDriver.cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        this.tensorCores = major[0] >= 8;
        int[] count = new int[1];
        JCudaDriver.cuDeviceGetAttribute(count, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        this.multiprocessors = count[0];
        this.dependentLaunch = major[0] >= 9 ? DependentLaunch.open().orElse(null) : null;
        log.info("cuda:{} ({}): kernels launch {}", index, deviceName, dependentLaunch != null
                ? "with programmatic dependent launch (each may start while the one before it finishes)" : "one after another");
        cuCtxCreate(context, 0, device);
        cuStreamCreate(stream, 0);
        CUmodule module = new CUmodule();
        cuModuleLoadData(module, fatbin());
        List<String> names = new ArrayList<>(List.of("embed", "rms_norm", "matmul", "add_bias", "swiglu", "gather_rows", "argmax_parts", "argmax_merge",
                "repack_4bit", "dequant_4bit_bf16", "to_bf16"));
        for (String kv : List.of("f32", "bf16")) {
            names.addAll(List.of("rope_store_" + kv, "attention_lanes_" + kv, "attention_tiles_" + kv, "attention_prefill_" + kv));
        }
        for (MatvecVariant v : MATVEC_VARIANTS) {
            for (int blocksize : List.of(MatvecVariant.SPECIALISED_BLOCKSIZE, 0)) {
                for (Epilogue e : Epilogue.values()) {
                    names.add(v.name(false, e, blocksize));
                }
                names.add(v.trioName(blocksize));
            }
            for (Epilogue e : Epilogue.values()) {
                names.add(v.name(true, e, 0));
            }
        }
        for (MmaVariant v : MMA_VARIANTS) {
            for (String suffix : List.of("", "_add", TRIO)) {
                names.add(v.name(suffix));
            }
        }
        for (String f : names) {
            CUfunction fn = new CUfunction();
            cuModuleGetFunction(fn, module, f);
            functions.put(f, fn);
        }
        cublas = Cublas.open(stream);
        if (cublas != null) {
            // cuBLAS must not allocate while a graph is being captured: it gets its workspace up front
            cublasWorkspace = alloc(Cublas.WORKSPACE_BYTES, DeviceOutOfMemoryException.Use.ACTIVATIONS);
            cublas.useWorkspace(cublasWorkspace);
        }
        for (String kv : List.of("f32", "bf16")) {
            JCudaDriver.cuFuncSetAttribute(functions.get("attention_prefill_" + kv),
                    CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, prefillAttentionShared(PREFILL_MAX_DIM));
        }
    }

    private static byte[] fatbin() {
        try (InputStream in = CudaBackend.class.getResourceAsStream(FATBIN)) {
            if (in == null) {
                throw new IllegalStateException("the CUDA kernels " + FATBIN + " are missing from the build");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String deviceName() {
        return deviceName;
    }

    @Override
    public String name() {
        return "cuda:" + index;
    }

    // ---- memory ----

    /** Makes this backend's context current: stage actors call a backend from whichever thread runs them. */
    private void current() {
        cuCtxSetCurrent(context);
    }

    CUdeviceptr alloc(long bytes, DeviceOutOfMemoryException.Use use) {
        current();
        CUdeviceptr p = new CUdeviceptr();
        long size = Math.max(bytes, 4);
        try {
            cuMemAlloc(p, size);
        } catch (CudaException e) {
            // JCuda reports a failed call by its CUresult's name
            if (String.valueOf(e.getMessage()).contains(CUresult.stringFor(CUresult.CUDA_ERROR_OUT_OF_MEMORY))) {
                throw new DeviceOutOfMemoryException(name(), use, bytes, freeBytes(), allocatedBytes);
            }
            throw e;
        }
        allocations.put(p, size);
        allocatedBytes += size;
        peakBytes = Math.max(peakBytes, allocatedBytes);
        return p;
    }

    /** Free device memory as the driver counts it (other processes' use taken out), or -1 when it cannot say. */
    private long freeBytes() {
        try {
            long[] free = new long[1];
            long[] total = new long[1];
            JCudaDriver.cuMemGetInfo(free, total);
            return free[0];
        } catch (CudaException e) {
            return -1;
        }
    }

    private final Map<CUdeviceptr, Long> allocations = new IdentityHashMap<>();

    /** The most device memory this backend has held at once: weights, KV cache and workspace. */
    public synchronized long peakBytes() {
        return peakBytes;
    }

    private CUdeviceptr upload(MemorySegment data, DeviceOutOfMemoryException.Use use) {
        CUdeviceptr p = alloc(data.byteSize(), use);
        long chunk = 1L << 30;
        for (long at = 0; at < data.byteSize(); at += chunk) {
            long n = Math.min(chunk, data.byteSize() - at);
            ByteBuffer b = data.asSlice(at, n).asByteBuffer();
            cuMemcpyHtoD(p.withByteOffset(at), Pointer.to(b), n);
        }
        return p;
    }

    private CUdeviceptr upload(float[] values, DeviceOutOfMemoryException.Use use) {
        CUdeviceptr p = alloc(4L * values.length, use);
        cuMemcpyHtoD(p, Pointer.to(values), 4L * values.length);
        return p;
    }

    /** The scratch buffer of {@code use}, of at least {@code bytes}; a smaller one is let go once its work is done. */
    private CUdeviceptr scratch(String use, long bytes) {
        Scratch held = scratch.get(use);
        if (held != null && held.bytes() >= bytes) {
            return held.ptr();
        }
        if (held != null) {
            synchronize();
            free(held.ptr());
        }
        Scratch grown = new Scratch(alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS), bytes);
        scratch.put(use, grown);
        return grown.ptr();
    }

    /**
     * {@code count} counters that a kernel's blocks count their arrivals in, zero before each launch (the last block to
     * arrive resets its counter, so they are zeroed only when first made).
     */
    private CUdeviceptr arrivals(int count) {
        Scratch before = scratch.get("arrivals");
        CUdeviceptr p = scratch("arrivals", 4L * count);
        if (before == null || before.ptr() != p) {
            current();
            cuMemsetD32Async(p, 0, scratch.get("arrivals").bytes() / 4, stream);
        }
        return p;
    }

    /**
     * A per-step copy of a host array on the device, made once per step however often it is asked for. The copy is
     * queued on the stream: a step's later uploads (the head's row list) then wait only for their turn, not for the
     * chunks already running; the driver stages ordinary host memory before it returns, so the buffer is free again.
     */
    private CUdeviceptr stepInts(int[] values) {
        CUdeviceptr p = (CUdeviceptr) stepUploads.get(values);
        if (p == null) {
            long bytes = 4L * values.length;
            p = workspace.take(bytes);
            if (uploadStaging.capacity() < bytes) {
                uploadStaging = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
            }
            uploadStaging.clear();
            uploadStaging.asIntBuffer().put(values);
            current();
            cuMemcpyHtoDAsync(p, Pointer.to(uploadStaging), bytes, stream);
            stepUploads.put(values, p);
        }
        return p;
    }

    private CUdeviceptr constant(float[] values) {
        CUdeviceptr p = constants.get(values);
        if (p == null) {
            p = upload(values, DeviceOutOfMemoryException.Use.WEIGHTS);
            constants.put(values, p);
        }
        return p;
    }

    @Override
    public void endStep() {
        synchronize();
        stepUploads.clear();
        workspace.reset();
        stepRows = 0;
    }

    // ---- weights and activations ----

    record CudaActivations(int rows, int cols, CUdeviceptr ptr) implements Activations {
    }

    record CudaVector(int size, CUdeviceptr ptr) implements WeightVector {
        @Override
        public long bytes() {
            return 4L * size;
        }
    }

    /**
     * kind 0 dense (dtype), 1 four-bit in the checkpoint's order, 2 int8, 3 four-bit repacked in tiles for the decode
     * kernels; scales per block or per row; codebook for four-bit.
     */
    record CudaMatrix(int rows, int cols, long bytes, int kind, int dtype, CUdeviceptr data, CUdeviceptr scales, CUdeviceptr codebook,
                      int blocksize) implements WeightMatrix {
    }

    private static int dtypeCode(DType t) {
        return switch (t) {
            case F32 -> 0;
            case BF16 -> 1;
            case F16 -> 2;
            default -> throw new IllegalArgumentException(t + " weights are not supported by the CUDA backend");
        };
    }

    @Override
    public WeightMatrix matrix(HostTensor weight) {
        int code = dtypeCode(weight.dtype());
        CUdeviceptr data = upload(weight.data(), DeviceOutOfMemoryException.Use.WEIGHTS);
        return new CudaMatrix((int) weight.shape()[0], (int) weight.shape()[1], weight.data().byteSize(), 0, code, data, new CUdeviceptr(),
                new CUdeviceptr(), 1);
    }

    @Override
    public WeightMatrix matrix(QuantizedWeight weight) {
        return switch (weight) {
            case FourBitWeight w -> {
                float[] scales = new float[(int) w.scales().blocks()];
                for (int b = 0; b < scales.length; b++) {
                    scales[b] = w.scales().scale(b);
                }
                CUdeviceptr packed = upload(w.packed(), DeviceOutOfMemoryException.Use.WEIGHTS);
                boolean tiled = tiledFourBit(w.cols(), w.blocksize());
                if (tiled) {
                    packed = repacked(packed, w.packed().byteSize(), w.cols());
                }
                yield new CudaMatrix(w.rows(), w.cols(), w.packed().byteSize() + 4L * scales.length, tiled ? 3 : 1, 0, packed,
                        upload(scales, DeviceOutOfMemoryException.Use.WEIGHTS),
                        codebooks.computeIfAbsent(FloatBuffer.wrap(w.codebook().clone()), c -> upload(w.codebook(), DeviceOutOfMemoryException.Use.WEIGHTS)),
                        w.blocksize());
            }
            case Int8Weight w -> new CudaMatrix(w.rows(), w.cols(), w.bytes(), 2, 0, upload(w.data(), DeviceOutOfMemoryException.Use.WEIGHTS),
                    upload(w.rowScales(), DeviceOutOfMemoryException.Use.WEIGHTS), new CUdeviceptr(), 1);
        };
    }

    private static final int TILE_4BIT = 1024;

    /** Whether a four-bit weight takes the tiled decode kernels: whole tiles per row, blocks of 64 to 1024 weights. */
    private static boolean tiledFourBit(int cols, int blocksize) {
        return cols % TILE_4BIT == 0 && blocksize >= 64 && blocksize <= TILE_4BIT;
    }

    /** The codes rearranged in tiles (repack_4bit); the checkpoint-ordered copy is freed. */
    private CUdeviceptr repacked(CUdeviceptr packed, long bytes, int cols) {
        CUdeviceptr tiled = alloc(bytes, DeviceOutOfMemoryException.Use.WEIGHTS);
        long chunks = bytes / 16;
        current();
        launchNow(new Launch("repack_4bit", (int) ((chunks + 255) / 256), 256, new Object[] {packed, tiled, chunks, cols}));
        cuStreamSynchronize(stream);
        free(packed);
        return tiled;
    }

    @Override
    public WeightVector vector(HostTensor weight) {
        return new CudaVector((int) weight.elementCount(), upload(weight.toFloatArray(), DeviceOutOfMemoryException.Use.WEIGHTS));
    }

    @Override
    public Activations activations(int rows, int cols) {
        stepRows = Math.max(stepRows, rows);
        return new CudaActivations(rows, cols, workspace.take(4L * rows * cols));
    }

    @Override
    public void write(Activations dst, float[] rowMajor) {
        dst.requireSameSize(rowMajor);
        synchronize();
        cuMemcpyHtoD(ptr(dst), Pointer.to(rowMajor), 4L * rowMajor.length);
    }

    @Override
    public void read(Activations src, float[] rowMajor) {
        src.requireSameSize(rowMajor);
        synchronize();
        cuMemcpyDtoH(Pointer.to(rowMajor), ptr(src), 4L * rowMajor.length);
    }

    @Override
    public void readRow(Activations src, int row, float[] dst) {
        synchronize();
        cuMemcpyDtoH(Pointer.to(dst), ptr(src).withByteOffset(4L * row * src.cols()), 4L * src.cols());
    }

    private static CUdeviceptr ptr(Activations a) {
        return ((CudaActivations) a).ptr();
    }

    // ---- kernels ----

    /** Work held until the step is submitted: equal lists of equal operations replay one captured graph. */
    private sealed interface Op permits Launch, Gemm {
    }

    /**
     * A kernel launch; equal launches have equal functions and arguments. {@code shared}: bytes of dynamic shared
     * memory.
     */
    private record Launch(String function, int grid, int block, int shared, Object[] args) implements Op {
        Launch(String function, int grid, int block, Object[] args) {
            this(function, grid, block, 0, args);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Launch l && function.equals(l.function) && grid == l.grid && block == l.block && shared == l.shared
                    && Arrays.equals(args, l.args);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * function.hashCode() + grid) + Arrays.hashCode(args);
        }
    }

    /** Holds an operation for the step; a full chunk is submitted at once. */
    private void queue(Op op) {
        pending.add(op);
        if (pending.size() >= CHUNK_OPS) {
            flush();
        }
    }

    private void launch(String function, long threads, int block, Object... args) {
        if (!functions.containsKey(function)) {
            throw new IllegalArgumentException("no kernel " + function + " was loaded from the fatbin");
        }
        queue(new Launch(function, (int) Math.max(1, (threads + block - 1) / block), block, args));
    }

    /**
     * Submits the held launches (a chunk of a step, or its rest). In a decode-sized step (at most {@link #GRAPH_ROWS}
     * rows) each chunk is captured once as a CUDA graph and replayed whenever the same launches come again: the
     * workspace hands out the same addresses each step and what changes between steps (tokens, positions, cache rows)
     * is uploaded data, not kernel arguments, so a few replays replace hundreds of launches.
     */
    private void flush() {
        if (pending.isEmpty()) {
            return;
        }
        current();
        if (stepRows <= GRAPH_ROWS) {
            List<Op> key = List.copyOf(pending);
            CUgraphExec exec = graphs.get(key);
            if (exec == null) {
                CUgraph graph = new CUgraph();
                cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
                try {
                    key.forEach(this::launchNow);
                } catch (RuntimeException e) {
                    // end the capture, or the stream refuses all later work
                    pending.clear();
                    cuStreamEndCapture(stream, graph);
                    cuGraphDestroy(graph);
                    throw e;
                }
                cuStreamEndCapture(stream, graph);
                exec = new CUgraphExec();
                cuGraphInstantiate(exec, graph, 0);
                cuGraphDestroy(graph);
                graphs.put(key, exec);
            }
            cuGraphLaunch(exec, stream);
        } else {
            pending.forEach(this::launchNow);
        }
        pending.clear();
    }

    /** A cuBLAS product (Cublas.gemm's arguments). */
    private record Gemm(CUdeviceptr w, CUdeviceptr x, CUdeviceptr y, int m, int n, int k, int ldy, boolean accumulate) implements Op {
    }

    private void launchNow(Op op) {
        switch (op) {
            case Launch l -> launchNow(l);
            case Gemm g -> cublas.gemm(g.w(), g.x(), g.y(), g.m(), g.n(), g.k(), g.ldy(), g.accumulate());
        }
    }

    private void launchPlain(Launch l) {
        Pointer[] params = new Pointer[l.args().length];
        for (int i = 0; i < params.length; i++) {
            params[i] = switch (l.args()[i]) {
                case CUdeviceptr p -> Pointer.to(p);
                case Integer v -> Pointer.to(new int[] {v});
                case Long v -> Pointer.to(new long[] {v});
                case Float v -> Pointer.to(new float[] {v});
                default -> throw new IllegalArgumentException("kernel argument " + l.args()[i]);
            };
        }
        cuLaunchKernel(functions.get(l.function()), l.grid(), 1, 1, l.block(), 1, 1, l.shared(), stream, Pointer.to(params), null);
    }

    private void launchNow(Launch l) {
        if (dependentLaunch != null) {
            dependentLaunch.launch(functions.get(l.function()), l.grid(), l.block(), l.shared(), stream, l.args());
        } else {
            launchPlain(l);
        }
    }

    private void launchBlocks(String function, int blocks, int block, Object... args) {
        launch(function, (long) blocks * block, block, args);
    }

    @Override
    public void embed(WeightMatrix table, int[] ids, Activations out) {
        CudaMatrix t = (CudaMatrix) table;
        launch("embed", (long) ids.length * t.cols(), 256, t.data(), t.dtype(), stepInts(ids), ptr(out), ids.length, t.cols());
    }

    @Override
    public void rmsNorm(Activations x, WeightVector weight, float eps, Activations out) {
        launchBlocks("rms_norm", x.rows(), Math.min(1024, Math.max(32, (x.cols() / 4 + 31) / 32 * 32)), ptr(x), ((CudaVector) weight).ptr(), eps, ptr(out), x.cols());
    }

    @Override
    public void matmul(Activations x, WeightMatrix w, Activations out) {
        product(x, (CudaMatrix) w, null, out, Epilogue.STORE);
    }

    @Override
    public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
        product(x, (CudaMatrix) w, null, acc, Epilogue.ADD);
    }

    /**
     * Two or three four-bit matrices of one codebook and block size that the decode or tensor-core kernels take go in
     * one launch (one bf16 copy of the input for the tensor cores); otherwise one product after another.
     */
    @Override
    public void matmuls(Activations x, WeightMatrix[] weights, Activations[] outs) {
        Backend.requireOutputPerMatrix(weights, outs);
        if (!inOneLaunch(x.rows(), weights)) {
            for (int i = 0; i < weights.length; i++) {
                product(x, (CudaMatrix) weights[i], null, outs[i], Epilogue.STORE);
            }
            return;
        }
        CudaMatrix first = (CudaMatrix) weights[0];
        boolean tensorCores = mmaTakes(x.rows(), first);
        MmaVariant variant = tensorCores ? mmaVariant(x.rows(), first.rows()) : null;
        MatvecVariant decode = tensorCores ? null : matvecVariant(x.rows());
        int features = tensorCores ? variant.features() : decode.sums();
        List<Object> args = new ArrayList<>(List.of(tensorCores ? bf16Copy(x) : ptr(x), first.codebook(),
                Integer.numberOfTrailingZeros(first.blocksize()), x.rows(), x.cols()));
        int blocks = 0;
        for (int i = 0; i < TRIO_MATRICES; i++) {
            int j = Math.min(i, weights.length - 1);  // a missing third matrix: the last one again, with no features (no blocks)
            CudaMatrix m = (CudaMatrix) weights[j];
            if (i == j) {
                checkProduct(x, m, outs[j]);
            }
            int outCols = i == j ? m.rows() : 0;
            args.addAll(List.of(m.data(), m.scales(), ptr(outs[j]), outCols));
            blocks += (outCols + features - 1) / features;
        }
        launchBlocks(tensorCores ? variant.name(TRIO) : decode.trioName(first.blocksize()), blocks,
                tensorCores ? variant.threads() : MATVEC_THREADS, args.toArray());
    }

    private static final int TRIO_MATRICES = 3;
    /** Suffix of the kernels that take up to TRIO_MATRICES products of one input. */
    private static final String TRIO = "_trio";

    private boolean inOneLaunch(int rows, WeightMatrix[] weights) {
        if (weights.length < 2 || weights.length > TRIO_MATRICES) {
            return false;
        }
        CudaMatrix first = (CudaMatrix) weights[0];
        for (WeightMatrix w : weights) {
            CudaMatrix m = (CudaMatrix) w;
            if (m.kind() != 3 || m.cols() != first.cols() || m.blocksize() != first.blocksize() || !m.codebook().equals(first.codebook())) {
                return false;
            }
        }
        return mmaTakes(rows, first) || rows <= MATVEC_MAX_ROWS;
    }

    /**
     * A gate/up pair that the decode kernels take together (same storage, codebook and shape) goes in one launch that
     * writes silu(gate) * up; otherwise gate goes to {@code out}, up to a scratch buffer ({@link #matmuls}: one launch
     * for a pair on the tensor cores), and a kernel combines them.
     */
    @Override
    public void swiglu(Activations x, WeightMatrix gate, WeightMatrix up, Activations out) {
        CudaMatrix g = (CudaMatrix) gate;
        CudaMatrix u = (CudaMatrix) up;
        boolean pair = g.kind() == u.kind() && g.dtype() == u.dtype() && g.rows() == u.rows() && g.cols() == u.cols()
                && g.blocksize() == u.blocksize() && g.codebook().equals(u.codebook());
        if (pair && !bf16Takes(x.rows(), g) && (g.kind() == 3 || decodeKernelBf16(g))) {
            product(x, g, u, out, Epilogue.SWIGLU);
            return;
        }
        Activations upOut = new CudaActivations(out.rows(), out.cols(), scratch("swiglu up", 4L * out.rows() * out.cols()));
        matmuls(x, new WeightMatrix[] {gate, up}, new Activations[] {out, upOut});
        long n = (long) out.rows() * out.cols();
        launch("swiglu", n, 256, ptr(out), ptr(upOut), ptr(out), n);
    }

    /** What a product does with its sums (EPI_* of convoy.cu): store them, add them, or combine a gate/up pair. */
    private enum Epilogue {
        STORE(""), ADD("_add"), SWIGLU("_swiglu");

        private final String suffix;

        Epilogue(String suffix) {
            this.suffix = suffix;
        }
    }

    private static void checkProduct(Activations x, CudaMatrix m, Activations out) {
        if (x.cols() != m.cols() || out.cols() != m.rows() || out.rows() != x.rows()) {
            throw new IllegalArgumentException("matmul shapes: x " + x.rows() + "x" + x.cols() + ", W " + m.rows() + "x" + m.cols()
                    + ", out " + out.rows() + "x" + out.cols());
        }
    }

    /** out = m x, out += m x, or (SWIGLU, with {@code up}) out = silu(m x) * (up x). */
    private void product(Activations x, CudaMatrix m, CudaMatrix up, Activations out, Epilogue epilogue) {
        checkProduct(x, m, out);
        if (mmaTakes(x.rows(), m)) {
            mma(x, m, out, epilogue == Epilogue.ADD);
            return;
        }
        if (gemmTakes(x.rows(), m)) {
            gemm(x, m, out, epilogue == Epilogue.ADD);
            return;
        }
        boolean bf16 = decodeKernelBf16(m);
        if (m.kind() == 3 || bf16) {
            CudaMatrix second = up != null ? up : m;
            // the decode kernels take up to MATVEC_MAX_ROWS rows; larger batches go that many rows at a time
            for (int r0 = 0; r0 < x.rows(); r0 += MATVEC_MAX_ROWS) {
                int rows = Math.min(MATVEC_MAX_ROWS, x.rows() - r0);
                MatvecVariant variant = matvecVariant(rows);
                CUdeviceptr xr = ptr(x).withByteOffset(4L * r0 * m.cols());
                CUdeviceptr yr = ptr(out).withByteOffset(4L * r0 * m.rows());
                int sums = variant.sums(bf16, epilogue);
                int features = epilogue == Epilogue.SWIGLU ? sums / 2 : sums;
                int blocks = (m.rows() + features - 1) / features;
                String kernel = variant.name(bf16, epilogue, m.blocksize());
                if (bf16) {
                    launchBlocks(kernel, blocks, MATVEC_THREADS, xr, m.data(), second.data(), yr, rows, m.cols(), m.rows());
                } else {
                    launchBlocks(kernel, blocks, MATVEC_THREADS, xr, m.data(), m.scales(), second.data(),
                            second.scales(), m.codebook(), Integer.numberOfTrailingZeros(m.blocksize()), yr, rows, m.cols(), m.rows());
                }
            }
            return;
        }
        launch("matmul", 32L * m.rows(), 256, ptr(x), m.data(), m.kind(), m.dtype(), m.scales(), m.codebook(), m.blocksize(), ptr(out),
                x.rows(), m.cols(), m.rows(), epilogue == Epilogue.ADD ? 1 : 0);
    }

    private static boolean decodeKernelBf16(CudaMatrix m) {
        return m.kind() == 0 && m.dtype() == 1 && m.cols() % 8 == 0;
    }

    /** Whether a product of {@code rows} rows with {@code w} takes bf16 inputs (tensor cores, own or cuBLAS's). */
    boolean bf16Takes(int rows, WeightMatrix w) {
        return mmaTakes(rows, (CudaMatrix) w) || gemmTakes(rows, (CudaMatrix) w);
    }

    private boolean mmaTakes(int rows, CudaMatrix m) {
        return m.kind() == 3 && mmaRows(rows);
    }

    private boolean mmaRows(int rows) {
        return tensorCores && rows > MMA_MIN_ROWS && rows <= MMA_VARIANTS[MMA_VARIANTS.length - 1].rows();
    }

    private boolean gemmTakes(int rows, CudaMatrix m) {
        return rows > MATVEC_MAX_ROWS && cublas != null && (m.kind() == 3 || decodeKernelBf16(m)) && !mmaTakes(rows, m);
    }

    /** Whether steps of {@code rows} rows compute some of their four-bit or bf16 products with bf16 inputs. */
    public boolean bf16Products(int rows) {
        return mmaRows(rows) || rows > MATVEC_MAX_ROWS && cublas != null;
    }

    /**
     * A tensor-core kernel of convoy.cu: for up to {@code rows} rows of matrices of at least {@code minFeatures} outputs,
     * {@code featureTiles} 16-feature tiles and {@code rowTiles} 8-row tiles a warp, {@code warps} warps a block.
     */
    private record MmaVariant(int rows, int minFeatures, int featureTiles, int rowTiles, int warps) {
        /** The kernel's name, then "" (store), "_add" or TRIO. */
        String name(String suffix) {
            return "mma_4bit_m" + featureTiles + "_n" + rowTiles + "_w" + warps + suffix;
        }

        int features() {
            return 16 * featureTiles;
        }

        int threads() {
            return 32 * warps;
        }
    }

    /**
     * The tensor-core kernels by rows, the first that suits a product taking it; up to MMA_MIN_ROWS rows the float32
     * decode kernels are faster. 17-32 rows of matrices of 8192 outputs or more take four feature tiles a warp (the
     * Llama-3-70B products and the 8B gate/up, 5-22% faster in ops/cuda/tune-matvec on an H100; narrower ones are slower
     * so).
     */
    private static final MmaVariant[] MMA_VARIANTS = {new MmaVariant(8, 0, 1, 1, 8), new MmaVariant(16, 0, 1, 2, 4),
        new MmaVariant(32, 8192, 4, 4, 8), new MmaVariant(32, 0, 2, 4, 8), new MmaVariant(64, 0, 2, 8, 4)};
    private static final int MMA_MIN_ROWS = 4;

    private static MmaVariant mmaVariant(int rows, int features) {
        return Arrays.stream(MMA_VARIANTS).filter(v -> v.rows() >= rows && features >= v.minFeatures()).findFirst().orElseThrow();
    }

    /** The activations rounded to bf16 in a scratch buffer, the input of the bf16 products. */
    private CUdeviceptr bf16Copy(Activations x) {
        long n = (long) x.rows() * x.cols();
        CUdeviceptr xb = scratch("bf16 input", 2 * n);
        launch("to_bf16", n, 256, ptr(x), xb, n);
        return xb;
    }

    /** Four-bit products of 5 to 64 rows on the tensor cores, reading the codes once (activations rounded to bf16). */
    private void mma(Activations x, CudaMatrix m, Activations out, boolean accumulate) {
        CUdeviceptr xb = bf16Copy(x);
        MmaVariant variant = mmaVariant(x.rows(), m.rows());
        int features = variant.features();
        launchBlocks(variant.name(accumulate ? "_add" : ""), (m.rows() + features - 1) / features, variant.threads(), xb, m.data(), m.scales(),
                m.codebook(), Integer.numberOfTrailingZeros(m.blocksize()), ptr(out), x.rows(), m.cols(), m.rows());
    }

    /**
     * Prefill and large batches: the activations in bf16 times the weights in bf16 (four-bit ones expanded a slice of
     * output features at a time), by cuBLAS with float32 accumulation; held with the step's launches, so a decode
     * batch's products are captured in its graph too.
     */
    private void gemm(Activations x, CudaMatrix m, Activations out, boolean accumulate) {
        CUdeviceptr xb = bf16Copy(x);
        if (m.kind() != 3) {
            queue(new Gemm(m.data(), xb, ptr(out), m.rows(), x.rows(), m.cols(), m.rows(), accumulate));
            return;
        }
        // whole multiples of 64 features keep each slice's output columns aligned for the tensor-core kernels
        long sliceBytes = Math.max(GEMM_WEIGHT_BYTES, 2L * 64 * m.cols());
        CUdeviceptr gemmWeights = scratch("expanded weights", sliceBytes);
        int slice = (int) Math.min(m.rows(), sliceBytes / (2L * m.cols()) / 64 * 64);
        for (int f0 = 0; f0 < m.rows(); f0 += slice) {
            int features = Math.min(slice, m.rows() - f0);
            long chunks = (long) features * m.cols() / 32;
            queue(new Launch("dequant_4bit_bf16", (int) ((chunks + 255) / 256), 256, new Object[] {m.data(), m.scales(), m.codebook(),
                Integer.numberOfTrailingZeros(m.blocksize()), (long) f0 * m.cols() / 32, chunks, gemmWeights}));
            queue(new Gemm(gemmWeights, xb, ptr(out).withByteOffset(4L * f0), features, x.rows(), m.cols(), m.rows(), accumulate));
        }
    }

    /**
     * A decode kernel family of convoy.cu (MATVEC_VARIANTS): up to {@code rows} rows, and the sums per row a block
     * makes for four-bit weights, a four-bit gate/up pair (two kinds of sums), and bf16 weights.
     */
    private record MatvecVariant(int rows, int sums, int swigluSums, int bf16Sums) {
        /** Four-bit blocks of this many weights (bitsandbytes' default) have kernels of their own, with fewer registers. */
        static final int SPECIALISED_BLOCKSIZE = 64;
        /** Sums per row of a bf16 gate/up block: two features of each. */
        static final int BF16_SWIGLU_SUMS = 4;

        int sums(boolean bf16, Epilogue epilogue) {
            if (epilogue == Epilogue.SWIGLU) {
                return bf16 ? BF16_SWIGLU_SUMS : swigluSums;
            }
            return bf16 ? bf16Sums : sums;
        }

        /** The kernel for bf16 or four-bit weights (of blocks of {@code blocksize}) with that epilogue. */
        String name(boolean bf16, Epilogue epilogue, int blocksize) {
            return "matvec_" + (bf16 ? "bf16" : "4bit") + "_r" + rows + "_f" + sums(bf16, epilogue) + epilogue.suffix
                    + (bf16 ? "" : blocksizeSuffix(blocksize));
        }

        String trioName(int blocksize) {
            return "matvec_4bit_r" + rows + "_f" + sums + TRIO + blocksizeSuffix(blocksize);
        }

        private static String blocksizeSuffix(int blocksize) {
            return blocksize == SPECIALISED_BLOCKSIZE ? "_b" + SPECIALISED_BLOCKSIZE : "";
        }
    }

    /** The decode kernels by rows (the best of ops/cuda/tune-matvec on an H100). */
    private static final MatvecVariant[] MATVEC_VARIANTS = {new MatvecVariant(1, 4, 8, 2), new MatvecVariant(2, 2, 4, 2),
        new MatvecVariant(4, 4, 4, 4), new MatvecVariant(8, 4, 4, 4)};
    private static final int MATVEC_MAX_ROWS = MATVEC_VARIANTS[MATVEC_VARIANTS.length - 1].rows();
    /** MV_THREADS of convoy.cu. */
    private static final int MATVEC_THREADS = 128;

    private static MatvecVariant matvecVariant(int rows) {
        return Arrays.stream(MATVEC_VARIANTS).filter(v -> v.rows() >= rows).findFirst().orElseThrow();
    }

    @Override
    public void addBias(Activations x, WeightVector bias) {
        launch("add_bias", (long) x.rows() * x.cols(), 256, ptr(x), ((CudaVector) bias).ptr(), x.rows(), x.cols());
    }

    @Override
    public KvCache kvCache(int layers, int kvHeads, int headDim) {
        return new CudaKvCache(this, layers, kvHeads * headDim, kvBytes);
    }

    @Override
    public void attention(KvCache cache, int layer, Activations q, Activations k, Activations v, TokenBatch batch, AttentionShape shape,
                          Activations out) {
        // checked before anything is queued, so a refused shape leaves no launch behind
        if (shape.headDim() > ATTENTION_MAX_DIM || shape.headDim() % 8 != 0) {
            throw new IllegalArgumentException("head dimension " + shape.headDim() + ": the CUDA attention kernel takes multiples of 8 up to "
                    + ATTENTION_MAX_DIM);
        }
        CudaKvCache kv = (CudaKvCache) cache;
        CudaKvCache.Rows rows = stepRows(kv, batch);
        CUdeviceptr positions = stepInts(batch.positions());
        int width = kv.width();
        String element = kv.elementBytes() == 2 ? "_bf16" : "_f32";
        launch("rope_store" + element, (long) batch.rows() * (shape.heads() + shape.kvHeads()) * (shape.headDim() / 2), 256, ptr(q), ptr(k), ptr(v),
                rows.keys(), rows.values(), rows.capacities(), layer, positions, constant(shape.ropeFrequencies()), batch.rows(), shape.heads(),
                shape.kvHeads(), shape.headDim());
        int[] tiles = prefillTiles(batch, shape);
        if (tiles != null) {
            queue(new Launch("attention_prefill" + element, tiles.length / 2 * shape.kvHeads(), PREFILL_THREADS, prefillAttentionShared(shape.headDim()),
                    new Object[] {ptr(q), rows.keys(), rows.values(), rows.capacities(), layer, positions, stepInts(tiles), ptr(out), shape.heads(),
                        shape.kvHeads(), shape.headDim(), shape.scale(), shape.window()}));
            return;
        }
        int visible = 0;
        for (int r = 0; r < batch.rows(); r++) {
            int p = batch.position(r) + 1;
            visible = Math.max(visible, shape.window() > 0 ? Math.min(p, shape.window()) : p);
        }
        int rowHeads = batch.rows() * shape.heads();
        if (batch.rows() == 1) {
            // the lanes kernel's layout (convoy.cu): lanes per (query head, position), positions per pass of its blocks
            int lanes = Integer.highestOneBit(2 * Math.ceilDiv(shape.headDim(), ATTENTION_CHUNK) - 1);
            int pass = ATTENTION_THREADS / lanes;
            int parts = attentionParts(rowHeads, visible, pass, ATTENTION_PASSES);
            launchBlocks("attention_lanes" + element, rowHeads * parts, ATTENTION_THREADS, ptr(q), rows.keys(), rows.values(), rows.capacities(),
                    layer, positions, ptr(out), shape.heads(), shape.kvHeads(), shape.headDim(), shape.scale(), shape.window(), parts,
                    attentionPartials(rowHeads, parts, shape), arrivals(rowHeads));
            return;
        }
        // the tiles kernel's layout: query heads per block (the whole group unless that passes ATTENTION_HEAD_DIMS),
        // positions per tile (as many as ATTENTION_LOADS pieces of 16 bytes a thread hold, at most 32)
        int group = shape.heads() / shape.kvHeads();
        int blockHeads = Math.min(group, ATTENTION_HEAD_DIMS / shape.headDim());
        int chunks = Math.ceilDiv(group, blockHeads);
        blockHeads = Math.ceilDiv(group, chunks);
        int pieces = shape.headDim() * kv.elementBytes() / 16;
        int tile = Math.min(32, ATTENTION_LOADS * ATTENTION_THREADS / pieces);
        int shared = Math.max(32 * tile * (pieces | 1) + 4 * blockHeads * (shape.headDim() + tile + 3), 4 * 32 * blockHeads);
        int blocksPerPart = batch.rows() * shape.kvHeads() * chunks;
        int parts = attentionParts(blocksPerPart, visible, tile, ATTENTION_TILES);
        queue(new Launch("attention_tiles" + element, blocksPerPart * parts, ATTENTION_THREADS, shared, new Object[] {ptr(q), rows.keys(),
            rows.values(), rows.capacities(), layer, positions, ptr(out), shape.heads(), shape.kvHeads(), shape.headDim(), shape.scale(),
            shape.window(), parts, attentionPartials(rowHeads, parts, shape), arrivals(blocksPerPart), blockHeads, tile}));
    }

    /**
     * Into how many parts the decode attention cuts each row's positions: as many as fill the GPU's blocks at once (a few
     * more would wait for a second wave), so many that a block takes at most maxSteps steps of `step` positions, at
     * least one whole step each, at most ATTENTION_MAX_PARTS.
     */
    private int attentionParts(int blocksPerPart, int visible, int step, int maxSteps) {
        int parts = Math.max(ATTENTION_BLOCKS_PER_SM * multiprocessors / blocksPerPart, Math.ceilDiv(visible, maxSteps * step));
        return Math.max(1, Math.min(ATTENTION_MAX_PARTS, Math.min(parts, Math.ceilDiv(visible, step))));
    }

    /** Where the parts of a split decode attention leave their sums (none needed for one part). */
    private CUdeviceptr attentionPartials(int rowHeads, int parts, AttentionShape shape) {
        return scratch("attention parts", parts > 1 ? 4L * rowHeads * parts * (shape.headDim() + 2) : 4);
    }

    /** PF_QUERIES, PF_KEYS, PF_WARPS and PF_MAX_DIM of convoy.cu's prefill attention kernel. */
    private static final int PREFILL_QUERIES = 64;
    private static final int PREFILL_KEYS = 16;
    private static final int PREFILL_THREADS = 8 * 32;
    private static final int PREFILL_MAX_DIM = 128;

    private static int prefillAttentionShared(int headDim) {
        return 4 * (PREFILL_QUERIES * headDim + PREFILL_KEYS * (headDim + 4) + PREFILL_KEYS * headDim + PREFILL_QUERIES * PREFILL_KEYS
                + PREFILL_QUERIES);
    }

    /**
     * The prefill kernel's tiles for a batch, {first row, rows} pairs of consecutive positions of one slot, at most as
     * many rows as fill its query vectors; null when the decode kernel suits the batch better (rows mostly alone in
     * their slot, as in decode steps) or the shape is beyond the prefill kernel. Made once per step.
     */
    private int[] prefillTiles(TokenBatch batch, AttentionShape shape) {
        int group = shape.heads() / shape.kvHeads();
        if (batch.rows() <= MATVEC_MAX_ROWS || shape.headDim() > PREFILL_MAX_DIM || shape.headDim() % 4 != 0 || PREFILL_QUERIES % group != 0) {
            return null;
        }
        Object key = stepUploads.computeIfAbsent(batch.slots(), k -> {
            int perTile = PREFILL_QUERIES / group;
            List<Integer> tiles = new ArrayList<>();
            for (int r = 0; r < batch.rows(); r++) {
                boolean continues = r > 0 && tiles.get(tiles.size() - 1) < perTile && batch.slot(r) == batch.slot(r - 1)
                        && batch.position(r) == batch.position(r - 1) + 1;
                if (continues) {
                    tiles.set(tiles.size() - 1, tiles.get(tiles.size() - 1) + 1);
                } else {
                    tiles.add(r);
                    tiles.add(1);
                }
            }
            return tiles.size() <= batch.rows() ? tiles.stream().mapToInt(Integer::intValue).toArray() : NO_TILES;
        });
        return key == NO_TILES ? null : (int[]) key;
    }

    private static final int[] NO_TILES = new int[0];

    /**
     * ATT_THREADS, ATT_CHUNK, ATT_LOADS and ATT_HEAD_DIMS of convoy.cu's decode attention kernels; heads up to 256
     * dimensions are tested.
     */
    private static final int ATTENTION_THREADS = 8 * 32;
    private static final int ATTENTION_CHUNK = 16;
    private static final int ATTENTION_LOADS = 2;
    private static final int ATTENTION_HEAD_DIMS = 2048;
    private static final int ATTENTION_MAX_DIM = 256;
    /**
     * How the decode attention splits each row's positions: into as many parts as this many blocks per multiprocessor
     * allow (a single row reading a long cache still fills the GPU), and into at most ATTENTION_MAX_PARTS, each warp of
     * the lanes kernel making at most ATTENTION_PASSES passes over its part, each block of the tiles kernel taking at
     * most ATTENTION_TILES tiles.
     */
    private static final int ATTENTION_BLOCKS_PER_SM = 4;
    private static final int ATTENTION_PASSES = 8;
    private static final int ATTENTION_TILES = 16;
    private static final int ATTENTION_MAX_PARTS = 32;

    /** Each row's cache addresses and capacity, uploaded once per step (every layer of the step uses them). */
    private CudaKvCache.Rows stepRows(CudaKvCache kv, TokenBatch batch) {
        CudaKvCache.Rows cached = (CudaKvCache.Rows) stepUploads.get(batch);
        if (cached != null) {
            return cached;
        }
        int n = batch.rows();
        CUdeviceptr[] keys = new CUdeviceptr[n];
        CUdeviceptr[] values = new CUdeviceptr[n];
        int[] capacities = new int[n];
        kv.describe(batch, keys, values, capacities);
        CUdeviceptr k = workspace.take((long) Sizeof.POINTER * n);
        CUdeviceptr v = workspace.take((long) Sizeof.POINTER * n);
        CUdeviceptr c = workspace.take(4L * n);
        current();
        cuMemcpyHtoD(k, Pointer.to(keys), (long) Sizeof.POINTER * n);
        cuMemcpyHtoD(v, Pointer.to(values), (long) Sizeof.POINTER * n);
        cuMemcpyHtoD(c, Pointer.to(capacities), 4L * n);
        CudaKvCache.Rows rows = new CudaKvCache.Rows(k, v, c);
        stepUploads.put(batch, rows);
        return rows;
    }

    /** Columns of a row per block of argmax_parts: a vocabulary row in about 128 blocks. */
    private static final int ARGMAX_SPAN = 1024;
    /** ARGMAX_THREADS of convoy.cu's argmax_parts. */
    private static final int ARGMAX_THREADS = 256;

    @Override
    public void argmax(Activations scores, int[] ids, float[] largest) {
        int rows = scores.rows();
        int parts = Math.ceilDiv(scores.cols(), ARGMAX_SPAN);
        CUdeviceptr partBest = workspace.take(4L * rows * parts);
        CUdeviceptr partAt = workspace.take(4L * rows * parts);
        CUdeviceptr picked = workspace.take(4L * rows);
        launchBlocks("argmax_parts", rows * parts, ARGMAX_THREADS, ptr(scores), scores.cols(), ARGMAX_SPAN, parts, partBest, partAt);
        launchBlocks("argmax_merge", rows, 32, partBest, partAt, parts, picked);
        synchronize();
        cuMemcpyDtoH(Pointer.to(ids), picked, 4L * rows);
        // each part's largest value is already here: a row's largest is theirs, NaN if any part holds one
        float[] best = new float[rows * parts];
        cuMemcpyDtoH(Pointer.to(best), partBest, 4L * rows * parts);
        for (int r = 0; r < rows; r++) {
            float m = Float.NEGATIVE_INFINITY;
            for (int p = 0; p < parts; p++) {
                float v = best[r * parts + p];
                m = Float.isNaN(v) || Float.isNaN(m) ? Float.NaN : Math.max(m, v);
            }
            largest[r] = m;
        }
    }

    @Override
    public void gatherRows(Activations src, int[] rows, Activations dst) {
        launch("gather_rows", (long) rows.length * src.cols(), 256, ptr(src), stepInts(rows), ptr(dst), rows.length, src.cols());
    }

    /** Device-to-device copy bandwidth (bytes read plus written per second) over {@code bytes}, median of runs. */
    public double copyBandwidth(long bytes, int runs) {
        CUdeviceptr a = alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        CUdeviceptr b = alloc(bytes, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        try {
            double[] t = new double[runs];
            for (int i = 0; i < runs; i++) {
                cuCtxSynchronize();
                long t0 = System.nanoTime();
                JCudaDriver.cuMemcpyDtoD(i % 2 == 0 ? b : a, i % 2 == 0 ? a : b, bytes);
                cuCtxSynchronize();
                t[i] = (System.nanoTime() - t0) / 1e9;
            }
            java.util.Arrays.sort(t);
            return 2.0 * bytes / t[runs / 2];
        } finally {
            free(a);
            free(b);
        }
    }

    /** Waits for the device to finish its queued work. */
    public void synchronize() {
        flush();
        current();
        cuStreamSynchronize(stream);
    }

    @Override
    public void close() {
        endStep();
        graphs.values().forEach(JCudaDriver::cuGraphExecDestroy);
        graphs.clear();
        workspace.release().forEach(this::free);
        scratch.values().forEach(held -> free(held.ptr()));
        scratch.clear();
        if (cublas != null) {
            current();
            cublas.close();
            free(cublasWorkspace);
        }
        constants.values().forEach(this::free);
        constants.clear();
        codebooks.values().forEach(this::free);
        codebooks.clear();
    }

    void zero(CUdeviceptr p, long bytes) {
        current();
        JCudaDriver.cuMemsetD8(p, (byte) 0, bytes);
    }

    void free(CUdeviceptr p) {
        current();
        cuMemFree(p);
        Long bytes = allocations.remove(p);
        if (bytes != null) {
            allocatedBytes -= bytes;
        }
    }
}

package ai.convoy.kernels.cuda;

import static ai.convoy.kernels.cuda.CudaProducts.ptr;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.AttentionShape;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.QuantizedWeight;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.kernels.TokenPick;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.WeightVector;
import ai.convoy.kernels.cuda.ProductDispatch.Epilogue;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backend on one CUDA GPU, through JCuda's driver API and the kernels of {@code kernels/src/main/cuda} (a
 * committed fatbin). Weights stay as stored (bf16/f16/f32, or 4-bit and 8-bit with their scales); activations are
 * float32 and live for one step; the KV cache is float32 or bf16 per slot. Memory is {@link CudaDevice}'s, the step's
 * work {@link StepQueue}'s, products {@link CudaProducts}', attention {@link CudaAttention}'s. Each kernel is checked
 * against the CPU backend.
 */
public final class CudaBackend implements Backend {
    private static final Logger log = LoggerFactory.getLogger(CudaBackend.class);
    private static final String FATBIN = "/ai/convoy/kernels/cuda/convoy.fatbin";
    /** Columns of a row per block of argmax_parts: a vocabulary row in about 128 blocks. */
    private static final int ARGMAX_SPAN = 1024;
    private static final int ARGMAX_THREADS = KernelConstants.value("ARGMAX_THREADS");
    private static final int SAMPLE_THREADS = KernelConstants.value("SAMPLE_THREADS");
    private static final int SAMPLE_PARAMS = KernelConstants.value("SAMPLE_PARAMS");

    private final CudaDevice device;
    private final int kvBytes;
    private final StepQueue step;
    private final CudaProducts products;
    private final CudaAttention attention;
    /** cuBLAS for products of more than MATVEC_MAX_ROWS rows, or null: then the decode kernels take them 8 rows at a time. */
    private final Cublas cublas;
    private final CUdeviceptr cublasWorkspace;
    /** Four-bit codebooks by content: weights of one codebook share it, so a gate/up pair can go in one launch. */
    private final Map<FloatBuffer, CUdeviceptr> codebooks = new HashMap<>();

    record CudaActivations(int rows, int cols, CUdeviceptr ptr) implements Activations {
    }

    record CudaVector(int size, CUdeviceptr ptr) implements WeightVector {
        @Override
        public long bytes() {
            return 4L * size;
        }
    }

    /** A backend on GPU {@code index} with a float32 KV cache (exact against the CPU backend). */
    public CudaBackend(int index) {
        this(index, 4);
    }

    /** A backend on GPU {@code index} whose KV cache holds {@code kvBytes}-byte elements: 4 float32, 2 bf16. */
    public CudaBackend(int index, int kvBytes) {
        if (kvBytes != 2 && kvBytes != 4) {
            throw new IllegalArgumentException("the CUDA KV cache holds float32 (4 bytes) or bf16 (2 bytes), not " + kvBytes + "-byte values");
        }
        this.kvBytes = kvBytes;
        this.device = new CudaDevice(index);
        DependentLaunch dependentLaunch = device.computeMajor() >= 9 ? DependentLaunch.open().orElse(null) : null;
        log.info("{} ({}): kernels launch {}", device.id(), device.name(), dependentLaunch != null
                ? "with programmatic dependent launch (each may start while the one before it finishes)" : "one after another");
        Map<String, CUfunction> functions = loadKernels();
        cublas = Cublas.open(device.stream());
        this.step = new StepQueue(device, functions, dependentLaunch, cublas);
        this.products = new CudaProducts(step, new ProductDispatch(device.computeMajor() >= 8, cublas != null));
        this.attention = new CudaAttention(device, step);
        if (cublas != null) {
            // cuBLAS must not allocate while a graph is being captured: it gets its workspace up front
            cublasWorkspace = device.alloc(Cublas.WORKSPACE_BYTES, DeviceOutOfMemoryException.Use.ACTIVATIONS);
            cublas.useWorkspace(cublasWorkspace);
        } else {
            cublasWorkspace = null;
        }
    }

    /** Every kernel the backend launches, from the fatbin. */
    static List<String> kernelNames() {
        List<String> names = new ArrayList<>(List.of("embed", "rms_norm", "matmul", "add_bias", "swiglu", "gather_rows", "argmax_parts",
                "argmax_merge", "sample_rows", "repack_4bit", "dequant_4bit_bf16", "to_bf16"));
        for (String kv : List.of("f32", "bf16")) {
            names.addAll(List.of("rope_store_" + kv, "attention_lanes_" + kv, "attention_tiles_" + kv, "attention_prefill_" + kv));
        }
        names.addAll(ProductDispatch.kernelNames());
        return names;
    }

    private Map<String, CUfunction> loadKernels() {
        device.current();
        CUmodule module = new CUmodule();
        cuModuleLoadData(module, fatbin());
        Map<String, CUfunction> functions = new HashMap<>();
        for (String f : kernelNames()) {
            CUfunction fn = new CUfunction();
            cuModuleGetFunction(fn, module, f);
            functions.put(f, fn);
        }
        for (String kv : List.of("f32", "bf16")) {
            JCudaDriver.cuFuncSetAttribute(functions.get("attention_prefill_" + kv), CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    CudaAttention.prefillShared(CudaAttention.PREFILL_MAX_DIM));
        }
        return functions;
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
        return device.name();
    }

    @Override
    public String name() {
        return device.id();
    }

    /** The most device memory this backend has held at once: weights, KV cache and workspace. */
    public long peakBytes() {
        return device.peakBytes();
    }

    @Override
    public long heldBytes() {
        return device.heldBytes();
    }

    /** Device-to-device copy bandwidth (bytes read plus written per second) over {@code bytes}, median of runs. */
    public double copyBandwidth(long bytes, int runs) {
        return device.copyBandwidth(bytes, runs);
    }

    /** How a product of {@code rows} rows with {@code w} runs here. */
    ProductDispatch.Route route(int rows, WeightMatrix w) {
        return products.dispatch().route(rows, (CudaMatrix) w);
    }


    // ---- weights and activations ----

    @Override
    public WeightMatrix matrix(HostTensor weight) {
        // an unsupported dtype is refused before anything is uploaded
        CudaMatrix.Dense.codeOf(weight.dtype());
        return new CudaMatrix.Dense((int) weight.shape()[0], (int) weight.shape()[1], weight.data().byteSize(), weight.dtype(),
                device.upload(weight.data(), DeviceOutOfMemoryException.Use.WEIGHTS));
    }

    @Override
    public WeightMatrix matrix(QuantizedWeight weight) {
        return switch (weight) {
            case FourBitWeight w -> {
                float[] scales = new float[(int) w.scales().blocks()];
                for (int b = 0; b < scales.length; b++) {
                    scales[b] = w.scales().scale(b);
                }
                CUdeviceptr packed = device.upload(w.packed(), DeviceOutOfMemoryException.Use.WEIGHTS);
                // the decode and tensor-core kernels read whole tiles per row, in blocks of 64 to a tile of weights
                boolean tiled = w.cols() % ProductDispatch.TILE_4BIT == 0 && w.blocksize() >= 64 && w.blocksize() <= ProductDispatch.TILE_4BIT;
                if (tiled) {
                    packed = repacked(packed, w.packed().byteSize(), w.cols());
                }
                CUdeviceptr codebook = codebooks.computeIfAbsent(FloatBuffer.wrap(w.codebook().clone()),
                        c -> device.upload(w.codebook(), DeviceOutOfMemoryException.Use.WEIGHTS));
                yield new CudaMatrix.FourBit(w.rows(), w.cols(), w.packed().byteSize() + 4L * scales.length, packed,
                        device.upload(scales, DeviceOutOfMemoryException.Use.WEIGHTS), codebook, w.blocksize(), tiled);
            }
            case Int8Weight w -> new CudaMatrix.Int8(w.rows(), w.cols(), w.bytes(), device.upload(w.data(), DeviceOutOfMemoryException.Use.WEIGHTS),
                    device.upload(w.rowScales(), DeviceOutOfMemoryException.Use.WEIGHTS));
        };
    }

    /** The codes rearranged in tiles (repack_4bit); the checkpoint-ordered copy is freed. */
    private CUdeviceptr repacked(CUdeviceptr packed, long bytes, int cols) {
        CUdeviceptr tiled = device.alloc(bytes, DeviceOutOfMemoryException.Use.WEIGHTS);
        long chunks = bytes / 16;
        step.runNow(new StepQueue.Launch("repack_4bit", (int) ((chunks + 255) / 256), 256, new Object[] {packed, tiled, chunks, cols}));
        device.free(packed);
        return tiled;
    }

    @Override
    public WeightVector vector(HostTensor weight) {
        return new CudaVector((int) weight.elementCount(), device.upload(weight.toFloatArray(), DeviceOutOfMemoryException.Use.WEIGHTS));
    }

    @Override
    public Activations activations(int rows, int cols) {
        return new CudaActivations(rows, cols, step.take(4L * rows * cols, rows));
    }

    @Override
    public void write(Activations dst, float[] rowMajor) {
        dst.requireSameSize(rowMajor);
        step.synchronize();
        cuMemcpyHtoD(ptr(dst), Pointer.to(rowMajor), 4L * rowMajor.length);
    }

    @Override
    public void read(Activations src, float[] rowMajor) {
        src.requireSameSize(rowMajor);
        step.synchronize();
        cuMemcpyDtoH(Pointer.to(rowMajor), ptr(src), 4L * rowMajor.length);
    }

    @Override
    public void readRow(Activations src, int row, float[] dst) {
        step.synchronize();
        cuMemcpyDtoH(Pointer.to(dst), ptr(src).withByteOffset(4L * row * src.cols()), 4L * src.cols());
    }

    // ---- kernels ----

    @Override
    public void embed(WeightMatrix table, int[] ids, Activations out) {
        CudaMatrix.Dense t = (CudaMatrix.Dense) table;
        step.launch("embed", (long) ids.length * t.cols(), 256, t.data(), t.dtypeCode(), step.stepInts(ids), ptr(out), ids.length, t.cols());
    }

    @Override
    public void rmsNorm(Activations x, WeightVector weight, float eps, Activations out) {
        step.launchBlocks("rms_norm", x.rows(), Math.min(1024, Math.max(32, (x.cols() / 4 + 31) / 32 * 32)), ptr(x), ((CudaVector) weight).ptr(),
                eps, ptr(out), x.cols());
    }

    @Override
    public void matmul(Activations x, WeightMatrix w, Activations out) {
        products.product(x, (CudaMatrix) w, null, out, Epilogue.STORE);
    }

    @Override
    public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
        products.product(x, (CudaMatrix) w, null, acc, Epilogue.ADD);
    }

    @Override
    public void matmuls(Activations x, WeightMatrix[] weights, Activations[] outs) {
        products.matmuls(x, weights, outs);
    }

    @Override
    public void swiglu(Activations x, WeightMatrix gate, WeightMatrix up, Activations out) {
        products.swiglu(x, (CudaMatrix) gate, (CudaMatrix) up, out);
    }

    @Override
    public void addBias(Activations x, WeightVector bias) {
        step.launch("add_bias", (long) x.rows() * x.cols(), 256, ptr(x), ((CudaVector) bias).ptr(), x.rows(), x.cols());
    }

    @Override
    public KvCache kvCache(int layers, int kvHeads, int headDim) {
        return new CudaKvCache(device, layers, kvHeads * headDim, kvBytes);
    }

    @Override
    public void attention(KvCache cache, int layer, Activations q, Activations k, Activations v, TokenBatch batch, AttentionShape shape,
                          Activations out) {
        attention.attention((CudaKvCache) cache, layer, q, k, v, batch, shape, out);
    }

    @Override
    public void argmax(Activations scores, int[] ids, float[] largest) {
        int rows = scores.rows();
        int parts = Math.ceilDiv(scores.cols(), ARGMAX_SPAN);
        CUdeviceptr partBest = step.take(4L * rows * parts, 0);
        CUdeviceptr partAt = step.take(4L * rows * parts, 0);
        CUdeviceptr picked = step.take(4L * rows, 0);
        step.launchBlocks("argmax_parts", rows * parts, ARGMAX_THREADS, ptr(scores), scores.cols(), ARGMAX_SPAN, parts, partBest, partAt);
        step.launchBlocks("argmax_merge", rows, 32, partBest, partAt, parts, picked);
        step.synchronize();
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
    public void sample(Activations scores, TokenPick[] picks, int[] ids, float[] largest) {
        int[] rows = IntStream.range(0, picks.length).filter(r -> picks[r] != null).toArray();
        if (rows.length == 0) {
            return;
        }
        int[] params = new int[rows.length * SAMPLE_PARAMS];
        int[] seen = new int[Math.max(1, Arrays.stream(rows).map(r -> picks[r].seen().length).sum())];
        int seenAt = 0;
        for (int i = 0; i < rows.length; i++) {
            TokenPick p = picks[rows[i]];
            long uniform = Double.doubleToRawLongBits(p.uniform());
            System.arraycopy(p.seen(), 0, seen, seenAt, p.seen().length);
            System.arraycopy(new int[] {rows[i], p.topK(), Float.floatToRawIntBits(p.temperature()), Float.floatToRawIntBits(p.topP()),
                    Float.floatToRawIntBits(p.repetitionPenalty()), seenAt, p.seen().length, (int) uniform, (int) (uniform >>> 32)}, 0,
                    params, i * SAMPLE_PARAMS, SAMPLE_PARAMS);
            seenAt += p.seen().length;
        }
        CUdeviceptr out = step.take(8L * rows.length, 0);
        step.launchBlocks("sample_rows", rows.length, SAMPLE_THREADS, ptr(scores), scores.cols(), step.stepInts(params), step.stepInts(seen), out);
        step.synchronize();
        int[] picked = new int[2 * rows.length];
        cuMemcpyDtoH(Pointer.to(picked), out, 8L * rows.length);
        for (int i = 0; i < rows.length; i++) {
            ids[rows[i]] = picked[2 * i];
            largest[rows[i]] = Float.intBitsToFloat(picked[2 * i + 1]);
        }
    }

    @Override
    public void gatherRows(Activations src, int[] rows, Activations dst) {
        step.launch("gather_rows", (long) rows.length * src.cols(), 256, ptr(src), step.stepInts(rows), ptr(dst), rows.length, src.cols());
    }

    /** Waits for the device to finish its queued work. */
    public void synchronize() {
        step.synchronize();
    }

    @Override
    public void endStep() {
        step.endStep();
    }

    @Override
    public void close() {
        step.close();
        if (cublas != null) {
            device.current();
            cublas.close();
            device.free(cublasWorkspace);
        }
        attention.close();
        codebooks.values().forEach(device::free);
        codebooks.clear();
    }
}

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
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;

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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.Sizeof;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * The backend on one CUDA GPU, through JCuda's driver API and the kernels of {@code convoy.cu} (a committed
 * fatbin). Weights stay as stored (bf16/f16/f32, or 4-bit and 8-bit with their scales); activations are float32 and
 * live for one step; the KV cache is float32 per slot. Each kernel is checked against the CPU backend.
 */
public final class CudaBackend implements Backend {
    private static final String FATBIN = "/ai/convoy/kernels/cuda/convoy.fatbin";

    private final int index;
    private final String deviceName;
    private final CUcontext context = new CUcontext();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final List<CUdeviceptr> stepAllocations = new ArrayList<>();

    public CudaBackend(int index) {
        this.index = index;
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        CUdevice device = new CUdevice();
        cuDeviceGet(device, index);
        byte[] name = new byte[256];
        cuDeviceGetName(name, name.length, device);
        this.deviceName = new String(name).trim();
        cuCtxCreate(context, 0, device);
        CUmodule module = new CUmodule();
        cuModuleLoadData(module, fatbin());
        for (String f : new String[] {"embed", "rms_norm", "matmul", "add_bias", "add", "swiglu", "rope", "kv_store", "attention", "gather_rows", "matvec_4bit",
            "matvec_bf16"}) {
            CUfunction fn = new CUfunction();
            cuModuleGetFunction(fn, module, f);
            functions.put(f, fn);
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

    private void current() {
        cuCtxSetCurrent(context);
    }

    CUdeviceptr alloc(long bytes, DeviceOutOfMemoryException.Use use) {
        current();
        CUdeviceptr p = new CUdeviceptr();
        try {
            cuMemAlloc(p, Math.max(bytes, 4));
        } catch (CudaException e) {
            if (String.valueOf(e.getMessage()).contains("OUT_OF_MEMORY")) {
                throw new DeviceOutOfMemoryException(name(), use, bytes, -1);
            }
            throw e;
        }
        return p;
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

    /** A small per-step buffer (ids, positions, row addresses), freed at the end of the step. */
    private CUdeviceptr stepInts(int[] values) {
        CUdeviceptr p = alloc(4L * values.length, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        cuMemcpyHtoD(p, Pointer.to(values), 4L * values.length);
        stepAllocations.add(p);
        return p;
    }

    private CUdeviceptr stepPointers(CUdeviceptr[] pointers) {
        CUdeviceptr p = alloc((long) Sizeof.POINTER * pointers.length, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        cuMemcpyHtoD(p, Pointer.to(pointers), (long) Sizeof.POINTER * pointers.length);
        stepAllocations.add(p);
        return p;
    }

    @Override
    public void endStep() {
        current();
        cuCtxSynchronize();
        stepAllocations.forEach(JCudaDriver::cuMemFree);
        stepAllocations.clear();
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

    /** kind 0 dense (dtype), 1 four-bit, 2 int8; scales per block or per row; codebook for four-bit. */
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
                yield new CudaMatrix(w.rows(), w.cols(), w.packed().byteSize() + 4L * scales.length, 1, 0,
                        upload(w.packed(), DeviceOutOfMemoryException.Use.WEIGHTS), upload(scales, DeviceOutOfMemoryException.Use.WEIGHTS),
                        upload(w.codebook(), DeviceOutOfMemoryException.Use.WEIGHTS), w.blocksize());
            }
            case Int8Weight w -> new CudaMatrix(w.rows(), w.cols(), w.bytes(), 2, 0, upload(w.data(), DeviceOutOfMemoryException.Use.WEIGHTS),
                    upload(w.rowScales(), DeviceOutOfMemoryException.Use.WEIGHTS), new CUdeviceptr(), 1);
        };
    }

    @Override
    public WeightVector vector(HostTensor weight) {
        return new CudaVector((int) weight.elementCount(), upload(weight.toFloatArray(), DeviceOutOfMemoryException.Use.WEIGHTS));
    }

    @Override
    public Activations activations(int rows, int cols) {
        CUdeviceptr p = alloc(4L * rows * cols, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        stepAllocations.add(p);
        return new CudaActivations(rows, cols, p);
    }

    @Override
    public void write(Activations dst, float[] rowMajor) {
        current();
        cuMemcpyHtoD(ptr(dst), Pointer.to(rowMajor), 4L * rowMajor.length);
    }

    @Override
    public void readRow(Activations src, int row, float[] dst) {
        current();
        cuMemcpyDtoH(Pointer.to(dst), ptr(src).withByteOffset(4L * row * src.cols()), 4L * src.cols());
    }

    private static CUdeviceptr ptr(Activations a) {
        return ((CudaActivations) a).ptr();
    }

    // ---- kernels ----

    private void launch(String function, long threads, int block, Object... args) {
        current();
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case CUdeviceptr p -> Pointer.to(p);
                case Integer v -> Pointer.to(new int[] {v});
                case Long v -> Pointer.to(new long[] {v});
                case Float v -> Pointer.to(new float[] {v});
                default -> throw new IllegalArgumentException("kernel argument " + args[i]);
            };
        }
        int grid = (int) Math.max(1, (threads + block - 1) / block);
        cuLaunchKernel(functions.get(function), grid, 1, 1, block, 1, 1, 0, null, Pointer.to(params), null);
    }

    private void launchBlocks(String function, int blocks, int block, Object... args) {
        launch(function, (long) blocks * block, block, args);
    }

    @Override
    public void embed(WeightMatrix table, int[] ids, Activations out) {
        CudaMatrix t = (CudaMatrix) table;
        launchBlocks("embed", ids.length, 128, t.data(), t.dtype(), stepInts(ids), ptr(out), ids.length, t.cols());
    }

    @Override
    public void rmsNorm(Activations x, WeightVector weight, float eps, Activations out) {
        launchBlocks("rms_norm", x.rows(), 256, ptr(x), ((CudaVector) weight).ptr(), eps, ptr(out), x.cols());
    }

    @Override
    public void matmul(Activations x, WeightMatrix w, Activations out) {
        CudaMatrix m = (CudaMatrix) w;
        if (x.cols() != m.cols() || out.cols() != m.rows() || out.rows() != x.rows()) {
            throw new IllegalArgumentException("matmul shapes: x " + x.rows() + "x" + x.cols() + ", W " + m.rows() + "x" + m.cols());
        }
        boolean fourBit = m.kind() == 1 && m.blocksize() >= 8;
        boolean bf16 = m.kind() == 0 && m.dtype() == 1;
        if ((fourBit || bf16) && m.cols() % 8 == 0) {
            // decode-sized kernels take up to 8 rows; larger batches go 8 rows at a time
            for (int r0 = 0; r0 < x.rows(); r0 += MATVEC_ROWS) {
                int rows = Math.min(MATVEC_ROWS, x.rows() - r0);
                CUdeviceptr xr = ptr(x).withByteOffset(4L * r0 * m.cols());
                CUdeviceptr yr = ptr(out).withByteOffset(4L * r0 * m.rows());
                // a warp per 4 output features
                long threads = 32L * ((m.rows() + 3) / 4);
                if (fourBit) {
                    launch("matvec_4bit", threads, 256, xr, m.data(), m.scales(), m.codebook(), Integer.numberOfTrailingZeros(m.blocksize()),
                            yr, rows, m.cols(), m.rows());
                } else {
                    launch("matvec_bf16", threads, 256, xr, m.data(), yr, rows, m.cols(), m.rows());
                }
            }
            return;
        }
        launch("matmul", 32L * m.rows(), 256, ptr(x), m.data(), m.kind(), m.dtype(), m.scales(), m.codebook(), m.blocksize(), ptr(out),
                x.rows(), m.cols(), m.rows());
    }

    private static final int MATVEC_ROWS = 8;

    @Override
    public void addBias(Activations x, WeightVector bias) {
        launch("add_bias", (long) x.rows() * x.cols(), 256, ptr(x), ((CudaVector) bias).ptr(), x.rows(), x.cols());
    }

    @Override
    public void rope(Activations x, int heads, int headDim, TokenBatch batch, float[] inverseFrequencies) {
        CUdeviceptr inv = alloc(4L * inverseFrequencies.length, DeviceOutOfMemoryException.Use.ACTIVATIONS);
        cuMemcpyHtoD(inv, Pointer.to(inverseFrequencies), 4L * inverseFrequencies.length);
        stepAllocations.add(inv);
        launch("rope", (long) x.rows() * heads * (headDim / 2), 256, ptr(x), x.rows(), x.cols(), heads, headDim, stepInts(batch.positions()), inv);
    }

    @Override
    public KvCache kvCache(int layers, int kvHeads, int headDim) {
        return new CudaKvCache(this, layers, kvHeads * headDim);
    }

    @Override
    public void attention(KvCache cache, int layer, Activations q, Activations k, Activations v, TokenBatch batch, AttentionShape shape,
                          Activations out) {
        CudaKvCache kv = (CudaKvCache) cache;
        int rows = batch.rows();
        CUdeviceptr[] keys = new CUdeviceptr[rows];
        CUdeviceptr[] values = new CUdeviceptr[rows];
        for (int r = 0; r < rows; r++) {
            keys[r] = kv.keys(batch.slot(r), layer);
            values[r] = kv.values(batch.slot(r), layer);
            if (batch.position(r) >= kv.capacity(batch.slot(r))) {
                throw new IllegalStateException("position " + batch.position(r) + " beyond the KV capacity of slot " + batch.slot(r));
            }
        }
        CUdeviceptr kRows = stepPointers(keys);
        CUdeviceptr vRows = stepPointers(values);
        CUdeviceptr positions = stepInts(batch.positions());
        int width = kv.width();
        launch("kv_store", (long) rows * width, 256, ptr(k), ptr(v), kRows, vRows, positions, rows, width);
        int block = 32 * ((shape.headDim() + 31) / 32);
        launchBlocks("attention", rows * shape.heads(), block, ptr(q), kRows, vRows, positions, ptr(out), shape.heads(), shape.kvHeads(),
                shape.headDim(), shape.scale(), shape.window());
    }

    @Override
    public void swiglu(Activations gate, Activations up, Activations out) {
        long n = (long) gate.rows() * gate.cols();
        launch("swiglu", n, 256, ptr(gate), ptr(up), ptr(out), n);
    }

    @Override
    public void add(Activations acc, Activations x) {
        long n = (long) acc.rows() * acc.cols();
        launch("add", n, 256, ptr(acc), ptr(x), n);
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
        current();
        cuCtxSynchronize();
    }

    @Override
    public void close() {
        endStep();
    }

    void free(CUdeviceptr p) {
        current();
        cuMemFree(p);
    }
}

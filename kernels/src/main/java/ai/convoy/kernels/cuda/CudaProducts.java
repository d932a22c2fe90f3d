package ai.convoy.kernels.cuda;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.cuda.ProductDispatch.Epilogue;
import ai.convoy.kernels.cuda.ProductDispatch.MatvecVariant;
import ai.convoy.kernels.cuda.ProductDispatch.MmaVariant;
import ai.convoy.kernels.cuda.ProductDispatch.Route;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/** Matrix products on the GPU, each by the kernel {@link ProductDispatch} picks, queued on the step. */
final class CudaProducts {
    /** Bytes of bf16 weights a slice of a four-bit matrix expands to for cuBLAS. */
    private static final long GEMM_WEIGHT_BYTES = 64L << 20;

    private final StepQueue step;
    private final ProductDispatch dispatch;

    CudaProducts(StepQueue step, ProductDispatch dispatch) {
        this.step = step;
        this.dispatch = dispatch;
    }

    ProductDispatch dispatch() {
        return dispatch;
    }

    static CUdeviceptr ptr(Activations a) {
        return ((CudaBackend.CudaActivations) a).ptr();
    }

    private static void checkProduct(Activations x, CudaMatrix m, Activations out) {
        if (x.cols() != m.cols() || out.cols() != m.rows() || out.rows() != x.rows()) {
            throw new IllegalArgumentException("matmul shapes: x " + x.rows() + "x" + x.cols() + ", W " + m.rows() + "x" + m.cols()
                    + ", out " + out.rows() + "x" + out.cols());
        }
    }

    /** out = m x, out += m x, or (SWIGLU, with {@code up}) out = silu(m x) * (up x). */
    void product(Activations x, CudaMatrix m, CudaMatrix up, Activations out, Epilogue epilogue) {
        checkProduct(x, m, out);
        switch (dispatch.route(x.rows(), m)) {
            case TENSOR_CORES -> mma(x, (CudaMatrix.FourBit) m, out, epilogue == Epilogue.ADD);
            case CUBLAS -> gemm(x, m, out, epilogue == Epilogue.ADD);
            case DECODE -> decode(x, m, up != null ? up : m, out, epilogue);
            case GENERIC -> {
                List<Object> args = new ArrayList<>(List.of(ptr(x)));
                args.addAll(List.of(m.genericArgs()));
                args.addAll(List.of(ptr(out), x.rows(), m.cols(), m.rows(), epilogue == Epilogue.ADD ? 1 : 0));
                step.launch("matmul", 32L * m.rows(), 256, args.toArray());
            }
        }
    }

    /** The decode kernels take up to MATVEC_MAX_ROWS rows; larger batches go that many rows at a time. */
    private void decode(Activations x, CudaMatrix m, CudaMatrix second, Activations out, Epilogue epilogue) {
        boolean bf16 = m instanceof CudaMatrix.Dense;
        for (int r0 = 0; r0 < x.rows(); r0 += ProductDispatch.MATVEC_MAX_ROWS) {
            int rows = Math.min(ProductDispatch.MATVEC_MAX_ROWS, x.rows() - r0);
            MatvecVariant variant = ProductDispatch.matvec(rows);
            CUdeviceptr xr = ptr(x).withByteOffset(4L * r0 * m.cols());
            CUdeviceptr yr = ptr(out).withByteOffset(4L * r0 * m.rows());
            int features = variant.features(bf16, epilogue);
            int blocks = (m.rows() + features - 1) / features;
            int threads = ProductDispatch.MATVEC_THREADS;
            switch (m) {
                case CudaMatrix.FourBit w -> {
                    CudaMatrix.FourBit w2 = (CudaMatrix.FourBit) second;
                    step.launchBlocks(variant.name(false, epilogue, w.blocksize()), blocks, threads, xr, w.data(), w.scales(), w2.data(),
                            w2.scales(), w.codebook(), w.blockShift(), yr, rows, m.cols(), m.rows());
                }
                case CudaMatrix.Dense w -> step.launchBlocks(variant.name(true, epilogue, 0), blocks, threads, xr, w.data(), second.data(), yr, rows,
                        m.cols(), m.rows());
                case CudaMatrix.Int8 w -> throw new IllegalStateException("no decode kernel for int8 weights");
            }
        }
    }

    /**
     * Two or three four-bit matrices of one codebook and block size that the decode or tensor-core kernels take go in
     * one launch (one bf16 copy of the input for the tensor cores); otherwise one product after another.
     */
    void matmuls(Activations x, WeightMatrix[] weights, Activations[] outs) {
        Backend.requireOutputPerMatrix(weights, outs);
        CudaMatrix[] ms = new CudaMatrix[weights.length];
        for (int i = 0; i < ms.length; i++) {
            ms[i] = (CudaMatrix) weights[i];
        }
        if (!dispatch.oneLaunch(x.rows(), ms)) {
            for (int i = 0; i < ms.length; i++) {
                product(x, ms[i], null, outs[i], Epilogue.STORE);
            }
            return;
        }
        CudaMatrix.FourBit first = (CudaMatrix.FourBit) ms[0];
        boolean tensorCores = dispatch.route(x.rows(), first) == Route.TENSOR_CORES;
        MmaVariant variant = tensorCores ? ProductDispatch.mma(x.rows(), first.rows()) : null;
        MatvecVariant decode = tensorCores ? null : ProductDispatch.matvec(x.rows());
        int features = tensorCores ? variant.features() : decode.sums();
        List<Object> args = new ArrayList<>(List.of(tensorCores ? bf16Copy(x) : ptr(x), first.codebook(), first.blockShift(), x.rows(), x.cols()));
        int blocks = 0;
        for (int i = 0; i < ProductDispatch.TRIO_MATRICES; i++) {
            // a missing third matrix: the last one again, with no outputs (no blocks)
            int j = Math.min(i, ms.length - 1);
            if (i == j) {
                checkProduct(x, ms[j], outs[j]);
            }
            int outCols = i == j ? ms[j].rows() : 0;
            args.addAll(List.of(ms[j].data(), ((CudaMatrix.FourBit) ms[j]).scales(), ptr(outs[j]), outCols));
            blocks += (outCols + features - 1) / features;
        }
        step.launchBlocks(tensorCores ? variant.name(ProductDispatch.TRIO) : decode.trioName(first.blocksize()), blocks,
                tensorCores ? variant.threads() : ProductDispatch.MATVEC_THREADS, args.toArray());
    }

    /**
     * A gate/up pair that the decode kernels take together goes in one launch that writes silu(gate) * up; otherwise
     * gate goes to {@code out}, up to a scratch buffer (one launch for a pair on the tensor cores), and a kernel
     * combines them.
     */
    void swiglu(Activations x, CudaMatrix gate, CudaMatrix up, Activations out) {
        if (dispatch.swigluInOneLaunch(x.rows(), gate, up)) {
            product(x, gate, up, out, Epilogue.SWIGLU);
            return;
        }
        Activations upOut = new CudaBackend.CudaActivations(out.rows(), out.cols(), step.scratch("swiglu up", 4L * out.rows() * out.cols()));
        matmuls(x, new WeightMatrix[] {gate, up}, new Activations[] {out, upOut});
        long n = (long) out.rows() * out.cols();
        step.launch("swiglu", n, 256, ptr(out), ptr(upOut), ptr(out), n);
    }

    /** The activations rounded to bf16 in a scratch buffer, the input of the bf16 products. */
    private CUdeviceptr bf16Copy(Activations x) {
        long n = (long) x.rows() * x.cols();
        CUdeviceptr xb = step.scratch("bf16 input", 2 * n);
        step.launch("to_bf16", n, 256, ptr(x), xb, n);
        return xb;
    }

    /** Four-bit products of 5 to 64 rows on the tensor cores, reading the codes once (activations rounded to bf16). */
    private void mma(Activations x, CudaMatrix.FourBit m, Activations out, boolean accumulate) {
        CUdeviceptr xb = bf16Copy(x);
        MmaVariant variant = ProductDispatch.mma(x.rows(), m.rows());
        int features = variant.features();
        step.launchBlocks(variant.name(accumulate ? "_add" : ""), (m.rows() + features - 1) / features, variant.threads(), xb, m.data(), m.scales(),
                m.codebook(), m.blockShift(), ptr(out), x.rows(), m.cols(), m.rows());
    }

    /**
     * Prefill and large batches: the activations in bf16 times the weights in bf16 (four-bit ones expanded a slice of
     * output features at a time), by cuBLAS with float32 accumulation; held with the step's launches, so a decode
     * batch's products are captured in its graph too.
     */
    private void gemm(Activations x, CudaMatrix m, Activations out, boolean accumulate) {
        CUdeviceptr xb = bf16Copy(x);
        if (!(m instanceof CudaMatrix.FourBit w)) {
            step.queue(new StepQueue.Gemm(m.data(), xb, ptr(out), m.rows(), x.rows(), m.cols(), m.rows(), accumulate));
            return;
        }
        // whole multiples of 64 features keep each slice's output columns aligned for the tensor-core kernels
        long sliceBytes = Math.max(GEMM_WEIGHT_BYTES, 2L * 64 * w.cols());
        CUdeviceptr gemmWeights = step.scratch("expanded weights", sliceBytes);
        int slice = (int) Math.min(w.rows(), sliceBytes / (2L * w.cols()) / 64 * 64);
        for (int f0 = 0; f0 < w.rows(); f0 += slice) {
            int features = Math.min(slice, w.rows() - f0);
            long chunks = (long) features * w.cols() / 32;
            step.queue(new StepQueue.Launch("dequant_4bit_bf16", (int) ((chunks + 255) / 256), 256, new Object[] {w.data(), w.scales(),
                w.codebook(), w.blockShift(), (long) f0 * w.cols() / 32, chunks, gemmWeights}));
            step.queue(new StepQueue.Gemm(gemmWeights, xb, ptr(out).withByteOffset(4L * f0), features, x.rows(), w.cols(), w.rows(), accumulate));
        }
    }
}

package ai.convoy.kernels.cuda;

import static jcuda.jcublas.JCublas2.cublasCreate;
import static jcuda.jcublas.JCublas2.cublasDestroy;
import static jcuda.jcublas.JCublas2.cublasGemmEx;
import static jcuda.jcublas.JCublas2.cublasSetStream;
import static jcuda.jcublas.JCublas2.cublasSetWorkspace;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import jcuda.Pointer;
import jcuda.cudaDataType;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasGemmAlgo;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;
import jcuda.jcublas.cublasStatus;
import jcuda.runtime.cudaStream_t;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * cuBLAS for the GEMMs of prefill and large batches, through JCublas 12, which is linked against
 * {@code libcublas.so.12}. Hosts with only CUDA 13's {@code libcublas.so.13} need the bridge that
 * {@code ops/cuda/cublas-bridge.sh} builds: a {@code libcublas.so.12} forwarding every call to cuBLAS 13, looked for in
 * {@code -Dconvoy.cublas.bridge}, {@code $CONVOY_CUBLAS_BRIDGE} or {@code ~/.convoy/lib/libcublas.so.12}. Which cuBLAS
 * is used, or why none, is decided and logged once per process; without one, backends keep to their own kernels.
 */
final class Cublas implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Cublas.class);
    /** Why cuBLAS cannot be used, or null when it can. */
    private static final String UNAVAILABLE = probe();

    private final cublasHandle handle = new cublasHandle();
    private final Pointer one = Pointer.to(new float[] {1f});
    private final Pointer zero = Pointer.to(new float[] {0f});

    private Cublas(CUstream stream) {
        cublasCreate(handle);
        cublasSetStream(handle, new cudaStream_t(stream));
    }

    /** A cuBLAS handle on {@code stream} (its context current), or null when this process has no usable cuBLAS. */
    static Cublas open(CUstream stream) {
        if (UNAVAILABLE != null) {
            return null;
        }
        try {
            return new Cublas(stream);
        } catch (RuntimeException | LinkageError e) {
            log.warn("cuBLAS could not start on this device ({}): products of more than 8 rows use Convoy's own kernels", e.getMessage());
            return null;
        }
    }

    private static String probe() {
        String source;
        if (loads("libcublas.so.12")) {
            source = "libcublas.so.12";
        } else {
            Path bridge = bridge();
            if (!Files.isRegularFile(bridge)) {
                return report("no libcublas.so.12 on the library path and no bridge at " + bridge
                        + " (on a CUDA 13 host, build one with ops/cuda/cublas-bridge.sh)");
            }
            if (!loads("libcublas.so.13")) {
                return report("the bridge " + bridge + " needs libcublas.so.13 on the library path (LD_LIBRARY_PATH)");
            }
            System.load(bridge.toString());
            source = "CUDA 13's libcublas.so.13 through the bridge " + bridge;
        }
        try {
            JCublas2.setExceptionsEnabled(true);
        } catch (LinkageError e) {
            return report("JCublas could not load (" + e.getMessage() + ")");
        }
        log.info("GEMM for prefill and large batches: cuBLAS, {}", source);
        return null;
    }

    private static String report(String reason) {
        log.info("GEMM for prefill and large batches: Convoy's own kernels (the float32 ones 8 rows at a time); cuBLAS not used: {}", reason);
        return reason;
    }

    private static Path bridge() {
        String configured = System.getProperty("convoy.cublas.bridge", System.getenv("CONVOY_CUBLAS_BRIDGE"));
        return configured != null ? Path.of(configured) : Path.of(System.getProperty("user.home"), ".convoy", "lib", "libcublas.so.12");
    }

    private static boolean loads(String library) {
        try {
            SymbolLookup.libraryLookup(library, Arena.global());
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * {@code y[n][m] = x[n][k] · w[m][k]ᵀ} ({@code +=} when {@code accumulate}): w and x bf16 row-major, y float32
     * with rows {@code ldy} apart, float32 accumulation. In cuBLAS's column-major terms y is an m x n matrix, w a k x m
     * one taken transposed.
     */
    void gemm(CUdeviceptr w, CUdeviceptr x, CUdeviceptr y, int m, int n, int k, int ldy, boolean accumulate) {
        // JCublas's native code reaches cuBLAS's C++ overload that takes the compute type in the old form, as a
        // cudaDataType (CUDA_R_32F: float32 accumulation); a cublasComputeType value there is refused as not supported
        int status = cublasGemmEx(handle, cublasOperation.CUBLAS_OP_T, cublasOperation.CUBLAS_OP_N, m, n, k, one, w, cudaDataType.CUDA_R_16BF,
                k, x, cudaDataType.CUDA_R_16BF, k, accumulate ? one : zero, y, cudaDataType.CUDA_R_32F, ldy, cudaDataType.CUDA_R_32F,
                cublasGemmAlgo.CUBLAS_GEMM_DEFAULT);
        check(status, "GEMM " + m + "x" + n + "x" + k);
    }

    /** The workspace cuBLAS recommends for Hopper; smaller GPUs use part of it. */
    static final long WORKSPACE_BYTES = 32L << 20;

    void useWorkspace(CUdeviceptr workspace) {
        check(cublasSetWorkspace(handle, workspace, WORKSPACE_BYTES), "setting the workspace");
    }

    private static void check(int status, String what) {
        if (status != cublasStatus.CUBLAS_STATUS_SUCCESS) {
            throw new IllegalStateException("cuBLAS " + what + " failed: " + cublasStatus.stringFor(status));
        }
    }

    @Override
    public void close() {
        cublasDestroy(handle);
    }
}

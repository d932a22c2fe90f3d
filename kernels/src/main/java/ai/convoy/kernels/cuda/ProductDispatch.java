package ai.convoy.kernels.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Which kernel computes a product, as plain logic over the weight's format, the rows and what the GPU has (tensor
 * cores, cuBLAS): the tensor-core kernels of mma.cuh, cuBLAS on bf16 copies, the decode kernels of matvec.cuh, or the
 * generic product. Kernel names and variant tables come from the kernels' constants header.
 */
final class ProductDispatch {

    enum Route {
        /** Four-bit codes read by the tensor-core kernels, activations in bf16. */
        TENSOR_CORES,
        /** cuBLAS on bf16 activations and bf16 weights (four-bit ones expanded a slice at a time). */
        CUBLAS,
        /** The float32 decode kernels, up to MATVEC_MAX_ROWS rows at a time. */
        DECODE,
        /** One warp per output feature, any format and shape. */
        GENERIC;

        /** Whether the activations are rounded to bf16 on this route. */
        boolean bf16Inputs() {
            return this == TENSOR_CORES || this == CUBLAS;
        }
    }

    /** What a product does with its sums: store them, add them, or combine a gate/up pair into silu(gate) * up. */
    enum Epilogue {
        STORE(""), ADD("_add"), SWIGLU("_swiglu");

        final String suffix;

        Epilogue(String suffix) {
            this.suffix = suffix;
        }
    }

    /** A row of MATVEC_TABLE: up to {@code rows} rows, and the sums per row a block makes for each kind of product. */
    record MatvecVariant(int rows, int sums, int swigluSums, int bf16Sums) {
        int sums(boolean bf16, Epilogue epilogue) {
            if (epilogue == Epilogue.SWIGLU) {
                return bf16 ? BF16_SWIGLU_SUMS : swigluSums;
            }
            return bf16 ? bf16Sums : sums;
        }

        /** Output features a block makes: a gate/up block makes half its sums' worth of each. */
        int features(boolean bf16, Epilogue epilogue) {
            int sums = sums(bf16, epilogue);
            return epilogue == Epilogue.SWIGLU ? sums / 2 : sums;
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
            return blocksize == SPECIAL_BLOCKSIZE ? "_b" + SPECIAL_BLOCKSIZE : "";
        }
    }

    /** A row of MMA_TABLE: 16-feature and 8-row tiles a warp, warps a block, the fewest outputs of a matrix it takes. */
    record MmaVariant(int featureTiles, int rowTiles, int warps, int minFeatures) {
        int rows() {
            return 8 * rowTiles;
        }

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

    static final int MATVEC_THREADS = KernelConstants.value("MV_THREADS");
    static final int SPECIAL_BLOCKSIZE = KernelConstants.value("MV_SPECIAL_BLOCKSIZE");
    static final int BF16_SWIGLU_SUMS = KernelConstants.value("MV_BF16_SWIGLU_SUMS");
    static final int TILE_4BIT = KernelConstants.value("TILE_4BIT");
    static final List<MatvecVariant> MATVEC = KernelConstants.table("MATVEC_TABLE").stream()
            .map(r -> new MatvecVariant(r[0], r[1], r[2], r[3])).toList();
    static final List<MmaVariant> MMA = KernelConstants.table("MMA_TABLE").stream().map(r -> new MmaVariant(r[0], r[1], r[2], r[3])).toList();
    static final int MATVEC_MAX_ROWS = MATVEC.getLast().rows();
    /** Up to this many rows the float32 decode kernels are faster than the tensor cores. */
    static final int MMA_MIN_ROWS = 4;
    /** The kernels ending in TRIO take up to this many products of one input in one launch. */
    static final int TRIO_MATRICES = 3;
    static final String TRIO = "_trio";

    private final boolean tensorCores;
    private final boolean cublas;

    /** @param tensorCores compute capability 8.0 or newer; @param cublas cuBLAS could be opened */
    ProductDispatch(boolean tensorCores, boolean cublas) {
        this.tensorCores = tensorCores;
        this.cublas = cublas;
    }

    Route route(int rows, CudaMatrix m) {
        boolean tiled = m instanceof CudaMatrix.FourBit f && f.tiled();
        boolean bf16 = m instanceof CudaMatrix.Dense d && d.bf16Rows();
        if (tiled && mmaRows(rows)) {
            return Route.TENSOR_CORES;
        }
        if (rows > MATVEC_MAX_ROWS && cublas && (tiled || bf16)) {
            return Route.CUBLAS;
        }
        return tiled || bf16 ? Route.DECODE : Route.GENERIC;
    }

    private boolean mmaRows(int rows) {
        return tensorCores && rows > MMA_MIN_ROWS && rows <= MMA.getLast().rows();
    }

    /** Whether two or three four-bit products of one input go in one launch (a TRIO kernel). */
    boolean oneLaunch(int rows, CudaMatrix[] weights) {
        if (weights.length < 2 || weights.length > TRIO_MATRICES || !(weights[0] instanceof CudaMatrix.FourBit first)) {
            return false;
        }
        for (CudaMatrix w : weights) {
            if (!(w instanceof CudaMatrix.FourBit f) || !f.sharesLaunchWith(first)) {
                return false;
            }
        }
        Route route = route(rows, first);
        return route == Route.TENSOR_CORES || route == Route.DECODE && rows <= MATVEC_MAX_ROWS;
    }

    /** Whether a gate/up pair goes in one decode launch that writes silu(gate) * up. */
    boolean swigluInOneLaunch(int rows, CudaMatrix gate, CudaMatrix up) {
        boolean pair = switch (gate) {
            case CudaMatrix.FourBit g when up instanceof CudaMatrix.FourBit u -> g.sharesLaunchWith(u) && g.rows() == u.rows();
            case CudaMatrix.Dense g when up instanceof CudaMatrix.Dense u -> g.dtype() == u.dtype() && g.rows() == u.rows() && g.cols() == u.cols();
            default -> false;
        };
        return pair && route(rows, gate) == Route.DECODE;
    }

    static MatvecVariant matvec(int rows) {
        return MATVEC.stream().filter(v -> v.rows() >= rows).findFirst().orElseThrow();
    }

    static MmaVariant mma(int rows, int features) {
        return MMA.stream().filter(v -> v.rows() >= rows && features >= v.minFeatures()).findFirst().orElseThrow();
    }

    /** Every product kernel this dispatch can name, for loading them from the fatbin. */
    static List<String> kernelNames() {
        List<String> names = new ArrayList<>();
        for (MatvecVariant v : MATVEC) {
            for (int blocksize : List.of(SPECIAL_BLOCKSIZE, 0)) {
                for (Epilogue e : Epilogue.values()) {
                    names.add(v.name(false, e, blocksize));
                }
                names.add(v.trioName(blocksize));
            }
            for (Epilogue e : Epilogue.values()) {
                names.add(v.name(true, e, 0));
            }
        }
        for (MmaVariant v : MMA) {
            for (String suffix : List.of("", "_add", TRIO)) {
                names.add(v.name(suffix));
            }
        }
        return names;
    }
}

package ai.convoy.kernels.cuda;

import static ai.convoy.kernels.cpu.TestTensors.filled;
import static ai.convoy.kernels.cpu.TestTensors.read;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.AttentionShape;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.kernels.TokenPick;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.kernels.cpu.TestTensors;
import ai.convoy.kernels.cuda.ProductDispatch.Route;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Each CUDA kernel against its CPU twin, on fresh random inputs, outputs poisoned with NaN first. */
@Tag("gpu")
class CudaBackendTest {
    static CudaBackend gpu;
    static CudaBackend gpuBf16Kv;
    final CpuBackend cpu = new CpuBackend();
    final SplittableRandom random = TestTensors.seeded(CudaBackendTest.class);

    @BeforeAll
    static void open() {
        gpu = new CudaBackend(0);
        gpuBf16Kv = new CudaBackend(0, 2);
        System.out.println("GPU: " + gpu.deviceName());
    }

    @AfterAll
    static void close() {
        gpu.close();
        gpuBf16Kv.close();
    }

    private Activations poisoned(Backend b, int rows, int cols) {
        float[] nan = new float[rows * cols];
        Arrays.fill(nan, Float.NaN);
        return filled(b, rows, cols, nan);
    }

    private static void assertClose(float[] expected, float[] actual, double bound, String what) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            assertFalse(Float.isNaN(actual[i]), what + ": element " + i + " not written");
            diff += (expected[i] - actual[i]) * (double) (expected[i] - actual[i]);
            norm += expected[i] * (double) expected[i];
        }
        double rel = Math.sqrt(diff / Math.max(norm, 1e-30));
        assertTrue(bound == 0 ? rel == 0 : rel < bound, what + ": relative L2 " + rel);
    }

    /**
     * The path a product of {@code rows} rows with {@code weight} must take on an H100 or H200 (tensor cores and cuBLAS
     * there): four-bit weights of whole 1024-weight tiles a row (blocks of 64 to 1024) on the decode kernels up to 4
     * rows, the tensor cores for 5-64, cuBLAS beyond; bf16 rows of whole 16-byte loads on the decode kernels up to 8
     * rows, cuBLAS beyond; anything else on the generic kernel.
     */
    static Route expectedRoute(int rows, Object weight) {
        return switch (weight) {
            case FourBitWeight w when w.cols() % 1024 == 0 && w.blocksize() >= 64 && w.blocksize() <= 1024 ->
                    rows <= 4 ? Route.DECODE : rows <= 64 ? Route.TENSOR_CORES : Route.CUBLAS;
            case HostTensor w when w.dtype() == DType.BF16 && w.shape()[1] % 8 == 0 -> rows <= 8 ? Route.DECODE : Route.CUBLAS;
            default -> Route.GENERIC;
        };
    }

    /**
     * The error bound of a product against the CPU's by its path: bf16 inputs (tensor cores, cuBLAS) are off by about
     * 2^-9 relative each, their sums by less; the float32 kernels differ only in the order of their sums.
     */
    static double bound(Route route) {
        return route.bf16Inputs() ? 5e-3 : 1e-5;
    }

    /** The product's path is the expected one. */
    private static Route checkRoute(String what, int rows, Object weight, WeightMatrix onGpu) {
        Route expected = expectedRoute(rows, weight);
        assertEquals(expected, gpu.route(rows, onGpu), what + ": the kernel path");
        return expected;
    }

    /** matmul, and matmulAdd onto random values, against the CPU, on the expected path. */
    private void checkMatmul(String what, Object weight, WeightMatrix onCpu, WeightMatrix onGpu, int rows, int in, int out) {
        float[] x = TestTensors.floats(random, rows * in);
        double bound = bound(checkRoute(what, rows, weight, onGpu));
        Activations yc = poisoned(cpu, rows, out);
        cpu.matmul(filled(cpu, rows, in, x), onCpu, yc);
        Activations yg = poisoned(gpu, rows, out);
        gpu.matmul(filled(gpu, rows, in, x), onGpu, yg);
        assertClose(read(cpu, yc), read(gpu, yg), bound, what);
        float[] before = TestTensors.floats(random, rows * out);
        Activations ac = filled(cpu, rows, out, before);
        cpu.matmulAdd(filled(cpu, rows, in, x), onCpu, ac);
        Activations ag = filled(gpu, rows, out, before);
        gpu.matmulAdd(filled(gpu, rows, in, x), onGpu, ag);
        assertClose(read(cpu, ac), read(gpu, ag), bound, what + ", added");
        gpu.endStep();
    }

    /** Blocks of 64 weights (bitsandbytes' default) have decode kernels of their own; other sizes share one. */
    private static final int[] BLOCKSIZES = {64, 256};

    private FourBitWeight fourBit(int rows, int cols, int blocksize, float[] codebook) {
        byte[] packed = new byte[rows * cols / 2];
        for (int i = 0; i < packed.length; i++) {
            packed[i] = (byte) random.nextInt(256);
        }
        return new FourBitWeight("w", rows, cols, blocksize, codebook, MemorySegment.ofArray(packed),
                new BlockScales.Plain(TestTensors.floats(random, rows * cols / blocksize)));
    }

    @Test
    void readGivesAllRowsAndReadRowOne() {
        int rows = 7, cols = 300;
        float[] values = TestTensors.floats(random, rows * cols);
        Activations a = filled(gpu, rows, cols, values);
        assertArrayEquals(values, read(gpu, a));
        float[] row = new float[cols];
        gpu.readRow(a, 4, row);
        assertArrayEquals(Arrays.copyOfRange(values, 4 * cols, 5 * cols), row);
        gpu.endStep();
    }

    @Test
    void productsOfOneInputInOneLaunch() {
        float[] book = TestTensors.floats(random, 16);
        int in = 2048;
        // 1-8 rows: the decode kernels; 16 and 32: the tensor cores; 40: one product after another (cuBLAS). Output
        // widths that are not whole blocks of features, and a pair as well as a trio.
        for (int rows : new int[] {1, 3, 8, 16, 32, 40}) {
            for (int blocksize : BLOCKSIZES) {
                for (int[] widths : new int[][] {{96, 33, 33}, {70, 130}}) {
                    FourBitWeight[] w = Arrays.stream(widths).mapToObj(n -> fourBit(n, in, blocksize, book.clone())).toArray(FourBitWeight[]::new);
                    checkMatmuls(rows + " rows, blocks of " + blocksize + ", widths " + Arrays.toString(widths), w, rows, in);
                }
            }
            FourBitWeight[] twoBooks = {fourBit(64, in, 64, book), fourBit(64, in, 64, TestTensors.floats(random, 16))};
            checkMatmuls(rows + " rows, two codebooks", twoBooks, rows, in);
            FourBitWeight[] twoBlocksizes = {fourBit(64, in, 64, book), fourBit(64, in, 256, book.clone())};
            checkMatmuls(rows + " rows, two block sizes", twoBlocksizes, rows, in);
        }
        // 17-32 rows with a first matrix of 8192 outputs or more take the tensor-core variant with four tiles a warp
        FourBitWeight[] wide = {fourBit(8200, 1024, 64, book), fourBit(40, 1024, 64, book.clone())};
        checkMatmuls("24 rows, 8200 and 40 wide", wide, 24, 1024);
    }

    /** matmuls against the CPU, and each output bit for bit against the same product launched alone. */
    private void checkMatmuls(String what, FourBitWeight[] weights, int rows, int in) {
        float[] x = TestTensors.floats(random, rows * in);
        WeightMatrix[] onCpu = Arrays.stream(weights).map(cpu::matrix).toArray(WeightMatrix[]::new);
        WeightMatrix[] onGpu = Arrays.stream(weights).map(gpu::matrix).toArray(WeightMatrix[]::new);
        Activations[] yc = Arrays.stream(weights).map(w -> poisoned(cpu, rows, w.rows())).toArray(Activations[]::new);
        Activations[] yg = Arrays.stream(weights).map(w -> poisoned(gpu, rows, w.rows())).toArray(Activations[]::new);
        cpu.matmuls(filled(cpu, rows, in, x), onCpu, yc);
        Activations xg = filled(gpu, rows, in, x);
        gpu.matmuls(xg, onGpu, yg);
        for (int i = 0; i < weights.length; i++) {
            assertClose(read(cpu, yc[i]), read(gpu, yg[i]), bound(checkRoute(what, rows, weights[i], onGpu[i])), what + ", matrix " + i);
            Activations alone = poisoned(gpu, rows, weights[i].rows());
            gpu.matmul(xg, onGpu[i], alone);
            assertArrayEquals(read(gpu, alone), read(gpu, yg[i]), what + ", matrix " + i + " against its own launch");
        }
        gpu.endStep();
    }

    @Test
    void swigluOfPairsInOneLaunchAndOfMixedWeights() {
        float[] book = TestTensors.floats(random, 16);
        // 1-11 rows: the decode kernels (a pair of one codebook in one launch); 40: cuBLAS
        for (int[] s : new int[][] {{1, 1024, 70}, {3, 2048, 33}, {8, 1024, 9}, {11, 1024, 130}, {40, 2048, 200}}) {
            int rows = s[0], in = s[1], out = s[2];
            FourBitWeight g4 = fourBit(out, in, 64, book);
            FourBitWeight u4 = fourBit(out, in, 64, book.clone());
            FourBitWeight other = fourBit(out, in, 64, TestTensors.floats(random, 16));
            FourBitWeight g256 = fourBit(out, in, 256, book);
            FourBitWeight u256 = fourBit(out, in, 256, book.clone());
            HostTensor g16 = TestTensors.random(DType.BF16, random, out, in);
            HostTensor u16 = TestTensors.random(DType.BF16, random, out, in);
            HostTensor u32 = TestTensors.random(DType.F32, random, out, in);
            checkSwiglu("4-bit pair " + Arrays.toString(s), g4, u4, cpu.matrix(g4), cpu.matrix(u4), gpu.matrix(g4), gpu.matrix(u4), rows, in, out);
            checkSwiglu("4-bit pair, blocks of 256 " + Arrays.toString(s), g256, u256, cpu.matrix(g256), cpu.matrix(u256), gpu.matrix(g256),
                    gpu.matrix(u256), rows, in, out);
            checkSwiglu("4-bit, two codebooks " + Arrays.toString(s), g4, other, cpu.matrix(g4), cpu.matrix(other), gpu.matrix(g4),
                    gpu.matrix(other), rows, in, out);
            checkSwiglu("bf16 pair " + Arrays.toString(s), g16, u16, cpu.matrix(g16), cpu.matrix(u16), gpu.matrix(g16), gpu.matrix(u16), rows, in,
                    out);
            checkSwiglu("4-bit and f32 " + Arrays.toString(s), g4, u32, cpu.matrix(g4), cpu.matrix(u32), gpu.matrix(g4), gpu.matrix(u32), rows, in,
                    out);
        }
    }

    private void checkSwiglu(String what, Object gate, Object up, WeightMatrix gateCpu, WeightMatrix upCpu, WeightMatrix gateGpu,
                             WeightMatrix upGpu, int rows, int in, int out) {
        float[] x = TestTensors.floats(random, rows * in);
        Activations yc = poisoned(cpu, rows, out);
        cpu.swiglu(filled(cpu, rows, in, x), gateCpu, upCpu, yc);
        Activations yg = poisoned(gpu, rows, out);
        gpu.swiglu(filled(gpu, rows, in, x), gateGpu, upGpu, yg);
        // silu(gate) * up compounds the two products' errors
        double bound = 2 * Math.max(bound(checkRoute(what + ", gate", rows, gate, gateGpu)), bound(checkRoute(what + ", up", rows, up, upGpu)));
        assertClose(read(cpu, yc), read(gpu, yg), bound, what);
        gpu.endStep();
    }

    @Test
    void denseQuantizedAndInt8Products() {
        // bf16 with cols % 8 == 0 and four-bit with cols % 1024 == 0 take the decode kernels (up to 8 rows, then 8 at a
        // time: 11 rows); the rest the generic one
        for (int[] s : new int[][] {{1, 64, 33}, {3, 96, 70}, {1, 1000, 129}, {5, 256, 256}, {11, 512, 40}, {2, 100, 9}, {1, 37, 5},
            {1, 1024, 70}, {2, 2048, 33}, {4, 1024, 9}, {7, 3072, 65}, {11, 1024, 130}}) {
            for (DType t : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                HostTensor w = TestTensors.random(t, random, s[2], s[1]);
                checkMatmul(t + " " + Arrays.toString(s), w, cpu.matrix(w), gpu.matrix(w), s[0], s[1], s[2]);
            }
            long n = (long) s[1] * s[2];
            byte[] packed = new byte[(int) ((n + 1) / 2)];
            for (int i = 0; i < packed.length; i++) {
                packed[i] = (byte) random.nextInt(256);
            }
            for (int blocksize : BLOCKSIZES) {
                FourBitWeight fb = new FourBitWeight("w", s[2], s[1], blocksize, TestTensors.floats(random, 16), MemorySegment.ofArray(packed),
                        new BlockScales.Plain(TestTensors.floats(random, (int) ((n + blocksize - 1) / blocksize))));
                checkMatmul("4-bit blocks of " + blocksize + " " + Arrays.toString(s), fb, cpu.matrix(fb), gpu.matrix(fb), s[0], s[1], s[2]);
            }
            byte[] q = new byte[(int) n];
            for (int i = 0; i < q.length; i++) {
                q[i] = (byte) (random.nextInt(255) - 127);
            }
            Int8Weight i8 = new Int8Weight("w", s[2], s[1], MemorySegment.ofArray(q), TestTensors.floats(random, s[2]));
            checkMatmul("int8 " + Arrays.toString(s), i8, cpu.matrix(i8), gpu.matrix(i8), s[0], s[1], s[2]);
        }
    }

    @Test
    void prefillAndBatchSizedProductsInBf16() {
        // four-bit: 9-64 rows on the tensor-core kernels (16, 32 and 64 rows at most), more by cuBLAS; 9000 x 4096
        // four-bit weights expand to 72 MiB of bf16 for it: more than one slice of the expansion buffer
        for (int[] s : new int[][] {{9, 1024, 64}, {33, 2048, 200}, {512, 1024, 96}, {16, 4096, 9000}, {24, 3072, 100}, {32, 1024, 8250}, {64, 1024, 48},
            {65, 2048, 40}, {200, 4096, 9000}}) {
            long n = (long) s[1] * s[2];
            byte[] packed = new byte[(int) (n / 2)];
            for (int i = 0; i < packed.length; i++) {
                packed[i] = (byte) random.nextInt(256);
            }
            FourBitWeight fb = new FourBitWeight("w", s[2], s[1], 64, TestTensors.floats(random, 16), MemorySegment.ofArray(packed),
                    new BlockScales.Plain(TestTensors.floats(random, (int) (n / 64))));
            checkMatmul("4-bit via GEMM " + Arrays.toString(s), fb, cpu.matrix(fb), gpu.matrix(fb), s[0], s[1], s[2]);
            HostTensor w = TestTensors.random(DType.BF16, random, s[2], s[1]);
            checkMatmul("bf16 via GEMM " + Arrays.toString(s), w, cpu.matrix(w), gpu.matrix(w), s[0], s[1], s[2]);
        }
    }

    @Test
    void normBiasEmbedGather() {
        int rows = 3, cols = 384;
        float[] x = TestTensors.floats(random, rows * cols);
        HostTensor w = TestTensors.random(DType.F32, random, cols);
        Activations nc = poisoned(cpu, rows, cols);
        Activations ng = poisoned(gpu, rows, cols);
        cpu.rmsNorm(filled(cpu, rows, cols, x), cpu.vector(w), 1e-5f, nc);
        gpu.rmsNorm(filled(gpu, rows, cols, x), gpu.vector(w), 1e-5f, ng);
        assertClose(read(cpu, nc), read(gpu, ng), 1e-6, "rms norm");

        Activations ac = filled(cpu, rows, cols, x);
        Activations ag = filled(gpu, rows, cols, x);
        cpu.addBias(ac, cpu.vector(w));
        gpu.addBias(ag, gpu.vector(w));
        assertClose(read(cpu, ac), read(gpu, ag), 1e-7, "bias");

        HostTensor table = TestTensors.random(DType.BF16, random, 50, cols);
        Activations ec = poisoned(cpu, 2, cols);
        Activations eg = poisoned(gpu, 2, cols);
        cpu.embed(cpu.matrix(table), new int[] {49, 3}, ec);
        WeightMatrix onGpu = gpu.matrix(table);
        // from a thread that never used the backend, as when an actor moves between a dispatcher's threads
        java.util.concurrent.CompletableFuture.runAsync(() -> gpu.embed(onGpu, new int[] {49, 3}, eg), r -> Thread.ofPlatform().start(r)).join();
        assertClose(read(cpu, ec), read(gpu, eg), 0, "embed");

        Activations gc = poisoned(cpu, 2, cols);
        Activations gg = poisoned(gpu, 2, cols);
        cpu.gatherRows(filled(cpu, rows, cols, x), new int[] {2, 0}, gc);
        gpu.gatherRows(filled(gpu, rows, cols, x), new int[] {2, 0}, gg);
        assertClose(read(cpu, gc), read(gpu, gg), 0, "gather");
        gpu.endStep();
    }

    @Test
    void argmaxOfVocabularySizedRows() {
        int rows = 6, cols = 128256;
        float[] x = TestTensors.floats(random, rows * cols);
        // row 1: the maximum twice (the first wins); row 2: a NaN (it wins, as in torch); row 3: all equal; row 4: an
        // infinity late in the row
        x[cols + 70000] = 5f;
        x[cols + 90000] = 5f;
        x[2 * cols + 100] = Float.NaN;
        Arrays.fill(x, 3 * cols, 4 * cols, -2f);
        x[4 * cols + 128000] = Float.POSITIVE_INFINITY;
        int[] expected = new int[rows];
        int[] actual = new int[rows];
        float[] expectedLargest = new float[rows];
        float[] actualLargest = new float[rows];
        Arrays.fill(actual, -1);
        cpu.argmax(filled(cpu, rows, cols, x), expected, expectedLargest);
        gpu.argmax(filled(gpu, rows, cols, x), actual, actualLargest);
        gpu.endStep();
        assertArrayEquals(expected, actual);
        assertArrayEquals(expectedLargest, actualLargest);
        assertTrue(expected[1] == 70000 && expected[2] == 100 && expected[3] == 0 && expected[4] == 128000, Arrays.toString(expected));
        assertTrue(expectedLargest[1] == 5f && Float.isNaN(expectedLargest[2]) && expectedLargest[3] == -2f
                && expectedLargest[4] == Float.POSITIVE_INFINITY, Arrays.toString(expectedLargest));
    }

    /**
     * Sampled picks against the CPU twin on vocabulary-sized rows, each filter and the paths through the kernel: top-k
     * leaving few scores (shared memory) or many (the row in place), top-p with and without top-k, a repetition penalty,
     * greedy with a penalty, rows of many ties, a row holding a NaN. Where the reference's pick is well defined (the same
     * under a change of 1e-4 in the uniform number and in top-p, away from the rounding at a boundary) the ids must be
     * equal. Elsewhere (flat rows, where the float sums move a cut among many tokens of tiny share) the GPU's pick must
     * lie where the reference puts it to within 1e-3 of the probability: between its picks for u - 1e-3 and u + 1e-3.
     */
    @Test
    void sampledPicksAgreeWithTheCpuTwin() {
        int cols = 128256;
        TokenPick[] kinds = {
            new TokenPick(0.8f, 40, 0.95f, 1f, 0, new int[0]),
            new TokenPick(1f, 0, 1f, 1f, 0, new int[0]),
            new TokenPick(0.7f, 0, 0.9f, 1f, 0, new int[0]),
            new TokenPick(1.2f, 5000, 1f, 1f, 0, new int[0]),
            new TokenPick(1.1f, 6000, 0.5f, 1f, 0, new int[0]),
            new TokenPick(0.8f, 40, 0.95f, 1.3f, 0, random.ints(300, 0, cols).toArray()),
            new TokenPick(0f, 0, 1f, 1.5f, 0, random.ints(300, 0, cols).toArray()),
            new TokenPick(1f, 1, 1f, 1f, 0, new int[0]),
            new TokenPick(0.9f, 50, 0.8f, 1f, 0, new int[0]),
        };
        int rows = kinds.length + 2;
        int defined = 0;
        int total = 0;
        for (int round = 0; round < 12; round++) {
            float[] x = new float[rows * cols];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) (random.nextGaussian() * (1 + round % 4));
            }
            // the next-to-last row: eight values only, so ties at every cut; the last: a NaN
            for (int i = 0; i < cols; i++) {
                x[(rows - 2) * cols + i] = random.nextInt(8);
            }
            x[(rows - 1) * cols + 5000] = Float.NaN;
            TokenPick[] picks = new TokenPick[rows];
            for (int r = 0; r < rows; r++) {
                TokenPick k = r < kinds.length ? kinds[r] : kinds[r == rows - 2 ? 8 : 0];
                picks[r] = new TokenPick(k.temperature(), k.topK(), k.topP(), k.repetitionPenalty(), random.nextDouble(), k.seen());
            }
            int[] expected = new int[rows];
            int[] actual = new int[rows];
            float[] expectedLargest = new float[rows];
            float[] actualLargest = new float[rows];
            cpu.sample(filled(cpu, rows, cols, x), picks, expected, expectedLargest);
            gpu.sample(filled(gpu, rows, cols, x), picks, actual, actualLargest);
            gpu.endStep();
            assertArrayEquals(expectedLargest, actualLargest, "largest scores, round " + round);
            assertEquals(-1, actual[rows - 1], "no pick from a row holding a NaN");
            for (int r = 0; r < rows - 1; r++) {
                total++;
                TokenPick p = picks[r];
                String where = "round " + round + ", row " + r + ": " + p;
                if (wellDefined(p, x, r * cols, cols, expected[r])) {
                    defined++;
                    assertEquals(expected[r], actual[r], where);
                } else {
                    int low = withUniform(p, Math.max(0, p.uniform() - 1e-3)).pick(x, r * cols, cols);
                    int high = withUniform(p, Math.min(p.uniform() + 1e-3, Math.nextDown(1.0))).pick(x, r * cols, cols);
                    assertTrue(low <= actual[r] && actual[r] <= high, where + ": " + actual[r] + " outside [" + low + ", " + high + "]");
                }
            }
        }
        System.out.println("sampled picks: " + defined + " of " + total + " well defined and equal, the rest within 1e-3 of the probability");
        assertTrue(defined >= total / 2, defined + " of " + total + " picks well defined");
    }

    private static TokenPick withUniform(TokenPick p, double u) {
        return new TokenPick(p.temperature(), p.topK(), p.topP(), p.repetitionPenalty(), u, p.seen());
    }

    private static boolean wellDefined(TokenPick p, float[] x, int offset, int cols, int id) {
        double e = 1e-4;
        for (double u : new double[] {p.uniform() * (1 - e), Math.min(p.uniform() * (1 + e), Math.nextDown(1.0))}) {
            for (float topP : new float[] {p.topP(), (float) Math.min(1, p.topP() * (1 + e)), (float) (p.topP() * (1 - e))}) {
                if (new TokenPick(p.temperature(), p.topK(), topP, p.repetitionPenalty(), u, p.seen()).pick(x, offset, cols) != id) {
                    return false;
                }
            }
        }
        return true;
    }

    @Test
    void groupedQueryAttentionWithAndWithoutAWindow() {
        // {heads, kv heads, head dim}: groups of 4, 8 and 1 fill the prefill kernel's tiles with 16, 8 and 64 rows;
        // a head dimension of 256 is beyond it and takes the decode kernel for prefill too (float32 keys in tiles of 8
        // positions); in the decode kernel a group of 3 leaves threads idle, a group of 16 at 128 dimensions fills one
        // block's heads and at 256 dimensions takes two blocks per KV head
        // prefill 70 positions of one slot and 3 of another in one batch, 9 more of the first, one decode row each (the
        // tiles kernel), then a lone decode row (the lanes kernel)
        int[][] steps = {{70, 3}, {9, 0}, {1, 1}, {0, 1}};
        for (int[] dims : new int[][] {{8, 2, 64}, {16, 2, 128}, {4, 4, 96}, {4, 2, 256}, {6, 2, 64}, {32, 2, 128}, {16, 1, 256}}) {
            for (int window : new int[] {0, 5}) {
                checkAttention(gpu, dims[0], dims[1], dims[2], window, steps, 1e-5);
                // bf16 keys and values: each off by up to 2^-9 relative
                checkAttention(gpuBf16Kv, dims[0], dims[1], dims[2], window, steps, 1e-2);
            }
        }
    }

    @Test
    void decodeAttentionOverManyRowsOfLongCaches() {
        // 70 rows of 4 KV heads fill the GPU's blocks without splitting positions: each block walks a row's whole cache,
        // several tiles, with the online softmax carried from tile to tile (and a window reaching across tiles); then one
        // row alone
        int slots = 70;
        int[][] steps = {new int[slots], new int[slots], new int[slots]};
        Arrays.fill(steps[0], 100);
        Arrays.fill(steps[1], 1);
        steps[2][0] = 1;
        for (int window : new int[] {0, 40}) {
            checkAttention(gpu, 8, 4, 128, window, steps, 1e-5);
            checkAttention(gpuBf16Kv, 8, 4, 128, window, steps, 1e-2);
        }
    }

    /** steps[i][s]: the positions that step i adds to slot s (one row each, in slot order). */
    private void checkAttention(CudaBackend gpu, int heads, int kvHeads, int headDim, int window, int[][] steps, double bound) {
        int layers = 2;
        AttentionShape shape = new AttentionShape(heads, kvHeads, headDim, (float) (1 / Math.sqrt(headDim)), window,
                TestTensors.ropeFrequencies(headDim, 10000));
        int slotCount = steps[0].length;
        try (KvCache kc = cpu.kvCache(layers, kvHeads, headDim); KvCache kg = gpu.kvCache(layers, kvHeads, headDim)) {
            int[] slotIds = new int[slotCount];
            for (int s = 0; s < slotCount; s++) {
                int capacity = 0;
                for (int[] step : steps) {
                    capacity += step[s];
                }
                slotIds[s] = kc.openSlot(capacity);
                assertEquals(slotIds[s], kg.openSlot(capacity));
            }
            int[] next = new int[slotCount];
            for (int[] step : steps) {
                int rows = Arrays.stream(step).sum();
                int[] slots = new int[rows];
                int[] positions = new int[rows];
                int r = 0;
                for (int s = 0; s < slotCount; s++) {
                    for (int i = 0; i < step[s]; i++, r++) {
                        slots[r] = slotIds[s];
                        positions[r] = next[s]++;
                    }
                }
                TokenBatch batch = new TokenBatch(slots, positions);
                float[] q = TestTensors.floats(random, rows * heads * headDim);
                float[] k = TestTensors.floats(random, rows * kvHeads * headDim);
                float[] v = TestTensors.floats(random, rows * kvHeads * headDim);
                Activations oc = poisoned(cpu, rows, heads * headDim);
                Activations og = poisoned(gpu, rows, heads * headDim);
                cpu.attention(kc, 1, filled(cpu, rows, heads * headDim, q), filled(cpu, rows, kvHeads * headDim, k),
                        filled(cpu, rows, kvHeads * headDim, v), batch, shape, oc);
                gpu.attention(kg, 1, filled(gpu, rows, heads * headDim, q), filled(gpu, rows, kvHeads * headDim, k),
                        filled(gpu, rows, kvHeads * headDim, v), batch, shape, og);
                assertClose(read(cpu, oc), read(gpu, og), bound, "attention " + heads + "/" + kvHeads + "x" + headDim + " window " + window
                        + " rows " + rows);
                gpu.endStep();
            }
        }
    }
}

package ai.convoy.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.AttentionShape;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.kernels.WeightMatrix;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Each CPU operation against a plain double-precision loop, on fresh random inputs, with outputs poisoned first. */
class CpuBackendTest {
    private final CpuBackend cpu = new CpuBackend();
    private final SplittableRandom random = TestTensors.seeded(CpuBackendTest.class);

    private Activations poisoned(int rows, int cols) {
        Activations a = cpu.activations(rows, cols);
        float[] nan = new float[rows * cols];
        Arrays.fill(nan, Float.NaN);
        cpu.write(a, nan);
        return a;
    }

    private Activations filled(int rows, int cols, float[] values) {
        return TestTensors.filled(cpu, rows, cols, values);
    }

    private float[] read(Activations a) {
        return TestTensors.read(cpu, a);
    }

    private interface WeightAt {
        double at(int row, int col);
    }

    /** y[r, o] = sum_i W[o, i] x[r, i], in double precision. */
    private static double[] naiveProduct(int rows, int in, int out, float[] x, WeightAt w) {
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    y[r * out + o] += w.at(o, i) * x[r * in + i];
                }
            }
        }
        return y;
    }

    private static void assertClose(double[] expected, float[] actual, double relative) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            assertFalse(Float.isNaN(actual[i]), "element " + i + " was not written");
            diff += (expected[i] - actual[i]) * (expected[i] - actual[i]);
            norm += expected[i] * expected[i];
        }
        assertTrue(Math.sqrt(diff / norm) < relative, "relative L2 " + Math.sqrt(diff / norm));
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F16", "BF16"})
    void matmulMatchesTheNaiveProduct(DType dtype) {
        for (int[] size : new int[][] {{1, 37, 5}, {1, 256, 300}, {3, 131, 70}, {7, 64, 1}, {2, 1000, 129}}) {
            int rows = size[0], in = size[1], out = size[2];
            HostTensor w = TestTensors.random(dtype, random, out, in);
            float[] x = TestTensors.floats(random, rows * in);
            Activations y = poisoned(rows, out);
            cpu.matmul(filled(rows, in, x), cpu.matrix(w), y);
            assertClose(naiveProduct(rows, in, out, x, (o, i) -> w.getFloat((long) o * in + i)), read(y), 1e-5);
        }
    }

    @Test
    void fourBitMatmulMatchesItsDequantizedValues() {
        // {rows, in, out, blocksize}: 96 columns in blocks of 64 straddle rows, the general path; rows of whole blocks
        // take the vector path, one row or several (four at a time, then the rest)
        for (int[] size : new int[][] {{1, 96, 33, 64}, {3, 96, 20, 64}, {1, 128, 40, 64}, {5, 128, 9, 64}, {2, 256, 17, 64},
            {1, 64, 7, 32}, {6, 96, 5, 32}, {1, 1024, 19, 128}, {9, 512, 12, 256}, {1, 4096, 3, 4096}}) {
            for (boolean nested : new boolean[] {false, true}) {
                int rows = size[0], in = size[1], out = size[2];
                FourBitWeight w = TestTensors.fourBit(random, out, in, size[3], nested);
                float[] x = TestTensors.floats(random, rows * in);
                Activations y = poisoned(rows, out);
                cpu.matmul(filled(rows, in, x), cpu.matrix(w), y);
                assertClose(naiveProduct(rows, in, out, x, (o, i) -> w.get((long) o * in + i)), read(y), 1e-5);
            }
        }
    }

    @Test
    void int8MatmulMatchesItsDequantizedValues() {
        int rows = 3, in = 70, out = 11;
        byte[] q = new byte[in * out];
        for (int i = 0; i < q.length; i++) {
            q[i] = (byte) (random.nextInt(255) - 127);
        }
        float[] scb = TestTensors.floats(random, out);
        Int8Weight w = new Int8Weight("w", out, in, MemorySegment.ofArray(q), scb);
        float[] x = TestTensors.floats(random, rows * in);
        Activations y = poisoned(rows, out);
        cpu.matmul(filled(rows, in, x), cpu.matrix(w), y);
        assertClose(naiveProduct(rows, in, out, x, (o, i) -> q[o * in + i] * (double) scb[o] / 127), read(y), 1e-5);
    }

    @Test
    void rmsNormAndEmbed() {
        int rows = 3, n = 77;
        float[] x = TestTensors.floats(random, rows * n);
        HostTensor w = TestTensors.random(DType.F32, random, n);
        Activations normed = poisoned(rows, n);
        cpu.rmsNorm(filled(rows, n, x), cpu.vector(w), 1e-5f, normed);
        double[] expected = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int i = 0; i < n; i++) {
                ms += (double) x[r * n + i] * x[r * n + i];
            }
            double inv = 1 / Math.sqrt(ms / n + 1e-5);
            for (int i = 0; i < n; i++) {
                expected[r * n + i] = w.getFloat(i) * x[r * n + i] * inv;
            }
        }
        assertClose(expected, read(normed), 1e-6);

        HostTensor table = TestTensors.random(DType.BF16, random, 10, n);
        Activations e = poisoned(2, n);
        cpu.embed(cpu.matrix(table), new int[] {7, 2}, e);
        float[] got = read(e);
        assertEquals(table.getFloat(7L * n + 5), got[5]);
        assertEquals(table.getFloat(2L * n + 76), got[n + 76]);
    }

    @Test
    void swigluCombinesTheGateAndUpProducts() {
        for (int[] size : new int[][] {{1, 64, 37}, {5, 130, 20}}) {
            int rows = size[0], in = size[1], out = size[2];
            HostTensor gate = TestTensors.random(DType.BF16, random, out, in);
            HostTensor up = TestTensors.random(DType.F32, random, out, in);
            float[] x = TestTensors.floats(random, rows * in);
            Activations y = poisoned(rows, out);
            cpu.swiglu(filled(rows, in, x), cpu.matrix(gate), cpu.matrix(up), y);
            double[] g = naiveProduct(rows, in, out, x, (o, i) -> gate.getFloat((long) o * in + i));
            double[] u = naiveProduct(rows, in, out, x, (o, i) -> up.getFloat((long) o * in + i));
            double[] expected = new double[g.length];
            for (int i = 0; i < g.length; i++) {
                expected[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
            }
            assertClose(expected, read(y), 1e-5);
        }
    }

    @Test
    void matmulAddAddsTheProductToWhatIsThere() {
        int rows = 3, in = 90, out = 33;
        HostTensor w = TestTensors.random(DType.F16, random, out, in);
        float[] x = TestTensors.floats(random, rows * in);
        float[] before = TestTensors.floats(random, rows * out);
        Activations acc = filled(rows, out, before.clone());
        cpu.matmulAdd(filled(rows, in, x), cpu.matrix(w), acc);
        double[] expected = naiveProduct(rows, in, out, x, (o, i) -> w.getFloat((long) o * in + i));
        for (int i = 0; i < expected.length; i++) {
            expected[i] += before[i];
        }
        assertClose(expected, read(acc), 1e-6);
    }

    @Test
    void matmulsMakesEachProductOfTheOneInput() {
        int rows = 2, in = 40;
        int[] widths = {24, 8, 8};
        float[] x = TestTensors.floats(random, rows * in);
        HostTensor[] w = Arrays.stream(widths).mapToObj(n -> TestTensors.random(DType.BF16, random, n, in)).toArray(HostTensor[]::new);
        Activations[] outs = Arrays.stream(widths).mapToObj(n -> poisoned(rows, n)).toArray(Activations[]::new);
        cpu.matmuls(filled(rows, in, x), Arrays.stream(w).map(cpu::matrix).toArray(WeightMatrix[]::new), outs);
        for (int m = 0; m < widths.length; m++) {
            HostTensor wm = w[m];
            assertClose(naiveProduct(rows, in, widths[m], x, (o, i) -> wm.getFloat((long) o * in + i)), read(outs[m]), 1e-6);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.matmuls(filled(rows, in, x), new WeightMatrix[] {cpu.matrix(w[0])}, outs));
        assertTrue(e.getMessage().contains("1 matrices but 3 outputs"), e.getMessage());
    }

    @Test
    void readGivesAllRowsAndReadRowOne() {
        int rows = 3, cols = 5;
        float[] values = TestTensors.floats(random, rows * cols);
        Activations a = filled(rows, cols, values);
        float[] all = new float[rows * cols];
        cpu.read(a, all);
        assertArrayEquals(values, all);
        float[] row = new float[cols];
        cpu.readRow(a, 2, row);
        assertArrayEquals(Arrays.copyOfRange(values, 2 * cols, 3 * cols), row);
        assertThrows(IllegalArgumentException.class, () -> cpu.read(a, new float[rows * cols - 1]));
    }

    @Test
    void groupedQueryAttentionOverTwoSequencesWithAndWithoutAWindow() {
        int heads = 4, kvHeads = 2, headDim = 16, layers = 2;
        for (int window : new int[] {0, 3}) {
            AttentionShape shape = new AttentionShape(heads, kvHeads, headDim, 0.25f, window, TestTensors.ropeFrequencies(headDim, 100f));
            try (KvCache cache = cpu.kvCache(layers, kvHeads, headDim)) {
                int a = cache.openSlot(8);
                int b = cache.openSlot(8);
                // sequence a prefills 5 positions while sequence b prefills 2, all in one batch, on layer 1
                int[] slots = {a, a, a, a, a, b, b};
                int[] positions = {0, 1, 2, 3, 4, 0, 1};
                int rows = slots.length;
                float[] q = TestTensors.floats(random, rows * heads * headDim);
                float[] k = TestTensors.floats(random, rows * kvHeads * headDim);
                float[] v = TestTensors.floats(random, rows * kvHeads * headDim);
                Activations out = poisoned(rows, heads * headDim);
                cpu.attention(cache, 1, filled(rows, heads * headDim, q), filled(rows, kvHeads * headDim, k),
                        filled(rows, kvHeads * headDim, v), new TokenBatch(slots, positions), shape, out);
                assertClose(naiveAttention(q, k, v, slots, positions, shape), read(out), 1e-5);
            }
        }
    }

    /**
     * Causal grouped-query attention in double precision, the rotary embedding (each pair i, i + headDim / 2 of a head
     * turned by position * frequency) applied to q and k first.
     */
    static double[] naiveAttention(float[] qIn, float[] kIn, float[] v, int[] slots, int[] positions, AttentionShape s) {
        int rows = slots.length;
        int qw = s.heads() * s.headDim();
        int kw = s.kvHeads() * s.headDim();
        double[] q = rotated(qIn, qw, positions, s);
        double[] k = rotated(kIn, kw, positions, s);
        double[] out = new double[rows * qw];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < s.heads(); h++) {
                int kvh = h / (s.heads() / s.kvHeads());
                double[] scores = new double[rows];
                double max = Double.NEGATIVE_INFINITY;
                for (int t = 0; t < rows; t++) {
                    boolean visible = slots[t] == slots[r] && positions[t] <= positions[r]
                            && (s.window() == 0 || positions[r] - positions[t] < s.window());
                    if (!visible) {
                        scores[t] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int d = 0; d < s.headDim(); d++) {
                        dot += q[r * qw + h * s.headDim() + d] * k[t * kw + kvh * s.headDim() + d];
                    }
                    scores[t] = dot * s.scale();
                    max = Math.max(max, scores[t]);
                }
                double sum = 0;
                for (int t = 0; t < rows; t++) {
                    scores[t] = Math.exp(scores[t] - max);
                    sum += scores[t];
                }
                for (int t = 0; t < rows; t++) {
                    for (int d = 0; d < s.headDim(); d++) {
                        out[r * qw + h * s.headDim() + d] += scores[t] / sum * v[t * kw + kvh * s.headDim() + d];
                    }
                }
            }
        }
        return out;
    }

    private static double[] rotated(float[] x, int width, int[] positions, AttentionShape s) {
        int half = s.headDim() / 2;
        double[] out = new double[x.length];
        for (int r = 0; r < positions.length; r++) {
            for (int b = r * width; b < (r + 1) * width; b += s.headDim()) {
                for (int i = 0; i < half; i++) {
                    double angle = positions[r] * (double) s.ropeFrequencies()[i];
                    out[b + i] = x[b + i] * Math.cos(angle) - x[b + i + half] * Math.sin(angle);
                    out[b + i + half] = x[b + i + half] * Math.cos(angle) + x[b + i] * Math.sin(angle);
                }
            }
        }
        return out;
    }
}

package ai.convoy.kernels.cpu;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.Argmax;
import ai.convoy.kernels.AttentionShape;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.Int8Weight;
import ai.convoy.kernels.QuantizedWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.kernels.TokenPick;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.WeightVector;
import java.util.stream.IntStream;

/** The reference backend: float32 arithmetic on host memory, SIMD through the Vector API, on every core. */
public final class CpuBackend implements Backend {
    private static final int PARALLEL_MIN_WORK = 1 << 15;
    private final ThreadLocal<float[]> scratch = ThreadLocal.withInitial(() -> new float[0]);

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public WeightMatrix matrix(HostTensor weight) {
        return new DenseCpuMatrix(weight);
    }

    @Override
    public WeightMatrix matrix(QuantizedWeight weight) {
        return switch (weight) {
            case FourBitWeight w -> new FourBitCpuMatrix(w);
            case Int8Weight w -> new Int8CpuMatrix(w);
        };
    }

    @Override
    public WeightVector vector(HostTensor weight) {
        if (weight.rank() != 1) {
            throw new IllegalArgumentException(weight + " is not a vector");
        }
        return new CpuVector(weight.toFloatArray());
    }

    @Override
    public Activations activations(int rows, int cols) {
        return new CpuActivations(rows, cols);
    }

    @Override
    public KvCache kvCache(int layers, int kvHeads, int headDim) {
        return new CpuKvCache(layers, kvHeads, headDim);
    }

    @Override
    public void write(Activations dst, float[] rowMajor) {
        dst.requireSameSize(rowMajor);
        System.arraycopy(rowMajor, 0, data(dst), 0, rowMajor.length);
    }

    @Override
    public void read(Activations src, float[] rowMajor) {
        src.requireSameSize(rowMajor);
        System.arraycopy(data(src), 0, rowMajor, 0, rowMajor.length);
    }

    @Override
    public void readRow(Activations src, int row, float[] dst) {
        System.arraycopy(data(src), row * src.cols(), dst, 0, src.cols());
    }

    @Override
    public void embed(WeightMatrix table, int[] ids, Activations out) {
        CpuMatrix t = (CpuMatrix) table;
        float[] o = data(out);
        float[] row = new float[t.cols()];
        for (int r = 0; r < ids.length; r++) {
            t.row(ids[r], row);
            System.arraycopy(row, 0, o, r * out.cols(), t.cols());
        }
    }

    @Override
    public void rmsNorm(Activations x, WeightVector weight, float eps, Activations out) {
        float[] in = data(x);
        float[] o = data(out);
        float[] w = ((CpuVector) weight).data();
        int n = x.cols();
        for (int r = 0; r < x.rows(); r++) {
            int base = r * n;
            float meanSquare = VectorMath.dot(in, base, in, base, n) / n;
            float inv = (float) (1.0 / Math.sqrt(meanSquare + eps));
            for (int i = 0; i < n; i++) {
                o[base + i] = w[i] * (in[base + i] * inv);
            }
        }
    }

    @Override
    public void matmul(Activations x, WeightMatrix w, Activations out) {
        checkProduct(x, w, out);
        product(x, (CpuMatrix) w, data(out), false);
    }

    @Override
    public void matmuls(Activations x, WeightMatrix[] weights, Activations[] outs) {
        Backend.requireOutputPerMatrix(weights, outs);
        for (int i = 0; i < weights.length; i++) {
            matmul(x, weights[i], outs[i]);
        }
    }

    @Override
    public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
        checkProduct(x, w, acc);
        product(x, (CpuMatrix) w, data(acc), true);
    }

    @Override
    public void swiglu(Activations x, WeightMatrix gate, WeightMatrix up, Activations out) {
        checkProduct(x, gate, out);
        checkProduct(x, up, out);
        float[] g = data(out);
        product(x, (CpuMatrix) gate, g, false);
        float[] u = new float[g.length];
        product(x, (CpuMatrix) up, u, false);
        for (int i = 0; i < g.length; i++) {
            float v = g[i];
            g[i] = v / (1f + (float) Math.exp(-v)) * u[i];
        }
    }

    private static void checkProduct(Activations x, WeightMatrix w, Activations out) {
        CpuMatrix m = (CpuMatrix) w;
        if (x.cols() != m.cols() || out.cols() != m.rows() || out.rows() != x.rows()) {
            throw new IllegalArgumentException("matmul shapes: x " + x.rows() + "x" + x.cols() + ", W " + m.rows() + "x"
                    + m.cols() + ", out " + out.rows() + "x" + out.cols());
        }
    }

    /** o[r][j] = (W x[r])[j], or += when {@code accumulate}. */
    private void product(Activations x, CpuMatrix m, float[] o, boolean accumulate) {
        int rows = x.rows();
        float[] in = m.arranged(data(x), rows);
        int inCols = m.cols();
        int outCols = m.rows();
        int blocks = Math.min(outCols, Runtime.getRuntime().availableProcessors() * 8);
        IntStream range = IntStream.range(0, blocks);
        if ((long) outCols * inCols * rows >= PARALLEL_MIN_WORK) {
            range = range.parallel();
        }
        range.forEach(b -> {
            int from = (int) ((long) outCols * b / blocks);
            int to = (int) ((long) outCols * (b + 1) / blocks);
            float[] wRow = scratch(inCols);
            if (rows == 1) {
                for (int j = from; j < to; j++) {
                    put(o, j, m.dot(j, in, 0, wRow), accumulate);
                }
                return;
            }
            // several rows: widen each weight row once and reuse it for every activation row
            float[] four = new float[4];
            for (int j = from; j < to; j++) {
                m.arrangedRow(j, wRow);
                int r = 0;
                for (; r + 4 <= rows; r += 4) {
                    VectorMath.dot4(wRow, in, r * inCols, inCols, inCols, four);
                    for (int k = 0; k < 4; k++) {
                        put(o, (r + k) * outCols + j, four[k], accumulate);
                    }
                }
                for (; r < rows; r++) {
                    put(o, r * outCols + j, VectorMath.dot(in, r * inCols, wRow, 0, inCols), accumulate);
                }
            }
        });
    }

    private static void put(float[] o, int at, float v, boolean accumulate) {
        o[at] = accumulate ? o[at] + v : v;
    }

    @Override
    public void addBias(Activations x, WeightVector bias) {
        float[] d = data(x);
        float[] b = ((CpuVector) bias).data();
        for (int r = 0; r < x.rows(); r++) {
            VectorMath.axpy(1f, b, 0, d, r * x.cols(), b.length);
        }
    }

    /** The rotary embedding of each row's heads in place, at the row's position (rotate-half pairs). */
    private static void rope(Activations x, int heads, int headDim, TokenBatch batch, float[] inverseFrequencies) {
        float[] d = data(x);
        int half = headDim / 2;
        float[] cos = new float[half];
        float[] sin = new float[half];
        for (int r = 0; r < x.rows(); r++) {
            int pos = batch.position(r);
            for (int i = 0; i < half; i++) {
                // float32 angle, as the reference computes position * inv_freq in float32
                float angle = pos * inverseFrequencies[i];
                cos[i] = (float) Math.cos(angle);
                sin[i] = (float) Math.sin(angle);
            }
            for (int h = 0; h < heads; h++) {
                int base = r * x.cols() + h * headDim;
                for (int i = 0; i < half; i++) {
                    float x1 = d[base + i];
                    float x2 = d[base + i + half];
                    d[base + i] = x1 * cos[i] - x2 * sin[i];
                    d[base + i + half] = x2 * cos[i] + x1 * sin[i];
                }
            }
        }
    }

    @Override
    public void attention(KvCache cache, int layer, Activations q, Activations k, Activations v, TokenBatch batch,
                          AttentionShape shape, Activations out) {
        CpuKvCache kv = (CpuKvCache) cache;
        int width = kv.rowWidth();
        rope(q, shape.heads(), shape.headDim(), batch, shape.ropeFrequencies());
        rope(k, shape.kvHeads(), shape.headDim(), batch, shape.ropeFrequencies());
        float[] kd = data(k);
        float[] vd = data(v);
        for (int r = 0; r < batch.rows(); r++) {
            int slot = batch.slot(r);
            int pos = batch.position(r);
            if (pos >= kv.capacity(slot)) {
                throw new IllegalStateException("position " + pos + " beyond the KV capacity " + kv.capacity(slot) + " of slot " + slot);
            }
            System.arraycopy(kd, r * width, kv.keys(slot, layer), pos * width, width);
            System.arraycopy(vd, r * width, kv.values(slot, layer), pos * width, width);
        }
        float[] qd = data(q);
        float[] o = data(out);
        int headDim = shape.headDim();
        int group = shape.heads() / shape.kvHeads();
        long positions = 0;
        for (int r = 0; r < batch.rows(); r++) {
            positions += batch.position(r) + 1;
        }
        IntStream work = IntStream.range(0, batch.rows() * shape.heads());
        if (positions * shape.heads() * headDim >= PARALLEL_MIN_WORK) {
            work = work.parallel();
        }
        work.forEach(job -> {
            int r = job / shape.heads();
            int h = job % shape.heads();
            int slot = batch.slot(r);
            int pos = batch.position(r);
            int first = shape.window() > 0 ? Math.max(0, pos - shape.window() + 1) : 0;
            float[] keys = kv.keys(slot, layer);
            float[] values = kv.values(slot, layer);
            int kvOff = (h / group) * headDim;
            int qOff = r * q.cols() + h * headDim;
            float[] scores = scratch(pos - first + 1);
            float max = Float.NEGATIVE_INFINITY;
            for (int t = first; t <= pos; t++) {
                float s = VectorMath.dot(qd, qOff, keys, t * width + kvOff, headDim) * shape.scale();
                scores[t - first] = s;
                max = Math.max(max, s);
            }
            float sum = 0f;
            for (int t = 0; t <= pos - first; t++) {
                scores[t] = (float) Math.exp(scores[t] - max);
                sum += scores[t];
            }
            int oOff = r * out.cols() + h * headDim;
            java.util.Arrays.fill(o, oOff, oOff + headDim, 0f);
            for (int t = first; t <= pos; t++) {
                VectorMath.axpy(scores[t - first] / sum, values, t * width + kvOff, o, oOff, headDim);
            }
        });
    }

    @Override
    public void argmax(Activations scores, int[] ids, float[] largest) {
        float[] s = data(scores);
        for (int r = 0; r < scores.rows(); r++) {
            ids[r] = Argmax.of(s, r * scores.cols(), scores.cols());
            largest[r] = s[r * scores.cols() + ids[r]];
        }
    }

    @Override
    public void sample(Activations scores, TokenPick[] picks, int[] ids, float[] largest) {
        float[] all = data(scores);
        for (int r = 0; r < picks.length; r++) {
            if (picks[r] == null) {
                continue;
            }
            float[] s = picks[r].penalized(all, r * scores.cols(), scores.cols());
            float m = Float.NEGATIVE_INFINITY;
            for (float v : s) {
                m = Float.isFinite(v) && !Float.isNaN(m) ? Math.max(m, v) : Float.NaN;
            }
            largest[r] = m;
            ids[r] = Float.isNaN(m) ? -1 : picks[r].pickPenalized(s);
        }
    }

    @Override
    public void gatherRows(Activations src, int[] rows, Activations dst) {
        float[] s = data(src);
        float[] d = data(dst);
        int n = src.cols();
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(s, rows[i] * n, d, i * n, n);
        }
    }

    @Override
    public void close() {
        // host memory only: nothing to release beyond what the garbage collector frees
    }

    private float[] scratch(int size) {
        float[] s = scratch.get();
        if (s.length < size) {
            s = new float[size];
            scratch.set(s);
        }
        return s;
    }

    private static float[] data(Activations a) {
        return ((CpuActivations) a).data();
    }
}

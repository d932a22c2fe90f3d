package ai.convoy.kernels;

/**
 * The operations a transformer forward pass needs, on one device. Weights, activations and the KV cache are
 * handles owned by the backend, so a GPU backend keeps them in device memory; the CPU backend is the reference
 * that every other backend is checked against.
 *
 * <p>Activations are a flat batch of token rows: row {@code r} belongs to the sequence whose KV cache slot is
 * {@code batch.slot(r)} and sits at position {@code batch.position(r)}, so prefill, decode and several
 * sequences at once are the same call.
 */
public interface Backend extends AutoCloseable {

    String name();

    /** A 2-D weight [rows, cols] in the checkpoint's layout ([out, in] for a linear layer). */
    WeightMatrix matrix(HostTensor weight);

    /** A quantized 2-D weight (NF4, FP4, INT8), kept quantized on the device. */
    WeightMatrix matrix(QuantizedWeight weight);

    /** A 1-D weight (norm scale, bias). */
    WeightVector vector(HostTensor weight);

    Activations activations(int rows, int cols);

    KvCache kvCache(int layers, int kvHeads, int headDim);

    void write(Activations dst, float[] rowMajor);

    /** Copies all of {@code src} into {@code rowMajor} (rows * cols values): one transfer, however many rows. */
    void read(Activations src, float[] rowMajor);

    /** Copies row {@code row} into {@code dst}. */
    void readRow(Activations src, int row, float[] dst);

    /** out[r] = table[ids[r]] */
    void embed(WeightMatrix table, int[] ids, Activations out);

    /** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight */
    void rmsNorm(Activations x, WeightVector weight, float eps, Activations out);

    /** out[r] = W x[r], with W of shape [out.cols, x.cols]. */
    void matmul(Activations x, WeightMatrix w, Activations out);

    /**
     * outs[i][r] = weights[i] x[r] for each i: several products of one input (a layer's q, k and v), which a backend
     * may compute as one.
     */
    void matmuls(Activations x, WeightMatrix[] weights, Activations[] outs);

    /** Refuses a {@link #matmuls} call whose matrices and outputs do not pair up one to one. */
    static void requireOutputPerMatrix(WeightMatrix[] weights, Activations[] outs) {
        if (weights.length != outs.length) {
            throw new IllegalArgumentException(weights.length + " matrices but " + outs.length + " outputs");
        }
    }

    /** acc[r] += W x[r]: a projection added into the residual stream. */
    void matmulAdd(Activations x, WeightMatrix w, Activations acc);

    /** out[r] = silu(gate x[r]) * (up x[r]): the gated feed-forward's two products and their combination. */
    void swiglu(Activations x, WeightMatrix gate, WeightMatrix up, Activations out);

    /** x[r] += bias */
    void addBias(Activations x, WeightVector bias);

    /**
     * Applies the rotary embedding to each row's queries (in place) and keys at its position, stores the keys and
     * values in the cache at its slot and position, then attends each query row causally over its own sequence (only
     * the last {@code shape.window()} positions when that is positive).
     */
    void attention(KvCache cache, int layer, Activations q, Activations k, Activations v, TokenBatch batch,
                   AttentionShape shape, Activations out);

    /**
     * ids[r] = the first index of the largest value of row r ({@link Argmax}), largest[r] = that value (NaN where the
     * row holds one): greedy picks, and a check that they came from finite scores, without reading the rows back.
     */
    void argmax(Activations scores, int[] ids, float[] largest);

    /**
     * For each row r with a pick ({@code picks[r]} not null): ids[r] = the token {@link TokenPick#pick} chooses from it,
     * largest[r] = its largest score after the repetition penalty, NaN where any of those scores is not finite (then
     * ids[r] is -1). Sampled picks without reading the rows back; the rows' scores may be overwritten.
     */
    void sample(Activations scores, TokenPick[] picks, int[] ids, float[] largest);

    /** dst[i] = src[rows[i]] */
    void gatherRows(Activations src, int[] rows, Activations dst);

    /** The end of a step: its activations may be reused (a GPU backend resets its workspace arena here). */
    /** Device memory this backend holds now (weights, KV cache, workspace), or -1 where it is not counted (the CPU). */
    default long heldBytes() {
        return -1;
    }

    default void endStep() {
    }

    @Override
    void close();
}

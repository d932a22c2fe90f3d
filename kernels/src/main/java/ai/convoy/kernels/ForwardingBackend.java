package ai.convoy.kernels;

/** A backend that passes every call to another; subclasses change the calls they care about. */
public abstract class ForwardingBackend implements Backend {
    protected final Backend inner;

    protected ForwardingBackend(Backend inner) {
        this.inner = inner;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public WeightMatrix matrix(HostTensor weight) {
        return inner.matrix(weight);
    }

    @Override
    public WeightMatrix matrix(QuantizedWeight weight) {
        return inner.matrix(weight);
    }

    @Override
    public WeightVector vector(HostTensor weight) {
        return inner.vector(weight);
    }

    @Override
    public Activations activations(int rows, int cols) {
        return inner.activations(rows, cols);
    }

    @Override
    public KvCache kvCache(int layers, int kvHeads, int headDim) {
        return inner.kvCache(layers, kvHeads, headDim);
    }

    @Override
    public long heldBytes() {
        return inner.heldBytes();
    }

    @Override
    public void endStep() {
        inner.endStep();
    }

    @Override
    public void write(Activations dst, float[] rowMajor) {
        inner.write(dst, rowMajor);
    }

    @Override
    public void read(Activations src, float[] rowMajor) {
        inner.read(src, rowMajor);
    }

    @Override
    public void readRow(Activations src, int row, float[] dst) {
        inner.readRow(src, row, dst);
    }

    @Override
    public void embed(WeightMatrix table, int[] ids, Activations out) {
        inner.embed(table, ids, out);
    }

    @Override
    public void rmsNorm(Activations x, WeightVector weight, float eps, Activations out) {
        inner.rmsNorm(x, weight, eps, out);
    }

    @Override
    public void matmul(Activations x, WeightMatrix w, Activations out) {
        inner.matmul(x, w, out);
    }

    @Override
    public void matmuls(Activations x, WeightMatrix[] weights, Activations[] outs) {
        inner.matmuls(x, weights, outs);
    }

    @Override
    public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
        inner.matmulAdd(x, w, acc);
    }

    @Override
    public void swiglu(Activations x, WeightMatrix gate, WeightMatrix up, Activations out) {
        inner.swiglu(x, gate, up, out);
    }

    @Override
    public void addBias(Activations x, WeightVector bias) {
        inner.addBias(x, bias);
    }

    @Override
    public void attention(KvCache cache, int layer, Activations q, Activations k, Activations v, TokenBatch batch, AttentionShape shape,
                          Activations out) {
        inner.attention(cache, layer, q, k, v, batch, shape, out);
    }

    @Override
    public void argmax(Activations scores, int[] ids, float[] largest) {
        inner.argmax(scores, ids, largest);
    }

    @Override
    public void sample(Activations scores, TokenPick[] picks, int[] ids, float[] largest) {
        inner.sample(scores, picks, ids, largest);
    }

    @Override
    public void gatherRows(Activations src, int[] rows, Activations dst) {
        inner.gatherRows(src, rows, dst);
    }

    @Override
    public void close() {
        inner.close();
    }
}

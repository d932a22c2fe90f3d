package ai.convoy.runtime.model;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.AttentionShape;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.kernels.TokenPick;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.WeightVector;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.Arrays;
import java.util.Objects;

/**
 * A Llama-family decoder, or a contiguous part of one, on one backend: the forward pass of a flat batch of token
 * rows in the order the reference implementation runs it. A part (a pipeline stage) holds layers
 * {@code firstLayer..lastLayer}, and the embeddings when it is the first part and the final norm and lm_head when
 * it is the last.
 */
public final class Transformer {
    private final ModelConfig config;
    private final Backend backend;
    private final WeightMatrix embedTokens;
    private final int firstLayer;
    private final Layer[] layers;
    private final WeightVector finalNorm;
    private final WeightMatrix lmHead;

    /** A linear layer: y = W x (+ b). */
    record Linear(WeightMatrix weight, WeightVector bias) {
    }

    /** gate and up have no biases: their products are combined as they are made. */
    record Layer(WeightVector inputNorm, Linear q, Linear k, Linear v, Linear o, WeightVector postAttentionNorm,
                 WeightMatrix gate, WeightMatrix up, Linear down, AttentionShape attention) {
    }

    private Transformer(ModelConfig config, Backend backend, WeightMatrix embedTokens, int firstLayer, Layer[] layers,
                        WeightVector finalNorm, WeightMatrix lmHead) {
        this.config = config;
        this.backend = backend;
        this.embedTokens = embedTokens;
        this.firstLayer = firstLayer;
        this.layers = layers;
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
    }

    /**
     * Binds the checkpoint's tensors to the backend, checking each one's shape against the config; linear weights
     * are read quantized when the checkpoint stores them so, or quantized one at a time as {@code options} ask.
     */
    public static Transformer load(ModelConfig config, Checkpoint checkpoint, Backend backend, QuantizationOptions options) {
        return loadPart(config, checkpoint, backend, options, 0, config.layers() - 1, true, true);
    }

    /** Loads layers {@code firstLayer..lastLayer} (none when first > last), and the embeddings and head if asked. */
    public static Transformer loadPart(ModelConfig config, Checkpoint checkpoint, Backend backend, QuantizationOptions options,
                                       int firstLayer, int lastLayer, boolean embedding, boolean head) {
        return build(config, new WeightBinder(checkpoint, backend, options), backend, firstLayer, lastLayer, embedding, head);
    }

    /**
     * A part with random weights of the config's shapes (linear layers NF4 unless {@code quantization} is NONE), for
     * measuring speed and memory without a checkpoint.
     */
    public static Transformer random(ModelConfig config, Backend backend, QuantizationOptions quantization, long seed, int firstLayer,
                                     int lastLayer, boolean embedding, boolean head) {
        return build(config, new RandomWeights(backend, quantization, seed), backend, firstLayer, lastLayer, embedding, head);
    }

    private static Transformer build(ModelConfig config, WeightSource bind, Backend backend, int firstLayer, int lastLayer,
                                     boolean embedding, boolean head) {
        if (firstLayer < 0 || lastLayer >= config.layers() || firstLayer > lastLayer + 1) {
            throw new IllegalArgumentException("layers " + firstLayer + ".." + lastLayer + " of " + config.layers());
        }
        int hidden = config.hiddenSize();
        int qDim = config.heads() * config.headDim();
        int kvDim = config.kvHeads() * config.headDim();
        int inter = config.intermediateSize();
        WeightMatrix embed = embedding || (head && config.tieWordEmbeddings())
                ? bind.dense("model.embed_tokens.weight", config.vocabSize(), hidden) : null;
        Layer[] layers = new Layer[lastLayer - firstLayer + 1];
        float scale = (float) (1.0 / Math.sqrt(config.headDim()));
        float[] ropeFrequencies = config.rope().inverseFrequencies(config.headDim());
        for (int j = 0; j < layers.length; j++) {
            int i = firstLayer + j;
            String p = "model.layers." + i + ".";
            layers[j] = new Layer(
                    bind.vector(p + "input_layernorm.weight", hidden),
                    bind.linear(p + "self_attn.q_proj", qDim, hidden),
                    bind.linear(p + "self_attn.k_proj", kvDim, hidden),
                    bind.linear(p + "self_attn.v_proj", kvDim, hidden),
                    bind.linear(p + "self_attn.o_proj", hidden, qDim),
                    bind.vector(p + "post_attention_layernorm.weight", hidden),
                    unbiased(config, bind.linear(p + "mlp.gate_proj", inter, hidden), p + "mlp.gate_proj"),
                    unbiased(config, bind.linear(p + "mlp.up_proj", inter, hidden), p + "mlp.up_proj"),
                    bind.linear(p + "mlp.down_proj", hidden, inter),
                    new AttentionShape(config.heads(), config.kvHeads(), config.headDim(), scale, config.slidingWindows()[i], ropeFrequencies));
        }
        WeightVector norm = null;
        WeightMatrix lmHead = null;
        if (head) {
            norm = bind.vector("model.norm.weight", hidden);
            if (config.tieWordEmbeddings()) {
                lmHead = embed;
            } else if (bind.hasLmHead()) {
                lmHead = bind.lmHead(config.vocabSize(), hidden);
            } else {
                throw ConvoyException.in(config.source(), "tie_word_embeddings is false but the checkpoint has no lm_head.weight");
            }
        }
        return new Transformer(config, backend, embedding ? embed : null, firstLayer, layers, norm, lmHead);
    }

    private static WeightMatrix unbiased(ModelConfig config, Linear linear, String name) {
        if (linear.bias() != null) {
            throw ConvoyException.in(config.source(), name + " has a bias, which the Llama family's feed-forward does not (mlp_bias is not supported)");
        }
        return linear.weight();
    }

    public ModelConfig config() {
        return config;
    }

    public Backend backend() {
        return backend;
    }

    /** A KV cache for this part's layers. */
    public KvCache newKvCache() {
        return backend.kvCache(layers.length, config.kvHeads(), config.headDim());
    }

    public int firstLayer() {
        return firstLayer;
    }

    public int layerCount() {
        return layers.length;
    }

    public boolean hasEmbedding() {
        return embedTokens != null;
    }

    public boolean hasHead() {
        return lmHead != null;
    }

    /** Bytes of weights held by the backend: matrices, norms and biases (tied embeddings counted once). */
    public long weightBytes() {
        long bytes = (embedTokens != null ? embedTokens.bytes() : 0) + (lmHead == null || lmHead == embedTokens ? 0 : lmHead.bytes())
                + (finalNorm != null ? finalNorm.bytes() : 0);
        for (Layer l : layers) {
            bytes += l.inputNorm().bytes() + l.postAttentionNorm().bytes();
            for (Linear lin : new Linear[] {l.q(), l.k(), l.v(), l.o(), l.down()}) {
                bytes += lin.weight().bytes() + (lin.bias() == null ? 0 : lin.bias().bytes());
            }
            bytes += l.gate().bytes() + l.up().bytes();
        }
        return bytes;
    }

    /** Bytes of weights a decode step reads: all but the embedding table, of which it reads a row per token. */
    public long bytesReadPerStep() {
        return weightBytes() - (embedTokens != null && embedTokens != lmHead ? embedTokens.bytes() : 0);
    }

    /**
     * Runs {@code tokens} (one per row of {@code batch}) through the model, storing their keys and values in
     * {@code cache}, and returns the logits of the rows listed in {@code logitRows}.
     */
    public float[][] forward(int[] tokens, TokenBatch batch, KvCache cache, int[] logitRows) {
        return forward(tokens, batch, cache, logitRows, new TokenPick[logitRows.length]).logits();
    }

    /** As {@link #forward(int[], TokenBatch, KvCache, int[])}, with a token picked here for each row that has a pick. */
    public HeadOutput forward(int[] tokens, TokenBatch batch, KvCache cache, int[] logitRows, TokenPick[] picks) {
        try {
            return head(runLayers(embed(tokens), batch, cache), logitRows, picks);
        } finally {
            backend.endStep();
        }
    }

    /** The embeddings of the tokens, one row each. */
    public Activations embed(int[] tokens) {
        if (embedTokens == null) {
            throw new IllegalStateException("this part of the model has no embeddings");
        }
        Activations x = backend.activations(tokens.length, config.hiddenSize());
        backend.embed(embedTokens, tokens, x);
        return x;
    }

    /** This part's layers over the hidden states {@code x} (updated in place and returned). */
    public Activations runLayers(Activations x, TokenBatch batch, KvCache cache) {
        int rows = x.rows();
        int hidden = config.hiddenSize();
        int qDim = config.heads() * config.headDim();
        int kvDim = config.kvHeads() * config.headDim();
        Activations normed = backend.activations(rows, hidden);
        Activations q = backend.activations(rows, qDim);
        Activations k = backend.activations(rows, kvDim);
        Activations v = backend.activations(rows, kvDim);
        Activations attended = backend.activations(rows, qDim);
        Activations gated = backend.activations(rows, config.intermediateSize());
        for (int i = 0; i < layers.length; i++) {
            Layer layer = layers[i];
            // attention block
            backend.rmsNorm(x, layer.inputNorm(), config.rmsNormEps(), normed);
            backend.matmuls(normed, new WeightMatrix[] {layer.q().weight(), layer.k().weight(), layer.v().weight()},
                    new Activations[] {q, k, v});
            addBias(q, layer.q());
            addBias(k, layer.k());
            addBias(v, layer.v());
            backend.attention(cache, i, q, k, v, batch, layer.attention(), attended);
            residual(attended, layer.o(), x);
            // feed-forward block
            backend.rmsNorm(x, layer.postAttentionNorm(), config.rmsNormEps(), normed);
            backend.swiglu(normed, layer.gate(), layer.up(), gated);
            residual(gated, layer.down(), x);
        }
        return x;
    }

    /**
     * Final norm and lm_head over the rows listed in {@code logitRows}: for each, the token its pick chooses, picked by
     * the backend where the logits are (the plain argmax by {@link Backend#argmax}, any other by {@link Backend#sample}),
     * or its logits where its pick is null.
     */
    public HeadOutput head(Activations x, int[] logitRows, TokenPick[] picks) {
        if (lmHead == null) {
            throw new IllegalStateException("this part of the model has no lm_head");
        }
        int hidden = config.hiddenSize();
        int n = logitRows.length;
        Activations selected = backend.activations(n, hidden);
        backend.gatherRows(x, logitRows, selected);
        Activations finalNormed = backend.activations(n, hidden);
        backend.rmsNorm(selected, finalNorm, config.rmsNormEps(), finalNormed);
        Activations logits = backend.activations(n, config.vocabSize());
        backend.matmul(finalNormed, lmHead, logits);
        int[] tokens = new int[n];
        Arrays.fill(tokens, -1);
        float[] largest = new float[n];
        TokenPick[] argmaxes = new TokenPick[n];
        TokenPick[] sampled = new TokenPick[n];
        for (int r = 0; r < n; r++) {
            if (picks[r] != null) {
                (picks[r].isArgmax() ? argmaxes : sampled)[r] = picks[r];
            }
        }
        if (Arrays.stream(argmaxes).anyMatch(Objects::nonNull)) {
            int[] ids = new int[n];
            backend.argmax(logits, ids, largest);
            keepPicked(argmaxes, ids, largest, tokens);
        }
        // after the argmax: sampling may overwrite its rows' scores
        if (Arrays.stream(sampled).anyMatch(Objects::nonNull)) {
            int[] ids = new int[n];
            backend.sample(logits, sampled, ids, largest);
            keepPicked(sampled, ids, largest, tokens);
        }
        float[][] out = new float[n][];
        for (int r = 0; r < n; r++) {
            if (picks[r] == null) {
                out[r] = new float[config.vocabSize()];
                backend.readRow(logits, r, out[r]);
            }
        }
        return new HeadOutput(out, tokens);
    }

    /**
     * tokens[r] = ids[r] for each row picked, or {@link HeadOutput#NOT_FINITE} where largest[r] shows a NaN or an
     * infinity among the row's scores.
     */
    private static void keepPicked(TokenPick[] picked, int[] ids, float[] largest, int[] tokens) {
        for (int r = 0; r < picked.length; r++) {
            if (picked[r] != null) {
                tokens[r] = Float.isFinite(largest[r]) ? ids[r] : HeadOutput.NOT_FINITE;
            }
        }
    }

    /** x += W in (+ b): a projection added into the residual stream. */
    private void residual(Activations in, Linear layer, Activations x) {
        backend.matmulAdd(in, layer.weight(), x);
        addBias(x, layer);
    }

    private void addBias(Activations out, Linear layer) {
        if (layer.bias() != null) {
            backend.addBias(out, layer.bias());
        }
    }
}

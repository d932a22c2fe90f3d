package ai.convoy.runtime.plan;

import ai.convoy.runtime.model.Architecture;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.quant.QuantizedSize;

/**
 * What a model occupies, piece by piece, as the loader allocates it: linear weights quantized as asked (or as
 * stored), embeddings and lm_head in the checkpoint's dtype unless lm_head is quantized too, norms and biases in
 * float32; the KV cache per layer and token; the activations of one step.
 */
public record Footprint(ModelConfig config, QuantizationOptions quantization, int storedBytesPerValue) {

    public static Footprint of(ModelConfig config, QuantizationOptions quantization) {
        int stored = switch (config.dtype()) {
            case "float32" -> 4;
            default -> 2;
        };
        return new Footprint(config, quantization, stored);
    }

    private long linear(long rows, long cols, boolean quantized) {
        QuantizationOptions q = quantization;
        return QuantizedSize.bytes(quantized ? q.method() : QuantizationOptions.Method.NONE, rows, cols, q.blocksize(),
                q.doubleQuant(), storedBytesPerValue);
    }

    /** One decoder layer's weights: seven linear layers, two norms, and Qwen2's q/k/v biases. */
    public long layerWeights() {
        ModelConfig c = config;
        long hidden = c.hiddenSize();
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        long inter = c.intermediateSize();
        long bytes = linear(q, hidden, true) + 2 * linear(kv, hidden, true) + linear(hidden, q, true)
                + 2 * linear(inter, hidden, true) + linear(hidden, inter, true) + 2 * 4 * hidden;
        if (c.architecture() == Architecture.QWEN2) {
            bytes += 4 * (q + 2 * kv);
        }
        return bytes;
    }

    public long embedding() {
        return (long) config.vocabSize() * config.hiddenSize() * storedBytesPerValue;
    }

    /** The final norm and lm_head; a tied lm_head is the embedding, so it costs nothing where the embedding is. */
    public long head(boolean withEmbedding) {
        long norm = 4L * config.hiddenSize();
        if (config.tieWordEmbeddings()) {
            return norm + (withEmbedding ? 0 : embedding());
        }
        return norm + linear(config.vocabSize(), config.hiddenSize(), quantization.quantizeLmHead());
    }

    public long weights() {
        return embedding() + config.layers() * layerWeights() + head(true);
    }

    /** Keys and values of one layer for {@code sequences} sequences of {@code context} positions. */
    public long kvCachePerLayer(int sequences, int context, int bytesPerValue) {
        return 2L * sequences * context * config.kvHeads() * config.headDim() * bytesPerValue;
    }

    /** float32 activations of one step of {@code tokens} token rows through a layer. */
    public long workspace(int tokens) {
        ModelConfig c = config;
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        return 4L * tokens * (3L * c.hiddenSize() + 2 * q + 2 * kv + 2L * c.intermediateSize());
    }

    /** float32 logits of one step, where lm_head runs. */
    public long logits(int sequences) {
        return 4L * sequences * config.vocabSize();
    }
}

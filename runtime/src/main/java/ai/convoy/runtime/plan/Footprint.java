package ai.convoy.runtime.plan;

import ai.convoy.runtime.model.Architecture;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.quant.QuantizedSize;
import java.util.Locale;

/**
 * What a model occupies, piece by piece, as the loader allocates it: linear weights quantized as asked (or as
 * stored), embeddings and lm_head in the checkpoint's dtype unless lm_head is quantized too, norms and biases in
 * float32; the KV cache per layer and token; the activations of one step.
 */
public record Footprint(ModelConfig config, QuantizationOptions quantization, int storedBytesPerValue) {

    /** A bitsandbytes checkpoint is planned as stored: its linear weights load that way whatever the options ask. */
    public static Footprint of(ModelConfig config, QuantizationOptions quantization) {
        int stored = switch (config.dtype()) {
            case "float32" -> 4;
            default -> 2;
        };
        QuantizationOptions q = config.storedQuantization().equals("none") ? quantization
                : quantization.withMethod(QuantizationOptions.Method.valueOf(config.storedQuantization().toUpperCase(Locale.ROOT)));
        return new Footprint(config, q, stored);
    }

    /** On a CUDA GPU four-bit block scales are float32: the backend expands double-quantized ones on upload. */
    private long linear(long rows, long cols, boolean quantized, boolean cuda) {
        QuantizationOptions q = quantization;
        return QuantizedSize.bytes(quantized ? q.method() : QuantizationOptions.Method.NONE, rows, cols, q.blocksize(),
                q.doubleQuant() && !cuda, storedBytesPerValue);
    }

    /** One decoder layer's weights, on a CUDA GPU or elsewhere: seven linear layers, two norms, Qwen2's q/k/v biases. */
    public long layerWeights(boolean cuda) {
        ModelConfig c = config;
        long hidden = c.hiddenSize();
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        long inter = c.intermediateSize();
        long bytes = linear(q, hidden, true, cuda) + 2 * linear(kv, hidden, true, cuda) + linear(hidden, q, true, cuda)
                + 2 * linear(inter, hidden, true, cuda) + linear(hidden, inter, true, cuda) + 2 * 4 * hidden;
        if (c.architecture() == Architecture.QWEN2) {
            bytes += 4 * (q + 2 * kv);
        }
        return bytes;
    }

    public long embedding() {
        return (long) config.vocabSize() * config.hiddenSize() * storedBytesPerValue;
    }

    /** The final norm and lm_head; a tied lm_head is the embedding, so it costs nothing where the embedding is. */
    public long head(boolean withEmbedding, boolean cuda) {
        long norm = 4L * config.hiddenSize();
        if (config.tieWordEmbeddings()) {
            return norm + (withEmbedding ? 0 : embedding());
        }
        return norm + linear(config.vocabSize(), config.hiddenSize(), quantization.quantizeLmHead(), cuda);
    }

    /** All weights in one place: on a CUDA GPU, or elsewhere (as stored). */
    public long weights(boolean cuda) {
        return embedding() + config.layers() * layerWeights(cuda) + head(true, cuda);
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

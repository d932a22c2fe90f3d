package ai.convoy.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.TokenBatch;
import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Rope;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;
import java.util.stream.IntStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Test;

/**
 * The parity fixtures can tell the features apart: running a model without its llama3 rope scaling, its
 * sliding window or its biases moves the logits far beyond the parity bound.
 */
class FixtureSensitivityTest {

    @TempDir
    Path tmp;

    private static double errorWith(ParityModels.Reference ref, UnaryOperator<ModelConfig> change, Path weights) {
        ModelConfig config = change.apply(ModelConfig.read(ref.dir()));
        try (Checkpoint checkpoint = Checkpoint.open(weights)) {
            Transformer t = Transformer.load(config, checkpoint, new CpuBackend(), QuantizationOptions.NONE);
            int n = ref.promptIds().length;
            float[][] logits = t.forward(ref.promptIds(), new TokenBatch(new int[n], IntStream.range(0, n).toArray()),
                    openedCache(t, n), IntStream.range(0, n).toArray());
            Npy.Matrix expected = Npy.readFloat32(ref.logits());
            float[] flat = new float[n * expected.cols()];
            for (int r = 0; r < n; r++) {
                System.arraycopy(logits[r], 0, flat, r * expected.cols(), expected.cols());
            }
            return ParityModels.relativeL2(flat, expected.data());
        }
    }

    private static ai.convoy.kernels.KvCache openedCache(Transformer t, int capacity) {
        ai.convoy.kernels.KvCache cache = t.newKvCache();
        cache.openSlot(capacity);
        return cache;
    }

    private static ModelConfig withRope(ModelConfig c, Rope rope) {
        return new ModelConfig(c.source(), c.architecture(), c.vocabSize(), c.hiddenSize(), c.intermediateSize(), c.layers(),
                c.heads(), c.kvHeads(), c.headDim(), c.maxPositions(), c.rmsNormEps(), c.tieWordEmbeddings(), rope,
                c.slidingWindows(), c.dtype(), c.bosTokenId(), c.eosTokenIds(), c.storedQuantization());
    }

    private static ModelConfig withoutWindows(ModelConfig c) {
        return new ModelConfig(c.source(), c.architecture(), c.vocabSize(), c.hiddenSize(), c.intermediateSize(), c.layers(),
                c.heads(), c.kvHeads(), c.headDim(), c.maxPositions(), c.rmsNormEps(), c.tieWordEmbeddings(), c.rope(),
                new int[c.layers()], c.dtype(), c.bosTokenId(), c.eosTokenIds(), c.storedQuantization());
    }

    @Test
    void asIsTheModelsMatch() {
        for (ParityModels.Reference ref : ParityModels.all()) {
            double e = errorWith(ref, c -> c, ref.dir());
            assertTrue(e < 1e-4, ref + ": " + e);
        }
    }

    @Test
    void llama3RopeScalingMatters() {
        ParityModels.Reference ref = ParityModels.named("llama-gqa-rope3-sharded");
        double e = errorWith(ref, c -> withRope(c, Rope.unscaled(c.rope().theta())), ref.dir());
        assertTrue(e > 1e-2, "without llama3 scaling: " + e);
    }

    @Test
    void slidingWindowMatters() {
        ParityModels.Reference ref = ParityModels.named("mistral-swa");
        double e = errorWith(ref, FixtureSensitivityTest::withoutWindows, ref.dir());
        assertTrue(e > 1e-2, "without the sliding window: " + e);
    }

    @Test
    void qwenBiasesMatter() throws IOException {
        // renaming "*.bias" to "*.biaz" in the header (same length) hides the biases from the loader
        ParityModels.Reference ref = ParityModels.named("qwen2-bias");
        byte[] file = Files.readAllBytes(ref.dir().resolve(Checkpoint.SINGLE_FILE));
        String latin = new String(file, StandardCharsets.ISO_8859_1).replace(".bias\"", ".biaz\"");
        Files.write(tmp.resolve(Checkpoint.SINGLE_FILE), latin.getBytes(StandardCharsets.ISO_8859_1));
        double e = errorWith(ref, c -> c, tmp);
        assertTrue(e > 1e-2, "without biases: " + e);
    }
}

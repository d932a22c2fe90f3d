package ai.convoy.runtime.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.pipeline.PipelineStage;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Perplexity against transformers' own logits of the parity prompts (ops/parity/make_models.py). */
class PerplexityTest {

    /** exp(mean -log softmax) of the prompt's next tokens, from the recorded logits. */
    private static double reference(ParityModels.Reference ref, int from) {
        Npy.Matrix logits = Npy.readFloat32(ref.logits());
        int[] ids = ref.promptIds();
        double nll = 0;
        for (int p = from; p < ids.length - 1; p++) {
            float[] row = new float[logits.cols()];
            System.arraycopy(logits.data(), p * logits.cols(), row, 0, row.length);
            nll += Perplexity.negativeLogLikelihood(row, ids[p + 1]);
        }
        return Math.exp(nll / (ids.length - 1 - from));
    }

    @Test
    void oneWindowMatchesTransformersLogits() {
        for (String name : List.of("qwen2-bias", "llama-gqa-rope3-sharded", "mistral-swa")) {
            ParityModels.Reference ref = ParityModels.named(name);
            try (Model model = Model.open(ref.dir(), new CpuBackend()); PipelineStage stage = new PipelineStage(model.transformer())) {
                int[] ids = ref.promptIds();
                Perplexity.Result r = Perplexity.of(List.of(stage), ids, ids.length, ids.length, n -> { });
                assertEquals(ids.length - 1, r.scoredTokens());
                assertEquals(reference(ref, 0), r.perplexity(), 1e-3 * r.perplexity(), name);
            }
        }
    }

    @Test
    void slidingWindowsScoreEachTokenOnceWithTheirOwnContext() {
        ParityModels.Reference ref = ParityModels.named("qwen2-bias");
        try (Model model = Model.open(ref.dir(), new CpuBackend()); PipelineStage stage = new PipelineStage(model.transformer())) {
            int[] ids = ref.promptIds();
            List<Long> progress = new ArrayList<>();
            Perplexity.Result windows = Perplexity.of(List.of(stage), ids, 8, 4, progress::add);
            assertEquals(ids.length - 1, windows.scoredTokens());
            assertEquals(List.of(7L, 11L, 15L, 16L), progress);
            // the first window's tokens have the same context as in one window: their share of the sum is the same
            Perplexity.Result whole = Perplexity.of(List.of(stage), ids, ids.length, ids.length, n -> { });
            assertTrue(Math.abs(Math.log(windows.perplexity()) - Math.log(whole.perplexity())) > 1e-6,
                    "shorter context changes the later tokens' scores");
            int[] firstWindow = java.util.Arrays.copyOf(ids, 8);
            Perplexity.Result first = Perplexity.of(List.of(stage), firstWindow, 8, 8, n -> { });
            Perplexity.Result prefix = Perplexity.of(List.of(stage), firstWindow, 8, 4, n -> { });
            assertEquals(first.perplexity(), prefix.perplexity(), 1e-9);
        }
    }

    @Test
    void badWindowsAreRefusedByName() {
        assertThrows(ConvoyException.class, () -> Perplexity.validate(1, 8, 4, 256));
        assertTrue(assertThrows(ConvoyException.class, () -> Perplexity.validate(10, 1, 1, 256)).getMessage().contains("--context"));
        assertTrue(assertThrows(ConvoyException.class, () -> Perplexity.validate(10, 8, 9, 256)).getMessage().contains("--stride"));
        assertTrue(assertThrows(ConvoyException.class, () -> Perplexity.validate(10, 512, 9, 256)).getMessage().contains("max_position"));
    }

    @Test
    void nonFiniteLogitsStopTheRun() {
        float[] logits = {0f, Float.NaN, 1f};
        assertThrows(ConvoyException.class, () -> Perplexity.negativeLogLikelihood(logits, 0));
    }
}

package ai.convoy.runtime.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Stages on separate backends, chained by hand, give the whole model's logits bit for bit. */
class PipelineStageTest {

    @Test
    void threeStagesEqualTheWholeModelOverPrefillAndDecode() {
        for (ParityModels.Reference ref : ParityModels.all()) {
            ModelConfig c = ModelConfig.read(ref.dir());
            try (Checkpoint ck = Checkpoint.open(ref.dir())) {
                int n = c.layers();
                QuantizationOptions q = QuantizationOptions.NONE;
                PipelineStage whole = new PipelineStage(Transformer.load(c, ck, new CpuBackend(), q));
                // first stage: embeddings only; middle: all layers; last: head only (the extremes of a split)
                List<PipelineStage> parts = List.of(
                        new PipelineStage(Transformer.loadPart(c, ck, new CpuBackend(), q, 0, -1, true, false)),
                        new PipelineStage(Transformer.loadPart(c, ck, new CpuBackend(), q, 0, n / 2 - 1 + (n == 1 ? 1 : 0), false, false)),
                        new PipelineStage(Transformer.loadPart(c, ck, new CpuBackend(), q, n / 2 + (n == 1 ? 1 : 0), n - 1, false, true)));
                int[] prompt = ref.promptIds();
                long seq = 42;
                StageChains.assertPartsEqualWhole(whole, parts, prompt, c.vocabSize(), seq, ref.toString());
                MicroBatch prefill = new MicroBatch(1, SequenceChanges.NONE, IntStream.range(0, prompt.length).mapToLong(i -> seq).toArray(),
                        IntStream.range(0, prompt.length).toArray(), prompt, null, IntStream.range(0, prompt.length).toArray());
                MicroBatch closing = new MicroBatch(9, new SequenceChanges(new long[0], new int[0], new long[] {seq}),
                        new long[0], new int[0], new int[0], null, new int[0]);
                assertEquals(0, StageChains.chain(parts, closing).length, "a changes-only batch runs no rows");
                assertEquals(0, parts.get(1).openSequences());
                assertThrows(IllegalStateException.class, () -> parts.get(1).run(prefill), "closed sequences are refused");
                parts.get(0).open(seq, 8);
                parts.get(0).open(seq, 8);
                assertEquals(1, parts.get(0).openSequences(), "opening twice opens once");
            }
        }
    }

    @Test
    void hiddenStatesRoundTripAndRejectBadBytes() {
        HiddenStates h = new HiddenStates(2, 3, new float[] {1, -2, 3.5f, 0, Float.MIN_VALUE, -0f});
        assertArrayEquals(h.data(), HiddenStates.fromBytes(h.toBytes()).data());
        byte[] bytes = h.toBytes();
        assertThrows(IllegalArgumentException.class, () -> HiddenStates.fromBytes(java.util.Arrays.copyOf(bytes, bytes.length - 4)));
    }
}

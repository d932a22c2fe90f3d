package ai.convoy.runtime.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/** Stages chained by hand, as the coordinator chains them, and the check that a split model equals the whole one. */
final class StageChains {
    private StageChains() {
    }

    /** Runs the batch through the stages in turn, the hidden states through their wire form as between hosts. */
    static float[][] chain(List<PipelineStage> stages, MicroBatch batch) {
        PipelineStage.Result r = null;
        for (PipelineStage s : stages) {
            r = s.run(batch);
            if (r.next() != null) {
                batch = r.next().hidden() == null ? r.next() : r.next().withHidden(HiddenStates.fromBytes(r.next().hidden().toBytes()));
            }
        }
        return r.head().logits();
    }

    /**
     * Opens {@code sequence} on the whole model and on its parts, then checks that a prefill of {@code prompt} and five
     * decode steps of random tokens give the same logits bit for bit.
     */
    static void assertPartsEqualWhole(PipelineStage whole, List<PipelineStage> parts, int[] prompt, int vocab, long sequence, String what) {
        whole.open(sequence, 64);
        parts.forEach(p -> p.open(sequence, 64));
        MicroBatch prefill = new MicroBatch(1, SequenceChanges.NONE, IntStream.range(0, prompt.length).mapToLong(i -> sequence).toArray(),
                IntStream.range(0, prompt.length).toArray(), prompt, null, IntStream.range(0, prompt.length).toArray());
        float[][] expected = whole.run(prefill).head().logits();
        float[][] actual = chain(parts, prefill);
        for (int r = 0; r < prompt.length; r++) {
            assertArrayEquals(expected[r], actual[r], what + " prefill row " + r);
        }
        SplittableRandom random = new SplittableRandom(3);
        for (int step = 0; step < 5; step++) {
            MicroBatch decode = new MicroBatch(2 + step, SequenceChanges.NONE, new long[] {sequence}, new int[] {prompt.length + step},
                    new int[] {random.nextInt(vocab)}, null, new int[] {0});
            assertArrayEquals(whole.run(decode).head().logits()[0], chain(parts, decode)[0], what + " decode step " + step);
        }
    }
}

package ai.convoy.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.model.HeadOutput;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

class SequenceStateTest {

    private static HeadOutput picked(int token) {
        return new HeadOutput(new float[1][], new int[] {token});
    }

    @Test
    void sequencesTakeDevicePicksOrPickFromTheirLogits() {
        SequenceState greedy = new SequenceState(new int[] {1, 2}, SamplingParams.GREEDY.withMaxNewTokens(3).withStopTokenIds(List.of(9)), 100);
        assertTrue(greedy.nextPick().isArgmax());
        assertEquals(5, greedy.accept(picked(5), 0));
        assertEquals(9, greedy.accept(picked(9), 0));
        assertEquals(Generator.FinishReason.STOP_TOKEN, greedy.finished());
        assertEquals(List.of(5, 9), java.util.Arrays.stream(greedy.generatedTokens()).boxed().toList());

        // a repetition penalty changes the scores before the argmax: the pick carries the tokens seen so far
        SequenceState penalized = new SequenceState(new int[] {2}, new SamplingParams(0f, 0, 1f, 1.3f, OptionalLong.empty(), 4, List.of()), 100);
        assertFalse(penalized.nextPick().isArgmax());
        assertArrayEquals(new int[] {2}, penalized.nextPick().seen());
        assertEquals(0, penalized.accept(new HeadOutput(new float[][] {{2f, 1.9f, 0f}}, new int[] {-1}), 0));
        // token 0 is now in the history: 2 / 1.3 < 1.9
        assertArrayEquals(new int[] {0, 2}, penalized.nextPick().seen());
        assertEquals(1, penalized.accept(new HeadOutput(new float[][] {{2f, 1.9f, 0f}}, new int[] {-1}), 0));

        // a sampled sequence's n-th pick is its n-th draw: asked again before a token comes, the same
        SequenceState sampled = new SequenceState(new int[] {3}, new SamplingParams(0.8f, 40, 0.95f, 1f, OptionalLong.of(11), 4, List.of()), 100);
        assertEquals(sampled.nextPick().uniform(), sampled.nextPick().uniform());
        double first = sampled.nextPick().uniform();
        sampled.accept(picked(7), 0);
        assertNotEquals(first, sampled.nextPick().uniform());
    }
}

package ai.convoy.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.convoy.kernels.TokenPick;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import java.util.List;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static SamplingParams params(float temperature, int topK, float topP, float penalty, long seed) {
        return new SamplingParams(temperature, topK, topP, penalty, OptionalLong.of(seed), 16, List.of());
    }

    @Test
    void theNthDrawIsTheSeedsNthNumber() {
        for (long seed : new long[] {0, 42, -7, Long.MAX_VALUE}) {
            SplittableRandom reference = new SplittableRandom(seed);
            for (int draw = 0; draw < 50; draw++) {
                assertEquals(reference.nextDouble(), Sampler.uniform(seed, draw), "seed " + seed + " draw " + draw);
            }
        }
    }

    @Test
    void aDrawIsTheSameHoweverOftenAskedAndSeedsDiffer() {
        float[] logits = new float[200];
        int[] a = new int[30];
        int[] again = new int[30];
        int[] other = new int[30];
        Sampler sa = new Sampler(params(1f, 0, 1f, 1f, 42));
        Sampler sb = new Sampler(params(1f, 0, 1f, 1f, 43));
        for (int i = 0; i < 30; i++) {
            a[i] = sa.next(i, logits, new int[0], 0);
            again[i] = sa.next(i, logits, new int[0], 0);
            other[i] = sb.next(i, logits, new int[0], 0);
        }
        assertArrayEquals(a, again);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(other));
    }

    @Test
    void picksCarryTheParametersAndThePenalizedHistory() {
        TokenPick p = new Sampler(params(0.8f, 40, 0.95f, 1.3f, 5)).pick(3, new int[] {4, 9, 4, 2, 7}, 4);
        assertEquals(0.8f, p.temperature());
        assertEquals(40, p.topK());
        assertEquals(0.95f, p.topP());
        assertEquals(1.3f, p.repetitionPenalty());
        assertEquals(Sampler.uniform(5, 3), p.uniform());
        assertArrayEquals(new int[] {2, 4, 9}, p.seen(), "the distinct tokens of the history's first four");
        // greedy without a penalty is the plain argmax the backends make apart
        assertEquals(true, new Sampler(SamplingParams.GREEDY).pick(0, new int[] {1}, 1).isArgmax());
    }

    @Test
    void refusesLogitsThatAreNotFinite() {
        Sampler s = new Sampler(params(1f, 0, 1f, 1f, 1));
        assertThrows(NonFiniteLogitsException.class, () -> s.next(0, new float[] {0f, Float.NaN}, new int[0], 0));
        assertThrows(NonFiniteLogitsException.class, () -> s.next(0, new float[] {Float.POSITIVE_INFINITY, 0f}, new int[0], 0));
    }
}

package ai.convoy.runtime.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static SamplingParams params(float temperature, int topK, float topP, float penalty, long seed) {
        return new SamplingParams(temperature, topK, topP, penalty, OptionalLong.of(seed), 16, List.of());
    }

    private static float[] randomLogits(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) {
            l[i] = (float) (r.nextGaussian() * 2);
        }
        return l;
    }

    @Test
    void greedyTakesTheFirstLargest() {
        assertEquals(1, new Sampler(SamplingParams.GREEDY).next(new float[] {0f, 3f, 3f, -1f}, new int[0], 0));
    }

    @Test
    void topKOfOneIsGreedy() {
        for (int seed = 0; seed < 20; seed++) {
            float[] logits = randomLogits(seed, 50);
            assertEquals(Sampler.argmax(logits), new Sampler(params(1.5f, 1, 1f, 1f, seed)).next(logits, new int[0], 0));
        }
    }

    @Test
    void sameSeedSameTokensDifferentSeedDifferentTokens() {
        float[] logits = new float[200];
        int[] a = new int[30];
        int[] b = new int[30];
        int[] c = new int[30];
        Sampler sa = new Sampler(params(1f, 0, 1f, 1f, 42));
        Sampler sb = new Sampler(params(1f, 0, 1f, 1f, 42));
        Sampler sc = new Sampler(params(1f, 0, 1f, 1f, 43));
        for (int i = 0; i < 30; i++) {
            a[i] = sa.next(logits, new int[0], 0);
            b[i] = sb.next(logits, new int[0], 0);
            c[i] = sc.next(logits, new int[0], 0);
        }
        assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
    }

    @Test
    void temperatureSamplesTheSoftmax() {
        // logits ln(1), ln(2), ln(5) at temperature 1: probabilities 1/8, 2/8, 5/8
        float[] logits = {0f, (float) Math.log(2), (float) Math.log(5)};
        Sampler s = new Sampler(params(1f, 0, 1f, 1f, 7));
        int[] counts = new int[3];
        int n = 40_000;
        for (int i = 0; i < n; i++) {
            counts[s.next(logits, new int[0], 0)]++;
        }
        assertEquals(1 / 8.0, counts[0] / (double) n, 0.01);
        assertEquals(2 / 8.0, counts[1] / (double) n, 0.01);
        assertEquals(5 / 8.0, counts[2] / (double) n, 0.01);
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        float[] probs = {0.5f, 0.3f, 0.15f, 0.05f};
        float[] logits = new float[4];
        for (int i = 0; i < 4; i++) {
            logits[i] = (float) Math.log(probs[i]);
        }
        float[] kept = logits.clone();
        Sampler.keepTopP(kept, 0.75f);
        assertTrue(kept[0] > Float.NEGATIVE_INFINITY && kept[1] > Float.NEGATIVE_INFINITY);
        assertEquals(Float.NEGATIVE_INFINITY, kept[2]);
        assertEquals(Float.NEGATIVE_INFINITY, kept[3]);
        float[] one = logits.clone();
        Sampler.keepTopP(one, 0.1f);
        assertEquals(1, countFinite(one), "at least the most likely token stays");
    }

    @Test
    void topKKeepsTheKLargest() {
        float[] l = {5f, 1f, 4f, 2f, 3f};
        Sampler.keepTopK(l, 3);
        assertEquals(3, countFinite(l));
        assertEquals(Float.NEGATIVE_INFINITY, l[1]);
        assertEquals(Float.NEGATIVE_INFINITY, l[3]);
    }

    @Test
    void repetitionPenaltyDividesPositivesAndMultipliesNegatives() {
        float[] l = {2f, -2f, 1.9f};
        Sampler.penalizeRepeats(l, new int[] {0, 1, 0}, 3, 2f);
        assertEquals(1f, l[0]);
        assertEquals(-4f, l[1]);
        assertEquals(1.9f, l[2]);
        // greedy decoding with the penalty avoids the repeated token
        assertEquals(2, new Sampler(params(0f, 0, 1f, 2f, 1)).next(new float[] {2f, -2f, 1.9f}, new int[] {0}, 1));
    }

    private static int countFinite(float[] l) {
        int n = 0;
        for (float v : l) {
            if (v > Float.NEGATIVE_INFINITY) {
                n++;
            }
        }
        return n;
    }
}

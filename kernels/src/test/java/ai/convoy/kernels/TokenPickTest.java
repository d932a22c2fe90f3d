package ai.convoy.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TokenPickTest {
    private static final int[] NONE = new int[0];

    private static TokenPick pick(float temperature, int topK, float topP, double uniform) {
        return new TokenPick(temperature, topK, topP, 1f, uniform, NONE);
    }

    private static float[] logOf(double... probabilities) {
        float[] l = new float[probabilities.length];
        for (int i = 0; i < l.length; i++) {
            l[i] = (float) Math.log(probabilities[i]);
        }
        return l;
    }

    @Test
    void greedyTakesTheFirstLargestAndTheUniformPicksByCumulativeShare() {
        assertEquals(1, TokenPick.argmax().pick(new float[] {0f, 3f, 3f, -1f}, 0, 4));
        // shares 1/8, 2/8, 5/8 in index order: [0, .125) -> 0, [.125, .375) -> 1, [.375, 1) -> 2
        float[] l = logOf(1, 2, 5);
        assertEquals(0, pick(1f, 0, 1f, 0.1).pick(l, 0, 3));
        assertEquals(1, pick(1f, 0, 1f, 0.13).pick(l, 0, 3));
        assertEquals(1, pick(1f, 0, 1f, 0.37).pick(l, 0, 3));
        assertEquals(2, pick(1f, 0, 1f, 0.38).pick(l, 0, 3));
        assertEquals(2, pick(1f, 0, 1f, 0.999).pick(l, 0, 3));
        // a row of a larger array
        assertEquals(1, pick(1f, 0, 1f, 0.2).pick(new float[] {9f, 0f, l[0], l[1], l[2]}, 2, 3));
    }

    @Test
    void temperatureSharpensOrFlattensTheShares() {
        // at temperature 0.5 the shares of e^0 and e^ln3 become 1 : 9, so u = 0.15 falls on the second token; at 2 they
        // become 1 : sqrt(3) (0.366), so u = 0.3 falls on the first
        float[] l = {0f, (float) Math.log(3)};
        assertEquals(1, pick(0.5f, 0, 1f, 0.15).pick(l, 0, 2));
        assertEquals(0, pick(1f, 0, 1f, 0.2).pick(l, 0, 2));
        assertEquals(0, pick(2f, 0, 1f, 0.3).pick(l, 0, 2));
    }

    @Test
    void topKKeepsTheKLargestAndTheirTies() {
        float[] l = {5f, 1f, 4f, 2f, 3f};
        // top-3 keeps 5, 4, 3: whatever the draw, tokens 1 and 3 never come
        for (double u = 0; u < 1; u += 0.01) {
            int t = pick(1f, 3, 1f, u).pick(l, 0, 5);
            assertTrue(t == 0 || t == 2 || t == 4, "u " + u + ": " + t);
        }
        assertEquals(4, pick(1f, 3, 1f, 0.999).pick(l, 0, 5), "the last kept token in index order ends the range");
        // top-2 of {2, 7, 7, 1}: the tie at the second place keeps both sevens
        assertEquals(2, pick(1f, 2, 1f, 0.99).pick(new float[] {2f, 7f, 7f, 1f}, 0, 4));
        assertEquals(0, pick(1f, 3, 1f, 0.0).pick(new float[] {2f, 7f, 7f, 1f}, 0, 4));
    }

    @Test
    void topPKeepsTheMostLikelyTokensUntilTheirShareReachesP() {
        // 0.5 + 0.3 reaches 0.75: tokens 2 and 3 go, so the highest draw lands on token 1
        float[] l = logOf(0.15, 0.5, 0.3, 0.05);
        assertEquals(2, pick(1f, 0, 0.75f, 0.999).pick(l, 0, 4));
        assertEquals(1, pick(1f, 0, 0.75f, 0.0).pick(l, 0, 4));
        assertEquals(1, pick(1f, 0, 0.1f, 0.999).pick(l, 0, 4), "the most likely token always stays");
        // equal shares: the lower index comes first, so top-p 0.5 of four equal tokens keeps tokens 0 and 1
        float[] flat = new float[4];
        assertEquals(1, pick(1f, 0, 0.5f, 0.999).pick(flat, 0, 4));
        assertEquals(0, pick(1f, 0, 0.5f, 0.49).pick(flat, 0, 4));
    }

    @Test
    void topPAgreesWithSortingTheSharesOfScoresOfEitherSign() {
        long seed = 19;
        SplittableRandom random = new SplittableRandom(seed);
        for (int trial = 0; trial < 200; trial++) {
            int n = 2 + random.nextInt(300);
            float[] l = new float[n];
            for (int i = 0; i < n; i++) {
                l[i] = random.nextInt(3) == 0 ? random.nextInt(-3, 4) : (float) (random.nextGaussian() * 2);
            }
            float topP = (float) random.nextDouble(0.05, 1);
            double u = random.nextDouble();
            assertEquals(straightforwardTopP(l, topP, u), pick(1f, 0, topP, u).pick(l, 0, n), "seed " + seed + " trial " + trial);
        }
    }

    /** Top-p by a boxed sort on (score descending, index ascending), then the draw in index order. */
    private static int straightforwardTopP(float[] l, float p, double u) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : l) {
            max = Math.max(max, v);
        }
        float[] w = new float[l.length];
        double total = 0;
        for (int i = 0; i < l.length; i++) {
            w[i] = (float) Math.exp(l[i] - max);
            total += w[i];
        }
        Integer[] order = new Integer[l.length];
        for (int i = 0; i < l.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> l[a] != l[b] ? Float.compare(l[b], l[a]) : Integer.compare(a, b));
        boolean[] kept = new boolean[l.length];
        double cumulative = 0;
        for (int i : order) {
            if (cumulative < p * total) {
                kept[i] = true;
                cumulative += w[i];
            }
        }
        double keptTotal = 0;
        for (int i = 0; i < l.length; i++) {
            keptTotal += kept[i] ? w[i] : 0;
        }
        double running = 0;
        int last = -1;
        for (int i = 0; i < l.length; i++) {
            if (kept[i] && w[i] > 0) {
                running += w[i];
                last = i;
                if (u * keptTotal < running) {
                    return i;
                }
            }
        }
        return last;
    }

    @Test
    void repetitionPenaltyDividesPositivesAndMultipliesNegativesOnce() {
        TokenPick penalized = new TokenPick(0f, 0, 1f, 2f, 0, new int[] {0, 1, 0});
        assertArrayEquals(new int[] {0, 1}, penalized.seen());
        assertArrayEquals(new float[] {1f, -4f, 1.9f}, penalized.penalized(new float[] {2f, -2f, 1.9f}, 0, 3));
        assertEquals(2, penalized.pick(new float[] {2f, -2f, 1.9f}, 0, 3), "greedy with the penalty avoids the repeated token");
        assertEquals(0, new TokenPick(0f, 0, 1f, 1f, 0, new int[] {0}).seen().length, "no penalty, nothing to remember");
    }

    @Test
    void kthLargestKeyAgreesWithSorting() {
        long seed = 7;
        SplittableRandom random = new SplittableRandom(seed);
        for (int trial = 0; trial < 100; trial++) {
            int n = 1 + random.nextInt(500);
            float[] s = new float[n];
            for (int i = 0; i < n; i++) {
                // negatives, zeros of both signs, ties and a wide range of magnitudes
                s[i] = switch (random.nextInt(4)) {
                    case 0 -> random.nextInt(5) - 2;
                    case 1 -> random.nextBoolean() ? 0f : -0f;
                    default -> (float) (random.nextGaussian() * Math.pow(10, random.nextInt(-3, 4)));
                };
            }
            int k = 1 + random.nextInt(n);
            float[] sorted = s.clone();
            Arrays.sort(sorted);
            assertEquals(TokenPick.orderKey(sorted[n - k]), TokenPick.kthLargestKey(s, k), "seed " + seed + " trial " + trial);
        }
    }

    @Test
    void sharesOfManyDrawsMatchTheFilteredSoftmax() {
        // logits ln 1..ln 6, temperature 1, top-k 4 (keeps 3..6), top-p 0.7 of those (6/18 + 5/18 + 4/18 = 0.83 reaches it,
        // 6/18 + 5/18 = 0.61 does not): tokens 3, 4, 5 in shares 4 : 5 : 6
        float[] l = logOf(1, 2, 3, 4, 5, 6);
        int[] counts = new int[6];
        int n = 30_000;
        for (int i = 0; i < n; i++) {
            counts[pick(1f, 4, 0.7f, (i + 0.5) / n).pick(l, 0, 6)]++;
        }
        assertEquals(0, counts[0] + counts[1] + counts[2]);
        assertEquals(4 / 15.0, counts[3] / (double) n, 1e-3);
        assertEquals(5 / 15.0, counts[4] / (double) n, 1e-3);
        assertEquals(6 / 15.0, counts[5] / (double) n, 1e-3);
    }

    @Test
    void refusesParametersOutOfRange() {
        assertThrows(IllegalArgumentException.class, () -> pick(-1f, 0, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> pick(1f, -1, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> pick(1f, 0, 0f, 0));
        assertThrows(IllegalArgumentException.class, () -> pick(1f, 0, 1f, 1.0));
        assertThrows(IllegalArgumentException.class, () -> new TokenPick(1f, 0, 1f, 0f, 0, NONE));
    }
}

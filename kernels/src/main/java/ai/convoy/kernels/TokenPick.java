package ai.convoy.kernels;

import java.util.Arrays;
import java.util.BitSet;

/**
 * How one row's next token is chosen from its logits, in the reference's order: the repetition penalty on the tokens
 * in {@code seen} (a positive score divided by it, a negative one multiplied), then the temperature (0: the first
 * largest score), top-k (0: off; scores tied with the k-th stay), top-p (1: off; the most likely tokens, higher score
 * first and lower index first among equals, until their share of the softmax reaches p), and last a draw over what is
 * left: the first token, in index order, where the running sum of the weights exp(s - max) passes {@code uniform}
 * times their total. Every backend picks by these steps; {@link #pick} is the reference the others are checked against.
 *
 * @param uniform a number in [0, 1): the row's draw, decided by whoever asks (a sequence's seed and its count of draws)
 * @param seen    the distinct tokens the penalty applies to; empty when it is 1
 */
public record TokenPick(float temperature, int topK, float topP, float repetitionPenalty, double uniform, int[] seen) {

    public TokenPick {
        if (!(temperature >= 0) || Float.isInfinite(temperature) || topK < 0 || !(topP > 0 && topP <= 1) || !(repetitionPenalty > 0)
                || !(uniform >= 0 && uniform < 1)) {
            throw new IllegalArgumentException("a token pick of temperature " + temperature + ", top-k " + topK + ", top-p " + topP
                    + ", repetition penalty " + repetitionPenalty + ", uniform " + uniform);
        }
        seen = repetitionPenalty == 1f ? new int[0] : distinct(seen);
    }

    /** A greedy pick: the first largest score. */
    public static TokenPick argmax() {
        return new TokenPick(0f, 0, 1f, 1f, 0, new int[0]);
    }

    /** Whether the pick is the plain first largest score, which {@link Backend#argmax} makes. */
    public boolean isArgmax() {
        return temperature == 0f && repetitionPenalty == 1f;
    }

    /** The token picked from the {@code vocab} scores at {@code offset} of {@code logits}, which are left as they are. */
    public int pick(float[] logits, int offset, int vocab) {
        return pickPenalized(penalized(logits, offset, vocab));
    }

    /** A copy of the {@code vocab} scores at {@code offset} with the repetition penalty applied. */
    public float[] penalized(float[] logits, int offset, int vocab) {
        float[] s = Arrays.copyOfRange(logits, offset, offset + vocab);
        for (int t : seen) {
            s[t] = s[t] < 0 ? s[t] * repetitionPenalty : s[t] / repetitionPenalty;
        }
        return s;
    }

    /** The token picked from scores the penalty was already applied to ({@link #penalized}); they are overwritten. */
    public int pickPenalized(float[] s) {
        int vocab = s.length;
        if (temperature == 0f) {
            return Argmax.of(s, 0, vocab);
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            s[i] /= temperature;
            max = Math.max(max, s[i]);
        }
        long least = topK > 0 && topK < vocab ? kthLargestKey(s, topK) : 0;
        float[] w = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            w[i] = orderKey(s[i]) >= least ? (float) Math.exp(s[i] - max) : 0f;
        }
        if (topP < 1f) {
            keepTopP(s, w, topP);
        }
        double total = 0;
        for (float v : w) {
            total += v;
        }
        double target = uniform * total;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < vocab; i++) {
            if (w[i] > 0) {
                cumulative += w[i];
                last = i;
                if (target < cumulative) {
                    return i;
                }
            }
        }
        return last;
    }

    /** A float's bits as a non-negative long that orders as the float does. */
    static long orderKey(float v) {
        int b = Float.floatToRawIntBits(v);
        return Integer.toUnsignedLong(b < 0 ? ~b : b | 0x80000000);
    }

    /**
     * The order key of the k-th largest score: radix selection over the keys, eight bits at a time from the top, each
     * pass over the keys the one before kept.
     */
    static long kthLargestKey(float[] s, int k) {
        int[] keys = new int[s.length];
        for (int i = 0; i < s.length; i++) {
            keys[i] = (int) orderKey(s[i]);
        }
        int count = keys.length;
        int prefix = 0;
        int remaining = k;
        for (int shift = 24; shift >= 0; shift -= 8) {
            int[] bins = new int[256];
            for (int i = 0; i < count; i++) {
                bins[(keys[i] >>> shift) & 255]++;
            }
            int bin = 255;
            while (bins[bin] < remaining) {
                remaining -= bins[bin];
                bin--;
            }
            prefix |= bin << shift;
            int kept = 0;
            for (int i = 0; i < count; i++) {
                if (((keys[i] >>> shift) & 255) == bin) {
                    keys[kept++] = keys[i];
                }
            }
            count = kept;
        }
        return Integer.toUnsignedLong(prefix);
    }

    /** Zeroes the weight of every token past the most likely ones whose weights first reach p of the total. */
    private static void keepTopP(float[] s, float[] w, float p) {
        int kept = 0;
        double total = 0;
        for (float v : w) {
            if (v > 0) {
                kept++;
                total += v;
            }
        }
        // higher score first, lower index first among equals: the complement of the order key (moved into the signed
        // range, so that it orders as a long's high half), then the index
        long[] order = new long[kept];
        int n = 0;
        for (int i = 0; i < w.length; i++) {
            if (w[i] > 0) {
                order[n++] = ((0x7fffffffL - orderKey(s[i])) << 32) | i;
            }
        }
        Arrays.sort(order);
        double target = p * total;
        double cumulative = 0;
        for (long o : order) {
            int i = (int) o;
            if (cumulative < target) {
                cumulative += w[i];
            } else {
                w[i] = 0;
            }
        }
    }

    private static int[] distinct(int[] tokens) {
        BitSet bits = new BitSet();
        for (int t : tokens) {
            if (t < 0) {
                throw new IllegalArgumentException("a seen token of id " + t);
            }
            bits.set(t);
        }
        return bits.stream().toArray();
    }
}

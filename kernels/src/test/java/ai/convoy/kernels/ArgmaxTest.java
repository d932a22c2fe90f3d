package ai.convoy.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class ArgmaxTest {

    @Test
    void firstOfEqualMaximaAndNaNAsTorchHasIt() {
        assertEquals(1, Argmax.of(new float[] {1, 3, 3, 2}, 0, 4));
        assertEquals(2, Argmax.of(new float[] {1, 3, Float.NaN, 9, Float.NaN}, 0, 5));
        assertEquals(0, Argmax.of(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}, 0, 2));
        // a row of a larger array: the index is within the row
        assertEquals(1, Argmax.of(new float[] {100, 0, 5, 1}, 1, 3));
    }

    @Test
    void agreesWithSortingByScoreThenIndex() {
        SplittableRandom random = new SplittableRandom(11);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + random.nextInt(300);
            float[] scores = new float[n];
            // few distinct values, so that ties are common
            for (int i = 0; i < n; i++) {
                scores[i] = random.nextInt(20) - 10;
            }
            int expected = IntStream.range(0, n).boxed()
                    .min(Comparator.comparingDouble((Integer i) -> -scores[i]).thenComparingInt(i -> i)).orElseThrow();
            assertEquals(expected, Argmax.of(scores, 0, n));
        }
    }
}

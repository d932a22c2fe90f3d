package ai.convoy.runtime.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class DecodeWindowTest {
    /** The arrival times of a job's tokens: the first at {@code first}, then one every {@code step} ns. */
    private static long[] job(long first, long step, int tokens) {
        long[] t = new long[tokens];
        for (int k = 0; k < tokens; k++) {
            t[k] = first + k * step;
        }
        return t;
    }

    @Test
    void countsOnlyTheTokensOfTheTimeEveryJobWasDecoding() {
        // three jobs of 10 ms steps: first tokens at 0, 5 and 20 ms, 11 tokens each (the last at 100, 105 and 120 ms)
        DecodeWindow w = DecodeWindow.of(List.of(job(0, 10_000_000, 11), job(5_000_000, 10_000_000, 11), job(20_000_000, 10_000_000, 11)));
        // the window (20 ms, 100 ms]: 8 tokens of each job
        assertEquals(24, w.tokens());
        assertEquals(0.080, w.seconds(), 1e-12);
        assertEquals(300.0, w.tokensPerSecond(), 1e-9);
        assertEquals(0.010, w.secondsPerStep(), 1e-12);
    }

    @Test
    void refusesJobsThatNeverDecodedTogether() {
        assertThrows(IllegalArgumentException.class, () -> DecodeWindow.of(List.of(job(0, 1, 3), job(10, 1, 3))));
        assertThrows(IllegalArgumentException.class, () -> DecodeWindow.of(List.of(job(0, 1, 1))));
        assertThrows(IllegalArgumentException.class, () -> DecodeWindow.of(List.of()));
    }
}

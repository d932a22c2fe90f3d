package ai.convoy.runtime.bench;

import java.util.List;

/**
 * Decode speed of jobs run together, from the times their tokens arrived: over the window in which every job was
 * decoding (from the last job's first token to the first job's last token), the tokens that arrived in it. Each job's
 * prefill and first token, and the ramp-up and ramp-down around the window, stay out, as they stay out of
 * {@link Benchmark}'s decode steps.
 *
 * @param jobs    jobs measured
 * @param tokens  tokens that arrived inside the window, all jobs together
 * @param seconds the window's length
 */
public record DecodeWindow(int jobs, long tokens, double seconds) {

    /** @param tokenNanos for each job, the arrival times of its tokens, in order (System.nanoTime) */
    public static DecodeWindow of(List<long[]> tokenNanos) {
        if (tokenNanos.isEmpty() || tokenNanos.stream().anyMatch(t -> t.length < 2)) {
            throw new IllegalArgumentException("every job needs at least two tokens");
        }
        long start = tokenNanos.stream().mapToLong(t -> t[0]).max().orElseThrow();
        long end = tokenNanos.stream().mapToLong(t -> t[t.length - 1]).min().orElseThrow();
        if (end <= start) {
            throw new IllegalArgumentException("no time in which every job was decoding: one ended before another began");
        }
        long tokens = 0;
        for (long[] times : tokenNanos) {
            for (long t : times) {
                if (t > start && t <= end) {
                    tokens++;
                }
            }
        }
        return new DecodeWindow(tokenNanos.size(), tokens, (end - start) / 1e9);
    }

    public double tokensPerSecond() {
        return tokens / seconds;
    }

    /** The time a step took: each job takes one token a step. */
    public double secondsPerStep() {
        return seconds * jobs / tokens;
    }
}

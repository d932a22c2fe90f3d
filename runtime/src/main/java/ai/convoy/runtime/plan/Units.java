package ai.convoy.runtime.plan;

/** Sizes as plans print them. */
final class Units {
    private Units() {
    }

    static String gib(long bytes) {
        return String.format("%.1f GiB", bytes / (double) (1L << 30));
    }
}

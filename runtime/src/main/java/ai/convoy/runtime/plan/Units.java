package ai.convoy.runtime.plan;

/** Sizes as plans print them, in the largest binary unit that keeps a leading digit. */
final class Units {
    private Units() {
    }

    static String gib(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format("%.1f GiB", bytes / (double) (1L << 30));
        }
        if (bytes >= 1L << 20) {
            return String.format("%.1f MiB", bytes / (double) (1L << 20));
        }
        return String.format("%.1f KiB", bytes / 1024.0);
    }
}

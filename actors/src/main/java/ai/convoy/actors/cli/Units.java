package ai.convoy.actors.cli;

/** Human-readable sizes. */
final class Units {
    private Units() {
    }

    static String bytes(long n) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? n + " B" : String.format("%.2f %s", v, units[u]);
    }

    /** Peak resident memory of this process (VmHWM), or -1 where /proc does not tell. */
    static long peakResidentBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    static String count(long n) {
        if (n >= 1_000_000_000L) {
            return String.format("%.2fB", n / 1e9);
        }
        if (n >= 1_000_000L) {
            return String.format("%.2fM", n / 1e6);
        }
        return String.format("%.1fK", n / 1e3);
    }
}

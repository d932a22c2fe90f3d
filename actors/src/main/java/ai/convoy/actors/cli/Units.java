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

    /** Sizes such as 5GB, 20GiB, 512MB, 300MiB or a plain number of bytes. */
    static long parseBytes(String option, String text) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)\\s*([0-9]+(?:\\.[0-9]+)?)\\s*(|B|KB|KIB|MB|MIB|GB|GIB|TB|TIB)\\s*").matcher(text);
        if (!m.matches()) {
            throw new ai.convoy.runtime.ConvoyException(option + ": '" + text + "' is not a size (examples: 5GB, 20GiB, 512MiB)");
        }
        double unit = switch (m.group(2).toUpperCase()) {
            case "", "B" -> 1;
            case "KB" -> 1e3;
            case "KIB" -> 1024;
            case "MB" -> 1e6;
            case "MIB" -> 1024 * 1024;
            case "GB" -> 1e9;
            case "GIB" -> 1024.0 * 1024 * 1024;
            case "TB" -> 1e12;
            default -> 1024.0 * 1024 * 1024 * 1024;
        };
        return (long) (Double.parseDouble(m.group(1)) * unit);
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

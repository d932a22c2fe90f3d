package ai.convoy.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The numbers and kernel tables the host shares with the kernels, read from the kernels' own header
 * ({@code kernels/src/main/cuda/constants.cuh}, packed into the jar beside the fatbin), so each is written once.
 */
public final class KernelConstants {
    static final String HEADER = "/ai/convoy/kernels/cuda/constants.cuh";
    private static final Pattern NUMBER = Pattern.compile("(?m)^#define\\s+([A-Z0-9_]+)\\s+(-?\\d+)\\s*$");
    private static final Pattern TABLE = Pattern.compile("(?m)^#define\\s+([A-Z0-9_]+)\\(X\\)\\s+(.*)$");
    private static final Pattern ROW = Pattern.compile("X\\(([^)]*)\\)");

    private static final Map<String, Integer> NUMBERS = new HashMap<>();
    private static final Map<String, List<int[]>> TABLES = new HashMap<>();

    static {
        parse(read(), NUMBERS, TABLES);
    }

    private KernelConstants() {
    }

    /** The integer a {@code #define NAME value} line gives. */
    public static int value(String name) {
        Integer v = NUMBERS.get(name);
        if (v == null) {
            throw new IllegalStateException(HEADER + " defines no number " + name);
        }
        return v;
    }

    /** The rows of a {@code #define NAME(X) X(a, b, ...) X(...)} table, in order. */
    public static List<int[]> table(String name) {
        List<int[]> rows = TABLES.get(name);
        if (rows == null) {
            throw new IllegalStateException(HEADER + " defines no table " + name);
        }
        return rows.stream().map(int[]::clone).toList();
    }

    static void parse(String header, Map<String, Integer> numbers, Map<String, List<int[]>> tables) {
        Matcher n = NUMBER.matcher(header);
        while (n.find()) {
            numbers.put(n.group(1), Integer.parseInt(n.group(2)));
        }
        Matcher t = TABLE.matcher(header);
        while (t.find()) {
            List<int[]> rows = new ArrayList<>();
            Matcher row = ROW.matcher(t.group(2));
            while (row.find()) {
                rows.add(Arrays.stream(row.group(1).split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray());
            }
            tables.put(t.group(1), List.copyOf(rows));
        }
    }

    private static String read() {
        try (InputStream in = KernelConstants.class.getResourceAsStream(HEADER)) {
            if (in == null) {
                throw new IllegalStateException("the kernels' constants " + HEADER + " are missing from the build");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

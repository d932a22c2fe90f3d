package ai.convoy.runtime.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Single-thread encode throughput (MB/s of UTF-8 text) of each tokenizer on an English text, whole text and line
 * by line, best of five after warm-up. Run with ops/bench/tokenizer.
 * Arguments: TOKENIZERS_DIR TEXT_FILE
 */
public final class TokenizerBenchmark {
    public static void main(String[] args) throws IOException {
        Path root = Path.of(args[0]);
        String text = Files.readString(Path.of(args[1]));
        List<String> lines = text.lines().map(l -> l + "\n").toList();
        long bytes = text.getBytes(StandardCharsets.UTF_8).length;
        System.out.printf("%-10s %10s %8s %16s %16s%n", "tokenizer", "bytes", "tokens", "whole text MB/s", "per line MB/s");
        for (String name : List.of("llama2", "llama3_1", "qwen3")) {
            Tokenizer t = Tokenizer.load(root.resolve(name));
            int tokens = t.encode(text, false).length;
            double whole = best(() -> t.encode(text, false));
            double perLine = best(() -> lines.forEach(l -> t.encode(l, false)));
            System.out.printf("%-10s %10d %8d %16.2f %16.2f%n", name, bytes, tokens, bytes / whole / 1e6, bytes / perLine / 1e6);
        }
    }

    /**
     * Best of ten runs after three seconds of warm-up (on one core the JIT compiler shares the core, so a count of
     * warm-up runs is not enough). The word cache stays warm, as the reference's does between calls.
     */
    private static double best(Runnable r) {
        long warmUntil = System.nanoTime() + 3_000_000_000L;
        while (System.nanoTime() < warmUntil) {
            r.run();
        }
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 10; i++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    private TokenizerBenchmark() {
    }
}

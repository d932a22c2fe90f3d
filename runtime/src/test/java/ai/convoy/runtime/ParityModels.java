package ai.convoy.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The reference models made by ops/parity/make_models.py with Hugging Face transformers. */
public final class ParityModels {
    private ParityModels() {
    }

    /**
     * A parity model directory and its recorded reference outputs; {@code greedyMargins}: at each greedy step, the
     * reference's logit gap between its pick and the runner-up.
     */
    public record Reference(Path dir, int[] promptIds, int[] greedyIds, double[] greedyMargins) {
        public String name() {
            return dir.getFileName().toString();
        }

        /** For a quantized reference, the folder of its full-precision model. */
        public Path sourceModel() {
            return dir.getParent();
        }

        /** For a quantized reference, its quantization (the folder name up to a dash: nf4, fp4, int8). */
        public String method() {
            return name().split("-")[0];
        }

        public Path logits() {
            return dir.resolve("logits.npy");
        }

        /**
         * How many of the first {@code n} greedy ids a computation within {@code logitError} of the reference must
         * reproduce: those before the first step whose margin is within that error (a near-tie there may go either
         * way, and every later id follows from it).
         */
        public int decidedIds(int n, double logitError) {
            for (int i = 0; i < n; i++) {
                if (greedyMargins[i] <= logitError) {
                    return i;
                }
            }
            return n;
        }

        @Override
        public String toString() {
            return root().relativize(dir).toString();
        }
    }

    public static Path root() {
        String dir = System.getProperty("convoy.parity.dir");
        // Maven sets the property; run from the module or from the repository root otherwise
        Path root = dir != null ? Path.of(dir) : Files.isDirectory(Path.of("src/test/resources/parity"))
                ? Path.of("src/test/resources/parity") : Path.of("runtime/src/test/resources/parity");
        if (!Files.isDirectory(root)) {
            throw new IllegalStateException("parity models not found at " + root.toAbsolutePath());
        }
        return root;
    }

    public static List<Reference> all() {
        try (Stream<Path> dirs = Files.list(root())) {
            return dirs.filter(d -> Files.isRegularFile(d.resolve("reference.json"))).sorted().map(ParityModels::read).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Reference named(String name) {
        return read(root().resolve(name));
    }

    /** Quantized references: each model's folders made by ops/parity/make_quantized.py (nf4, nf4-plain, fp4, int8). */
    public static List<Reference> quantized() {
        return all().stream().flatMap(model -> {
            try (Stream<Path> dirs = Files.list(model.dir())) {
                return dirs.filter(d -> Files.isRegularFile(d.resolve("reference.json"))).sorted().map(ParityModels::read).toList().stream();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }).toList();
    }

    private static Reference read(Path dir) {
        try {
            JsonNode ref = new ObjectMapper().readTree(dir.resolve("reference.json").toFile());
            JsonNode margins = ref.get("greedy_margins");
            double[] m = new double[margins.size()];
            for (int i = 0; i < m.length; i++) {
                m[i] = margins.get(i).asDouble();
            }
            return new Reference(dir, ints(ref.get("prompt_ids")), ints(ref.get("greedy_ids")), m);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    /** The logits of every prompt position, flattened row-major, and the greedy continuation. */
    public record Run(float[] promptLogits, int[] tokens) {
    }

    public static Run greedy(ai.convoy.runtime.model.Model model, int[] prompt, int newTokens) {
        float[][][] logits = new float[1][][];
        ai.convoy.runtime.generate.SamplingParams params = ai.convoy.runtime.generate.SamplingParams.GREEDY.withMaxNewTokens(newTokens);
        int[] tokens = new ai.convoy.runtime.generate.Generator(model.transformer()).generate(
                List.of(new ai.convoy.runtime.generate.Generator.Request(prompt, params, true)),
                new ai.convoy.runtime.generate.Generator.Listener() {
                    @Override
                    public void promptLogits(int sequence, float[][] l) {
                        logits[0] = l;
                    }

                    @Override
                    public void token(int sequence, int token) {
                    }
                }).getFirst().tokens();
        int vocab = logits[0][0].length;
        float[] flat = new float[logits[0].length * vocab];
        for (int r = 0; r < logits[0].length; r++) {
            System.arraycopy(logits[0][r], 0, flat, r * vocab, vocab);
        }
        return new Run(flat, tokens);
    }

    /** ||a - b|| / ||b|| over every element. */
    public static double relativeL2(float[] a, float[] b) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            diff += d * d;
            norm += (double) b[i] * b[i];
        }
        return Math.sqrt(diff / norm);
    }
}

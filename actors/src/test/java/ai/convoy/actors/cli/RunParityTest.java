package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Npy;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code convoy run} as a user calls it, against the transformers reference of each parity model. */
class RunParityTest {
    @TempDir
    Path tmp;

    static List<ParityModels.Reference> models() {
        return ParityModels.all();
    }

    static List<ParityModels.Reference> nf4References() {
        return ParityModels.quantized().stream().filter(r -> r.name().equals("nf4")).toList();
    }

    @ParameterizedTest
    @MethodSource("models")
    void logitsAndGreedyIdsMatchTheReference(ParityModels.Reference ref) {
        check(ref, ref.dir(), "none");
    }

    @ParameterizedTest
    @MethodSource("nf4References")
    void nf4WhileLoadingMatchesTheNf4Reference(ParityModels.Reference ref) {
        check(ref, ref.sourceModel(), "nf4");
    }

    private void check(ParityModels.Reference ref, Path model, String quantization) {
        Path logits = tmp.resolve("logits.npy");
        CliRun run = CliRun.of("run", "--model", model.toString(), "--quantization", quantization,
                "--tokens", Arrays.stream(ref.promptIds()).mapToObj(Integer::toString).collect(Collectors.joining(",")),
                "--logits-out", logits.toString(), "--max-new-tokens", "24", "--temperature", "0", "--print-ids");
        assertEquals(0, run.exitCode(), run.err());

        List<String> lines = run.out().lines().toList();
        assertEquals(1, lines.size(), "standard output holds exactly the ids line: " + run.out());
        int[] ids = Arrays.stream(lines.getFirst().split(",")).mapToInt(Integer::parseInt).toArray();
        assertEquals(24, ids.length);
        assertArrayEquals(Arrays.copyOf(ref.greedyIds(), 16), Arrays.copyOf(ids, 16));

        Npy.Matrix expected = Npy.readFloat32(ref.logits());
        Npy.Matrix actual = Npy.readFloat32(logits);
        assertEquals(expected.rows(), actual.rows());
        assertEquals(expected.cols(), actual.cols());
        double error = ParityModels.relativeL2(actual.data(), expected.data());
        assertTrue(error < 1e-3, ref + ": relative L2 " + error);
    }
}

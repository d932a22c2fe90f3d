package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.formats.Npy;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code convoy quantize} writes what the reference writes: same keys, dtypes, shapes, bytes and quantization_config. */
class QuantizeCommandTest {
    @TempDir
    Path tmp;

    static List<ParityModels.Reference> references() {
        return ParityModels.quantized();
    }

    private static List<String> optionsFor(ParityModels.Reference ref) {
        List<String> args = new ArrayList<>(List.of("--quantization", ref.method()));
        if (ref.name().endsWith("-plain")) {
            args.addAll(List.of("--double-quant", "false"));
        }
        return args;
    }

    @ParameterizedTest
    @MethodSource("references")
    void writesTheReferenceCheckpoint(ParityModels.Reference ref) throws IOException {
        Path out = tmp.resolve("out");
        List<String> args = new ArrayList<>(List.of("quantize", "--model", ref.sourceModel().toString(), "--out", out.toString()));
        args.addAll(optionsFor(ref));
        CliRun run = CliRun.of(args);
        assertEquals(0, run.exitCode(), run.err());

        try (Checkpoint written = Checkpoint.open(out); Checkpoint expected = Checkpoint.open(ref.dir())) {
            assertEquals(new TreeSet<>(expected.tensors().keySet()), new TreeSet<>(written.tensors().keySet()), "key set");
            for (HostTensor e : expected.tensors().values()) {
                HostTensor w = written.get(e.name());
                assertEquals(e.dtype(), w.dtype(), e.name());
                assertArrayEquals(e.shape(), w.shape(), e.name());
                assertArrayEquals(e.data().toArray(ValueLayout.JAVA_BYTE), w.data().toArray(ValueLayout.JAVA_BYTE), e.name() + " bytes");
            }
        }
        ObjectMapper json = new ObjectMapper();
        assertEquals(json.readTree(ref.dir().resolve("config.json").toFile()).get("quantization_config"),
                json.readTree(out.resolve("config.json").toFile()).get("quantization_config"));
    }

    @Test
    void lmHeadIsQuantizedOnlyWhenAsked() {
        Path source = ParityModels.named("mistral-swa").dir();
        Path plain = tmp.resolve("plain");
        Path withHead = tmp.resolve("head");
        assertEquals(0, CliRun.of("quantize", "--model", source.toString(), "--out", plain.toString()).exitCode());
        assertEquals(0, CliRun.of("quantize", "--model", source.toString(), "--out", withHead.toString(), "--quantize-lm-head").exitCode());
        try (Checkpoint p = Checkpoint.open(plain); Checkpoint h = Checkpoint.open(withHead)) {
            assertEquals(ai.convoy.kernels.DType.BF16, p.get("lm_head.weight").dtype());
            assertEquals(ai.convoy.kernels.DType.U8, h.get("lm_head.weight").dtype());
            assertTrue(h.has("lm_head.weight.quant_state.bitsandbytes__nf4"));
        }
        CliRun run = CliRun.of("run", "--model", withHead.toString(), "--tokens", "5,6,7", "--max-new-tokens", "3", "--temperature", "0");
        assertEquals(0, run.exitCode(), run.err());
    }

    @Test
    void refusesToOverwriteOrToQuantizeTwice() throws IOException {
        Path source = ParityModels.named("mistral-swa").dir();
        java.nio.file.Files.createDirectories(tmp.resolve("full"));
        java.nio.file.Files.writeString(tmp.resolve("full/keep.txt"), "x");
        CliRun full = CliRun.of("quantize", "--model", source.toString(), "--out", tmp.resolve("full").toString());
        assertEquals(2, full.exitCode());
        assertTrue(full.err().contains("not empty"), full.err());
        CliRun twice = CliRun.of("quantize", "--model", source.resolve("nf4").toString(), "--out", tmp.resolve("again").toString());
        assertEquals(2, twice.exitCode());
        assertTrue(twice.err().contains("already quantized"), twice.err());
    }

    @ParameterizedTest
    @MethodSource("references")
    void loadingTheOutputEqualsQuantizingWhileLoading(ParityModels.Reference ref) {
        Path out = tmp.resolve("out");
        List<String> quantize = new ArrayList<>(List.of("quantize", "--model", ref.sourceModel().toString(), "--out", out.toString()));
        quantize.addAll(optionsFor(ref));
        assertEquals(0, CliRun.of(quantize).exitCode());
        String tokens = String.join(",", java.util.Arrays.stream(ref.promptIds()).mapToObj(Integer::toString).toList());

        Path fromCheckpoint = tmp.resolve("stored.npy");
        CliRun stored = CliRun.of("run", "--model", out.toString(), "--tokens", tokens, "--max-new-tokens", "8",
                "--temperature", "0", "--print-ids", "--logits-out", fromCheckpoint.toString());
        List<String> onLoad = new ArrayList<>(List.of("run", "--model", ref.sourceModel().toString(), "--tokens", tokens,
                "--max-new-tokens", "8", "--temperature", "0", "--print-ids", "--logits-out", tmp.resolve("load.npy").toString()));
        onLoad.addAll(optionsFor(ref));
        CliRun loaded = CliRun.of(onLoad);
        assertEquals(0, stored.exitCode(), stored.err());
        assertEquals(0, loaded.exitCode(), loaded.err());
        assertEquals(loaded.out(), stored.out());
        assertArrayEquals(Npy.readFloat32(tmp.resolve("load.npy")).data(), Npy.readFloat32(fromCheckpoint).data());
    }
}

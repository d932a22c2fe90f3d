package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.formats.SafetensorsWriter;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kind of bad input ends in one line naming the problem and the file, a non-zero exit, no stack trace. */
class BadInputTest {
    @TempDir
    Path tmp;

    private Path copyOf(String model) throws IOException {
        Path src = ParityModels.root().resolve(model);
        Path dst = tmp.resolve(model);
        Files.createDirectories(dst);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) {
                Files.copy(f, dst.resolve(f.getFileName()));
            }
        }
        return dst;
    }

    private static CliRun run(Path model, String tokens, String... extra) {
        List<String> args = new ArrayList<>(List.of("run", "--model", model.toString(), "--tokens", tokens,
                "--max-new-tokens", "2", "--temperature", "0"));
        args.addAll(List.of(extra));
        return CliRun.of(args);
    }

    static void assertOneLineError(CliRun run, String... mentions) {
        List<String> lines = run.err().lines().filter(l -> !l.startsWith("WARNING")).toList();
        assertAll(
                () -> assertEquals(2, run.exitCode(), run.err()),
                () -> assertEquals(1, lines.size(), "one line: " + run.err()),
                () -> assertTrue(lines.getFirst().startsWith("convoy: error: "), run.err()),
                () -> assertFalse(run.err().contains("Exception") || run.err().contains("\tat "), run.err()),
                () -> {
                    for (String m : mentions) {
                        assertTrue(run.err().contains(m), "mentions " + m + ": " + run.err());
                    }
                });
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path model = copyOf("qwen2-bias");
        Path file = model.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() - 1000);
        }
        assertOneLineError(run(model, "1,2,3"), "model.safetensors", "truncated");
    }

    @Test
    void missingShard() throws IOException {
        Path model = copyOf("llama-gqa-rope3-sharded");
        Files.delete(model.resolve("model-00004-of-00010.safetensors"));
        assertOneLineError(run(model, "1,2,3"), "model.safetensors.index.json", "model-00004-of-00010.safetensors", "missing");
    }

    @Test
    void unknownModelType() throws IOException {
        Path model = copyOf("mistral-swa");
        Path config = model.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"mistral\"", "\"gpt_neox\""));
        assertOneLineError(run(model, "1,2,3"), "config.json", "gpt_neox");
    }

    @Test
    void tokenIdBeyondTheVocabulary() {
        Path model = ParityModels.root().resolve("llama-tied-headdim");
        assertOneLineError(run(model, "5,768"), "config.json", "768", "vocab");
    }

    @Test
    void promptLongerThanTheContext() {
        Path model = ParityModels.root().resolve("llama-tied-headdim");
        String tokens = IntStream.range(0, 129).mapToObj(i -> Integer.toString(3 + i)).collect(Collectors.joining(","));
        assertOneLineError(run(model, tokens), "config.json", "129", "128");
    }

    @Test
    void missingModelDirectory() {
        assertOneLineError(run(tmp.resolve("nowhere"), "1"), "nowhere");
    }

    @Test
    void malformedTokenList() {
        CliRun run = run(ParityModels.root().resolve("qwen2-bias"), "1,x");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().startsWith("convoy: error: "), run.err());
    }

    /** A copy of a bitsandbytes checkpoint with one tensor's bytes and shape replaced. */
    private Path corruptedNf4(String tensor, byte[] bytes, long[] shape) throws IOException {
        Path src = ParityModels.named("qwen2-bias").dir().resolve("nf4");
        Path dst = tmp.resolve("corrupt");
        Files.createDirectories(dst);
        Files.copy(src.resolve("config.json"), dst.resolve("config.json"));
        try (Checkpoint c = Checkpoint.open(src); SafetensorsWriter w = new SafetensorsWriter(dst, Long.MAX_VALUE)) {
            for (HostTensor t : c.tensors().values()) {
                if (t.name().equals(tensor)) {
                    w.add(t.name(), t.dtype(), shape, MemorySegment.ofArray(bytes));
                } else {
                    w.add(t.name(), t.dtype(), t.shape(), t.data());
                }
            }
            w.finish();
        }
        return dst;
    }

    private static final String WEIGHT = "model.layers.1.mlp.up_proj.weight";
    private static final String STATE = WEIGHT + ".quant_state.bitsandbytes__nf4";

    @Test
    void quantStateThatIsNotJson() throws IOException {
        byte[] bad = "{\"quant_type\": \"nf4\", \"blocksize\": ".getBytes(StandardCharsets.UTF_8);
        assertOneLineError(run(corruptedNf4(STATE, bad, new long[] {bad.length}), "1,2"), STATE, "JSON");
    }

    @Test
    void quantStateWithTheWrongShape() throws IOException {
        byte[] wrong = ("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [288, 100],"
                + " \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.2}").getBytes(StandardCharsets.UTF_8);
        assertOneLineError(run(corruptedNf4(STATE, wrong, new long[] {wrong.length}), "1,2"), STATE, "[288, 100]", "[288, 128]");
    }

    @Test
    void absmaxCountThatDoesNotMatchTheBlocks() throws IOException {
        // 288 x 128 values in blocks of 64 make 576 blocks; give 500 codes
        assertOneLineError(run(corruptedNf4(WEIGHT + ".absmax", new byte[500], new long[] {500}), "1,2"), WEIGHT + ".absmax", "576");
    }

    @Test
    void verboseAddsTheStackTrace() throws IOException {
        Path model = copyOf("mistral-swa");
        Files.writeString(model.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        CliRun run = run(model, "1", "--verbose");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("\tat "), run.err());
    }
}

package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ParityModels;
import java.io.IOException;
import java.io.RandomAccessFile;
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

    private static void assertOneLineError(CliRun run, String... mentions) {
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

    @Test
    void verboseAddsTheStackTrace() throws IOException {
        Path model = copyOf("mistral-swa");
        Files.writeString(model.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        CliRun run = run(model, "1", "--verbose");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("\tat "), run.err());
    }
}

package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.model.ModelShapes;
import ai.convoy.runtime.model.SyntheticCheckpoint;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A quantize that fails, or is stopped by SIGTERM (as Ctrl-C or a service manager would), leaves no partial output behind. */
class QuantizeCleanupTest {
    @TempDir
    Path tmp;

    private static boolean hasPartialShard(Path out) throws IOException {
        if (!Files.isDirectory(out)) {
            return false;
        }
        try (Stream<Path> files = Files.list(out)) {
            return files.anyMatch(p -> p.getFileName().toString().startsWith(".shard-"));
        }
    }

    @Test
    void aFailedQuantizeLeavesTheOutputAsItWas() throws IOException {
        Path model = tmp.resolve("model");
        Files.createDirectories(model);
        Path src = ai.convoy.runtime.ParityModels.root().resolve("qwen2-bias");
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(src.resolve(f), model.resolve(f));
        }
        // a config that the tensors do not match: refused, after the output folder was taken
        Files.writeString(model.resolve("config.json"), Files.readString(model.resolve("config.json")).replace("\"vocab_size\": 1000", "\"vocab_size\": 1024"));
        Path created = tmp.resolve("new-out");
        assertTrue(CliRun.of("quantize", "--model", model.toString(), "--out", created.toString()).exitCode() == 2);
        assertFalse(Files.exists(created), "the folder it made is gone");
        Path empty = Files.createDirectories(tmp.resolve("empty-out"));
        assertTrue(CliRun.of("quantize", "--model", model.toString(), "--out", empty.toString()).exitCode() == 2);
        try (Stream<Path> left = Files.list(empty)) {
            assertFalse(left.findAny().isPresent(), "the empty folder it was given stays, empty");
        }
    }

    @Test
    void sigtermRemovesWhatWasWritten() throws Exception {
        // about 200 MB of bf16 weights: quantizing takes seconds, time enough to interrupt it midway
        ObjectNode config = ModelShapes.configJson("llama2-7b");
        config.put("hidden_size", 2048).put("intermediate_size", 5632).put("num_hidden_layers", 2).put("num_attention_heads", 16)
                .put("num_key_value_heads", 16).put("vocab_size", 1024);
        Path model = tmp.resolve("model");
        SyntheticCheckpoint.write(config, model, 1, Long.MAX_VALUE, p -> { });
        Path out = tmp.resolve("out");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(List.of(java.toString(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Convoy.class.getName(), "quantize", "--model", model.toString(), "--out",
                out.toString())).redirectErrorStream(true).redirectOutput(tmp.resolve("log.txt").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!hasPartialShard(out) && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(p.isAlive() && hasPartialShard(out), "caught while writing: " + Files.readString(tmp.resolve("log.txt")));
            p.destroy();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "stopped");
            assertFalse(Files.exists(out), "the output folder it created is gone: " + Files.readString(tmp.resolve("log.txt")));
        } finally {
            p.destroyForcibly();
        }
    }
}

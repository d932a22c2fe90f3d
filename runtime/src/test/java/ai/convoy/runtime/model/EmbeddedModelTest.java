package ai.convoy.runtime.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The built-in model is in the build, and unpacks whole whatever else is unpacking it or was left behind. */
class EmbeddedModelTest {
    @TempDir
    Path tmp;

    @Test
    void isInTheBuildAndOpensAsAModel() {
        Path dir = EmbeddedModel.unpackInto(tmp);
        ModelConfig config = Model.readConfig(dir);
        assertTrue(config.parameterCount() > 0);
        assertTrue(dir.getFileName().toString().matches("convoy-default-model-[0-9a-f]{16}"), dir.toString());
    }

    @Test
    void theManifestGivesEachFilesHashAndSize() {
        for (EmbeddedModel.Entry f : EmbeddedModel.entries(new String(EmbeddedModel.resource(EmbeddedModel.MANIFEST),
                java.nio.charset.StandardCharsets.UTF_8))) {
            byte[] bytes = EmbeddedModel.resource(f.name());
            assertEquals(f.sha256(), EmbeddedModel.sha256(bytes), f.name() + ": the manifest is stale; write it again (README, The built-in model)");
            assertEquals(f.size(), bytes.length, f.name());
        }
    }

    @Test
    void tenUnpackingAtOnceAllGetTheWholeModel() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(10);
        try {
            List<Future<Path>> results = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                results.add(pool.submit(() -> EmbeddedModel.unpackInto(tmp)));
            }
            Path first = results.getFirst().get(60, TimeUnit.SECONDS);
            for (Future<Path> r : results) {
                assertEquals(first, r.get(60, TimeUnit.SECONDS));
            }
            Model.readConfig(first);
        } finally {
            pool.shutdownNow();
        }
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of("convoy-default-model-"), left.map(p -> p.getFileName().toString().replaceAll("[0-9a-f]{16}$", "")).toList(),
                    "no staging folders left behind");
        }
    }

    @Test
    void aDamagedCopyIsReplaced() throws IOException {
        Path dir = EmbeddedModel.unpackInto(tmp);
        Path weights = dir.resolve("model.safetensors");
        long size = Files.size(weights);
        Files.write(weights, new byte[10]);
        assertEquals(dir, EmbeddedModel.unpackInto(tmp));
        assertEquals(size, Files.size(weights));
    }

    @Test
    void aFolderOfAnotherBuildIsLeftAlone() throws IOException {
        Path other = Files.createDirectories(tmp.resolve("convoy-default-model-0123456789abcdef"));
        Files.writeString(other.resolve("config.json"), "{}");
        Path dir = EmbeddedModel.unpackInto(tmp);
        assertTrue(!dir.equals(other));
        assertEquals("{}", Files.readString(other.resolve("config.json")));
    }
}

package ai.convoy.runtime.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.ParityModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
    @TempDir
    Path tmp;

    @Test
    void joinsTheShardsOfAnIndex() {
        Path dir = ParityModels.named("llama-gqa-rope3-sharded").dir();
        try (Checkpoint c = Checkpoint.open(dir)) {
            assertEquals(30, c.tensors().size());
            assertEquals("model-00009-of-00010.safetensors", c.fileOf("lm_head.weight").getFileName().toString());
        }
    }

    @Test
    void namesTheMissingTensor() {
        try (Checkpoint c = Checkpoint.open(ParityModels.named("qwen2-bias").dir())) {
            ConvoyException e = assertThrows(ConvoyException.class, () -> c.get("lm_head.bias"));
            assertTrue(e.getMessage().contains("lm_head.bias") && e.getMessage().contains("model.safetensors"), e.getMessage());
        }
    }

    @Test
    void aDirectoryWithoutWeightsIsAnError() {
        ConvoyException e = assertThrows(ConvoyException.class, () -> Checkpoint.open(tmp));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
    }

    @Test
    void anIndexPointingAtTheWrongShardIsAnError() throws IOException {
        Path src = ParityModels.named("llama-gqa-rope3-sharded").dir();
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) {
                Files.copy(f, tmp.resolve(f.getFileName()));
            }
        }
        Path index = tmp.resolve(Checkpoint.INDEX_FILE);
        Files.writeString(index, Files.readString(index).replace(
                "\"lm_head.weight\": \"model-00009-of-00010.safetensors\"", "\"lm_head.weight\": \"model-00001-of-00010.safetensors\""));
        ConvoyException e = assertThrows(ConvoyException.class, () -> Checkpoint.open(tmp));
        assertTrue(e.getMessage().contains("lm_head.weight"), e.getMessage());
    }
}

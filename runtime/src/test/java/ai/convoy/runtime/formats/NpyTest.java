package ai.convoy.runtime.formats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.convoy.runtime.ParityModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {
    @Test
    void readsNumpysOwnOutput() {
        // logits.npy was written by numpy.save in ops/parity/make_models.py
        ParityModels.Reference ref = ParityModels.named("qwen2-bias");
        Npy.Matrix m = Npy.readFloat32(ref.logits());
        assertEquals(ref.promptIds().length, m.rows());
        assertEquals(1000, m.cols());
    }

    @Test
    void writesTheSameBytesAsNumpy(@TempDir Path tmp) throws Exception {
        ParityModels.Reference ref = ParityModels.named("mistral-swa");
        Npy.Matrix m = Npy.readFloat32(ref.logits());
        Path out = tmp.resolve("copy.npy");
        Npy.writeFloat32(out, m.rows(), m.cols(), java.util.stream.IntStream.range(0, m.rows()).mapToObj(m::row).toList());
        assertArrayEquals(Files.readAllBytes(ref.logits()), Files.readAllBytes(out));
    }
}

package ai.convoy.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed fatbin was built from the CUDA sources as they are: ops/cuda/build-kernels.sh records their hashes
 * beside it, and a source changed without a rebuild fails here, on machines without a GPU too.
 */
class FatbinSourcesTest {
    private static final Path SOURCES = Path.of("src/main/cuda");

    private static String sha256(Path file) throws IOException, NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    @Test
    void theFatbinWasBuiltFromTheseSources() throws Exception {
        String recorded;
        try (InputStream in = FatbinSourcesTest.class.getResourceAsStream("/ai/convoy/kernels/cuda/convoy.fatbin.sources")) {
            recorded = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        String now;
        try (Stream<Path> files = Files.list(SOURCES)) {
            StringBuilder lines = new StringBuilder();
            for (Path f : files.sorted().toList()) {
                lines.append(sha256(f)).append("  ").append(f.getFileName()).append('\n');
            }
            now = lines.toString();
        }
        assertEquals(recorded, now, "kernels/src/main/cuda changed since convoy.fatbin was built: run ops/cuda/build-kernels.sh");
    }
}

package ai.convoy.runtime.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {
    @TempDir
    Path tmp;

    @Test
    void aFailedWriteLeavesNeitherAPartialFileNorItsStagingCopy() throws IOException {
        Path f = tmp.resolve("logits.npy");
        assertThrows(IllegalStateException.class, () -> AtomicFile.write(f, out -> {
            out.write(new byte[1000]);
            throw new IllegalStateException("disk full");
        }));
        assertFalse(Files.exists(f));
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of(), left.toList());
        }
    }

    @Test
    void aFailedRewriteKeepsTheOldFile() throws IOException {
        Path f = tmp.resolve("a.npy");
        Files.writeString(f, "old");
        assertThrows(IllegalStateException.class, () -> AtomicFile.write(f, out -> {
            out.write("new, half".getBytes());
            throw new IllegalStateException("interrupted");
        }));
        assertEquals("old", Files.readString(f));
    }

    @Test
    void npyRowsOfTheWrongWidthWriteNothing() {
        Path f = tmp.resolve("x.npy");
        assertThrows(IllegalArgumentException.class, () -> Npy.writeFloat32(f, 2, 3, List.of(new float[3], new float[2])));
        assertFalse(Files.exists(f));
    }
}

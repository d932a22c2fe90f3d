package ai.convoy.runtime.formats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.convoy.kernels.DType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Shards are written once: the data goes in place after room for the header, and the file is renamed, not copied. */
class SafetensorsWriterRoomTest {
    @TempDir
    Path tmp;

    /** Little-endian float32 values start, start+1, ... in a byte array, as tensors are stored. */
    private static MemorySegment floats(int n, float start) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * n).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.putFloat(start + i);
        }
        return MemorySegment.ofArray(b.array());
    }

    private static Object inode(Path p) throws IOException {
        return Files.getAttribute(p, "unix:ino");
    }

    private void writeAndRead(long room, boolean inPlace) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "w");
        Object written;
        try (SafetensorsWriter w = new SafetensorsWriter(dir, Long.MAX_VALUE, room)) {
            w.add("model.a.weight", DType.F32, new long[] {2, 3}, floats(6, 0));
            w.add("model.b.weight", DType.F32, new long[] {4}, floats(4, 10));
            try (Stream<Path> files = Files.list(dir)) {
                Path partial = files.filter(p -> p.getFileName().toString().startsWith(".shard-")).findFirst().orElseThrow();
                written = inode(partial);
            }
            w.finish();
        }
        Path file = dir.resolve(Checkpoint.SINGLE_FILE);
        assertEquals(inPlace, written.equals(inode(file)), "renamed in place: " + inPlace);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no other file left");
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, f.tensors().get("model.a.weight").toFloatArray());
            assertArrayEquals(new float[] {10, 11, 12, 13}, f.tensors().get("model.b.weight").toFloatArray());
        }
    }

    @Test
    void enoughRoomWritesTheShardOnce() throws IOException {
        writeAndRead(SafetensorsWriter.headerRoomFor(2, 14), true);
    }

    @Test
    void tooLittleRoomMovesTheDataOnceAndStillReads() throws IOException {
        writeAndRead(16, false);
    }

    @Test
    void aFailedWriteIsTheUsersErrorWithTheSystemsReason() throws IOException {
        Path dir = Files.createTempDirectory(tmp, "w");
        ai.convoy.runtime.ConvoyException e = org.junit.jupiter.api.Assertions.assertThrows(ai.convoy.runtime.ConvoyException.class, () -> {
            try (SafetensorsWriter w = new SafetensorsWriter(dir, Long.MAX_VALUE, 4096)) {
                w.add("model.a.weight", DType.F32, new long[] {6}, floats(6, 0));
                // the folder vanishes under the writer, as a disk that fails or fills does
                try (Stream<Path> files = Files.list(dir)) {
                    for (Path f : files.toList()) {
                        Files.delete(f);
                    }
                }
                Files.delete(dir);
                w.finish();
            }
        });
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().startsWith(dir + ": ") && e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void anUnfinishedWriteLeavesNothing() throws IOException {
        Path dir = Files.createTempDirectory(tmp, "w");
        try (SafetensorsWriter w = new SafetensorsWriter(dir, Long.MAX_VALUE, 4096)) {
            w.add("model.a.weight", DType.F32, new long[] {6}, floats(6, 0));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertFalse(files.findAny().isPresent());
        }
    }
}

package ai.convoy.runtime.formats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.DType;
import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {
    @TempDir
    Path tmp;

    /** Writes a safetensors file by hand: header length, JSON header, raw data. */
    private Path file(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path p = tmp.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    @Test
    void readsEveryDtypeLittleEndian() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(32).order(ByteOrder.LITTLE_ENDIAN);
        d.putFloat(0, 1.5f).putFloat(4, -2.25f);                               // F32 [2]      0..8
        d.putShort(8, Float.floatToFloat16(0.75f));                             // F16 [1]      8..10
        d.putShort(10, (short) (Float.floatToIntBits(-3.0f) >>> 16));           // BF16 [1]     10..12
        d.put(12, (byte) 200);                                                  // U8 [1]       12..13
        d.put(13, (byte) -7);                                                   // I8 [1]       13..14
        d.putInt(16, -123456);                                                  // I32 [1]      16..20
        d.putLong(24, 1L << 40);                                                // I64 [1]      24..32
        String header = """
                {"__metadata__": {"format": "pt"},
                 "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F16", "shape": [1], "data_offsets": [8, 10]},
                 "c": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [10, 12]},
                 "d": {"dtype": "U8", "shape": [1], "data_offsets": [12, 13]},
                 "e": {"dtype": "I8", "shape": [1], "data_offsets": [13, 14]},
                 "f": {"dtype": "I32", "shape": [1], "data_offsets": [16, 20]},
                 "g": {"dtype": "I64", "shape": [1], "data_offsets": [24, 32]}}""";
        try (SafetensorsFile f = SafetensorsFile.open(file("all.safetensors", header, d.array()))) {
            var t = f.tensors();
            assertEquals("pt", f.metadata().get("format"));
            assertArrayEquals(new float[] {1.5f, -2.25f}, t.get("a").toFloatArray());
            assertEquals(0.75f, t.get("b").getFloat(0));
            assertEquals(-3.0f, t.get("c").getFloat(0));
            assertArrayEquals(new long[] {1, 1}, t.get("c").shape());
            assertEquals(200, t.get("d").data().get(ValueLayout.JAVA_BYTE, 0) & 0xff);
            assertEquals(-7, t.get("e").data().get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(-123456, t.get("f").data().get(ValueLayout.JAVA_INT_UNALIGNED, 0));
            assertEquals(1L << 40, t.get("g").data().get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            assertEquals(DType.I64, t.get("g").dtype());
        }
    }

    @Test
    void mapsFilesLargerThan2GiB() throws IOException {
        long elements = (5L << 30) / 2 / 2; // a 2.5 GiB BF16 tensor
        long bytes = elements * 2;
        String header = "{\"big\": {\"dtype\": \"BF16\", \"shape\": [" + elements + "], \"data_offsets\": [0, " + bytes + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path p = tmp.resolve("big.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            f.write(h);
            f.setLength(8 + h.length + bytes); // sparse: reads as zeros
            f.seek(8 + h.length + bytes - 2);
            f.write(ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) (Float.floatToIntBits(7f) >>> 16)).array());
        }
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            HostTensor big = f.tensors().get("big");
            assertEquals(elements, big.elementCount());
            assertEquals(7f, big.getFloat(elements - 1));
            assertEquals(0f, big.getFloat(elements / 2));
        }
    }

    private String rejected(String header, byte[] data) throws IOException {
        Path p = file("bad.safetensors", header, data);
        ConvoyException e = assertThrows(ConvoyException.class, () -> SafetensorsFile.open(p));
        assertTrue(e.getMessage().contains("bad.safetensors"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void rejectsCorruptHeaders() throws IOException {
        byte[] eight = new byte[8];
        assertTrue(rejected("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 12]}}", eight).contains("offsets"));
        assertTrue(rejected("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", eight).contains("truncated"));
        assertTrue(rejected("{\"a\": {\"dtype\": \"C64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", eight).contains("C64"));
        assertTrue(rejected("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", eight).contains("overlap"));
        assertTrue(rejected("{\"a\": [1, 2", eight).contains("corrupt header"));
        assertTrue(rejected("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", eight).contains("data_offsets"));
    }

    @Test
    void rejectsAHeaderLengthBeyondTheFile() throws IOException {
        Path p = tmp.resolve("short.safetensors");
        Files.write(p, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        ConvoyException e = assertThrows(ConvoyException.class, () -> SafetensorsFile.open(p));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
}

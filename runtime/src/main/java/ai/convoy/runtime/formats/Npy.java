package ai.convoy.runtime.formats;

import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NumPy's .npy format (version 1.0) for little-endian float32 matrices. */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(\\s*(\\d+)\\s*,\\s*(\\d+)\\s*,?\\s*\\)");

    private Npy() {
    }

    /** A float32 matrix read from or written to .npy. */
    public record Matrix(int rows, int cols, float[] data) {
        public float get(int r, int c) {
            return data[r * cols + c];
        }

        public float[] row(int r) {
            float[] out = new float[cols];
            System.arraycopy(data, r * cols, out, 0, cols);
            return out;
        }
    }

    public static void writeFloat32(Path file, int rows, int cols, Iterable<float[]> rowsInOrder) {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
        // magic + version + length prefix + dict + newline, padded with spaces to a multiple of 64
        int unpadded = MAGIC.length + 2 + 2 + dict.length() + 1;
        String header = dict + " ".repeat((64 - unpadded % 64) % 64) + "\n";
        AtomicFile.write(file, out -> {
            out.write(MAGIC);
            out.write(new byte[] {1, 0, (byte) (header.length() & 0xff), (byte) (header.length() >>> 8)});
            out.write(header.getBytes(StandardCharsets.US_ASCII));
            ByteBuffer buf = ByteBuffer.allocate(cols * 4).order(ByteOrder.LITTLE_ENDIAN);
            int written = 0;
            for (float[] row : rowsInOrder) {
                if (row.length != cols) {
                    throw new IllegalArgumentException("row of " + row.length + " values, expected " + cols);
                }
                buf.clear();
                buf.asFloatBuffer().put(row);
                out.write(buf.array());
                written++;
            }
            if (written != rows) {
                throw new IllegalArgumentException(written + " rows written, expected " + rows);
            }
        });
    }

    public static Matrix readFloat32(Path file) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            for (byte m : MAGIC) {
                if (b.get() != m) {
                    throw ConvoyException.in(file, "not a .npy file");
                }
            }
            int major = b.get();
            b.get();
            int headerLength = major == 1 ? Short.toUnsignedInt(b.getShort()) : b.getInt();
            String header = new String(bytes, b.position(), headerLength, StandardCharsets.US_ASCII);
            if (!header.contains("'<f4'") || header.contains("'fortran_order': True")) {
                throw ConvoyException.in(file, "expected a C-ordered little-endian float32 array, header " + header.trim());
            }
            Matcher m = SHAPE.matcher(header);
            if (!m.find()) {
                throw ConvoyException.in(file, "expected a 2-D array, header " + header.trim());
            }
            int rows = Integer.parseInt(m.group(1));
            int cols = Integer.parseInt(m.group(2));
            b.position(b.position() + headerLength);
            float[] data = new float[Math.multiplyExact(rows, cols)];
            b.asFloatBuffer().get(data);
            return new Matrix(rows, cols, data);
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot read: " + e.getMessage());
        }
    }
}

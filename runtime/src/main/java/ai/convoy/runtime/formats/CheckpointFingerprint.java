package ai.convoy.runtime.formats;

import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * What tells two copies of a checkpoint apart without reading their weights: a SHA-256 of config.json and of each
 * safetensors file's name and header (its tensors' names, dtypes, shapes and offsets), in name order. Members of a
 * cluster load their own copies; copies with different fingerprints would give different outputs.
 */
public final class CheckpointFingerprint {
    /** A header longer than this is not a safetensors header. */
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private CheckpointFingerprint() {
    }

    public static String of(Path dir) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try {
            sha.update(Files.readAllBytes(dir.resolve("config.json")));
            List<Path> files;
            try (Stream<Path> list = Files.list(dir)) {
                files = list.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
            }
            for (Path f : files) {
                sha.update(f.getFileName().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                sha.update(header(f));
            }
        } catch (IOException e) {
            throw ConvoyException.in(dir, "cannot read the checkpoint: " + e.getMessage());
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static byte[] header(Path file) throws IOException {
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            in.read(length, 0);
            long n = length.flip().getLong();
            if (n < 0 || n > MAX_HEADER_BYTES || n > in.size() - 8) {
                throw ConvoyException.in(file, "not a safetensors file: a header of " + n + " bytes");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            in.read(header, 8);
            return header.array();
        }
    }
}

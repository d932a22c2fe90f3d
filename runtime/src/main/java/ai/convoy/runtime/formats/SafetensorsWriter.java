package ai.convoy.runtime.formats;

import ai.convoy.kernels.DType;
import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a checkpoint as safetensors shards of at most {@code maxShardBytes}, with a
 * {@code model.safetensors.index.json} when there is more than one. Tensor data streams to disk as it is added
 * (only the header waits for the shard to end), so a checkpoint larger than memory can be written. Each shard file
 * begins with room for its header (the header's length is known only at the end; safetensors allows padding it
 * with spaces), so its data is written once, in place; a header that outgrows the room moves the data once. Files
 * get their final names only in {@link #finish()}; closing without finishing removes what was written, so a failed
 * write never leaves a checkpoint that looks complete.
 */
public final class SafetensorsWriter implements AutoCloseable {
    private static final long CHUNK = 1L << 30;

    private final Path dir;
    private final long maxShardBytes;
    private final long headerRoom;
    private final List<Path> shards = new ArrayList<>();
    private final Map<String, Integer> shardOf = new LinkedHashMap<>();
    private final Map<String, Object> header = new LinkedHashMap<>();
    private FileChannel data;
    private Path dataFile;
    private long dataBytes;
    private long totalBytes;
    private boolean finished;

    /** A writer whose shards reserve no room for their headers (each shard's data is moved once at its end). */
    public SafetensorsWriter(Path dir, long maxShardBytes) {
        this(dir, maxShardBytes, 0);
    }

    /** @param headerRoom bytes each shard reserves for its header: an estimate of the largest header, see {@link #headerRoomFor} */
    public SafetensorsWriter(Path dir, long maxShardBytes, long headerRoom) {
        this.dir = dir;
        this.maxShardBytes = maxShardBytes;
        this.headerRoom = headerRoom == 0 ? 0 : (headerRoom + 7) / 8 * 8 + 8;
    }

    /** Room enough for the header of {@code entries} tensors whose names are at most {@code longestName} characters. */
    public static long headerRoomFor(long entries, int longestName) {
        // {"name":{"dtype":"BF16","shape":[n,n],"data_offsets":[n,n]}} with 20-digit numbers: under 140 bytes beside the name
        return 256 + entries * (longestName + 140L);
    }

    public void add(String name, DType dtype, long[] shape, MemorySegment bytes) {
        if (shardOf.containsKey(name)) {
            throw new IllegalArgumentException("tensor " + name + " written twice");
        }
        try {
            if (data != null && dataBytes > 0 && dataBytes + bytes.byteSize() > maxShardBytes) {
                finishShard();
            }
            if (data == null) {
                dataFile = dir.resolve(".shard-" + (shards.size() + 1) + ".safetensors");
                data = FileChannel.open(dataFile, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                        StandardOpenOption.WRITE, StandardOpenOption.READ);
                data.position(headerRoom);
                dataBytes = 0;
                header.clear();
                header.put("__metadata__", Map.of("format", "pt"));
            }
            for (long at = 0; at < bytes.byteSize(); at += CHUNK) {
                ByteBuffer b = bytes.asSlice(at, Math.min(CHUNK, bytes.byteSize() - at)).asByteBuffer();
                while (b.hasRemaining()) {
                    data.write(b);
                }
            }
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", dtype.name());
            entry.put("shape", shape);
            entry.put("data_offsets", new long[] {dataBytes, dataBytes + bytes.byteSize()});
            header.put(name, entry);
            dataBytes += bytes.byteSize();
            totalBytes += bytes.byteSize();
            shardOf.put(name, shards.size());
        } catch (IOException e) {
            throw ConvoyException.in(dir, "cannot write: " + AtomicFile.describe(e));
        }
    }

    /**
     * The header in the room at the start of the shard, padded with spaces; when it does not fit, a new file with the
     * header (padded to 8 bytes) and the data moved after it.
     */
    private void finishShard() throws IOException {
        byte[] json = new ObjectMapper().writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        Path shard = dataFile;
        if (8 + json.length <= headerRoom) {
            ByteBuffer head = header(json, headerRoom - 8);
            while (head.hasRemaining()) {
                data.write(head, head.position());
            }
            data.close();
        } else {
            shard = dir.resolve(".shard-" + (shards.size() + 1) + ".moved.safetensors");
            try (FileChannel out = FileChannel.open(shard, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                ByteBuffer head = header(json, (json.length + 7) / 8 * 8);
                while (head.hasRemaining()) {
                    out.write(head);
                }
                long copied = 0;
                while (copied < dataBytes) {
                    copied += data.transferTo(headerRoom + copied, dataBytes - copied, out);
                }
            }
            data.close();
            Files.delete(dataFile);
        }
        data = null;
        shards.add(shard);
    }

    private static ByteBuffer header(byte[] json, long length) {
        ByteBuffer head = ByteBuffer.allocate((int) (8 + length)).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(length).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        return head.flip();
    }

    /** Finishes the last shard and gives the shards their final names. */
    public void finish() {
        try {
            if (data != null) {
                finishShard();
            }
            finished = true;
            int n = shards.size();
            if (n == 1) {
                Files.move(shards.getFirst(), dir.resolve(Checkpoint.SINGLE_FILE), StandardCopyOption.REPLACE_EXISTING);
                return;
            }
            Map<String, String> weightMap = new TreeMap<>();
            for (Map.Entry<String, Integer> e : shardOf.entrySet()) {
                weightMap.put(e.getKey(), shardName(e.getValue(), n));
            }
            for (int i = 0; i < n; i++) {
                Files.move(shards.get(i), dir.resolve(shardName(i, n)), StandardCopyOption.REPLACE_EXISTING);
            }
            Map<String, Object> index = new LinkedHashMap<>();
            index.put("metadata", Map.of("total_size", totalBytes));
            index.put("weight_map", weightMap);
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(dir.resolve(Checkpoint.INDEX_FILE).toFile(), index);
        } catch (IOException e) {
            throw ConvoyException.in(dir, "cannot finish the checkpoint: " + AtomicFile.describe(e));
        }
    }

    /** Removes the shards of an unfinished write. */
    @Override
    public void close() {
        if (finished) {
            return;
        }
        try {
            if (data != null) {
                data.close();
                Files.deleteIfExists(dataFile);
            }
            for (Path shard : shards) {
                Files.deleteIfExists(shard);
            }
        } catch (IOException e) {
            throw ConvoyException.in(dir, "cannot remove the unfinished checkpoint: " + AtomicFile.describe(e));
        }
    }

    private static String shardName(int i, int n) {
        return String.format("model-%05d-of-%05d.safetensors", i + 1, n);
    }
}

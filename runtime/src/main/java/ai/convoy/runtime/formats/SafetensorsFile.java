package ai.convoy.runtime.formats;

import ai.convoy.kernels.DType;
import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header of
 * {name: {dtype, shape, data_offsets}}, then the data. Every entry is validated against the file before any
 * tensor is handed out, so a truncated or corrupt file fails at open with the file and tensor named.
 */
public final class SafetensorsFile implements AutoCloseable {
    private static final long MAX_HEADER = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final Arena arena;
    private final Map<String, HostTensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, Map<String, HostTensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw ConvoyException.in(path, "truncated: " + size + " bytes, shorter than the 8-byte header length");
            }
            MemorySegment file = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLength = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLength <= 0 || headerLength > MAX_HEADER) {
                throw ConvoyException.in(path, "not a safetensors file: header length " + headerLength);
            }
            if (8 + headerLength > size) {
                throw ConvoyException.in(path, "truncated: the header needs " + (8 + headerLength) + " bytes, the file has " + size);
            }
            byte[] headerBytes = file.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
            JsonNode header = parseHeader(path, headerBytes);
            long dataStart = 8 + headerLength;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, HostTensor> tensors = readEntries(path, header, file.asSlice(dataStart), metadata);
            return new SafetensorsFile(path, arena, tensors, metadata);
        } catch (NoSuchFileException e) {
            arena.close();
            throw ConvoyException.in(path, "no such file");
        } catch (IOException e) {
            arena.close();
            throw ConvoyException.in(path, "cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static JsonNode parseHeader(Path path, byte[] headerBytes) {
        try {
            JsonNode header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
            if (header == null || !header.isObject()) {
                throw ConvoyException.in(path, "corrupt header: not a JSON object");
            }
            return header;
        } catch (JsonProcessingException e) {
            throw ConvoyException.in(path, "corrupt header: " + e.getOriginalMessage());
        }
    }

    private record Span(String name, long begin, long end) {
    }

    private static Map<String, HostTensor> readEntries(Path path, JsonNode header, MemorySegment data,
                                                       Map<String, String> metadata) {
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        List<Span> spans = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode entry = e.getValue();
            if (name.equals("__metadata__")) {
                entry.properties().forEach(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            DType dtype = dtype(path, name, entry.path("dtype").asText(""));
            JsonNode shapeNode = entry.path("shape");
            JsonNode offsets = entry.path("data_offsets");
            if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
                throw ConvoyException.in(path, "corrupt header entry for " + name + ": needs shape and two data_offsets");
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = shapeNode.get(i);
                shape[i] = d.isIntegralNumber() && d.canConvertToLong() ? d.asLong() : -1;
                if (shape[i] < 0) {
                    throw ConvoyException.in(path, "corrupt header entry for " + name + ": dimension " + d + " is not a non-negative integer");
                }
            }
            long begin = offsets.get(0).isIntegralNumber() ? offsets.get(0).asLong(-1) : -1;
            long end = offsets.get(1).isIntegralNumber() ? offsets.get(1).asLong(-1) : -1;
            long bytes;
            try {
                bytes = Math.multiplyExact(HostTensor.elementCount(shape), dtype.bytes());
            } catch (ArithmeticException overflow) {
                throw ConvoyException.in(path, "corrupt header entry for " + name + ": shape " + Arrays.toString(shape)
                        + " has more elements than 64-bit sizes hold");
            }
            if (begin < 0 || end < begin || end - begin != bytes) {
                throw ConvoyException.in(path, "corrupt header entry for " + name + ": offsets [" + begin + ", " + end
                        + ") do not hold " + bytes + " bytes of " + dtype);
            }
            if (end > data.byteSize()) {
                throw ConvoyException.in(path, "truncated: tensor " + name + " ends at data byte " + end + " but the file holds "
                        + data.byteSize() + " bytes of data");
            }
            spans.add(new Span(name, begin, end));
            tensors.put(name, new HostTensor(name, dtype, shape, data.asSlice(begin, bytes)));
        }
        spans.sort(Comparator.comparingLong(Span::begin));
        for (int i = 1; i < spans.size(); i++) {
            if (spans.get(i).begin() < spans.get(i - 1).end()) {
                throw ConvoyException.in(path, "corrupt header: tensors " + spans.get(i - 1).name() + " and "
                        + spans.get(i).name() + " overlap");
            }
        }
        long lastEnd = spans.stream().mapToLong(Span::end).max().orElse(0);
        if (data.byteSize() > lastEnd) {
            // as the safetensors library: data the header does not describe means a damaged or spliced file
            throw ConvoyException.in(path, "corrupt: " + (data.byteSize() - lastEnd) + " bytes after the last tensor's data");
        }
        return tensors;
    }

    private static DType dtype(Path path, String tensor, String name) {
        try {
            return DType.valueOf(name);
        } catch (IllegalArgumentException e) {
            throw ConvoyException.in(path, "tensor " + tensor + " has unsupported dtype '" + name + "' (supported: F32, F16, BF16, U8, I8, I32, I64)");
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, HostTensor> tensors() {
        return Collections.unmodifiableMap(tensors);
    }

    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    @Override
    public void close() {
        arena.close();
    }
}

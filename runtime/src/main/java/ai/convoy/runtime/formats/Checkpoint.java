package ai.convoy.runtime.formats;

import ai.convoy.kernels.HostTensor;
import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The weights of a model directory: {@code model.safetensors}, or the shards named by
 * {@code model.safetensors.index.json}. Every shard is opened and checked up front.
 */
public final class Checkpoint implements AutoCloseable {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final List<SafetensorsFile> files;
    private final Map<String, HostTensor> tensors;
    private final Map<String, Path> origin;

    private Checkpoint(List<SafetensorsFile> files) {
        this.files = files;
        this.tensors = new LinkedHashMap<>();
        this.origin = new LinkedHashMap<>();
        for (SafetensorsFile f : files) {
            f.tensors().forEach((name, t) -> {
                tensors.put(name, t);
                origin.put(name, f.path());
            });
        }
    }

    public static Checkpoint open(Path dir) {
        Path index = dir.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) {
            return openSharded(index);
        }
        Path single = dir.resolve(SINGLE_FILE);
        if (Files.isRegularFile(single)) {
            return new Checkpoint(List.of(SafetensorsFile.open(single)));
        }
        throw ConvoyException.in(dir, "no " + SINGLE_FILE + " or " + INDEX_FILE + " in the model directory");
    }

    private static Checkpoint openSharded(Path index) {
        JsonNode weightMap;
        try {
            weightMap = new ObjectMapper().readTree(index.toFile()).path("weight_map");
        } catch (IOException e) {
            throw ConvoyException.in(index, "cannot parse: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (!weightMap.isObject() || weightMap.isEmpty()) {
            throw ConvoyException.in(index, "no weight_map");
        }
        Set<String> shardNames = new LinkedHashSet<>();
        weightMap.properties().forEach(e -> {
            String shard = e.getValue().isTextual() ? e.getValue().asText() : "";
            // a shard is a file of the model's own folder, never a path that leads out of it
            if (shard.isEmpty() || shard.equals(".") || shard.equals("..") || shard.contains("/") || shard.contains("\\")) {
                throw ConvoyException.in(index, "tensor " + e.getKey() + " names shard " + e.getValue()
                        + ": a shard must be a file name in the model directory");
            }
            shardNames.add(shard);
        });
        for (String shard : shardNames) {
            if (!Files.isRegularFile(index.resolveSibling(shard))) {
                throw ConvoyException.in(index, "shard " + shard + " is missing");
            }
        }
        List<SafetensorsFile> files = new ArrayList<>();
        try {
            for (String shard : shardNames) {
                files.add(SafetensorsFile.open(index.resolveSibling(shard)));
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        Checkpoint checkpoint = new Checkpoint(files);
        weightMap.properties().forEach(e -> {
            Path shard = index.resolveSibling(e.getValue().asText());
            if (!shard.equals(checkpoint.origin.get(e.getKey()))) {
                checkpoint.close();
                throw ConvoyException.in(index, "tensor " + e.getKey() + " is not in its shard " + e.getValue().asText());
            }
        });
        return checkpoint;
    }

    public Map<String, HostTensor> tensors() {
        return Collections.unmodifiableMap(tensors);
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** The tensor, or an error naming the checkpoint when it is absent. */
    public HostTensor get(String name) {
        HostTensor t = tensors.get(name);
        if (t == null) {
            Path where = files.size() == 1 ? files.getFirst().path() : files.getFirst().path().resolveSibling(INDEX_FILE);
            throw ConvoyException.in(where, "tensor " + name + " is missing");
        }
        return t;
    }

    /** The file a tensor was read from. */
    public Path fileOf(String name) {
        return origin.get(name);
    }

    public long totalBytes() {
        return tensors.values().stream().mapToLong(t -> t.data().byteSize()).sum();
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}

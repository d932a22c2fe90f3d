package ai.convoy.runtime.model;

import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The small model packaged inside Convoy, unpacked into a folder so that it can be memory-mapped like any other.
 * The folder is named by a hash of the files' content and appears only complete: each process unpacks into a
 * private folder and renames it into place, so processes started together, or a folder left by another build,
 * never see a half-written or mixed model. The manifest holds each file's SHA-256 and size, so a start that finds
 * the folder in place reads only the manifest, not the model (EmbeddedModelTest holds the manifest to the files).
 */
public final class EmbeddedModel {
    static final String RESOURCE = "/ai/convoy/runtime/default-model/";
    /** The resource that lists the model's files, a line each: SHA-256, size in bytes, name. */
    static final String MANIFEST = "files";

    /** A file of the model as the manifest gives it. */
    record Entry(String sha256, long size, String name) {
    }
    /** Continued when a run of the default model is given no prompt. */
    public static final String DEFAULT_PROMPT = "It was the first time that";

    private EmbeddedModel() {
    }

    /** The unpacked model under the system's temporary folder. */
    public static Path directory() {
        return unpackInto(Path.of(System.getProperty("java.io.tmpdir")));
    }

    /** The unpacked model under {@code parent}, unpacked now unless a complete copy of the same content is there. */
    public static Path unpackInto(Path parent) {
        String manifest = new String(resource(MANIFEST), StandardCharsets.UTF_8);
        List<Entry> content = entries(manifest);
        Path target = parent.resolve("convoy-default-model-" + sha256(manifest.getBytes(StandardCharsets.UTF_8)).substring(0, 16));
        if (matches(target, content)) {
            return target;
        }
        Path staging = null;
        try {
            Files.createDirectories(parent);
            staging = Files.createTempDirectory(parent, ".convoy-default-model-");
            for (Entry f : content) {
                Files.write(staging.resolve(f.name()), resource(f.name()));
            }
            for (int attempt = 0; attempt < 3; attempt++) {
                try {
                    Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
                    staging = null;
                    return target;
                } catch (FileSystemException e) {
                    // another process put its copy in place first, or a damaged copy is in the way
                    if (matches(target, content)) {
                        return target;
                    }
                    if (!Files.exists(target)) {
                        throw e;
                    }
                    moveAsideAndDelete(target, parent);
                }
            }
            throw new ConvoyException("cannot unpack the built-in model into " + target + ": another process keeps changing it");
        } catch (IOException e) {
            throw new ConvoyException("cannot unpack the built-in model into " + parent + ": " + ai.convoy.runtime.formats.AtomicFile.describe(e)
                    + " (set another temporary folder with CONVOY_JAVA_OPTS=-Djava.io.tmpdir=DIR)");
        } finally {
            if (staging != null) {
                deleteTree(staging);
            }
        }
    }

    private static boolean matches(Path dir, List<Entry> content) {
        try {
            for (Entry f : content) {
                Path p = dir.resolve(f.name());
                if (!Files.isRegularFile(p) || Files.size(p) != f.size()) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Sets a damaged copy (a temporary-folder cleaner removes old files) aside and deletes it. */
    private static void moveAsideAndDelete(Path target, Path parent) throws IOException {
        Path aside = Files.createTempDirectory(parent, ".convoy-default-model-stale-");
        try {
            Files.move(target, aside.resolve("old"), StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // another process moved it first
        }
        deleteTree(aside);
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // leftovers in the temporary folder are harmless
        }
    }

    /** The manifest's lines as entries. */
    static List<Entry> entries(String manifest) {
        List<Entry> out = new ArrayList<>();
        for (String line : manifest.lines().filter(l -> !l.isBlank()).toList()) {
            String[] f = line.strip().split("\\s+", 3);
            out.add(new Entry(f[0], Long.parseLong(f[1]), f[2]));
        }
        return out;
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A resource of the built-in model, as the build holds it. */
    static byte[] resource(String name) {
        try (InputStream in = EmbeddedModel.class.getResourceAsStream(RESOURCE + name)) {
            if (in == null) {
                throw new IllegalStateException("the build lacks the built-in model's " + name + " (resource " + RESOURCE + name + ")");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the built-in model's " + name + " from the build", e);
        }
    }
}

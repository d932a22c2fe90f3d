package ai.convoy.runtime.formats;

import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A new or empty directory that a command fills with a model. Until {@link #commit()} it belongs to the command:
 * a failure, or an interrupt (SIGINT, SIGTERM), removes what was written, and the directory too when the command
 * created it, so a later try finds the place as it was.
 */
public final class OutputDirectory implements AutoCloseable {
    private final Path path;
    private final boolean created;
    private final Thread onInterrupt;
    private boolean committed;

    private OutputDirectory(Path path, boolean created) {
        this.path = path;
        this.created = created;
        this.onInterrupt = new Thread(this::removeWritten, "convoy-remove-partial-output");
        Runtime.getRuntime().addShutdownHook(onInterrupt);
    }

    /** Takes {@code out}, which must not exist or be empty, and must not be {@code input} (may be null). */
    public static OutputDirectory claim(Path out, Path input) {
        try {
            if (Files.exists(out)) {
                if (!Files.isDirectory(out)) {
                    throw ConvoyException.in(out, "exists and is not a directory; choose a new or empty directory");
                }
                if (input != null && Files.exists(input) && Files.isSameFile(input, out)) {
                    throw ConvoyException.in(out, "the output directory is the input directory; choose another");
                }
                try (Stream<Path> entries = Files.list(out)) {
                    if (entries.findAny().isPresent()) {
                        throw ConvoyException.in(out, "the output directory is not empty; choose a new or empty one");
                    }
                }
                return new OutputDirectory(out, false);
            }
            Files.createDirectories(out);
            return new OutputDirectory(out, true);
        } catch (IOException e) {
            throw ConvoyException.in(out, "cannot create: " + AtomicFile.describe(e));
        }
    }

    public Path path() {
        return path;
    }

    /** The model is complete: it stays. */
    public void commit() {
        committed = true;
        Runtime.getRuntime().removeShutdownHook(onInterrupt);
    }

    /** Removes what was written unless committed. */
    @Override
    public void close() {
        if (committed) {
            return;
        }
        try {
            Runtime.getRuntime().removeShutdownHook(onInterrupt);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs, or ran, itself
        }
        removeWritten();
    }

    private synchronized void removeWritten() {
        if (committed || !Files.exists(path)) {
            return;
        }
        try (Stream<Path> files = Files.walk(path)) {
            files.sorted(Comparator.reverseOrder()).filter(p -> created || !p.equals(path)).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // nothing more can be done on the way out
        }
    }
}

package ai.convoy.runtime.formats;

import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * A file that appears whole or not at all: written beside its final name and renamed into place, the partial file
 * removed when writing fails (a full disk, an error, an interrupt).
 */
public final class AtomicFile {
    /** Writes the content of the file. */
    public interface Body {
        void writeTo(OutputStream out) throws IOException;
    }

    private AtomicFile() {
    }

    public static void write(Path file, Body body) {
        Path dir = file.toAbsolutePath().getParent();
        Path partial = null;
        try {
            partial = Files.createTempFile(dir, "." + file.getFileName() + ".", ".partial");
            try (OutputStream out = Files.newOutputStream(partial)) {
                body.writeTo(out);
            }
            Files.move(partial, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            partial = null;
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot write: " + describe(e));
        } finally {
            if (partial != null) {
                try {
                    Files.deleteIfExists(partial);
                } catch (IOException ignored) {
                    // the write's own error is the one to report
                }
            }
        }
    }

    /** An I/O error in words: the operating system's reason ("No space left on device") rather than a class name. */
    public static String describe(IOException e) {
        String m = e.getMessage();
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file or directory: " + m;
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied: " + m;
        }
        return m == null ? e.getClass().getSimpleName() : m;
    }
}

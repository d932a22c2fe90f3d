package ai.convoy.runtime;

import java.nio.file.Path;

/** A problem the user can fix (bad file, bad option); its message is one line that names the problem and where. */
public class ConvoyException extends RuntimeException {

    public ConvoyException(String message) {
        super(message);
    }

    public ConvoyException(String message, Throwable cause) {
        super(message, cause);
    }

    public static ConvoyException in(Path file, String problem) {
        return new ConvoyException(file + ": " + problem);
    }
}

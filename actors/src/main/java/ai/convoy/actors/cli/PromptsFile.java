package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Utf8Text;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A --prompts-file of convoy run and convoy submit: one prompt a line, text or, for a model without a tokenizer, token ids. */
final class PromptsFile {
    /** A prompt and the line it is on, which numbers its job. */
    record Line(int number, String text) {
    }

    private PromptsFile() {
    }

    /** The file's prompts: its lines that are not blank. */
    static List<Line> read(Path file) {
        List<Line> prompts = new ArrayList<>();
        try (InputStream stream = new BufferedInputStream(Files.newInputStream(file))) {
            Utf8Text.LineReader lines = new Utf8Text.LineReader(stream, file.toString());
            for (String line = lines.next(); line != null; line = lines.next()) {
                if (!line.isBlank()) {
                    prompts.add(new Line((int) lines.lineNumber(), line));
                }
            }
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot read: " + e.getMessage());
        }
        if (prompts.isEmpty()) {
            throw ConvoyException.in(file, "no prompts in the file");
        }
        return prompts;
    }

    /** A line read as the token ids a model without a tokenizer takes. */
    static int[] tokenIds(Path file, Line line) {
        try {
            return Arrays.stream(line.text().split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw ConvoyException.in(file, "line " + line.number() + " is not comma-separated token ids, and the model has no tokenizer.json");
        }
    }
}

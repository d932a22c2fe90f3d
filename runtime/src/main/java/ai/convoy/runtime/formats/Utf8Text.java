package ai.convoy.runtime.formats;

import ai.convoy.runtime.ConvoyException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text read strictly as UTF-8: a byte sequence that is not UTF-8 is an error that names the source, the line and
 * the byte offset, never a silent replacement character.
 */
public final class Utf8Text {
    private Utf8Text() {
    }

    /** The whole file as text. */
    public static String read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot read: " + AtomicFile.describe(e));
        }
        return decode(bytes, 0, bytes.length, file.toString(), 1, 0);
    }

    /**
     * Decodes {@code bytes[from, from+length)}, which start at line {@code firstLine} and at byte {@code firstOffset}
     * of {@code source}.
     */
    static String decode(byte[] bytes, int from, int length, String source, long firstLine, long firstOffset) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, from, length);
        CharBuffer out = CharBuffer.allocate(length);
        CoderResult result = decoder.decode(in, out, true);
        if (result.isError()) {
            int bad = in.position();
            long line = firstLine;
            int lineStart = from;
            for (int i = from; i < bad; i++) {
                if (bytes[i] == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            throw new ConvoyException(String.format("%s: line %d is not valid UTF-8: byte 0x%02x at byte offset %d (column %d of the line)",
                    source, line, bytes[bad] & 0xff, firstOffset + bad - from, bad - lineStart + 1));
        }
        decoder.flush(out);
        return out.flip().toString();
    }

    /** Lines of a stream, without their line ends (\n or \r\n), decoded strictly one at a time as they arrive. */
    public static final class LineReader {
        private final InputStream in;
        private final String source;
        private long line;
        private long offset;

        public LineReader(InputStream in, String source) {
            this.in = in;
            this.source = source;
        }

        /** The next line, or null at the end of the stream. */
        public String next() {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            int b;
            try {
                while ((b = in.read()) >= 0 && b != '\n') {
                    buf.write(b);
                }
            } catch (IOException e) {
                throw new ConvoyException(source + ": cannot read: " + AtomicFile.describe(e));
            }
            if (b < 0 && buf.size() == 0) {
                return null;
            }
            byte[] bytes = buf.toByteArray();
            int length = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
            line++;
            String text = decode(bytes, 0, length, source, line, offset);
            offset += bytes.length + (b < 0 ? 0 : 1);
            return text;
        }

        /** The number of the line {@link #next()} returned last, from 1. */
        public long lineNumber() {
            return line;
        }
    }
}

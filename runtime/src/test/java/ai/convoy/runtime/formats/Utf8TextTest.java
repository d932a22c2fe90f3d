package ai.convoy.runtime.formats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ConvoyException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Utf8TextTest {
    @TempDir
    Path tmp;

    @Test
    void linesKeepTheirTextAndLoseTheirEnds() {
        Utf8Text.LineReader r = new Utf8Text.LineReader(new ByteArrayInputStream("héllo\r\n\nwörld".getBytes(java.nio.charset.StandardCharsets.UTF_8)), "in");
        assertEquals("héllo", r.next());
        assertEquals("", r.next());
        assertEquals("wörld", r.next());
        assertEquals(3, r.lineNumber());
        assertNull(r.next());
    }

    @Test
    void anInvalidByteNamesItsLineAndOffset() {
        byte[] bytes = {'a', 'b', '\n', 'c', (byte) 0xe2, (byte) 0x28, '\n'};
        Utf8Text.LineReader r = new Utf8Text.LineReader(new ByteArrayInputStream(bytes), "standard input");
        assertEquals("ab", r.next());
        ConvoyException e = assertThrows(ConvoyException.class, r::next);
        assertEquals("standard input: line 2 is not valid UTF-8: byte 0xe2 at byte offset 4 (column 2 of the line)", e.getMessage());
    }

    @Test
    void aWholeFileNamesTheLineToo() throws IOException {
        Path f = tmp.resolve("t.txt");
        Files.write(f, new byte[] {'x', '\n', 'y', '\n', 'z', (byte) 0xc0, (byte) 0x80});
        ConvoyException e = assertThrows(ConvoyException.class, () -> Utf8Text.read(f));
        assertTrue(e.getMessage().startsWith(f + ": line 3 is not valid UTF-8: byte 0xc0 at byte offset 5"), e.getMessage());
    }
}

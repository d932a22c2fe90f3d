package ai.convoy.actors.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringsTest {
    /** The text let out, piece by piece, then flushed. */
    static String run(StopStrings stops, String... pieces) {
        StringBuilder out = new StringBuilder();
        for (String p : pieces) {
            out.append(stops.offer(p));
        }
        return out.append(stops.flush()).toString();
    }

    @Test
    void theTextEndsBeforeTheFirstStopStringEvenAcrossPieces() {
        StopStrings stops = new StopStrings(List.of("END", "\n\n"));
        assertEquals("one two ", run(stops, "one", " two E", "N", "D three"));
        assertTrue(stops.stopped());
        StopStrings earliest = new StopStrings(List.of("c", "ab"));
        assertEquals("x", run(earliest, "xabc"), "the earliest stop string wins");
    }

    @Test
    void textThatCouldStartAStopStringIsHeldUntilItCannot() {
        StopStrings stops = new StopStrings(List.of("STOP"));
        assertEquals("ab", stops.offer("abST"), "ST may begin STOP");
        assertEquals("", stops.offer("O"));
        assertEquals("STOx", stops.offer("xyz").substring(0, 4));
        assertFalse(stops.stopped());
        assertEquals("everything", run(new StopStrings(List.of()), "every", "thing"), "no stop strings: all of it at once");
    }
}

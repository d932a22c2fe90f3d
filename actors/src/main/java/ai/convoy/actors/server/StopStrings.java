package ai.convoy.actors.server;

import java.util.List;

/**
 * Generated text checked against stop strings as it streams: text is let out once no stop string can begin in it
 * (an end that a stop string begins with is held), and at the first stop string the text ends before it.
 */
final class StopStrings {
    private final List<String> stops;
    private final int longest;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopStrings(List<String> stops) {
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
        this.longest = this.stops.stream().mapToInt(String::length).max().orElse(0);
    }

    /** Takes the next piece of text; returns what may be let out now (nothing once a stop string was met). */
    String offer(String piece) {
        if (stopped) {
            return "";
        }
        held.append(piece);
        int at = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (at < 0 || i < at)) {
                at = i;
            }
        }
        if (at >= 0) {
            stopped = true;
            String out = held.substring(0, at);
            held.setLength(0);
            return out;
        }
        // held back: the longest end of the text that a stop string begins with
        int keep = 0;
        for (int k = Math.min(held.length(), longest - 1); k > 0 && keep == 0; k--) {
            String end = held.substring(held.length() - k);
            if (stops.stream().anyMatch(s -> s.startsWith(end))) {
                keep = k;
            }
        }
        int safe = held.length() - keep;
        String out = held.substring(0, safe);
        held.delete(0, safe);
        return out;
    }

    /** Whether a stop string was met: the text has ended. */
    boolean stopped() {
        return stopped;
    }

    /** The text held back, at the end of generation. */
    String flush() {
        String out = stopped ? "" : held.toString();
        held.setLength(0);
        return out;
    }
}

package ai.convoy.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The pre-tokenizers of a tokenizer.json: each splits every piece of text into smaller pieces (or rewrites it). */
sealed interface PreTokenizer {

    List<String> split(List<String> pieces);

    Pattern GPT2_SPLIT = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        public List<String> split(List<String> pieces) {
            for (PreTokenizer p : steps) {
                pieces = p.split(pieces);
            }
            return pieces;
        }
    }

    enum Behavior { ISOLATED, REMOVED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    record Split(Pattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        public List<String> split(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String piece : pieces) {
                splitOne(piece, out);
            }
            return out;
        }

        private void splitOne(String text, List<String> out) {
            // (start, end, matched) spans covering the text
            List<int[]> spans = new ArrayList<>();
            Matcher m = pattern.matcher(text);
            int last = 0;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue;
                }
                if (m.start() > last) {
                    spans.add(new int[] {last, m.start(), invert ? 1 : 0});
                }
                spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
                last = m.end();
            }
            if (last < text.length()) {
                spans.add(new int[] {last, text.length(), invert ? 1 : 0});
            }
            switch (behavior) {
                case ISOLATED -> spans.forEach(s -> out.add(text.substring(s[0], s[1])));
                case REMOVED -> spans.stream().filter(s -> s[2] == 0).forEach(s -> out.add(text.substring(s[0], s[1])));
                case MERGED_WITH_PREVIOUS -> {
                    int start = -1;
                    for (int[] s : spans) {
                        if (s[2] == 1 && start >= 0) {
                            out.set(out.size() - 1, text.substring(start, s[1]));
                        } else {
                            out.add(text.substring(s[0], s[1]));
                            start = s[0];
                        }
                    }
                }
                case MERGED_WITH_NEXT -> {
                    int pending = -1;
                    for (int[] s : spans) {
                        if (s[2] == 1) {
                            if (pending < 0) {
                                pending = s[0];
                            }
                        } else {
                            out.add(text.substring(pending >= 0 ? pending : s[0], s[1]));
                            pending = -1;
                        }
                    }
                    if (pending >= 0) {
                        out.add(text.substring(pending));
                    }
                }
                case CONTIGUOUS -> {
                    int i = 0;
                    while (i < spans.size()) {
                        int j = i;
                        while (j + 1 < spans.size() && spans.get(j + 1)[2] == spans.get(i)[2] && spans.get(i)[2] == 1) {
                            j++;
                        }
                        out.add(text.substring(spans.get(i)[0], spans.get(j)[1]));
                        i = j + 1;
                    }
                }
            }
        }
    }

    /** Maps each piece's UTF-8 bytes to the byte-level alphabet, after GPT-2's split when use_regex is set. */
    record ByteLevelSplit(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        public List<String> split(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (String piece : pieces) {
                String p = addPrefixSpace && !piece.startsWith(" ") ? " " + piece : piece;
                List<String> parts = useRegex ? new Split(GPT2_SPLIT, Behavior.ISOLATED, false).split(List.of(p)) : List.of(p);
                for (String part : parts) {
                    out.add(ByteLevel.encode(part));
                }
            }
            return out;
        }
    }

    /** SentencePiece's view: spaces become the replacement character, with a leading one as the scheme says. */
    record Metaspace(String replacement, String prependScheme, boolean split) implements PreTokenizer {
        public List<String> split(List<String> pieces) {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < pieces.size(); i++) {
                String p = pieces.get(i).replace(" ", replacement);
                boolean prepend = prependScheme.equals("always") || (prependScheme.equals("first") && i == 0);
                if (prepend && !p.startsWith(replacement)) {
                    p = replacement + p;
                }
                if (!split) {
                    out.add(p);
                    continue;
                }
                int start = 0;
                for (int k = 1; k <= p.length(); k++) {
                    if (k == p.length() || p.startsWith(replacement, k)) {
                        if (k > start) {
                            out.add(p.substring(start, k));
                        }
                        start = k;
                    }
                }
            }
            return out;
        }
    }

    static PreTokenizer fromJson(JsonNode n) {
        String type = n.path("type").asText("");
        return switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                n.path("pretokenizers").forEach(s -> steps.add(fromJson(s)));
                yield new Sequence(steps);
            }
            case "Split" -> new Split(Patterns.of(n.path("pattern")), behavior(n.path("behavior").asText("Isolated")),
                    n.path("invert").asBoolean(false));
            case "ByteLevel" -> new ByteLevelSplit(n.path("add_prefix_space").asBoolean(true), n.path("use_regex").asBoolean(true));
            case "Metaspace" -> new Metaspace(n.path("replacement").asText("\u2581"), n.path("prepend_scheme").asText(
                    n.path("add_prefix_space").asBoolean(true) ? "always" : "never"), n.path("split").asBoolean(true));
            default -> throw new IllegalArgumentException("pre-tokenizer '" + type + "' is not supported");
        };
    }

    private static Behavior behavior(String name) {
        return switch (name) {
            case "Isolated" -> Behavior.ISOLATED;
            case "Removed" -> Behavior.REMOVED;
            case "MergedWithPrevious" -> Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> Behavior.CONTIGUOUS;
            default -> throw new IllegalArgumentException("split behavior '" + name + "' is not supported");
        };
    }
}

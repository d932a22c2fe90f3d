package ai.convoy.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Added and special tokens, found in text before the model sees it: at each position the longest token that
 * starts there wins, the leftmost position first. Tokens marked {@code normalized} are looked for in the normalized
 * text, the others in the raw text.
 */
final class AddedTokens {
    record Token(int id, String content, boolean special, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized) {
    }

    /** A stretch of text, or one added token (id >= 0). */
    record Segment(String text, int id) {
    }

    private final List<Token> all = new ArrayList<>();
    private final Map<Integer, Token> byId = new HashMap<>();
    private final Map<String, Token> byContent = new HashMap<>();
    private final Map<Character, List<Token>> raw = new HashMap<>();
    private final Map<Character, List<Token>> normalizedTokens = new HashMap<>();

    AddedTokens(JsonNode list) {
        for (JsonNode t : list) {
            Token token = new Token(t.path("id").asInt(), t.path("content").asText(), t.path("special").asBoolean(false),
                    t.path("single_word").asBoolean(false), t.path("lstrip").asBoolean(false), t.path("rstrip").asBoolean(false),
                    t.path("normalized").asBoolean(false));
            if (token.content().isEmpty()) {
                continue;
            }
            all.add(token);
            byId.put(token.id(), token);
            byContent.put(token.content(), token);
            (token.normalized() ? normalizedTokens : raw).computeIfAbsent(token.content().charAt(0), k -> new ArrayList<>()).add(token);
        }
        // longest first, so the first match at a position is the longest
        raw.values().forEach(l -> l.sort((a, b) -> b.content().length() - a.content().length()));
        normalizedTokens.values().forEach(l -> l.sort((a, b) -> b.content().length() - a.content().length()));
    }

    Token byId(int id) {
        return byId.get(id);
    }

    Token byContent(String content) {
        return byContent.get(content);
    }

    int maxId() {
        return all.stream().mapToInt(Token::id).max().orElse(-1);
    }

    boolean hasNormalized() {
        return !normalizedTokens.isEmpty();
    }

    List<Segment> splitRaw(String text) {
        return split(text, raw);
    }

    List<Segment> splitNormalized(String text) {
        return split(text, normalizedTokens);
    }

    private static List<Segment> split(String text, Map<Character, List<Token>> index) {
        List<Segment> out = new ArrayList<>();
        if (index.isEmpty()) {
            out.add(new Segment(text, -1));
            return out;
        }
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            Token match = null;
            List<Token> candidates = index.get(text.charAt(i));
            if (candidates != null) {
                for (Token t : candidates) {
                    if (text.startsWith(t.content(), i) && wordBoundaryOk(t, text, i)) {
                        match = t;
                        break;
                    }
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            int from = i;
            int to = i + match.content().length();
            if (match.lstrip()) {
                while (from > start && Character.isWhitespace(text.charAt(from - 1))) {
                    from--;
                }
            }
            if (match.rstrip()) {
                while (to < text.length() && Character.isWhitespace(text.charAt(to))) {
                    to++;
                }
            }
            if (from > start) {
                out.add(new Segment(text.substring(start, from), -1));
            }
            out.add(new Segment(text.substring(from, to), match.id()));
            start = to;
            i = to;
        }
        if (start < text.length()) {
            out.add(new Segment(text.substring(start), -1));
        }
        return out;
    }

    private static boolean wordBoundaryOk(Token t, String text, int at) {
        if (!t.singleWord()) {
            return true;
        }
        int end = at + t.content().length();
        boolean before = at == 0 || !Character.isLetterOrDigit(text.codePointBefore(at));
        boolean after = end == text.length() || !Character.isLetterOrDigit(text.codePointAt(end));
        return before && after;
    }
}

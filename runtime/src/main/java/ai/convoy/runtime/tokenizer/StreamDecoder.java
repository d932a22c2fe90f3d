package ai.convoy.runtime.tokenizer;

import java.util.Arrays;

/**
 * Incremental decoding: each new id returns the text it completes, or nothing while the text ends inside a
 * character. New ids are decoded together with the ids of the previous emitted piece, so decoders that look at
 * neighbours (a leading space stripped, the bytes of one character) behave as on the whole sequence.
 */
public final class StreamDecoder {
    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] window = new int[16];
    private int size;
    private String prefix = "";
    // how many ids at the start of the window are context already emitted
    private int contextIds;

    StreamDecoder(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /** The text that {@code id} completes; empty while a character is still incomplete. */
    public String next(int id) {
        if (size == window.length) {
            window = Arrays.copyOf(window, size * 2);
        }
        window[size++] = id;
        String text = tokenizer.decode(window, 0, size, skipSpecialTokens);
        if (text.length() <= prefix.length() || text.endsWith("\uFFFD") || !text.startsWith(prefix)) {
            return "";
        }
        String fresh = text.substring(prefix.length());
        int chunk = size - contextIds;
        System.arraycopy(window, contextIds, window, 0, chunk);
        size = chunk;
        contextIds = chunk;
        prefix = tokenizer.decode(window, 0, size, skipSpecialTokens);
        return fresh;
    }
}

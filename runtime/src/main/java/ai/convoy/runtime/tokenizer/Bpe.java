package ai.convoy.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-pair encoding as Hugging Face tokenizers runs it: a word starts as its characters (or their UTF-8 bytes as
 * {@code <0xHH>} tokens with byte fallback), then the adjacent pair of lowest merge rank is merged, leftmost first,
 * until no pair has a merge.
 */
final class Bpe {
    private final Map<String, Integer> vocab;
    private final String[] tokens;
    private final MergeTable merges;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final String continuingPrefix;
    private final String endSuffix;
    private final int[] byteTokens = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    Bpe(JsonNode model) {
        JsonNode v = model.path("vocab");
        vocab = new HashMap<>(v.size() * 2);
        int maxId = -1;
        for (var it = v.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            vocab.put(e.getKey(), e.getValue().asInt());
            maxId = Math.max(maxId, e.getValue().asInt());
        }
        tokens = new String[maxId + 1];
        vocab.forEach((t, id) -> tokens[id] = t);
        JsonNode m = model.path("merges");
        merges = new MergeTable(m.size());
        int rank = 0;
        for (JsonNode merge : m) {
            String a;
            String b;
            if (merge.isArray()) {
                a = merge.get(0).asText();
                b = merge.get(1).asText();
            } else {
                String s = merge.asText();
                int space = s.indexOf(' ', 1);
                a = s.substring(0, space);
                b = s.substring(space + 1);
            }
            Integer ia = vocab.get(a);
            Integer ib = vocab.get(b);
            Integer merged = vocab.get(a + b);
            if (ia == null || ib == null || merged == null) {
                throw new IllegalArgumentException("merge '" + a + " " + b + "' uses tokens missing from the vocabulary");
            }
            merges.put(ia, ib, rank++, merged);
        }
        String unk = model.path("unk_token").isTextual() ? model.get("unk_token").asText() : null;
        unkId = unk != null && vocab.containsKey(unk) ? vocab.get(unk) : -1;
        fuseUnk = model.path("fuse_unk").asBoolean(false);
        byteFallback = model.path("byte_fallback").asBoolean(false);
        ignoreMerges = model.path("ignore_merges").asBoolean(false);
        continuingPrefix = model.path("continuing_subword_prefix").asText("");
        endSuffix = model.path("end_of_word_suffix").asText("");
        for (int b = 0; b < 256; b++) {
            byteTokens[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
        }
    }

    int size() {
        return tokens.length;
    }

    String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    Integer id(String token) {
        return vocab.get(token);
    }

    /** The ids of one pre-tokenized word. */
    int[] tokenize(String word) {
        int[] cached = cache.get(word);
        if (cached != null) {
            return cached;
        }
        int[] ids = encodeWord(word);
        if (cache.size() < 100_000) {
            cache.put(word, ids);
        }
        return ids;
    }

    private int[] encodeWord(String word) {
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        int[] ids = new int[word.length() * 4];
        int n = 0;
        boolean lastUnk = false;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int next = i + Character.charCount(cp);
            String c = word.substring(i, next);
            if (i > 0) {
                c = continuingPrefix + c;
            }
            if (next == word.length()) {
                c = c + endSuffix;
            }
            Integer id = vocab.get(c);
            if (id != null) {
                ids[n++] = id;
                lastUnk = false;
            } else if (byteFallback && allBytesKnown(word.substring(i, next))) {
                for (byte b : word.substring(i, next).getBytes(StandardCharsets.UTF_8)) {
                    ids[n++] = byteTokens[b & 0xff];
                }
                lastUnk = false;
            } else if (unkId >= 0) {
                if (!(fuseUnk && lastUnk)) {
                    ids[n++] = unkId;
                }
                lastUnk = true;
            }
            i = next;
        }
        return merge(Arrays.copyOf(ids, n));
    }

    private boolean allBytesKnown(String c) {
        for (byte b : c.getBytes(StandardCharsets.UTF_8)) {
            if (byteTokens[b & 0xff] < 0) {
                return false;
            }
        }
        return true;
    }

    /** Merges by a min-heap of (rank, position), checking each popped pair is still current. */
    private int[] merge(int[] ids) {
        int n = ids.length;
        if (n < 2) {
            return ids;
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] alive = new boolean[n];
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            alive[i] = true;
            if (i + 1 < n) {
                long rank = merges.rank(ids[i], ids[i + 1]);
                if (rank >= 0) {
                    heap.push(rank << 32 | i);
                }
            }
        }
        int remaining = n;
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int pos = (int) top;
            int rank = (int) (top >>> 32);
            if (!alive[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            if (merges.rank(ids[pos], ids[right]) != rank) {
                continue;
            }
            ids[pos] = merges.merged(ids[pos], ids[right]);
            alive[right] = false;
            remaining--;
            next[pos] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                long r = merges.rank(ids[prev[pos]], ids[pos]);
                if (r >= 0) {
                    heap.push(r << 32 | prev[pos]);
                }
            }
            if (next[pos] >= 0) {
                long r = merges.rank(ids[pos], ids[next[pos]]);
                if (r >= 0) {
                    heap.push(r << 32 | pos);
                }
            }
        }
        int[] out = new int[remaining];
        for (int i = 0, k = 0; i >= 0 && k < remaining; i = next[i]) {
            out[k++] = ids[i];
        }
        return out;
    }

    /** Open-addressing map from a pair of ids to (rank, merged id). */
    private static final class MergeTable {
        private final long[] keys;
        private final long[] values;
        private final int mask;

        MergeTable(int expected) {
            int capacity = Integer.highestOneBit(Math.max(16, expected * 2)) << 1;
            keys = new long[capacity];
            values = new long[capacity];
            Arrays.fill(keys, -1L);
            mask = capacity - 1;
        }

        private int slot(long key) {
            int h = (int) (key ^ (key >>> 29) ^ (key >>> 17)) * 0x9E3779B9;
            int i = h & mask;
            while (keys[i] != -1L && keys[i] != key) {
                i = (i + 1) & mask;
            }
            return i;
        }

        void put(int a, int b, int rank, int merged) {
            long key = (long) a << 32 | (b & 0xffffffffL);
            int i = slot(key);
            // a repeated merge takes its last rank, as the reference's map does when it is built
            keys[i] = key;
            values[i] = (long) rank << 32 | merged;
        }

        long rank(int a, int b) {
            long key = (long) a << 32 | (b & 0xffffffffL);
            int i = slot(key);
            return keys[i] == key ? values[i] >>> 32 : -1;
        }

        int merged(int a, int b) {
            long key = (long) a << 32 | (b & 0xffffffffL);
            return (int) values[slot(key)];
        }
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] heap;
        private int size;

        LongHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) / 2;
                if (heap[parent] <= v) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}

package ai.convoy.kernels;

/** For each activation row: the KV cache slot of its sequence and its position in that sequence. */
public record TokenBatch(int[] slots, int[] positions) {
    public TokenBatch {
        if (slots.length != positions.length) {
            throw new IllegalArgumentException("slots and positions differ in length");
        }
    }

    public int rows() {
        return slots.length;
    }

    public int slot(int row) {
        return slots[row];
    }

    public int position(int row) {
        return positions[row];
    }
}

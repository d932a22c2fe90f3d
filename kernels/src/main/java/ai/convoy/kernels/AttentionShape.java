package ai.convoy.kernels;

/** Grouped-query attention geometry; {@code window} &gt; 0 limits each query to that many latest positions. */
public record AttentionShape(int heads, int kvHeads, int headDim, float scale, int window) {
    public AttentionShape {
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(heads + " query heads do not divide into " + kvHeads + " kv heads");
        }
    }
}

package ai.convoy.kernels;

/**
 * Grouped-query attention geometry; {@code window} &gt; 0 limits each query to that many latest positions.
 * {@code ropeFrequencies}: the rotary inverse frequency of each of the {@code headDim / 2} pairs (element i with
 * i + headDim / 2, the rotate-half layout of Hugging Face checkpoints), applied to queries and keys at their positions.
 */
public record AttentionShape(int heads, int kvHeads, int headDim, float scale, int window, float[] ropeFrequencies) {
    public AttentionShape {
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(heads + " query heads do not divide into " + kvHeads + " kv heads");
        }
        if (ropeFrequencies.length != headDim / 2) {
            throw new IllegalArgumentException(ropeFrequencies.length + " rotary frequencies for a head dimension of " + headDim);
        }
    }
}

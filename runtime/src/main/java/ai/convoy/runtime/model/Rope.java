package ai.convoy.runtime.model;

/**
 * Rotary position embedding settings and the per-pair inverse frequencies they give, computed as Hugging Face
 * transformers computes them ({@code default}, {@code linear} and {@code llama3} rope types).
 */
public record Rope(String type, double theta, double factor, double lowFreqFactor, double highFreqFactor,
                   int originalMaxPositions) {

    public static Rope unscaled(double theta) {
        return new Rope("default", theta, 1, 1, 1, 0);
    }

    public float[] inverseFrequencies(int headDim) {
        float[] inv = new float[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            // float32, as torch computes 1 / base ** (arange(0, dim, 2) / dim)
            inv[i] = (float) (1.0 / Math.pow(theta, (float) (2 * i) / headDim));
        }
        switch (type) {
            case "default" -> {
            }
            case "linear" -> {
                for (int i = 0; i < inv.length; i++) {
                    inv[i] = (float) (inv[i] / factor);
                }
            }
            case "llama3" -> applyLlama3(inv);
            default -> throw new IllegalStateException("rope type " + type);
        }
        return inv;
    }

    /** Low frequencies slowed by {@code factor}, high ones kept, a smooth blend between (Llama 3.1). */
    private void applyLlama3(float[] inv) {
        double lowFreqWavelen = originalMaxPositions / lowFreqFactor;
        double highFreqWavelen = originalMaxPositions / highFreqFactor;
        for (int i = 0; i < inv.length; i++) {
            double wavelen = 2 * Math.PI / inv[i];
            if (wavelen > lowFreqWavelen) {
                inv[i] = (float) (inv[i] / factor);
            } else if (wavelen >= highFreqWavelen) {
                double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                inv[i] = (float) ((1 - smooth) * inv[i] / factor + smooth * inv[i]);
            }
        }
    }
}

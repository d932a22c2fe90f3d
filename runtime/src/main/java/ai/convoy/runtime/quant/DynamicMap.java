package ai.convoy.runtime.quant;

/**
 * bitsandbytes' signed dynamic 8-bit map (256 sorted values in [-1, 1], dense near zero), used to store the
 * absmax values of double quantization, and its binary-search rounding ({@code dQuantize}).
 */
public final class DynamicMap {
    private static final float[] SIGNED = create();

    private DynamicMap() {
    }

    public static float[] signed() {
        return SIGNED.clone();
    }

    /** create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), in float32 arithmetic as torch runs it. */
    private static float[] create() {
        float[] data = new float[256];
        int n = 0;
        for (int i = 0; i < 7; i++) {
            int items = (1 << i) + 1;
            float[] boundaries = linspace(0.1f, 1f, items);
            float scale = (float) Math.pow(10, -6 + i);
            for (int j = 0; j + 1 < items; j++) {
                float mean = (boundaries[j] + boundaries[j + 1]) / 2f;
                data[n++] = scale * mean;
            }
            for (int j = 0; j + 1 < items; j++) {
                float mean = (boundaries[j] + boundaries[j + 1]) / 2f;
                data[n++] = -scale * mean;
            }
        }
        data[n++] = 0f;
        data[n++] = 1f;
        java.util.Arrays.sort(data);
        return data;
    }

    /**
     * torch.linspace in float32: the first half counts up from start, the second half down from end, each value
     * one fused multiply-add (torch's compiled kernel contracts them, and the map's last bits depend on it).
     */
    private static float[] linspace(float start, float end, int steps) {
        float step = (end - start) / (steps - 1);
        float[] out = new float[steps];
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++) {
            out[i] = i < halfway ? Math.fma(step, (float) i, start) : Math.fma(-step, (float) (steps - i - 1), end);
        }
        return out;
    }

    /** bitsandbytes' dQuantize: seven halving steps from the middle of the map, then the nearer of two neighbours. */
    public static int encode(float[] code, float x) {
        int pivot = 127;
        int upperPivot = 255;
        int lowerPivot = 0;
        float lower = -1f;
        float upper = 1f;
        float val = code[pivot];
        for (int i = 64; i > 0; i >>= 1) {
            if (x > val) {
                lowerPivot = pivot;
                lower = val;
                pivot += i;
            } else {
                upperPivot = pivot;
                upper = val;
                pivot -= i;
            }
            val = code[pivot];
        }
        if (upperPivot == 255) {
            upper = code[upperPivot];
        }
        if (lowerPivot == 0) {
            lower = code[lowerPivot];
        }
        if (x > val) {
            return x > (upper + val) * 0.5f ? upperPivot : pivot;
        }
        return x < (lower + val) * 0.5f ? lowerPivot : pivot;
    }
}

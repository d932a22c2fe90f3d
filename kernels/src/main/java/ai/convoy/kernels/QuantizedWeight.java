package ai.convoy.kernels;

/** A quantized 2-D weight [rows, cols], in one of the bitsandbytes layouts. */
public sealed interface QuantizedWeight permits FourBitWeight, Int8Weight {
    String name();

    int rows();

    int cols();

    /** Bytes of the quantized data and its scales. */
    long bytes();
}

package ai.convoy.kernels;

/** Element types of stored tensors, named as safetensors names them. */
public enum DType {
    F32(4), F16(2), BF16(2), U8(1), I8(1), I32(4), I64(8);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    public boolean isFloatingPoint() {
        return this == F32 || this == F16 || this == BF16;
    }
}
